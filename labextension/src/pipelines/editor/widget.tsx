import { Dialog, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { pipelineIcon } from '../../icons';
import { LogStreamer } from './Bottom';
import { EditorRoot } from './Editor';
import { EditorModel } from './model';

class EditorContent extends ReactWidget {
  constructor(
    readonly model: EditorModel,
    readonly stream: LogStreamer
  ) {
    super();
    this.addClass('cl-PipelineEditor');
    this.node.tabIndex = -1;
  }

  protected render(): JSX.Element {
    return <EditorRoot model={this.model} stream={this.stream} />;
  }
}

/** A main-area tab editing one pipeline. */
export class PipelineEditorWidget extends MainAreaWidget<EditorContent> {
  constructor(model: EditorModel, stream: LogStreamer) {
    super({ content: new EditorContent(model, stream) });
    this.model = model;
    this.id = `cubelab-pipeline-${model.id}`;
    this.addClass('cl-PipelineEditorWidget');
    this.title.icon = pipelineIcon;
    this.title.closable = true;
    this.title.label = 'Pipeline';
    this.node.dataset.pipelineId = String(model.id);
    model.changed.connect(this._sync, this);
    void model.load();
  }

  readonly model: EditorModel;

  private _sync(): void {
    if (!this.model.loaded) {
      return;
    }
    const p = this.model.pipeline;
    this.title.label = p.name || 'Pipeline';
    this.title.caption = `${p.project}/${p.name}${this.model.dirty ? ' (unsaved)' : ''}`;
    this.title.className = this.model.dirty ? 'jp-mod-dirty' : '';
  }

  protected onCloseRequest(msg: Message): void {
    if (!this.model.dirty) {
      super.onCloseRequest(msg);
      return;
    }
    void showDialog({
      title: 'Unsaved changes',
      body: `Save the changes to ${this.model.pipeline.name} before closing?`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Discard' }), Dialog.okButton({ label: 'Save' })]
    }).then(async result => {
      if (result.button.label === 'Save') {
        if (await this.model.save()) {
          this.dispose();
        }
      } else if (result.button.label === 'Discard') {
        this.dispose();
      }
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }
}
