/**
 * "Open a shell in this image" (`GET images/shell`, a WebSocket): its URL, the
 * messages it takes and how it ended. The widget draws the output and reads the
 * keys with xterm.js (ShellWidget.ts); what is here has no DOM, so jest tests it.
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

/** How the session ended, from the socket's last text message (`{type: "exit", code, reason}`). */
export function describeEnd(message: unknown, closeReason = ''): string {
  const m = message as { type?: string; code?: number | null; reason?: string } | null;
  if (m && m.type === 'exit') {
    return `The shell ended: ${m.reason ?? (m.code === null || m.code === undefined ? 'stopped' : `exit code ${m.code}`)}.`;
  }
  return `The connection to the shell closed${closeReason ? `: ${closeReason}` : ''}.`;
}

/** The terminal's colours, xterm's `ITheme` fields, from JupyterLab's theme variables (`read('--jp-…')`). */
export function terminalTheme(read: (variable: string) => string): Record<string, string> {
  const colours: Record<string, string> = {
    background: '--jp-layout-color0',
    foreground: '--jp-ui-font-color0',
    cursor: '--jp-ui-font-color0',
    cursorAccent: '--jp-layout-color0',
    selectionBackground: '--jp-editor-selected-background'
  };
  const theme: Record<string, string> = {};
  for (const [field, variable] of Object.entries(colours)) {
    const value = read(variable).trim();
    if (value) {
      theme[field] = value; // an unset variable keeps xterm's own colour
    }
  }
  return theme;
}

/**
 * Keys the terminal leaves to the browser, as JupyterLab's own terminal does: Ctrl-C
 * copies while text is selected (an interrupt otherwise) and Ctrl-V pastes.
 */
export function leftToBrowser(
  event: { type: string; key: string; ctrlKey: boolean; shiftKey: boolean; altKey: boolean; metaKey: boolean },
  hasSelection: boolean
): boolean {
  if (event.type !== 'keydown' || !event.ctrlKey || event.shiftKey || event.altKey || event.metaKey) {
    return false;
  }
  const key = event.key.toLowerCase();
  return (key === 'c' && hasSelection) || key === 'v';
}
