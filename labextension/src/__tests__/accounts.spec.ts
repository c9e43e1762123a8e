import { CubeLabClient, Transport } from '../request';
import { AccountsClient, IAccount } from '../accounts/client';

const acc = (name: string, active = true, projects: string[] = ['public']): IAccount => ({
  name,
  admin: false,
  active,
  projects,
  last_activity: null
});

describe('accounts', () => {
  it('asks for a page of accounts, searched on the server', async () => {
    const calls: string[] = [];
    const transport: Transport = async (_method, path) => {
      calls.push(path);
      return { status: 200, text: async () => JSON.stringify({ users: [acc('bob')], next_cursor: 'c2' }) };
    };
    const c = new AccountsClient(new CubeLabClient(transport));
    const page = await c.listPage({ q: 'bo' });
    expect(page.items.map(a => a.name)).toEqual(['bob']);
    expect(page.next).toBe('c2');
    await c.listPage({ q: '' }, 'c2', 10);
    expect(calls).toEqual(['users?q=bo&limit=50', 'users?limit=10&cursor=c2']);
  });

  it('calls the users and registration API', async () => {
    const calls: any[] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = path.startsWith('users?')
        ? { users: [] }
        : path.startsWith('settings')
          ? { open: false }
          : acc('x');
      return {
        status: method === 'DELETE' ? 204 : 200,
        text: async () => (method === 'DELETE' ? '' : JSON.stringify(answer))
      };
    };
    const c = new AccountsClient(new CubeLabClient(transport));
    await c.listPage();
    await c.setActive('bob smith', false);
    await c.remove('bob');
    expect(await c.setRegistration(false)).toBe(false);
    expect(calls).toEqual([
      ['GET', 'users?limit=50', undefined],
      ['PATCH', 'users/bob%20smith', { active: false }],
      ['DELETE', 'users/bob', undefined],
      ['PUT', 'settings/registration', { open: false }]
    ]);
  });
});
