/** The main-area tabs: an experiment's view and the new-experiment form. */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ExperimentForm, IExperimentFormProps } from './ExperimentForm';
import { ExperimentView } from './ExperimentView';
import { ExperimentModel } from './model';

/** A tab showing one experiment, live. */
export class ExperimentWidget extends MainAreaWidget<ReactWidget> {
  constructor(
    readonly model: ExperimentModel,
    rendermime: IRenderMimeRegistry
  ) {
    super({ content: ReactWidget.create(<ExperimentView model={model} rendermime={rendermime} />) });
    this.id = `cubelab-experiment-${model.id}`;
    this.addClass('cl-ExperimentWidget');
    this.title.label = 'Experiment';
    this.title.closable = true;
    this.node.dataset.experimentId = String(model.id);
    model.changed.connect(this._sync, this);
    void model.start();
  }

  private _sync(): void {
    const e = this.model.experiment;
    if (e) {
      this.title.label = e.name;
      this.title.caption = `${e.project}/${e.name}: ${e.status}`;
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }
}

/** The new-experiment form in a tab. */
export class NewExperimentWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IExperimentFormProps, 'onCancel'>) {
    // the form's Cancel closes this tab, which exists only after super()
    const close = { tab: null as NewExperimentWidget | null };
    super({
      content: ReactWidget.create(<ExperimentForm {...props} onCancel={() => close.tab?.dispose()} />)
    });
    close.tab = this;
    this.id = 'cubelab-new-experiment';
    this.addClass('cl-NewExperimentWidget');
    this.title.label = 'New experiment';
    this.title.closable = true;
  }
}
