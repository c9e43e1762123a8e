import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { Transport } from './api';

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
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, settings);
    } catch (error) {
      throw new Error(
        (error as Error)?.message ?? 'network error'
      );
    }
    return response;
  };
}
