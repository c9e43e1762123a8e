/**
 * "Open a shell in this image": a main-area tab with an interactive shell inside
 * the image (docs/builds.md, "Debug an image"), over the control plane's
 * WebSocket. Key presses and pastes go to the shell; the tab's size is sent as
 * the terminal's; when it ends the tab says why and types nothing more.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { describeEnd, fitSize, inputMessage, IShellTarget, keyInput, resizeMessage, Screen, shellUrl } from './shell';

class ShellView extends Widget {
  constructor(
    private readonly target: IShellTarget,
    private readonly settings: ServerConnection.ISettings
  ) {
    super();
    this.addClass('cl-Shell');
    this.node.tabIndex = 0;
    this.node.dataset.testid = 'cubelab-shell';
    this.node.dataset.state = 'connecting';
    this.screenNode = document.createElement('pre');
    this.screenNode.className = 'cl-Shell-screen';
    this.screenNode.dataset.testid = 'cubelab-shell-output';
    this.endNode = document.createElement('div');
    this.endNode.className = 'cl-Shell-end';
    this.endNode.setAttribute('role', 'status');
    this.endNode.dataset.testid = 'cubelab-shell-end';
    this.node.append(this.screenNode, this.endNode);
    this.node.addEventListener('keydown', this.onKey);
    this.node.addEventListener('paste', this.onPaste);
  }

  private readonly screenNode: HTMLPreElement;
  private readonly endNode: HTMLDivElement;
  private readonly screen = new Screen();
  private socket: WebSocket | null = null;
  private size = { rows: 24, cols: 80 };
  private ended = false;
  private lastMessage: unknown = null;

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this.socket && !this.ended) {
      this.size = this.measure();
      this.connect();
    }
  }

  protected onActivateRequest(msg: Message): void {
    this.node.focus();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    const size = this.measure();
    if (size.rows !== this.size.rows || size.cols !== this.size.cols) {
      this.size = size;
      this.send(resizeMessage(size.rows, size.cols));
    }
  }

  dispose(): void {
    this.socket?.close();
    this.socket = null;
    super.dispose();
  }

  private measure(): { rows: number; cols: number } {
    const probe = document.createElement('span');
    probe.textContent = 'M'.repeat(10);
    this.screenNode.appendChild(probe);
    const cell = probe.getBoundingClientRect();
    probe.remove();
    const box = this.node.getBoundingClientRect();
    return fitSize(box.width - 16, box.height - 16, cell.width / 10, cell.height);
  }

  private connect(): void {
    const url = shellUrl(this.settings.wsUrl, this.target, this.size.rows, this.size.cols, this.settings.token);
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    const decoder = new TextDecoder();
    // the container is made before the socket opens, after any running build of the project
    this.endNode.textContent = 'Starting a container of the image (after any build of the project that is running)…';
    socket.onopen = () => {
      this.node.dataset.state = 'open';
      this.endNode.textContent = '';
    };
    socket.onmessage = event => {
      if (typeof event.data === 'string') {
        let message: { type?: string; message?: string } | null = null;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (message?.type === 'error') {
          this.endNode.textContent = message.message ?? '';
        } else {
          this.lastMessage = message;
        }
        return;
      }
      this.screen.write(decoder.decode(event.data as ArrayBuffer, { stream: true }));
      this.draw();
    };
    socket.onclose = event => {
      this.ended = true;
      this.socket = null;
      this.node.dataset.state = 'ended';
      // a refusal before the upgrade (404, 400, 403) shows only as a failed connection in browsers
      const refused = this.lastMessage === null && !this.screen.text;
      this.endNode.textContent = refused
        ? 'The shell could not be opened (no such image in the project’s build storage, or you may not debug its images).'
        : describeEnd(this.lastMessage, event.reason);
      this.endNode.classList.add('cl-Shell-end-shown');
    };
    this.socket = socket;
  }

  private send(message: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(message);
    }
  }

  private draw(): void {
    const atBottom = this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 4;
    this.screenNode.textContent = this.screen.text;
    if (atBottom) {
      this.node.scrollTop = this.node.scrollHeight;
    }
  }

  private onKey = (event: KeyboardEvent): void => {
    if (this.ended) {
      return;
    }
    const data = keyInput(event);
    if (data === null || (event.ctrlKey && event.key.toLowerCase() === 'v')) {
      return; // left to the browser (paste arrives as a paste event)
    }
    event.preventDefault();
    event.stopPropagation();
    this.send(inputMessage(data));
  };

  private onPaste = (event: ClipboardEvent): void => {
    const text = event.clipboardData?.getData('text/plain');
    if (text && !this.ended) {
      event.preventDefault();
      this.send(inputMessage(text.replace(/\r?\n/g, '\r')));
    }
  };
}

let count = 0;

/** A tab with a shell inside `target.image`. */
export class ShellWidget extends MainAreaWidget<Widget> {
  constructor(target: IShellTarget, settings: ServerConnection.ISettings) {
    super({ content: new ShellView(target, settings) });
    this.id = `cubelab-shell-${++count}`;
    this.addClass('cl-ShellWidget');
    this.title.label = `Shell: ${target.image.split('/').pop()}`;
    this.title.caption = `A shell in ${target.image} (project ${target.project}), as your account`;
    this.title.closable = true;
  }
}
