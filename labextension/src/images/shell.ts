/**
 * "Open a shell in this image" (`GET images/shell`, a WebSocket): its URL, the
 * messages it takes, what a key press sends, and a small screen model for its
 * output (the Lab plugin has no terminal emulator of its own: xterm.js is not among
 * its locked dependencies), so the widget only draws what this returns.
 */

export interface IShellTarget {
  project: string;
  image: string;
}

/** The socket's URL under the Jupyter server's WebSocket base (forwarded to the control plane by the server extension). */
export function shellUrl(wsBase: string, target: IShellTarget, rows: number, cols: number, token = ''): string {
  const query = new URLSearchParams({
    project: target.project,
    image: target.image,
    rows: String(rows),
    cols: String(cols)
  });
  if (token) {
    query.set('token', token); // the Jupyter server's own check; its extension does not pass it on
  }
  return `${wsBase.replace(/\/$/, '')}/cubelab/api/images/shell?${query.toString()}`;
}

export const inputMessage = (data: string): string => JSON.stringify({ type: 'input', data });

export const resizeMessage = (rows: number, cols: number): string =>
  JSON.stringify({ type: 'resize', rows: clampSize(rows), cols: clampSize(cols) });

export function clampSize(n: number): number {
  return Math.max(1, Math.min(1000, Math.floor(Number.isFinite(n) ? n : 1)));
}

/** Rows and columns that fit a box of `width` x `height` pixels with cells of `cellW` x `cellH`. */
export function fitSize(width: number, height: number, cellW: number, cellH: number): { rows: number; cols: number } {
  return {
    rows: clampSize(cellH > 0 ? height / cellH : 24),
    cols: clampSize(cellW > 0 ? width / cellW : 80)
  };
}

export interface IKey {
  key: string;
  ctrlKey?: boolean;
  altKey?: boolean;
  metaKey?: boolean;
}

const SPECIAL: Record<string, string> = {
  Enter: '\r',
  Backspace: '\x7f',
  Tab: '\t',
  Escape: '\x1b',
  ArrowUp: '\x1b[A',
  ArrowDown: '\x1b[B',
  ArrowRight: '\x1b[C',
  ArrowLeft: '\x1b[D',
  Home: '\x1b[H',
  End: '\x1b[F',
  Delete: '\x1b[3~'
};

/** What a key press sends to the terminal; null for keys it leaves to the browser (copy with Cmd-C, modifiers alone). */
export function keyInput(event: IKey): string | null {
  if (event.metaKey) {
    return null;
  }
  if (event.ctrlKey && event.key.length === 1) {
    const code = event.key.toUpperCase().charCodeAt(0);
    if (code >= 64 && code <= 95) {
      return String.fromCharCode(code - 64); // Ctrl-C is \x03, Ctrl-D \x04, ...
    }
    return null;
  }
  if (event.key in SPECIAL) {
    return SPECIAL[event.key];
  }
  if (event.key.length === 1) {
    return (event.altKey ? '\x1b' : '') + event.key;
  }
  return null;
}

/** How the session ended, from the socket's last text message (`{type: "exit", code, reason}`). */
export function describeEnd(message: unknown, closeReason = ''): string {
  const m = message as { type?: string; code?: number | null; reason?: string } | null;
  if (m && m.type === 'exit') {
    return `The shell ended: ${m.reason ?? (m.code === null || m.code === undefined ? 'stopped' : `exit code ${m.code}`)}.`;
  }
  return `The connection to the shell closed${closeReason ? `: ${closeReason}` : ''}.`;
}

/**
 * The output as lines of text: carriage returns, backspaces and line feeds move a
 * cursor; other control sequences (colours, titles) are read and dropped.
 */
export class Screen {
  constructor(readonly maxLines = 2000) {}

  lines: string[] = [''];
  private col = 0;
  private pending = '';

  write(text: string): void {
    const data = this.pending + text;
    this.pending = '';
    let i = 0;
    while (i < data.length) {
      const c = data[i];
      if (c === '\x1b') {
        // eslint-disable-next-line no-control-regex -- terminal output is made of control sequences
        const seq = /^\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/.exec(data.slice(i));
        if (!seq) {
          if (data.length - i < 64) {
            this.pending = data.slice(i); // an escape cut between two messages
            break;
          }
          i++;
          continue;
        }
        const erase = /^.\[[0-2]?K$/.test(seq[0]); // erase to the end of the line
        if (erase) {
          const line = this.lines[this.lines.length - 1];
          this.lines[this.lines.length - 1] = line.slice(0, this.col);
        }
        i += seq[0].length;
        continue;
      }
      if (c === '\n') {
        this.lines.push('');
        this.col = 0;
      } else if (c === '\r') {
        this.col = 0;
      } else if (c === '\b') {
        this.col = Math.max(0, this.col - 1);
      } else if (c >= ' ' || c === '\t') {
        const line = this.lines[this.lines.length - 1];
        this.lines[this.lines.length - 1] =
          line.slice(0, this.col).padEnd(this.col, ' ') + c + line.slice(this.col + 1);
        this.col++;
      }
      i++;
    }
    if (this.lines.length > this.maxLines) {
      this.lines.splice(0, this.lines.length - this.maxLines);
    }
  }

  get text(): string {
    return this.lines.join('\n');
  }
}
