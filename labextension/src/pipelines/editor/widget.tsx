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
    // on the widget's own node, which keeps the focus when a click on the
    // empty canvas or a deleted task leaves nothing inside the editor focused
    this.node.addEventListener('keydown', this);
  }

  handleEvent(event: Event): void {
    if (event.type === 'keydown') {
      editorKeyDown(this.model, event as KeyboardEvent, this.node);
    }
  }

  dispose(): void {
    this.node.removeEventListener('keydown', this);
    super.dispose();
  }

  protected render(): JSX.Element {
    return <EditorRoot model={this.model} stream={this.stream} />;
  }
}

/**
 * Undo (Ctrl+Z), redo (Ctrl+Shift+Z, Ctrl+Y) anywhere in the editor but in
 * form fields; Delete/Backspace removes the selection when the editor itself
 * has the focus (the canvas handles it when a task has).
 */
export function editorKeyDown(model: EditorModel, e: KeyboardEvent, editorNode: HTMLElement): void {
  const target = e.target as HTMLElement;
  if (target.closest('input, textarea, select, [contenteditable="true"]')) {
    return;
  }
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && (key === 'z' || key === 'y')) {
    e.preventDefault();
    e.stopPropagation();
    if (key === 'y' || e.shiftKey) {
      model.redo();
    } else {
      model.undo();
    }
  } else if ((e.key === 'Delete' || e.key === 'Backspace') && target === editorNode && model.editable) {
    e.preventDefault();
    model.deleteSelection();
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
