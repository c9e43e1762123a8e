/**
 * "Open a shell in this image": a main-area tab with an interactive shell inside
 * the image (docs/builds.md, "An interactive shell"), over the control plane's
 * WebSocket, drawn by xterm.js (colours, cursor moves, full-screen programs). Keys
 * and pastes go to the shell; the tab's size is sent as the terminal's; when it
 * ends the tab says why and types nothing more.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

import {
  clampSize,
  describeEnd,
  inputMessage,
  IShellTarget,
  leftToBrowser,
  resizeMessage,
  shellUrl,
  terminalTheme
} from './shell';

class ShellView extends Widget {
  constructor(
    private readonly target: IShellTarget,
    private readonly settings: ServerConnection.ISettings
  ) {
    super();
    this.addClass('cl-Shell');
    this.node.dataset.testid = 'cubelab-shell';
    this.node.dataset.state = 'connecting';
    this.screenNode = document.createElement('div');
    this.screenNode.className = 'cl-Shell-screen';
    this.screenNode.dataset.testid = 'cubelab-shell-output';
    this.endNode = document.createElement('div');
    this.endNode.className = 'cl-Shell-end';
    this.endNode.setAttribute('role', 'status');
    this.endNode.dataset.testid = 'cubelab-shell-end';
    this.node.append(this.screenNode, this.endNode);
    this.terminal = new Terminal({
      scrollback: 2000,
      convertEol: false // the shell's pseudo-terminal sends \r\n itself
    });
    this.terminal.loadAddon(this.fitAddon);
    this.terminal.attachCustomKeyEventHandler(event => !leftToBrowser(event, this.terminal.hasSelection()));
    this.terminal.onData(data => this.send(inputMessage(data)));
    this.terminal.onResize(({ rows, cols }) => this.send(resizeMessage(rows, cols)));
  }

  private readonly screenNode: HTMLDivElement;
  private readonly endNode: HTMLDivElement;
  private readonly terminal: Terminal;
  private readonly fitAddon = new FitAddon();
  private socket: WebSocket | null = null;
  private ended = false;
  private received = false;
  private lastMessage: unknown = null;

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this.terminal.element) {
      // xterm measures its font when opened, so the theme and font are read from the attached node
      const style = getComputedStyle(this.node);
      this.applyTheme();
      this.themeWatch.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-name'] });
      this.terminal.options.fontFamily = style.getPropertyValue('--jp-code-font-family').trim() || 'monospace';
      this.terminal.options.fontSize = parseFloat(style.getPropertyValue('--jp-code-font-size')) || 13;
      this.terminal.open(this.screenNode);
      this.fitToBox();
    }
    if (!this.socket && !this.ended) {
      this.connect();
    }
  }

  protected onAfterShow(msg: Message): void {
    this.fitToBox();
  }

  protected onActivateRequest(msg: Message): void {
    this.terminal.focus();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    this.fitToBox();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.socket?.close();
    this.socket = null;
    this.themeWatch.disconnect();
    this.terminal.dispose();
    super.dispose();
  }

  private applyTheme(): void {
    const style = getComputedStyle(this.node);
    this.terminal.options.theme = terminalTheme(name => style.getPropertyValue(name));
  }

  // JupyterLab marks the body with its theme's name when the user switches theme
  private readonly themeWatch = new MutationObserver(() => this.applyTheme());

  /** Rows and columns that fill the tab (a hidden tab has no size: it keeps its last one). */
  private fitToBox(): void {
    if (
      this.terminal.element &&
      this.isVisible &&
      this.screenNode.clientWidth > 0 &&
      this.screenNode.clientHeight > 0
    ) {
      this.fitAddon.fit(); // a change of size is sent by terminal.onResize
    }
  }

  private connect(): void {
    const rows = clampSize(this.terminal.rows);
    const cols = clampSize(this.terminal.cols);
    const url = shellUrl(this.settings.wsUrl, this.target, rows, cols, this.settings.token);
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    // the container is made before the socket opens, after any running build of the project
    this.endNode.textContent = 'Starting a container of the image (after any build of the project that is running)…';
    socket.onopen = () => {
      this.node.dataset.state = 'open';
      this.endNode.textContent = '';
      if (this.terminal.rows !== rows || this.terminal.cols !== cols) {
        this.send(resizeMessage(this.terminal.rows, this.terminal.cols)); // the tab was resized while connecting
      }
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
      this.received = true;
      this.terminal.write(new Uint8Array(event.data as ArrayBuffer)); // xterm decodes UTF-8 across messages
    };
    socket.onclose = event => {
      this.ended = true;
      this.socket = null;
      this.node.dataset.state = 'ended';
      this.terminal.options.disableStdin = true;
      this.terminal.options.cursorBlink = false;
      // a refusal before the upgrade (404, 400, 403) shows only as a failed connection in browsers
      const refused = this.lastMessage === null && !this.received;
      this.endNode.textContent = refused
        ? 'The shell could not be opened (no such image in the project’s build storage, or you may not debug its images).'
        : describeEnd(this.lastMessage, event.reason);
      this.endNode.classList.add('cl-Shell-end-shown');
    };
    this.socket = socket;
  }

  private send(message: string): void {
    if (!this.ended && this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(message);
    }
  }
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
