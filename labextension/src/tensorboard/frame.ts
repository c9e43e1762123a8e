import { Widget } from '@lumino/widgets';

import { IBoard, TensorBoardClient } from './client';
import { findBoard } from './model';

/**
 * An iframe for a TensorBoard served by the user's own Jupyter server (same
 * origin, behind its login).  No sandbox: TensorBoard needs scripts and the
 * session cookie, and a sandbox allowing both would not restrict anything.
 *
 * A tab restored after a restart of the server (or of the platform) points at
 * a board that no longer runs: it says so, with a "Start again" button,
 * instead of showing a frame that refuses to connect.
 */
export class BoardFrame extends Widget {
  constructor(
    board: IBoard,
    private _client: TensorBoardClient | null = null,
    /** called with the new board after "Start again" */
    private _onRestarted: (board: IBoard) => void = () => undefined
  ) {
    super();
    this.addClass('cl-BoardFrame');
    this._board = board;
    this._iframe = document.createElement('iframe');
    this._iframe.referrerPolicy = 'same-origin';
    this._iframe.title = 'TensorBoard';
    this._notice = document.createElement('div');
    this._notice.className = 'cl-BoardFrame-gone';
    this._notice.setAttribute('role', 'alert');
    this._notice.dataset.testid = 'cubelab-board-gone';
    this._notice.hidden = true;
    this.node.append(this._notice, this._iframe);
    if (this._client) {
      void this.check();
    } else {
      this._iframe.src = board.url;
    }
  }

  get url(): string {
    return this._board.url;
  }

  get board(): IBoard {
    return this._board;
  }

  /** Show the board if it runs, else the message and "Start again". */
  async check(): Promise<void> {
    let running: IBoard | null = null;
    let problem: string | null = null;
    try {
      running = findBoard(await this._client!.list(), this._board);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (running) {
      this._board = running;
      this._showFrame();
    } else {
      this._showGone(
        problem
          ? `Cannot check this TensorBoard: ${problem}`
          : `TensorBoard on ${this._board.logdir} is not running any more (its server was restarted or it was stopped).`
      );
    }
  }

  private _showFrame(): void {
    this._notice.hidden = true;
    this._iframe.hidden = false;
    if (this._iframe.getAttribute('src') !== this._board.url) {
      this._iframe.src = this._board.url;
    }
  }

  private _showGone(message: string): void {
    this._iframe.hidden = true;
    this._iframe.removeAttribute('src');
    this._notice.replaceChildren();
    const text = document.createElement('p');
    text.textContent = message;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-Button jp-mod-styled jp-mod-accept cl-Button';
    button.textContent = 'Start again';
    button.dataset.testid = 'cubelab-board-restart';
    button.onclick = () => void this._restart(button, text);
    this._notice.append(text, button);
    this._notice.hidden = false;
  }

  private async _restart(button: HTMLButtonElement, text: HTMLElement): Promise<void> {
    button.disabled = true;
    button.textContent = 'Starting…';
    try {
      this._board = await this._client!.start(this._board.logdir);
      this._onRestarted(this._board);
      this._showFrame();
    } catch (err) {
      text.textContent = `TensorBoard did not start: ${(err as Error).message}`;
      button.disabled = false;
      button.textContent = 'Start again';
    }
  }

  private _board: IBoard;
  private _iframe: HTMLIFrameElement;
  private _notice: HTMLDivElement;
}
