import { Widget } from '@lumino/widgets';

/**
 * An iframe for a TensorBoard served by the user's own Jupyter server (same
 * origin, behind its login).  No sandbox: TensorBoard needs scripts and the
 * session cookie, and a sandbox allowing both would not restrict anything.
 */
export class BoardFrame extends Widget {
  constructor(url: string) {
    super();
    this.addClass('cl-BoardFrame');
    this._iframe = document.createElement('iframe');
    this._iframe.src = url;
    this._iframe.referrerPolicy = 'same-origin';
    this._iframe.title = 'TensorBoard';
    this.node.appendChild(this._iframe);
  }

  get url(): string {
    return this._iframe.src;
  }

  private _iframe: HTMLIFrameElement;
}
