import { closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMe } from '../projects/client';
import { LoadMore } from '../components';
import { useResource } from '../useResource';
import { useDebounced, usePagedList } from '../usePagedList';
import { confirmDeactivate, confirmDelete } from './actions';
import { AccountsClient, IAccount } from './client';

/** Admins: who has an account, deactivate/reactivate/delete, registration switch. */
export function AccountsSection(props: { me: IMe; client: AccountsClient; refresh: number }): JSX.Element {
  const { client, me } = props;
  const [filter, setFilter] = React.useState('');
  const q = useDebounced(filter.trim());
  const list = usePagedList(cursor => client.listPage({ q }, cursor), [client, q], { refresh: props.refresh });
  // without the registration setting the switch is hidden, not an error
  const registration = useResource(() => client.registration().catch(() => null), [client], {
    refresh: props.refresh
  });
  // accounts with a change in flight: deactivation stops their servers (seconds)
  const [busy, setBusy] = React.useState<Record<string, string>>({});
  const accounts = list.loaded ? list.items : null;
  const open = registration.data;
  const { error, setError } = list;
  const load = () => {
    void list.reload();
    void registration.reload();
  };

  const act = async (fn: () => Promise<unknown>, account?: string, doing?: string) => {
    if (account) {
      setBusy(b => ({ ...b, [account]: doing ?? 'Working…' }));
    }
    try {
      await fn();
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      if (account) {
        setBusy(b => {
          const rest = { ...b };
          delete rest[account];
          return rest;
        });
      }
    }
    load();
  };

  const toggle = async (a: IAccount) => {
    if (a.active && !(await confirmDeactivate(a.name))) {
      return;
    }
    await act(() => client.setActive(a.name, !a.active), a.name, a.active ? 'Deactivating…' : 'Reactivating…');
  };

  const remove = async (a: IAccount) => {
    if (await confirmDelete(a.name)) {
      await act(() => client.remove(a.name), a.name, 'Deleting…');
    }
  };

  return (
    <div className="cl-Accounts" data-testid="cubelab-accounts">
      {open !== null ? (
        <label className="cl-Check cl-Registration">
          <input
            type="checkbox"
            checked={open}
            data-testid="cubelab-registration"
            onChange={e => void act(() => client.setRegistration(e.target.checked))}
          />
          Open registration (a new name at the login page creates an account)
        </label>
      ) : null}
      <div className="cl-Filters">
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search accounts by name"
          data-testid="cubelab-accounts-search"
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
      </div>
      {error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {error}
        </div>
      ) : null}
      {accounts ? (
        <ul className="cl-List" aria-label="Accounts" data-testid="cubelab-account-list">
          {accounts.map(a => (
            <li
              key={a.name}
              className={`cl-List-item cl-Row${a.active ? '' : ' cl-mod-inactive'}`}
              data-user={a.name}
              data-active={String(a.active)}
              aria-busy={busy[a.name] ? true : undefined}
            >
              <span className="cl-List-main cl-Account">
                <span className="cl-ProjectName">
                  {a.name}
                  {a.admin ? <span className="cl-AdminBadge">admin</span> : null}
                  {a.active ? null : <span className="cl-RoleBadge">deactivated</span>}
                </span>
                <span className="cl-ProjectDesc">{a.projects.join(', ')}</span>
              </span>
              {a.name !== me.name ? (
                <>
                  <button
                    type="button"
                    className="jp-Button jp-mod-styled cl-Button cl-SmallButton"
                    data-testid="cubelab-account-toggle"
                    aria-label={`${a.active ? 'Deactivate' : 'Reactivate'} ${a.name}`}
                    disabled={!!busy[a.name]}
                    onClick={() => void toggle(a)}
                  >
                    {busy[a.name] ? (
                      <span className="cl-Busy" data-testid="cubelab-account-busy">
                        <span className="cl-Busy-dot" aria-hidden="true" />
                        {busy[a.name]}
                      </span>
                    ) : a.active ? (
                      'Deactivate'
                    ) : (
                      'Reactivate'
                    )}
                  </button>
                  <button
                    type="button"
                    className="cl-IconButton"
                    data-testid="cubelab-account-delete"
                    aria-label={`Delete the account ${a.name}`}
                    title="Delete account"
                    disabled={!!busy[a.name]}
                    onClick={() => void remove(a)}
                  >
                    <closeIcon.react tag="span" elementSize="normal" />
                  </button>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {accounts && !accounts.length ? <p className="cl-Empty">{q ? 'No account matches.' : 'No accounts.'}</p> : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-accounts-more"
      />
    </div>
  );
}
