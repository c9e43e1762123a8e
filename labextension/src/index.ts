import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { CubeLabClient } from './api';
import { serverTransport } from './request';
import { CubeLabPanel } from './sidebar';

/** Root of the control-plane API as the server extension forwards it. */
export const API_ROOT = 'cubelab/api';

namespace CommandIDs {
  export const open = 'cubelab:open-panel';
  export const refresh = 'cubelab:refresh';
}

const plugin: JupyterFrontEndPlugin<CubeLabPanel> = {
  id: 'cubelab:plugin',
  description: 'The CubeLab sidebar: projects, members and settings.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const client = new CubeLabClient(
      serverTransport(API_ROOT, app.serviceManager.serverSettings)
    );
    const panel = new CubeLabPanel(client);
    app.shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, 'cubelab-panel');
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show CubeLab Panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh CubeLab Projects',
      execute: () => panel.refresh()
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'CubeLab' });
      palette.addItem({ command: CommandIDs.refresh, category: 'CubeLab' });
    }
    return panel;
  }
};

export default plugin;
