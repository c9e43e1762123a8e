/** Pipelines: the Pipelines and Runs sections, the pipeline editor and its commands. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { PipelinesClient } from './client';
import { EditorModel } from './editor/model';
import { PipelineEditorWidget } from './editor/widget';
import { IPipelineOpener, PipelinesSection, RunsSection } from './SidebarSections';

namespace CommandIDs {
  export const openPipeline = 'cubelab:open-pipeline';
  export const savePipeline = 'cubelab:save-pipeline';
}

export const pipelinesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:pipelines',
  description: 'The CubeLab Pipelines and Runs sections and the pipeline editor.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const pipelines = new PipelinesClient(api.client);
    const changed = new Signal<PipelinesClient, void>(pipelines);
    const opener: IPipelineOpener = {
      open: (id, runId) => void app.commands.execute(CommandIDs.openPipeline, { id, runId: runId ?? null }),
      onChange: fn => {
        const slot = () => fn();
        changed.connect(slot);
        return () => changed.disconnect(slot);
      }
    };
    const editors = new WidgetTracker<PipelineEditorWidget>({ namespace: 'cubelab-pipelines' });
    const stream = (path: string, onText: (t: string) => void, signal: AbortSignal) =>
      api.client.stream(path, onText, signal);

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
    ].forEach((command, i) => app.contextMenu.addItem({ command, selector: '.cl-TaskNode', rank: i }));
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

    void api.available('templates').then(ok => {
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
  }
};
