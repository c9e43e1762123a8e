import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IStateDB } from '@jupyterlab/statedb';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { AccountsSection } from './accounts/AccountsSection';
import { AccountsClient } from './accounts/model';
import { ApiError, CubeLabClient } from './api';
import { cubeIcon } from './icons';
import { PipelinesClient } from './pipelines/client';
import { EditorModel } from './pipelines/editor/model';
import { PipelineEditorWidget } from './pipelines/editor/widget';
import {
  IPipelineOpener,
  PipelinesSection,
  RunsSection
} from './pipelines/SidebarSections';
import { serverTransport, streamText } from './request';
import { serverPath, ServerClient } from './server/model';
import { ServerSection } from './server/ServerSection';
import { CubeLabPanel } from './sidebar';
import { IBoard, TensorBoardClient } from './tensorboard/model';
import { BoardFrame } from './tensorboard/frame';
import { TensorBoardSection } from './tensorboard/TensorBoardSection';

/** Root of the control-plane API as the server extension forwards it. */
export const API_ROOT = 'cubelab/api';
/** Root of the TensorBoard API of the user's server. */
export const TENSORBOARD_ROOT = 'cubelab/tensorboard/api';

namespace CommandIDs {
  export const open = 'cubelab:open-panel';
  export const refresh = 'cubelab:refresh';
  export const openPipeline = 'cubelab:open-pipeline';
  export const savePipeline = 'cubelab:save-pipeline';
  export const tensorboardFolder = 'cubelab:tensorboard-folder';
  export const openBoard = 'cubelab:open-tensorboard';
}

/** Is the API at `probe` there?  (A 404 means that part of CubeLab is not installed.) */
async function available(client: CubeLabClient, probe: string): Promise<boolean> {
  try {
    await client.call('GET', probe);
    return true;
  } catch (err) {
    return !(err instanceof ApiError && (err.status === 404 || err.status === 0));
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:plugin',
  description: 'The CubeLab sidebar: projects, pipelines, runs and TensorBoard.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, IFileBrowserFactory, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    browserFactory: IFileBrowserFactory | null,
    state: IStateDB | null
  ) => {
    const settings = app.serviceManager.serverSettings;
    const api = new CubeLabClient(serverTransport(API_ROOT, settings));
    const panel = new CubeLabPanel(api);
    app.shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, 'cubelab-panel');
    }
    // the first time CubeLab opens for a user, show its panel (later, the
    // restored layout decides)
    if (state) {
      const key = 'cubelab:panel-shown';
      void app.restored
        .then(() => state.fetch(key))
        .then(seen => {
          if (!seen) {
            app.shell.activateById(panel.id);
            return state.save(key, true);
          }
        })
        .catch(() => undefined);
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show CubeLab Panel',
      icon: cubeIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh CubeLab Panel',
      execute: () => panel.refresh()
    });

    // ------------------------------------------------------------ pipelines
    const pipelines = new PipelinesClient(api);
    const changed = new Signal<object, void>(panel);
    const opener: IPipelineOpener = {
      open: (id, runId) =>
        void app.commands.execute(CommandIDs.openPipeline, { id, runId: runId ?? null }),
      onChange: fn => {
        const slot = () => fn();
        changed.connect(slot);
        return () => changed.disconnect(slot);
      }
    };
    const editors = new WidgetTracker<PipelineEditorWidget>({ namespace: 'cubelab-pipelines' });
    const stream = (path: string, onText: (t: string) => void, signal: AbortSignal) =>
      streamText(API_ROOT, path, onText, signal, settings);

    app.commands.addCommand(CommandIDs.openPipeline, {
      label: 'Open Pipeline',
      execute: args => {
        const id = Number(args.id);
        const runId = (args.runId as string | null) ?? null;
        let widget = editors.find(w => w.model.id === id);
        if (!widget) {
          const model = new EditorModel(pipelines, id);
          model.saved.connect(() => changed.emit());
          model.runFinished.connect(() => changed.emit());
          widget = new PipelineEditorWidget(model, stream);
          void editors.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        if (runId) {
          const model = widget.model;
          const show = () => void model.showRun(runId, true);
          if (model.loaded) {
            show();
          } else {
            const once = () => {
              if (model.loaded) {
                model.changed.disconnect(once);
                show();
              }
            };
            model.changed.connect(once);
          }
        }
        return widget;
      }
    });
    app.commands.addCommand(CommandIDs.savePipeline, {
      label: 'Save Pipeline',
      isEnabled: () => !!editors.currentWidget,
      execute: () => editors.currentWidget?.model.save()
    });
    // task commands for the canvas' context menu (they act on the selection)
    const current = () => editors.currentWidget?.model ?? null;
    const oneTask = () => {
      const m = current();
      return m && m.selection.tasks.length === 1 ? m.selection.tasks[0] : null;
    };
    app.commands.addCommand('cubelab:pipeline-task-log', {
      label: 'Show Task Log',
      isEnabled: () => !!current()?.run && !!oneTask(),
      execute: () => {
        const m = current();
        const t = oneTask();
        if (m && t) {
          m.select([t], []);
        }
      }
    });
    app.commands.addCommand('cubelab:pipeline-task-debug', {
      label: 'Debug Run This Task',
      isEnabled: () => !!oneTask() && !!current()?.canRun && !current()?.viewingRun,
      execute: () => {
        const t = oneTask();
        if (t) {
          void current()?.debugTask(t);
        }
      }
    });
    app.commands.addCommand('cubelab:pipeline-task-duplicate', {
      label: 'Duplicate',
      isEnabled: () => !!current()?.editable && !!current()?.selection.tasks.length,
      execute: () => current()?.duplicateSelection()
    });
    app.commands.addCommand('cubelab:pipeline-task-delete', {
      label: 'Delete',
      isEnabled: () => !!current()?.editable && !!current()?.selection.tasks.length,
      execute: () => current()?.deleteSelection()
    });
    app.commands.addCommand('cubelab:pipeline-layout', {
      label: 'Auto-layout Pipeline',
      isEnabled: () => !!current()?.editable,
      execute: () => current()?.layout()
    });
    app.commands.addCommand('cubelab:pipeline-run', {
      label: 'Run Pipeline',
      isEnabled: () => !!current()?.canRun,
      execute: () => current()?.startRun()
    });
    [
      'cubelab:pipeline-task-log',
      'cubelab:pipeline-task-debug',
      'cubelab:pipeline-task-duplicate',
      'cubelab:pipeline-task-delete'
    ].forEach((command, i) =>
      app.contextMenu.addItem({ command, selector: '.cl-TaskNode', rank: i })
    );
    app.contextMenu.addItem({ command: 'cubelab:pipeline-layout', selector: '.cl-Canvas .react-flow__pane', rank: 10 });
    app.contextMenu.addItem({ command: 'cubelab:pipeline-run', selector: '.cl-Canvas .react-flow__pane', rank: 11 });
    if (palette) {
      for (const command of [CommandIDs.savePipeline, 'cubelab:pipeline-run', 'cubelab:pipeline-layout']) {
        palette.addItem({ command, category: 'CubeLab Pipeline' });
      }
    }
    app.commands.addKeyBinding({
      command: CommandIDs.savePipeline,
      keys: ['Accel S'],
      selector: '.cl-PipelineEditorWidget'
    });
    if (restorer) {
      void restorer.restore(editors, {
        command: CommandIDs.openPipeline,
        args: w => ({ id: w.model.id }),
        name: w => String(w.model.id)
      });
    }

    void available(api, 'templates').then(ok => {
      if (!ok) {
        return;
      }
      panel.addSection({
        id: 'pipelines',
        title: 'Pipelines',
        rank: 10,
        render: ctx => <PipelinesSection me={ctx.me} client={pipelines} opener={opener} refresh={ctx.refresh} />
      });
      panel.addSection({
        id: 'runs',
        title: 'Runs',
        rank: 20,
        render: ctx => <RunsSection client={pipelines} opener={opener} refresh={ctx.refresh} />
      });
    });

    // ------------------------------------------------------------ TensorBoard
    const tbApi = new CubeLabClient(serverTransport(TENSORBOARD_ROOT, settings));
    const boards = new TensorBoardClient(tbApi);
    const boardsChanged = new Signal<object, void>(panel);
    const boardTracker = new WidgetTracker<MainAreaWidget<BoardFrame>>({ namespace: 'cubelab-tensorboard' });
    const openBoard = (board: IBoard) => {
      const id = `cubelab-tensorboard-${board.id}`;
      let widget = boardTracker.find(w => w.id === id);
      if (!widget) {
        const frame = new BoardFrame(board.url);
        widget = new MainAreaWidget({ content: frame });
        widget.id = id;
        widget.title.label = `TensorBoard: ${board.logdir}`;
        widget.title.caption = board.logdir;
        widget.title.closable = true;
        widget.node.dataset.board = board.id;
        widget.addClass('cl-TensorBoardWidget');
        void boardTracker.add(widget);
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
    };
    app.commands.addCommand(CommandIDs.openBoard, {
      label: 'Open TensorBoard',
      execute: args => openBoard(args as unknown as IBoard)
    });
    if (restorer) {
      void restorer.restore(boardTracker, {
        command: CommandIDs.openBoard,
        args: w => ({
          id: w.node.dataset.board ?? '',
          url: w.content.url,
          logdir: w.title.caption,
          started: ''
        }),
        name: w => w.node.dataset.board ?? w.id
      });
    }

    void available(tbApi, 'boards').then(ok => {
      if (!ok) {
        return;
      }
      panel.addSection({
        id: 'tensorboard',
        title: 'TensorBoard',
        rank: 30,
        render: ctx => (
          <TensorBoardSection
            refresh={ctx.refresh}
            client={boards}
            open={openBoard}
            onExternalChange={fn => {
              const slot = () => fn();
              boardsChanged.connect(slot);
              return () => boardsChanged.disconnect(slot);
            }}
          />
        )
      });
      if (browserFactory) {
        app.commands.addCommand(CommandIDs.tensorboardFolder, {
          label: 'Open in TensorBoard',
          caption: 'Start TensorBoard on this folder and open it in a tab',
          isVisible: () => {
            const item = browserFactory.tracker.currentWidget?.selectedItems().next();
            return !!item && !item.done && item.value.type === 'directory';
          },
          execute: async () => {
            const item = browserFactory.tracker.currentWidget?.selectedItems().next();
            if (!item || item.done) {
              return;
            }
            try {
              const board = await boards.start(item.value.path || '.');
              boardsChanged.emit();
              openBoard(board);
            } catch (err) {
              void showErrorMessage('Cannot start TensorBoard', (err as Error).message);
            }
          }
        });
        app.contextMenu.addItem({
          command: CommandIDs.tensorboardFolder,
          selector: '.jp-DirListing-item[data-isdir="true"]',
          rank: 60
        });
      }
    });

    // ------------------------------------------------------------ accounts (admins)
    const accounts = new AccountsClient(api);
    panel.addSection({
      id: 'accounts',
      title: 'Accounts',
      rank: 50,
      visible: ctx => ctx.me.admin,
      render: ctx => <AccountsSection me={ctx.me} client={accounts} refresh={ctx.refresh} />
    });

    // ------------------------------------------------------------ this server (under JupyterHub)
    const hubUser = PageConfig.getOption('hubUser');
    if (hubUser) {
      const servers = new ServerClient(api, hubUser, PageConfig.getOption('hubServerName'));
      void available(api, serverPath(hubUser, servers.server)).then(ok => {
        if (!ok) {
          return;
        }
        panel.addSection({
          id: 'server',
          title: 'This server',
          rank: 5,
          render: ctx => (
            <ServerSection
              refresh={ctx.refresh}
              client={servers}
              onReset={() => {
                const hub = PageConfig.getOption('hubPrefix') || '/hub/';
                window.location.href = URLExt.join(hub, 'home');
              }}
            />
          )
        });
      });
    }

    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'CubeLab' });
      palette.addItem({ command: CommandIDs.refresh, category: 'CubeLab' });
    }
  }
};

export default plugin;
