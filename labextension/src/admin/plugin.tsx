/**
 * The Admin main-area tab, for admins only: opened from the CubeLab panel's
 * Admin section, the command palette, or a Lab URL with `?cubelab-admin` (where
 * the hub's admin page sends admins). For everyone else the plugin adds nothing.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { AccountsClient } from '../accounts/client';
import { Button } from '../components';
import { IMe, ProjectsClient } from '../projects/client';
import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { AdminView } from './AdminView';
import { AdminClient } from './client';
import { asksForAdmin } from './logic';

namespace CommandIDs {
  export const open = 'cubelab:open-admin';
}

export const adminPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:admin',
  description:
    'The CubeLab Admin tab: users, projects, what is running, templates, clusters, settings, usage (admins).',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel, IRenderMimeRegistry],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null
  ) => {
    // read before the Lab's router rewrites the address
    const openAtStart = asksForAdmin(window.location.search);
    const client = new AdminClient(api.client);
    const accounts = new AccountsClient(api.client);
    const projects = new ProjectsClient(api.client);
    let widget: MainAreaWidget<ReactWidget> | null = null;

    const open = (me: IMe) => {
      if (!widget || widget.isDisposed) {
        const content = ReactWidget.create(
          <AdminView
            me={me}
            client={client}
            accounts={accounts}
            projects={projects}
            rendermime={rendermime}
            available={probe => api.available(probe)}
          />
        );
        widget = new MainAreaWidget({ content });
        widget.id = 'cubelab-admin';
        widget.addClass('cl-AdminWidget');
        widget.title.label = 'Admin';
        widget.title.caption = 'CubeLab administration';
        widget.title.closable = true;
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
    };

    void projects.me().then(
      me => {
        if (!me.admin) {
          return; // nothing of the admin page for anyone else: no command, no section
        }
        app.commands.addCommand(CommandIDs.open, {
          label: 'CubeLab Admin',
          caption: 'Users, projects, what is running, templates, clusters, settings and usage',
          execute: () => open(me)
        });
        palette?.addItem({ command: CommandIDs.open, category: 'CubeLab' });
        panel.addSection({
          id: 'admin',
          title: 'Admin',
          rank: 45, // above Accounts (50)
          visible: ctx => ctx.me.admin,
          render: () => (
            <Button testid="cubelab-open-admin" onClick={() => open(me)}>
              Open the admin page
            </Button>
          )
        });
        if (openAtStart) {
          void app.restored.then(() => open(me));
        }
      },
      () => undefined
    );
  }
};
