/** Accounts (admins): list, deactivate/reactivate, delete, open/close registration. */
import { CubeLabClient } from '../api';

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

  async list(): Promise<IAccount[]> {
    return (await this.api.call<{ users: IAccount[] }>('GET', 'users')).users;
  }

  setActive(name: string, active: boolean): Promise<IAccount> {
    return this.api.call('PATCH', `users/${enc(name)}`, { active });
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

/** Accounts matching a filter (name or project), deactivated ones last. */
export function filterAccounts(accounts: IAccount[], filter: string): IAccount[] {
  const q = filter.trim().toLowerCase();
  return accounts
    .filter(a => !q || a.name.toLowerCase().includes(q) || a.projects.some(p => p.toLowerCase().includes(q)))
    .sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
}
