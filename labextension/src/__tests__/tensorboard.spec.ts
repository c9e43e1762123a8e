import { CubeLabClient, Transport } from '../request';
import { TensorBoardClient } from '../tensorboard/client';
import { findBoard, normaliseLogdir, startedText } from '../tensorboard/model';

describe('TensorBoard client', () => {
  it('lists, starts and stops boards on the server extension API', async () => {
    const calls: any[] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer =
        method === 'GET'
          ? {
              boards: [
                { id: 'ab', logdir: 'runs', url: '/user/a/cubelab/tensorboard/ab/', started: '2026-01-01T00:00:00Z' }
              ]
            }
          : method === 'POST'
            ? { id: 'cd', logdir: 'runs/x', url: '/u', started: '' }
            : undefined;
      return { status: method === 'DELETE' ? 204 : 200, text: async () => (answer ? JSON.stringify(answer) : '') };
    };
    const tb = new TensorBoardClient(new CubeLabClient(transport));
    expect((await tb.list())[0].url).toBe('/user/a/cubelab/tensorboard/ab/');
    expect((await tb.start('runs/x')).id).toBe('cd');
    await tb.stop('cd');
    expect(calls).toEqual([
      ['GET', 'boards', undefined],
      ['POST', 'boards', { logdir: 'runs/x' }],
      ['DELETE', 'boards/cd', undefined]
    ]);
  });

  it('shows a refused log directory next to the field', async () => {
    const transport: Transport = async () => ({
      status: 403,
      text: async () =>
        JSON.stringify({ error: 'refused', message: 'logdir: ../etc is outside your workspace', field: 'logdir' })
    });
    const tb = new TensorBoardClient(new CubeLabClient(transport));
    await expect(tb.start('../etc')).rejects.toMatchObject({ status: 403, field: 'logdir' });
  });

  it('normalises log directories relative to the server root', () => {
    expect(normaliseLogdir(' ./runs/exp1/ ')).toBe('runs/exp1');
    expect(normaliseLogdir('/runs')).toBe('runs');
    expect(normaliseLogdir('a\\b')).toBe('a/b');
    expect(normaliseLogdir('')).toBe('.');
  });

  it('says how long ago a board started', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    expect(startedText('2026-01-01T11:59:30Z', now)).toBe('just now');
    expect(startedText('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
    expect(startedText('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
    expect(startedText('2025-12-25T12:00:00Z', now)).toBe('7 days ago');
    expect(startedText('garbage', now)).toBe('');
  });
});

describe('a restored TensorBoard tab', () => {
  const board = (id: string, logdir: string, running = true) => ({
    id,
    logdir,
    url: `/tb/${id}/`,
    started: '',
    running
  });

  it('shows its board while it runs, or one started again on the same folder', () => {
    expect(findBoard([board('b1', 'runs')], { id: 'b1', logdir: 'runs' })?.url).toBe('/tb/b1/');
    expect(findBoard([board('b7', 'runs')], { id: 'b1', logdir: 'runs' })?.id).toBe('b7');
  });

  it('finds nothing after a restart (no board, or only stopped ones): the tab offers "Start again"', () => {
    expect(findBoard([], { id: 'b1', logdir: 'runs' })).toBeNull();
    expect(findBoard([board('b1', 'runs', false), board('b2', 'other')], { id: 'b1', logdir: 'runs' })).toBeNull();
  });
});
