/** The "This server" section (under JupyterHub): expiry, renewal and reset. */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import * as React from 'react';

import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { serverPath, ServerClient } from './client';
import { ServerSection } from './ServerSection';

export const serverPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:server',
  description: 'The CubeLab panel’s "This server" section.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  activate: (_app, api: ICubeLabApi, panel: ICubeLabPanel) => {
    const hubUser = PageConfig.getOption('hubUser');
    if (!hubUser) {
      return; // not under JupyterHub: no server of the control plane's
    }
    const client = new ServerClient(api.client, hubUser, PageConfig.getOption('hubServerName'));
    void api.available(serverPath(hubUser, client.server)).then(ok => {
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
            client={client}
            onReset={() => {
              const hub = PageConfig.getOption('hubPrefix') || '/hub/';
              window.location.href = URLExt.join(hub, 'home');
            }}
          />
        )
      });
    });
  }
};
