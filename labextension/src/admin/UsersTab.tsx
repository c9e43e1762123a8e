/** Users: search, page, role, deactivate / reactivate / delete, registration, and each user's work. */
import { closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { BusyLabel, confirmAdmin, confirmDeactivate, confirmDelete, useBusy } from '../accounts/actions';
import { AccountsClient } from '../accounts/client';
import { AccountsSection } from '../accounts/AccountsSection';
import { LoadMore } from '../components';
import { IMe } from '../projects/client';
import { useDebounced, usePagedList } from '../usePagedList';
import { errorMessage, useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner, UseCell, when } from './common';

export function UsersTab(props: {
  client: AdminClient;
  accounts: AccountsClient;
  me: IMe;
  detailed: boolean;
}): JSX.Element {
  // without the admin users list (another part of the admin API), the Accounts section's own list
  if (!props.detailed) {
    return <AccountsSection me={props.me} client={props.accounts} refresh={0} />;
  }
  return <UsersTable {...props} />;
}

function UsersTable(props: { client: AdminClient; accounts: AccountsClient; me: IMe }): JSX.Element {
  const { client, accounts, me } = props;
  const [filter, setFilter] = React.useState('');
  const q = useDebounced(filter.trim());
  const list = usePagedList(cursor => client.users(q, cursor), [client, q]);
  const registration = useResource(() => accounts.registration().catch(() => null), [accounts]);
  const { busy, run } = useBusy();
  const [error, setError] = React.useState<string | null>(null);

  const act = (name: string, doing: string, fn: () => Promise<unknown>) =>
    run(name, doing, async () => {
      try {
        await fn();
        setError(null);
      } catch (err) {
        setError(errorMessage(err));
      }
      await list.reload();
    });

  return (
    <div className="cl-AdminUsers" data-testid="cubelab-admin-users">
      {registration.data !== null ? (
        <label className="cl-Check cl-Registration">
          <input
            type="checkbox"
            checked={registration.data}
            data-testid="cubelab-registration"
            onChange={e => {
              const open = e.target.checked;
              accounts.setRegistration(open).then(
                v => registration.setData(v),
                err => setError(errorMessage(err))
              );
            }}
          />
          Open registration (a new name at the login page creates an account)
        </label>
      ) : null}
      <div className="cl-Filters">
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search users by name"
          data-testid="cubelab-admin-users-search"
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
      </div>
      <ErrorBanner error={error ?? list.error} />
      <table className="cl-Table cl-AdminTable" aria-label="Users">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th>Projects</th>
            <th>Servers</th>
            <th>Runs</th>
            <th>Experiments</th>
            <th>Services</th>
            <th>Use</th>
            <th>Last active</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.items.map(u => (
            <tr
              key={u.name}
              data-user={u.name}
              data-active={String(u.active)}
              aria-busy={busy[u.name] ? true : undefined}
            >
              <td>
                {u.name}
                {u.active ? null : <span className="cl-RoleBadge">deactivated</span>}
              </td>
              <td data-testid="cubelab-admin-role">
                {u.admin ? <span className="cl-AdminBadge">admin</span> : 'user'}
                {u.name !== me.name ? (
                  <button
                    type="button"
                    className="jp-Button jp-mod-styled cl-Button cl-SmallButton"
                    data-testid="cubelab-admin-role-toggle"
                    aria-label={`${u.admin ? 'Remove the admin role of' : 'Make admin'} ${u.name}`}
                    disabled={!!busy[u.name]}
                    onClick={async () => {
                      if (await confirmAdmin(u.name, !u.admin)) {
                        await act(u.name, u.admin ? 'Removing admin…' : 'Making admin…', () =>
                          accounts.setAdmin(u.name, !u.admin)
                        );
                      }
                    }}
                  >
                    {u.admin ? 'Remove admin' : 'Make admin'}
                  </button>
                ) : null}
              </td>
              <td>{u.projects.join(', ')}</td>
              <td>{u.servers}</td>
              <td>{u.runs_active}</td>
              <td>{u.experiments_active}</td>
              <td>{u.services}</td>
              <td>
                <UseCell use={u.use} />
              </td>
              <td>{when(u.last_activity)}</td>
              <td className="cl-AdminActions">
                {u.name !== me.name ? (
                  <>
                    <button
                      type="button"
                      className="jp-Button jp-mod-styled cl-Button cl-SmallButton"
                      data-testid="cubelab-account-toggle"
                      aria-label={`${u.active ? 'Deactivate' : 'Reactivate'} ${u.name}`}
                      disabled={!!busy[u.name]}
                      onClick={async () => {
                        if (u.active && !(await confirmDeactivate(u.name))) {
                          return;
                        }
                        await act(u.name, u.active ? 'Deactivating…' : 'Reactivating…', () =>
                          accounts.setActive(u.name, !u.active)
                        );
                      }}
                    >
                      {busy[u.name] ? <BusyLabel doing={busy[u.name]} /> : u.active ? 'Deactivate' : 'Reactivate'}
                    </button>
                    <button
                      type="button"
                      className="cl-IconButton"
                      data-testid="cubelab-account-delete"
                      aria-label={`Delete the account ${u.name}`}
                      title="Delete account"
                      disabled={!!busy[u.name]}
                      onClick={async () => {
                        if (await confirmDelete(u.name)) {
                          await act(u.name, 'Deleting…', () => accounts.remove(u.name));
                        }
                      }}
                    >
                      <closeIcon.react tag="span" elementSize="normal" />
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.loaded && !list.items.length ? <p className="cl-Empty">{q ? 'No user matches.' : 'No users.'}</p> : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-admin-users-more"
      />
    </div>
  );
}
