import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { parseError, Transport } from './request';

/**
 * A transport for same-origin calls to the user's Jupyter server:
 * `<baseUrl>/<root>/<path>` (root `cubelab/api` is forwarded by the server
 * extension to the control plane).
 */
export function serverTransport(
  root: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Transport {
  return async (method, path, body) => {
    const url = URLExt.join(settings.baseUrl, root, path);
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    try {
      return await ServerConnection.makeRequest(url, init, settings);
    } catch (error) {
      throw new Error((error as Error)?.message ?? 'network error');
    }
  };
}

/**
 * Read a text resource as it streams (a followed task log), calling
 * `onText` with each chunk.  Resolves when the server ends the response.
 */
export async function streamText(
  root: string,
  path: string,
  onText: (chunk: string) => void,
  signal: AbortSignal,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<void> {
  return streamRequest(root, 'GET', path, undefined, onText, signal, settings);
}

/** `streamText` for any method, with a JSON body (a command whose output streams back). */
export async function streamRequest(
  root: string,
  method: string,
  path: string,
  body: unknown,
  onText: (chunk: string) => void,
  signal: AbortSignal,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<void> {
  const url = URLExt.join(settings.baseUrl, root, path);
  const init: RequestInit = { method, signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    throw parseError(response.status, await response.text());
  }
  if (!response.body) {
    onText(await response.text());
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      onText(decoder.decode(value, { stream: true }));
    }
    const rest = decoder.decode();
    if (rest) {
      onText(rest);
    }
  } finally {
    reader.releaseLock();
  }
}
