import { CubeLabClient, Transport } from '../request';
import { serverPath, ServerClient } from '../server/client';
import { expiresSoon, expiresText } from '../server/model';

describe('server expiry', () => {
  const now = new Date('2026-01-01T12:00:00Z');

  it('says when the server expires', () => {
    expect(expiresText(null, now)).toBe('');
    expect(expiresText('bad', now)).toBe('');
    expect(expiresText('2026-01-01T11:00:00Z', now)).toBe('expired');
    expect(expiresText('2026-01-01T12:45:00Z', now)).toBe('in 45 min');
    expect(expiresText('2026-01-01T15:30:00Z', now)).toBe('in 3 h 30 min');
    expect(expiresText('2026-01-04T15:00:00Z', now)).toBe('in 3 days 3 h');
    expect(expiresText('2026-01-02T13:00:00Z', now)).toBe('in 1 day 1 h');
  });

  it('warns when expiry is near', () => {
    expect(expiresSoon('2026-01-01T20:00:00Z', now)).toBe(true);
    expect(expiresSoon('2026-01-03T20:00:00Z', now)).toBe(false);
    expect(expiresSoon(null, now)).toBe(false);
  });

  it('addresses the default and named servers', async () => {
    expect(serverPath('alice', '')).toBe('users/alice/server');
    expect(serverPath('alice', 'gpu 1')).toBe('users/alice/servers/gpu%201');
    const calls: string[] = [];
    const transport: Transport = async (method, path) => {
      calls.push(`${method} ${path}`);
      return { status: 200, text: async () => '{"user": "alice", "name": "", "expires_at": null}' };
    };
    const c = new ServerClient(new CubeLabClient(transport), 'alice', 'dev');
    await c.get();
    await c.renew();
    await c.reset();
    expect(calls).toEqual([
      'GET users/alice/servers/dev',
      'POST users/alice/servers/dev/renew',
      'POST users/alice/servers/dev/reset'
    ]);
  });
});
