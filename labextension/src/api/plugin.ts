/** Provides `ICubeLabApi`: same-origin clients of the user's Jupyter server. */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { ApiError, CubeLabClient } from '../request';
import { API_ROOT, ICubeLabApi } from '../tokens';
import { serverTransport, streamText } from '../transport';

/** Is the API at `probe` there?  (A 404 means that part of CubeLab is not installed.) */
export async function available(client: CubeLabClient, probe: string): Promise<boolean> {
  try {
    await client.call('GET', probe);
    return true;
  } catch (err) {
    return !(err instanceof ApiError && (err.status === 404 || err.status === 0));
  }
}

export const apiPlugin: JupyterFrontEndPlugin<ICubeLabApi> = {
  id: 'cubelab:api',
  description: 'The CubeLab REST client of the user’s Jupyter server.',
  autoStart: true,
  provides: ICubeLabApi,
  activate: (app: JupyterFrontEnd): ICubeLabApi => {
    const settings = app.serviceManager.serverSettings;
    const clientFor = (root: string) =>
      new CubeLabClient(serverTransport(root, settings), (path, onText, signal) =>
        streamText(root, path, onText, signal, settings)
      );
    const client = clientFor(API_ROOT);
    return {
      client,
      clientFor,
      available: (probe, other) => available(other ?? client, probe)
    };
  }
};
