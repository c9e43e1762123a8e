/** Settings safe to change at run time (a form of their fields), and the audit log. */
import * as React from 'react';

import { Button, LoadMore } from '../components';
import { ApiError } from '../request';
import { useDebounced, usePagedList } from '../usePagedList';
import { errorMessage, useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner, when } from './common';
import { IAdminSettings, IAdminSettingsPatch } from './types';

type Group = 'server_expiry' | 'role_limits' | 'default_project_quota';
const GROUPS: { key: Group; title: string }[] = [
  { key: 'server_expiry', title: 'Server expiry' },
  { key: 'role_limits', title: 'Role limits' },
  { key: 'default_project_quota', title: 'Default project quota' }
];

export function SettingsTab(props: { client: AdminClient; hasSettings: boolean; hasAudit: boolean }): JSX.Element {
  // each save is audited: the log below reloads to show it
  const [saved, setSaved] = React.useState(0);
  return (
    <div className="cl-AdminSettings" data-testid="cubelab-admin-settings">
      {props.hasSettings ? <SettingsForm client={props.client} onSaved={() => setSaved(n => n + 1)} /> : null}
      {props.hasAudit ? <AuditLog client={props.client} saved={saved} /> : null}
    </div>
  );
}

/** Groups where an empty field means "no limit" (null), not an empty text. */
const EMPTY_IS_NULL: Group[] = ['role_limits', 'default_project_quota'];

/** A field's text as typed, and its value in the setting's own type. */
function parseLike(text: string, like: unknown, emptyIsNull: boolean): unknown {
  if ((emptyIsNull || like === null || typeof like === 'number') && text.trim() === '') {
    return null;
  }
  if (typeof like === 'number') {
    return Number(text);
  }
  return text;
}

function SettingsForm(props: { client: AdminClient; onSaved: () => void }): JSX.Element {
  const { client } = props;
  const settings = useResource(() => client.settings(), [client]);
  const [form, setForm] = React.useState<IAdminSettings | null>(null);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [saving, setSaving] = React.useState(false);
  const current = form ?? settings.data;
  if (!current) {
    return <ErrorBanner error={settings.error} />;
  }

  const save = async () => {
    if (!form || !settings.data) {
      return;
    }
    // only what changed is sent: each change is audited with its old and new value
    const patch: Record<string, unknown> = {};
    if (form.registration_open !== settings.data.registration_open) {
      patch.registration_open = form.registration_open;
    }
    for (const { key } of GROUPS) {
      if (JSON.stringify(form[key]) !== JSON.stringify(settings.data[key])) {
        patch[key] = form[key];
      }
    }
    setSaving(true);
    try {
      settings.setData(await client.updateSettings(patch as IAdminSettingsPatch));
      setForm(null);
      setErrors({});
      props.onSaved();
    } catch (err) {
      setErrors(err instanceof ApiError ? err.fieldMessages : { '': errorMessage(err) });
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      className="cl-Form"
      aria-label="Platform settings"
      onSubmit={e => {
        e.preventDefault();
        void save();
      }}
    >
      <label className="cl-Check">
        <input
          type="checkbox"
          data-setting="registration_open"
          checked={current.registration_open}
          onChange={e => setForm({ ...current, registration_open: e.target.checked })}
        />
        Open registration
      </label>
      {errors.registration_open ? <div className="cl-FieldError">{errors.registration_open}</div> : null}
      {GROUPS.map(({ key, title }) => (
        <fieldset key={key} className="cl-AdminFieldset">
          <legend>{title}</legend>
          {current[key] === null ? <p className="cl-Muted">As configured for the spawner.</p> : null}
          {Object.entries(current[key] ?? {}).map(([field, value]) => {
            const name = `${key}.${field}`;
            const structured = typeof value === 'object' && value !== null;
            return (
              <label key={field} className="cl-Field">
                <span>{field}</span>
                <input
                  className="jp-mod-styled cl-Input"
                  value={structured ? JSON.stringify(value) : value === null ? '' : String(value)}
                  readOnly={structured}
                  aria-label={`${title}: ${field}`}
                  data-setting={name}
                  aria-invalid={errors[name] ? true : undefined}
                  onChange={e =>
                    setForm({
                      ...current,
                      [key]: { ...current[key], [field]: parseLike(e.target.value, value, EMPTY_IS_NULL.includes(key)) }
                    })
                  }
                />
                {errors[name] ? <span className="cl-FieldError">{errors[name]}</span> : null}
              </label>
            );
          })}
        </fieldset>
      ))}
      {errors[''] ? <ErrorBanner error={errors['']} /> : null}
      <Button kind="accept" type="submit" disabled={!form || saving} testid="cubelab-admin-settings-save">
        {saving ? 'Saving…' : 'Save settings'}
      </Button>
    </form>
  );
}

function AuditLog(props: { client: AdminClient; saved: number }): JSX.Element {
  const { client } = props;
  const [form, setForm] = React.useState({ actor: '', action: '', project: '' });
  const filters = useDebounced(form);
  const list = usePagedList(cursor => client.audit(filters, cursor), [client, filters, props.saved]);
  return (
    <section aria-label="Audit log" data-testid="cubelab-admin-audit">
      <h3>Audit log</h3>
      <div className="cl-Filters">
        {(['actor', 'action', 'project'] as const).map(k => (
          <input
            key={k}
            className="jp-mod-styled cl-Input"
            placeholder={k}
            aria-label={`Audit ${k}`}
            value={form[k]}
            onChange={e => setForm({ ...form, [k]: e.target.value.trim() })}
          />
        ))}
      </div>
      <ErrorBanner error={list.error} />
      <table className="cl-Table cl-AdminTable" aria-label="Audit events">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Project</th>
            <th>What</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map(e => (
            <tr key={e.id} data-action={e.action}>
              <td>{when(e.at)}</td>
              <td>{e.actor}</td>
              <td>{e.project ?? '—'}</td>
              <td>{e.action}</td>
              <td>
                <code>{JSON.stringify(e.detail)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-admin-audit-more"
      />
    </section>
  );
}
