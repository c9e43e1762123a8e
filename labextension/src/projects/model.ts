/**
 * Pure logic of the project settings and member forms (no DOM, no JupyterLab).
 */
import { ApiError } from '../request';
import { IMember, IProject, ISettings, Role, ROLES, SettingsPatch } from './client';

/** Keys of the settings form; quota parts are `quota.cpu` etc. */
export type SettingKey =
  | 'cluster'
  | 'org'
  | 'node_selector'
  | 'volume_mount'
  | 'service_external_ip'
  | 'namespace'
  | 'quota.cpu'
  | 'quota.memory'
  | 'quota.gpu';

export interface ISettingField {
  key: SettingKey;
  label: string;
  placeholder: string;
  help: string;
}

/** The settings form, in display order. */
export const SETTING_FIELDS: ISettingField[] = [
  {
    key: 'cluster',
    label: 'Cluster',
    placeholder: 'default',
    help: 'Name of a cluster configured by the admin.'
  },
  {
    key: 'namespace',
    label: 'Namespace',
    placeholder: 'e.g. team-a',
    help: 'Kubernetes namespace for the project’s work.'
  },
  {
    key: 'org',
    label: 'Organisation',
    placeholder: 'public',
    help: 'Node label org=…; several joined by “,”.'
  },
  {
    key: 'node_selector',
    label: 'Node selector',
    placeholder: 'k=v;k=v',
    help: 'Extra node labels, e.g. disk=ssd;zone=a.'
  },
  {
    key: 'volume_mount',
    label: 'Volume mounts',
    placeholder: 'kubeflow-user-workspace(pvc):/mnt',
    help: 'src(type):/path joined by “,” or “;”. Types: pvc, pvc-share, memory, configmap, secret; hostpath and nfs are admin-only.'
  },
  {
    key: 'service_external_ip',
    label: 'Service external IP',
    placeholder: '10.0.0.5',
    help: 'IP addresses joined by “,”.'
  },
  {
    key: 'quota.cpu',
    label: 'Quota: CPU',
    placeholder: 'unlimited, e.g. 32',
    help: 'Maximum cores of the project’s running work.'
  },
  {
    key: 'quota.memory',
    label: 'Quota: memory',
    placeholder: 'unlimited, e.g. 128G',
    help: 'Maximum memory, e.g. 128G or 512M.'
  },
  {
    key: 'quota.gpu',
    label: 'Quota: GPU',
    placeholder: 'unlimited, e.g. 8',
    help: 'Maximum whole GPU cards.'
  }
];

export const SETTING_KEYS: SettingKey[] = SETTING_FIELDS.map(f => f.key);

/** The text of every field of the form; '' means unset. */
export type SettingsForm = Record<SettingKey, string>;

export function emptyForm(): SettingsForm {
  const form = {} as SettingsForm;
  for (const key of SETTING_KEYS) {
    form[key] = '';
  }
  return form;
}

/** Form values from a project's settings (null and missing become ''). */
export function formFromSettings(settings: Partial<ISettings> | null | undefined): SettingsForm {
  const form = emptyForm();
  if (!settings) {
    return form;
  }
  for (const key of SETTING_KEYS) {
    let value: unknown;
    if (key.startsWith('quota.')) {
      const part = key.slice('quota.'.length) as 'cpu' | 'memory' | 'gpu';
      value = settings.quota ? settings.quota[part] : null;
    } else {
      value = (settings as any)[key];
    }
    form[key] = value === null || value === undefined ? '' : String(value);
  }
  return form;
}

const norm = (text: string): string | null => {
  const t = text.trim();
  return t === '' ? null : t;
};

/**
 * The PATCH body's `settings` for what changed between `original` and `form`:
 * a cleared field is sent as null (unset); the quota is sent whole (all three
 * parts, null for unlimited) when any part changed, because the server
 * replaces it as one value.  Empty object when nothing changed.
 */
export function settingsPatch(original: SettingsForm, form: SettingsForm): SettingsPatch {
  const patch: SettingsPatch = {};
  let quotaChanged = false;
  for (const key of SETTING_KEYS) {
    const before = norm(original[key] ?? '');
    const after = norm(form[key] ?? '');
    if (before === after) {
      continue;
    }
    if (key.startsWith('quota.')) {
      quotaChanged = true;
    } else {
      (patch as any)[key] = after;
    }
  }
  if (quotaChanged) {
    const quota = {
      cpu: norm(form['quota.cpu']),
      memory: norm(form['quota.memory']),
      gpu: norm(form['quota.gpu'])
    };
    patch.quota = quota.cpu === null && quota.memory === null && quota.gpu === null ? null : quota;
  }
  return patch;
}

/** Settings for a new project: only the fields that were filled in. */
export function settingsForCreate(form: SettingsForm): SettingsPatch {
  return settingsPatch(emptyForm(), form);
}

export function isDirty(original: SettingsForm, form: SettingsForm): boolean {
  return Object.keys(settingsPatch(original, form)).length > 0;
}

/** Where a message for `field` (as the server names it) goes in a form. */
export function formKeyFor(field: string | null | undefined, known: readonly string[]): string {
  if (!field) {
    return '';
  }
  let f = field;
  for (const prefix of ['settings.', 'body.']) {
    if (f.startsWith(prefix)) {
      f = f.slice(prefix.length);
    }
  }
  if (known.includes(f)) {
    return f;
  }
  // `quota` as a whole (e.g. an unknown key) goes to the first quota field;
  // anything deeper than a known field goes to that field.
  for (const key of known) {
    if (f.startsWith(key + '.') || key.startsWith(f + '.')) {
      return key;
    }
  }
  return '';
}

/**
 * Server messages of an error keyed by the form field they concern; messages
 * about no known field are under '' (shown at the top of the form).
 */
export function formErrors(error: unknown, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (key: string, message: string) => {
    out[key] = out[key] ? `${out[key]}\n${message}` : message;
  };
  if (error instanceof ApiError) {
    if (error.details.length) {
      for (const d of error.details) {
        const key = formKeyFor(d.field, known);
        add(key, d.message);
      }
    } else {
      add(formKeyFor(error.field, known), error.message);
    }
  } else if (error) {
    add('', (error as Error).message ?? String(error));
  }
  return out;
}

export const SETTINGS_FORM_KEYS: readonly string[] = [...SETTING_KEYS, 'description'];
export const CREATE_FORM_KEYS: readonly string[] = ['name', 'description', ...SETTING_KEYS];
export const MEMBER_FORM_KEYS: readonly string[] = ['name', 'role'];

/** What the current user may do with a project, from its permissions. */
export function capabilities(project: IProject | null): {
  editSettings: boolean;
  manageMembers: boolean;
  delete: boolean;
} {
  const p = project?.permissions;
  return {
    editSettings: !!p?.edit_settings,
    manageMembers: !!p?.manage_members,
    delete: !!p?.delete
  };
}

export function isRole(value: unknown): value is Role {
  return ROLES.includes(value as Role);
}

/** Members sorted with creators first, then by name. */
export function sortMembers(members: IMember[]): IMember[] {
  const rank = (r: Role) => ROLES.indexOf(r);
  return [...members].sort((a, b) => rank(a.role) - rank(b.role) || a.name.localeCompare(b.name));
}

/** A client-side check before adding a member (the server checks again). */
export function checkNewMember(name: string, members: IMember[]): string | null {
  const n = name.trim();
  if (!n) {
    return 'Enter a username.';
  }
  if (members.some(m => m.name === n)) {
    return `'${n}' is already a member.`;
  }
  return null;
}

export const ROLE_LABELS: Record<Role, string> = {
  creator: 'creator',
  dev: 'dev',
  ops: 'ops'
};
