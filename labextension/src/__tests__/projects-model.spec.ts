import { ApiError, parseError } from '../request';
import {
  capabilities,
  checkNewMember,
  CREATE_FORM_KEYS,
  emptyForm,
  formErrors,
  formFromSettings,
  formKeyFor,
  isDirty,
  SETTING_FIELDS,
  SETTING_KEYS,
  SETTINGS_FORM_KEYS,
  settingsForCreate,
  settingsPatch,
  sortMembers
} from '../projects/model';

const settings = {
  cluster: 'default',
  org: 'team-a',
  node_selector: 'disk=ssd',
  volume_mount: null,
  service_external_ip: null,
  quota: { cpu: '32', memory: null, gpu: '8' },
  namespace: null
};

describe('settings form model', () => {
  it('has a field for every project setting and quota part', () => {
    expect(SETTING_KEYS.sort()).toEqual(
      [
        'cluster',
        'namespace',
        'node_selector',
        'org',
        'quota.cpu',
        'quota.gpu',
        'quota.memory',
        'service_external_ip',
        'volume_mount'
      ].sort()
    );
    for (const f of SETTING_FIELDS) {
      expect(f.label).toBeTruthy();
      expect(f.help).toBeTruthy();
    }
  });

  it('fills the form from settings, null as empty', () => {
    const form = formFromSettings(settings);
    expect(form.cluster).toBe('default');
    expect(form.volume_mount).toBe('');
    expect(form['quota.cpu']).toBe('32');
    expect(form['quota.memory']).toBe('');
    expect(form['quota.gpu']).toBe('8');
    expect(formFromSettings(null)).toEqual(emptyForm());
    expect(formFromSettings({ ...settings, quota: null })['quota.cpu']).toBe('');
  });

  it('sends only changed fields, cleared ones as null', () => {
    const original = formFromSettings(settings);
    const form = {
      ...original,
      org: 'team-b',
      node_selector: '',
      volume_mount: '  ',
      namespace: ' ns1 '
    };
    expect(settingsPatch(original, form)).toEqual({
      org: 'team-b',
      node_selector: null,
      namespace: 'ns1'
    });
  });

  it('sends the whole quota when one part changed', () => {
    const original = formFromSettings(settings);
    expect(settingsPatch(original, { ...original, 'quota.memory': '64G' })).toEqual({
      quota: { cpu: '32', memory: '64G', gpu: '8' }
    });
    expect(
      settingsPatch(original, {
        ...original,
        'quota.cpu': '',
        'quota.gpu': ''
      })
    ).toEqual({ quota: null });
  });

  it('is not dirty for whitespace-only edits', () => {
    const original = formFromSettings(settings);
    expect(isDirty(original, { ...original, cluster: ' default ' })).toBe(false);
    expect(isDirty(original, { ...original, cluster: 'other' })).toBe(true);
  });

  it('creates with only the filled fields', () => {
    expect(settingsForCreate(emptyForm())).toEqual({});
    expect(settingsForCreate({ ...emptyForm(), org: 'x', 'quota.gpu': '1' })).toEqual({
      org: 'x',
      quota: { cpu: null, memory: null, gpu: '1' }
    });
  });
});

describe('server errors onto form fields', () => {
  it('maps field names, including prefixed and nested ones', () => {
    const known = SETTINGS_FORM_KEYS;
    expect(formKeyFor('node_selector', known)).toBe('node_selector');
    expect(formKeyFor('settings.org', known)).toBe('org');
    expect(formKeyFor('quota.cpu', known)).toBe('quota.cpu');
    expect(formKeyFor('quota', known)).toBe('quota.cpu');
    expect(formKeyFor('members', known)).toBe('');
    expect(formKeyFor(null, known)).toBe('');
  });

  it('puts every message of a 400 next to its field', () => {
    const err = parseError(
      400,
      JSON.stringify({
        error: 'invalid',
        message: 'org: bad',
        field: 'org',
        errors: [
          { field: 'org', message: "org: 'A B' is not a valid label value" },
          { field: 'quota.memory', message: "quota.memory: '4Q' is not a size" },
          { field: 'colour', message: 'colour: is not a project setting' }
        ]
      })
    );
    expect(formErrors(err, SETTINGS_FORM_KEYS)).toEqual({
      org: "org: 'A B' is not a valid label value",
      'quota.memory': "quota.memory: '4Q' is not a size",
      '': 'colour: is not a project setting'
    });
  });

  it('puts a create conflict on the name field', () => {
    const err = new ApiError(409, 'conflict', "a project named 'x' already exists", 'name');
    expect(formErrors(err, CREATE_FORM_KEYS)).toEqual({
      name: "a project named 'x' already exists"
    });
  });

  it('shows permission and network errors at the top', () => {
    expect(formErrors(new ApiError(403, 'forbidden', 'no'), SETTINGS_FORM_KEYS)).toEqual({ '': 'no' });
    expect(formErrors(new Error('boom'), SETTINGS_FORM_KEYS)).toEqual({
      '': 'boom'
    });
    expect(formErrors(null, SETTINGS_FORM_KEYS)).toEqual({});
  });
});

describe('members', () => {
  it('sorts creators first', () => {
    expect(
      sortMembers([
        { name: 'zed', role: 'creator' },
        { name: 'bob', role: 'ops' },
        { name: 'amy', role: 'dev' },
        { name: 'al', role: 'creator' }
      ]).map(m => m.name)
    ).toEqual(['al', 'zed', 'amy', 'bob']);
  });

  it('checks a new member name', () => {
    const members = [{ name: 'alice', role: 'creator' as const }];
    expect(checkNewMember(' ', members)).toMatch(/Enter a username/);
    expect(checkNewMember('alice', members)).toMatch(/already a member/);
    expect(checkNewMember('bob', members)).toBeNull();
  });

  it('derives capabilities from permissions', () => {
    expect(capabilities(null)).toEqual({
      editSettings: false,
      manageMembers: false,
      delete: false
    });
    expect(
      capabilities({
        permissions: { edit_settings: true, manage_members: true, delete: false }
      } as any)
    ).toEqual({ editSettings: true, manageMembers: true, delete: false });
  });
});
