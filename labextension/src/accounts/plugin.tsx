/** The Accounts section, for admins. */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import * as React from 'react';

import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { AccountsSection } from './AccountsSection';
import { AccountsClient } from './client';

export const accountsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:accounts',
  description: 'The CubeLab panel’s Accounts section (admins).',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  activate: (_app, api: ICubeLabApi, panel: ICubeLabPanel) => {
    const client = new AccountsClient(api.client);
    panel.addSection({
      id: 'accounts',
      title: 'Accounts',
      rank: 50,
      visible: ctx => ctx.me.admin,
      render: ctx => <AccountsSection me={ctx.me} client={client} refresh={ctx.refresh} />
    });
  }
};
