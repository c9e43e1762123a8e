import { CubeLabClient, Transport } from '../request';
import { AccountsClient, IAccount } from '../accounts/client';
import { filterAccounts } from '../accounts/model';

const acc = (name: string, active = true, projects: string[] = ['public']): IAccount => ({
  name,
  admin: false,
  active,
  projects,
  last_activity: null
});

describe('accounts', () => {
  it('filters by name or project, deactivated last', () => {
    const list = [acc('zoe'), acc('bob', false), acc('amy', true, ['public', 'team-a'])];
    expect(filterAccounts(list, '').map(a => a.name)).toEqual(['amy', 'zoe', 'bob']);
    expect(filterAccounts(list, 'team').map(a => a.name)).toEqual(['amy']);
    expect(filterAccounts(list, 'BO').map(a => a.name)).toEqual(['bob']);
  });

  it('calls the users and registration API', async () => {
    const calls: any[] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = path === 'users' ? { users: [] } : path.startsWith('settings') ? { open: false } : acc('x');
      return {
        status: method === 'DELETE' ? 204 : 200,
        text: async () => (method === 'DELETE' ? '' : JSON.stringify(answer))
      };
    };
    const c = new AccountsClient(new CubeLabClient(transport));
    await c.list();
    await c.setActive('bob smith', false);
    await c.remove('bob');
    expect(await c.setRegistration(false)).toBe(false);
    expect(calls).toEqual([
      ['GET', 'users', undefined],
      ['PATCH', 'users/bob%20smith', { active: false }],
      ['DELETE', 'users/bob', undefined],
      ['PUT', 'settings/registration', { open: false }]
    ]);
  });
});
