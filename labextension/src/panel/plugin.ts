/** Provides `ICubeLabPanel`: the CubeLab panel in the left sidebar and its commands. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';

import { cubeIcon } from '../icons';
import { ProjectsClient } from '../projects/client';
import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { CubeLabPanel } from './widget';

namespace CommandIDs {
  export const open = 'cubelab:open-panel';
  export const refresh = 'cubelab:refresh';
}

export const panelPlugin: JupyterFrontEndPlugin<ICubeLabPanel> = {
  id: 'cubelab:panel',
  description: 'The CubeLab sidebar panel; each feature adds its section to it.',
  autoStart: true,
  requires: [ICubeLabApi],
  optional: [ILayoutRestorer, ICommandPalette, IStateDB],
  provides: ICubeLabPanel,
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ): ICubeLabPanel => {
    const panel = new CubeLabPanel(new ProjectsClient(api.client));
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
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'CubeLab' });
      palette.addItem({ command: CommandIDs.refresh, category: 'CubeLab' });
    }
    return panel;
  }
};
