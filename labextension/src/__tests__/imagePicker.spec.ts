import { ImagesClient } from '../images/client';
import { describeImageUser, imageUsersOf } from '../images/model';
import {
  IImage,
  isPinned,
  moveActive,
  narrowSuggestions,
  parseReference,
  pinnedReference,
  searchTerm,
  suggestionsFrom
} from '../images/picker';
import { imageOverrideField } from '../pipelines/argforms';
import { CubeLabClient, parseError, Transport } from '../request';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const REG = '127.0.0.1:5000';

const images: IImage[] = [
  {
    project: 'team',
    image: 'app',
    repository: 'team/app',
    tags: [
      {
        tag: 'latest',
        reference: `${REG}/team/app:latest`,
        digest: D1,
        size: 10,
        in_registry: true,
        build: 3,
        built_at: null
      },
      {
        tag: 'v1',
        reference: `${REG}/team/app:v1`,
        digest: D1,
        size: 10,
        in_registry: true,
        build: null,
        built_at: null
      },
      {
        tag: 'v2',
        reference: `${REG}/team/app:v2`,
        digest: D2,
        size: 12,
        in_registry: true,
        build: null,
        built_at: null
      }
    ]
  },
  {
    project: 'team',
    image: 'tools/cli',
    repository: 'team/tools/cli',
    tags: [
      {
        tag: 'dev',
        reference: `${REG}/team/tools/cli:dev`,
        digest: null,
        size: null,
        in_registry: false,
        build: 9,
        built_at: null
      }
    ]
  }
];

describe('image references', () => {
  it('split registry (with its port), repository, tag and digest', () => {
    expect(parseReference(`${REG}/team/app:v1`)).toEqual({
      registry: REG,
      repository: 'team/app',
      tag: 'v1',
      digest: ''
    });
    expect(parseReference(`${REG}/team/app@${D1}`)).toEqual({
      registry: REG,
      repository: 'team/app',
      tag: '',
      digest: D1
    });
    expect(parseReference('python:3.11')).toEqual({ registry: '', repository: 'python', tag: '3.11', digest: '' });
    expect(parseReference('localhost/x/y')).toEqual({ registry: 'localhost', repository: 'x/y', tag: '', digest: '' });
    expect(parseReference('team/app')).toEqual({ registry: '', repository: 'team/app', tag: '', digest: '' });
  });

  it('search the image name being typed, not its registry, project or tag', () => {
    expect(searchTerm('')).toBe('');
    expect(searchTerm('Ap')).toBe('ap');
    expect(searchTerm(`${REG}/team/`)).toBe('');
    expect(searchTerm(`${REG}/team/APP:v`)).toBe('app');
    expect(searchTerm(`team/app@sha256:12`)).toBe('app');
  });

  it('pin by digest in place of the tag, keeping the registry', () => {
    expect(pinnedReference(`${REG}/team/app:v1`, D1)).toBe(`${REG}/team/app@${D1}`);
    expect(pinnedReference('team/app', D2)).toBe(`team/app@${D2}`);
    expect(pinnedReference(`${REG}/team/app:v1`, null)).toBeNull();
    expect(isPinned(`${REG}/team/app@${D1}`)).toBe(true);
    expect(isPinned(`${REG}/team/app:v1`)).toBe(false);
  });
});

describe('suggestions', () => {
  it('one per tag with its short digest and pinned reference', () => {
    const s = suggestionsFrom(images);
    expect(s.map(x => x.label)).toEqual(['team/app:latest', 'team/app:v1', 'team/app:v2', 'team/tools/cli:dev']);
    expect(s[1]).toEqual({
      label: 'team/app:v1',
      reference: `${REG}/team/app:v1`,
      pinned: `${REG}/team/app@${D1}`,
      digest: D1,
      short: 'sha256:111111111111',
      build: null
    });
    // a build kept only in build storage has no digest yet: nothing to pin
    expect(s[3].pinned).toBeNull();
    expect(s[3].short).toBe('—');
    expect(s[0].build).toBe(3);
  });

  it('narrow to the typed tag or digest once the name is typed', () => {
    const s = suggestionsFrom(images);
    expect(narrowSuggestions(s, 'app').length).toBe(4); // the server matched the name
    expect(narrowSuggestions(s, `${REG}/team/app:v`).map(x => x.label)).toEqual(['team/app:v1', 'team/app:v2']);
    expect(narrowSuggestions(s, 'app:l').map(x => x.label)).toEqual(['team/app:latest']);
    expect(narrowSuggestions(s, `team/app@sha256:2222`).map(x => x.label)).toEqual(['team/app:v2']);
    expect(narrowSuggestions(s, 'python:3.11')).toEqual([]);
  });

  it('arrow keys wrap around the options', () => {
    expect(moveActive(-1, 3, 'ArrowDown')).toBe(0);
    expect(moveActive(2, 3, 'ArrowDown')).toBe(0);
    expect(moveActive(0, 3, 'ArrowUp')).toBe(2);
    expect(moveActive(-1, 3, 'ArrowUp')).toBe(2);
    expect(moveActive(0, 0, 'ArrowDown')).toBe(-1);
  });
});

describe('the image override of a container task', () => {
  it('shows the template image it replaces', () => {
    const f = imageOverrideField('python:3.11');
    expect([f.flag, f.widget, f.required, f.placeholder]).toEqual(['images', 'text', false, 'python:3.11']);
    expect(f.describe).toContain('python:3.11');
  });
});

describe('images client and the in-use answer', () => {
  it('lists with q and deletes with force', async () => {
    const calls: [string, string][] = [];
    const transport: Transport = async (method, path) => {
      calls.push([method, path]);
      return { status: 200, text: async () => JSON.stringify(method === 'GET' ? { images, next_cursor: 'c2' } : {}) };
    };
    const client = new ImagesClient(new CubeLabClient(transport));
    const page = await client.listPage({ project: 'team', q: 'ap' }, null);
    expect(page.next).toBe('c2');
    await client.remove('team', 'tools/cli', 'dev');
    await client.remove('team', 'app', 'v1', true);
    expect(calls).toEqual([
      ['GET', 'images?project=team&q=ap&limit=20'],
      ['DELETE', 'images/team/tools%2Fcli/dev'],
      ['DELETE', 'images/team/app/v1?force=1']
    ]);
  });

  it('reads the users of a 409 image_in_use and names them', () => {
    const err = parseError(
      409,
      JSON.stringify({
        error: 'image_in_use',
        message: 'used',
        users: [
          { kind: 'template', name: 'trainer', version: 'Release', project: null },
          { kind: 'pipeline', name: 'etl', project: 'team', task: 'train' },
          { kind: 'server', name: 'alice/dev', project: 'team' },
          'junk'
        ]
      })
    );
    const users = imageUsersOf(err)!;
    expect(users.map(describeImageUser)).toEqual([
      'job template trainer (Release)',
      'pipeline etl (task train, project team)',
      'notebook server alice/dev (project team)'
    ]);
    expect(imageUsersOf(parseError(409, JSON.stringify({ error: 'conflict', message: 'x' })))).toBeNull();
    expect(imageUsersOf(new Error('x'))).toBeNull();
  });
});
