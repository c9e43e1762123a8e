/** TensorBoard boards of the user's Jupyter server (`cubelab/tensorboard/api`). */
import { CubeLabClient } from '../request';

export interface IBoard {
  id: string;
  logdir: string;
  url: string;
  started: string;
  running?: boolean;
}

export class TensorBoardClient {
  constructor(readonly api: CubeLabClient) {}

  async list(): Promise<IBoard[]> {
    const body = await this.api.call<{ boards: IBoard[] }>('GET', 'boards');
    return body.boards;
  }

  start(logdir: string): Promise<IBoard> {
    return this.api.call('POST', 'boards', { logdir });
  }

  stop(id: string): Promise<void> {
    return this.api.call('DELETE', `boards/${encodeURIComponent(id)}`);
  }
}
