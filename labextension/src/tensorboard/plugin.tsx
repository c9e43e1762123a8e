/** TensorBoard: the section, the board tabs and "Open in TensorBoard" on folders. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, showErrorMessage, WidgetTracker } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { IBoard, TensorBoardClient } from './client';
import { BoardFrame } from './frame';
import { TensorBoardSection } from './TensorBoardSection';

/** Root of the TensorBoard API of the user's server. */
export const TENSORBOARD_ROOT = 'cubelab/tensorboard/api';

namespace CommandIDs {
  export const tensorboardFolder = 'cubelab:tensorboard-folder';
  export const openBoard = 'cubelab:open-tensorboard';
}

export const tensorboardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:tensorboard',
  description: 'The CubeLab TensorBoard section and board tabs.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  optional: [ILayoutRestorer, IFileBrowserFactory],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    restorer: ILayoutRestorer | null,
    browserFactory: IFileBrowserFactory | null
  ) => {
    const tbApi = api.clientFor(TENSORBOARD_ROOT);
    const boards = new TensorBoardClient(tbApi);
    const boardsChanged = new Signal<TensorBoardClient, void>(boards);
    const boardTracker = new WidgetTracker<MainAreaWidget<BoardFrame>>({ namespace: 'cubelab-tensorboard' });
    const openBoard = (board: IBoard) => {
      const id = `cubelab-tensorboard-${board.id}`;
      let widget = boardTracker.find(w => w.id === id);
      if (!widget) {
        const frame = new BoardFrame(board, boards, started => {
          w.node.dataset.board = started.id;
          boardsChanged.emit();
        });
        const w = new MainAreaWidget({ content: frame });
        widget = w;
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

    void api.available('boards', tbApi).then(ok => {
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
  }
};
