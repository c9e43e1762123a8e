/** Accounts (admins): list, deactivate/reactivate, delete, open/close registration. */
import { fetchPage, IPage } from '../paging';
import { CubeLabClient } from '../request';

export interface IAccount {
  name: string;
  admin: boolean;
  active: boolean;
  projects: string[];
  last_activity: string | null;
}

const enc = encodeURIComponent;

export class AccountsClient {
  constructor(readonly api: CubeLabClient) {}

  /** One page of the accounts whose name contains `q`. */
  listPage(filter: { q?: string } = {}, cursor: string | null = null, limit?: number): Promise<IPage<IAccount>> {
    return fetchPage(this.api, 'users', 'users', { cursor, limit, filters: { q: filter.q } });
  }

  setActive(name: string, active: boolean): Promise<IAccount> {
    return this.api.call('PATCH', `users/${enc(name)}`, { active });
  }

  /** Give (true) or take (false) the admin role; never one's own (the API answers 409). */
  setAdmin(name: string, admin: boolean): Promise<IAccount> {
    return this.api.call('PATCH', `users/${enc(name)}`, { admin });
  }

  remove(name: string): Promise<void> {
    return this.api.call('DELETE', `users/${enc(name)}`);
  }

  async registration(): Promise<boolean> {
    return (await this.api.call<{ open: boolean }>('GET', 'settings/registration')).open;
  }

  async setRegistration(open: boolean): Promise<boolean> {
    return (await this.api.call<{ open: boolean }>('PUT', 'settings/registration', { open })).open;
  }
}
