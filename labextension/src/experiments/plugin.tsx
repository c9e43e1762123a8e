/** Experiments: the section, the experiment view and the new-experiment form. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { IMe } from '../projects/client';
import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { ExperimentsClient } from './client';
import { ExperimentsSection, IExperimentOpener } from './ExperimentsSection';
import { ExperimentModel } from './model';
import { ExperimentWidget, NewExperimentWidget } from './widget';

namespace CommandIDs {
  export const openExperiment = 'cubelab:open-experiment';
  export const newExperiment = 'cubelab:new-experiment';
}

export const experimentsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:experiments',
  description: 'The CubeLab Experiments section, the experiment view and the new-experiment form.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel, IRenderMimeRegistry],
  optional: [ILayoutRestorer, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null
  ) => {
    const client = new ExperimentsClient(api.client);
    const changed = new Signal<ExperimentsClient, void>(client);
    const views = new WidgetTracker<ExperimentWidget>({ namespace: 'cubelab-experiments' });
    let me: IMe | null = null;

    const selectedFile = (): string | null => {
      const item = browser?.selectedItems().next();
      return item && !item.done && item.value.type !== 'directory' ? item.value.path : null;
    };

    app.commands.addCommand(CommandIDs.openExperiment, {
      label: 'Open Experiment',
      execute: args => {
        const id = Number(args.id);
        let widget = views.find(w => w.model.id === id);
        if (!widget) {
          const model = new ExperimentModel(client, id);
          // status, progress and best value show in the section's list: reload it when they change
          let shown = '';
          model.changed.connect(() => {
            const e = model.experiment;
            const key = e ? `${e.status}|${e.progress.trials}|${e.best?.value ?? ''}` : '';
            if (key !== shown) {
              shown = key;
              changed.emit();
            }
          });
          widget = new ExperimentWidget(model, rendermime);
          void views.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    app.commands.addCommand(CommandIDs.newExperiment, {
      label: 'New Experiment',
      execute: args => {
        const existing = Array.from(app.shell.widgets('main')).find(w => w.id === 'cubelab-new-experiment');
        if (existing) {
          app.shell.activateById(existing.id);
          return;
        }
        if (!me) {
          return;
        }
        const widget: NewExperimentWidget = new NewExperimentWidget({
          me,
          client,
          project: String(args.project ?? me.projects[0]?.name ?? 'public'),
          selectedFile,
          onCreated: experiment => {
            widget.dispose();
            changed.emit();
            void app.commands.execute(CommandIDs.openExperiment, { id: experiment.id });
          }
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });
    if (restorer) {
      void restorer.restore(views, {
        command: CommandIDs.openExperiment,
        args: w => ({ id: w.model.id }),
        name: w => String(w.model.id)
      });
    }

    const opener: IExperimentOpener = {
      open: id => void app.commands.execute(CommandIDs.openExperiment, { id }),
      create: project => void app.commands.execute(CommandIDs.newExperiment, { project }),
      onChange: fn => {
        // open views report progress as events arrive: the list reloads at most once a second for them
        let pending: ReturnType<typeof setTimeout> | null = null;
        const slot = () => {
          if (!pending) {
            pending = setTimeout(() => {
              pending = null;
              fn();
            }, 1000);
          }
        };
        changed.connect(slot);
        return () => {
          changed.disconnect(slot);
          if (pending) {
            clearTimeout(pending);
          }
        };
      }
    };

    void api.available('experiments').then(ok => {
      if (!ok) {
        return;
      }
      panel.addSection({
        id: 'experiments',
        title: 'Experiments',
        rank: 25, // projects 0, this server 5, pipelines 10, runs 20, TensorBoard 30, accounts 50
        visible: ctx => ctx.me.projects.length > 0,
        render: ctx => {
          me = ctx.me;
          return <ExperimentsSection me={ctx.me} client={client} opener={opener} refresh={ctx.refresh} />;
        }
      });
    });
  }
};
