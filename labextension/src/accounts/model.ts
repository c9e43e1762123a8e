/** Filtering of the accounts list — pure. */
import { IAccount } from './client';

/** Accounts matching a filter (name or project), deactivated ones last. */
export function filterAccounts(accounts: IAccount[], filter: string): IAccount[] {
  const q = filter.trim().toLowerCase();
  return accounts
    .filter(a => !q || a.name.toLowerCase().includes(q) || a.projects.some(p => p.toLowerCase().includes(q)))
    .sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
}
