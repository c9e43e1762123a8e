/**
 * Services: the panel's section, a service's tab, the create/edit form, and
 * "Deploy as inference service" on model files in the file browser.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { IMe } from '../projects/client';
import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { IService, ServicesClient } from './client';
import { draftFromModelFile, draftFromService, isModelFile, IServiceDraft, newDraft } from './draft';
import { IServiceOpener, ServicesSection } from './ServicesSection';
import { ServiceFormWidget, ServiceWidget } from './widget';

namespace CommandIDs {
  export const openService = 'cubelab:open-service';
  export const newService = 'cubelab:new-service';
  export const editService = 'cubelab:edit-service';
  export const deployModel = 'cubelab:deploy-model';
}

/** Files of the file browser; the command shows itself only for model files (by suffix). */
const FILE_SELECTOR = '.jp-DirListing-item[data-isdir="false"]';

export const servicesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:services',
  description: 'The CubeLab Services section, a service’s tab, its form and deploying a model file.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  optional: [ILayoutRestorer, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null
  ) => {
    const client = new ServicesClient(api.client);
    const changed = new Signal<ServicesClient, void>(client);
    const views = new WidgetTracker<ServiceWidget>({ namespace: 'cubelab-services' });
    let me: IMe | null = null;

    const openForm = (draft: IServiceDraft, service: IService | null) => {
      const id = service ? `cubelab-edit-service-${service.id}` : 'cubelab-new-service';
      const existing = Array.from(app.shell.widgets('main')).find(w => w.id === id);
      if (existing) {
        existing.dispose(); // a new prefill (another model file) replaces the open form
      }
      if (!me) {
        return;
      }
      const widget: ServiceFormWidget = new ServiceFormWidget({
        me,
        client,
        draft,
        service,
        onSaved: saved => {
          widget.dispose();
          changed.emit();
          void app.commands.execute(CommandIDs.openService, { id: saved.id });
        }
      });
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };

    app.commands.addCommand(CommandIDs.openService, {
      label: 'Open Service',
      execute: args => {
        const id = Number(args.id);
        let widget = views.find(w => w.serviceId === id);
        if (!widget) {
          widget = new ServiceWidget({
            client,
            id,
            edit: service => void app.commands.execute(CommandIDs.editService, { id: service.id }),
            changed: () => changed.emit(),
            closed: () => {
              changed.emit();
              views.find(w => w.serviceId === id)?.dispose();
            }
          });
          void views.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    app.commands.addCommand(CommandIDs.newService, {
      label: 'New Service',
      execute: args => openForm(newDraft(String(args.project ?? me?.projects[0]?.name ?? 'public')), null)
    });
    app.commands.addCommand(CommandIDs.editService, {
      label: 'Edit Service',
      execute: async args => {
        const service = await client.get(Number(args.id));
        openForm(draftFromService(service), service);
      }
    });

    const selectedModel = (): string | null => {
      const item = browser?.selectedItems().next();
      return item && !item.done && item.value.type !== 'directory' && isModelFile(item.value.path)
        ? item.value.path
        : null;
    };
    app.commands.addCommand(CommandIDs.deployModel, {
      label: 'Deploy as inference service',
      caption: 'Open the new-service form for this model file',
      isVisible: () => !!me && selectedModel() !== null,
      execute: args => {
        const path = typeof args.path === 'string' && args.path ? args.path : selectedModel();
        if (path) {
          openForm(draftFromModelFile(path, String(args.project ?? me?.projects[0]?.name ?? 'public')), null);
        }
      }
    });

    if (restorer) {
      void restorer.restore(views, {
        command: CommandIDs.openService,
        args: w => ({ id: w.serviceId }),
        name: w => String(w.serviceId)
      });
    }

    const opener: IServiceOpener = {
      open: id => void app.commands.execute(CommandIDs.openService, { id }),
      create: project => void app.commands.execute(CommandIDs.newService, { project }),
      onChange: fn => {
        const slot = () => fn();
        changed.connect(slot);
        return () => changed.disconnect(slot);
      }
    };

    void api.available('services').then(ok => {
      if (!ok) {
        return;
      }
      app.contextMenu.addItem({ command: CommandIDs.deployModel, selector: FILE_SELECTOR, rank: 61 });
      panel.addSection({
        id: 'services',
        title: 'Services',
        rank: 27, // projects 0, this server 5, pipelines 10, runs 20, experiments 25, TensorBoard 30, accounts 50
        visible: ctx => ctx.me.projects.length > 0,
        render: ctx => {
          me = ctx.me;
          return <ServicesSection me={ctx.me} client={client} opener={opener} refresh={ctx.refresh} />;
        }
      });
    });
  }
};
