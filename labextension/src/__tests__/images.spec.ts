import { messagesByField } from '../images/BuildForm';
import { BuildsClient, IBuild, IRegistry, RegistriesClient } from '../images/client';
import {
  buildDraftToBody,
  buildFormField,
  buildTitle,
  draftFromDockerfile,
  draftFromRegistry,
  elapsed,
  folderOf,
  formatDuration,
  formatSize,
  imageNameFor,
  isDockerfile,
  isFinished,
  newBuildDraft,
  newRegistryDraft,
  parseBuildArgs,
  passwordState,
  registryChanges,
  registryDraftToInput,
  shortDigest
} from '../images/model';
import { CubeLabClient, parseError, Transport } from '../request';

const registry = (patch: Partial<IRegistry> = {}): IRegistry => ({
  id: 1,
  name: 'harbor',
  project: 'vision',
  host: 'harbor.example.com',
  username: 'robot',
  description: '',
  password_set: true,
  pull_secret: 'cubelab-registry-harbor',
  creator: 'alice',
  created_at: '2025-01-01T00:00:00+00:00',
  updated_at: '2025-01-01T00:00:00+00:00',
  permissions: { edit: true },
  ...patch
});

const build = (patch: Partial<IBuild> = {}): IBuild => ({
  id: 3,
  project: 'vision',
  image: 'trainer',
  tags: ['v1', 'latest'],
  status: 'succeeded',
  duration: 12.4,
  digest: 'sha256:0123456789abcdef0123',
  size: 1534,
  cache: '2 of 3 steps reused',
  ...patch
});

describe('which files are Dockerfiles', () => {
  it('takes Dockerfile, Containerfile and NAME.Dockerfile, nothing else', () => {
    expect(isDockerfile('Dockerfile')).toBe(true);
    expect(isDockerfile('images/trainer/Dockerfile')).toBe(true);
    expect(isDockerfile('images/gpu.Dockerfile')).toBe(true);
    expect(isDockerfile('images/gpu.dockerfile')).toBe(true);
    expect(isDockerfile('Containerfile')).toBe(true);
    expect(isDockerfile('Dockerfile.txt')).toBe(false);
    expect(isDockerfile('.Dockerfile')).toBe(false);
    expect(isDockerfile('notes/Dockerfiles.md')).toBe(false);
    expect(isDockerfile('dockerfile')).toBe(false);
  });
});

describe('the build form prefilled from a Dockerfile', () => {
  it('uses the path, its folder as context and an image name from the file or folder', () => {
    expect(draftFromDockerfile('images/trainer/Dockerfile', 'vision')).toEqual({
      ...newBuildDraft('vision'),
      image: 'trainer',
      dockerfile_path: 'images/trainer/Dockerfile',
      context: 'images/trainer'
    });
    const top = draftFromDockerfile('/Dockerfile', 'public');
    expect(top.dockerfile_path).toBe('Dockerfile');
    expect(top.context).toBe('.');
    expect(top.image).toBe('image');
    expect(draftFromDockerfile('x/GPU Base.Dockerfile', 'p').image).toBe('gpu-base');
    expect(folderOf('a/b/c')).toBe('a/b');
    expect(imageNameFor('My_Images/Dockerfile')).toBe('my_images');
  });

  it('sends the fields typed, leaving empty optional ones to the server', () => {
    const draft = {
      ...draftFromDockerfile('img/Dockerfile', 'vision'),
      tags: 'v1, latest  v2',
      build_args: 'PY=3.11\n\nEXTRA=a=b\n',
      memory: ' 2G '
    };
    expect(buildDraftToBody(draft)).toEqual({
      project: 'vision',
      image: 'img',
      dockerfile_path: 'img/Dockerfile',
      context: 'img',
      tags: ['v1', 'latest', 'v2'],
      build_args: { PY: '3.11', EXTRA: 'a=b' },
      memory: '2G'
    });
    const bare = buildDraftToBody({ ...newBuildDraft('p'), image: 'x', tags: ' ', dockerfile_path: 'D' });
    expect(bare).toEqual({ project: 'p', image: 'x', dockerfile_path: 'D', context: '.' });
    // a line without '=' still reaches the server, which names it
    expect(parseBuildArgs('BROKEN')).toEqual({ BROKEN: '' });
  });

  it('places the server messages at the form field they name', () => {
    expect(buildFormField('tags[1]')).toBe('tags');
    expect(buildFormField('build_args.X')).toBe('build_args');
    expect(buildFormField('dockerfile')).toBe('dockerfile_path');
    expect(buildFormField(null)).toBe('');
    expect(buildFormField('other')).toBe('');
    const err = parseError(
      400,
      JSON.stringify({
        error: 'invalid',
        message: "image: 'Bad' is not an image name",
        field: 'image',
        errors: [
          { field: 'image', message: "image: 'Bad' is not an image name (accepted: lowercase)", accepted: 'lowercase' },
          { field: 'tags[0]', message: "tags[0]: '-' is not a tag", accepted: 'letters' }
        ]
      })
    );
    expect(messagesByField(err)).toEqual({
      image: "image: 'Bad' is not an image name (accepted: lowercase)",
      tags: "tags[0]: '-' is not a tag"
    });
    expect(messagesByField(parseError(404, JSON.stringify({ message: 'no project x', field: 'project' })))).toEqual({
      project: 'no project x'
    });
    expect(messagesByField(new Error('down'))).toEqual({ '': 'down' });
  });
});

describe('the registry form and its write-only password', () => {
  it('never prefills the password and says whether one is stored', () => {
    const draft = draftFromRegistry(registry());
    expect(draft.password).toBe('');
    expect(passwordState(registry(), '')).toBe('set');
    expect(passwordState(registry({ password_set: false }), '')).toBe('not set');
    expect(passwordState(null, '')).toBe('not set');
    expect(passwordState(registry(), 'typed')).toBe('will be replaced');
  });

  it('sends only changed fields on an edit, the password only when one was typed', () => {
    const r = registry();
    expect(registryChanges(r, draftFromRegistry(r))).toEqual({});
    expect(registryChanges(r, { ...draftFromRegistry(r), host: ' other:5000 ' })).toEqual({ host: 'other:5000' });
    expect(registryChanges(r, { ...draftFromRegistry(r), password: 's3cret' })).toEqual({ password: 's3cret' });
  });

  it('adds a platform-wide registry with project null', () => {
    const input = registryDraftToInput({ ...newRegistryDraft(''), name: ' hub ', host: 'h', password: 'p' });
    expect(input).toEqual({ name: 'hub', project: null, host: 'h', username: '', description: '', password: 'p' });
    expect(registryDraftToInput({ ...newRegistryDraft('vision'), name: 'a' }).project).toBe('vision');
  });
});

describe('how a build reads', () => {
  it('formats duration, size, digest and title', () => {
    expect(formatDuration(4.25)).toBe('4.3s');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(3720)).toBe('1h 02m');
    expect(formatDuration(null)).toBe('—');
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(1534)).toBe('1.5 kB');
    expect(formatSize(123_456_789)).toBe('123 MB');
    expect(formatSize(undefined)).toBe('—');
    expect(shortDigest('sha256:0123456789abcdef0123')).toBe('sha256:0123456789ab');
    expect(shortDigest(null)).toBe('—');
    expect(buildTitle(build())).toBe('vision/trainer:v1');
    expect(buildTitle(build({ tags: undefined }))).toBe('vision/trainer:latest');
  });

  it('counts a running build from its start and takes the server duration once it ended', () => {
    const start = '2025-01-01T00:00:00+00:00';
    const running = build({ status: 'running', duration: null, started_at: start });
    expect(elapsed(running, Date.parse(start) + 5000)).toBe(5);
    expect(elapsed(build(), 0)).toBe(12.4);
    expect(elapsed(build({ status: 'queued', duration: null, started_at: null }))).toBeNull();
    expect(isFinished('running')).toBe(false);
    expect(isFinished('cancelled')).toBe(true);
  });
});

describe('the images clients', () => {
  const recorder = (answers: Record<string, unknown>) => {
    const calls: [string, string, unknown][] = [];
    const streamed: string[] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = answers[`${method} ${path.split('?')[0]}`];
      return { status: 200, text: async () => JSON.stringify(answer ?? {}) };
    };
    const api = new CubeLabClient(transport, async (path, onText) => {
      streamed.push(path);
      onText('STEP 1/2: FROM scratch\n');
      onText('STEP 2/2: COPY hello.txt /\n');
    });
    return { calls, streamed, builds: new BuildsClient(api), registries: new RegistriesClient(api) };
  };

  it('lists, starts, cancels builds and follows the log', async () => {
    const { calls, streamed, builds } = recorder({
      'GET builds': { builds: [build()], next_cursor: null },
      'POST builds': build({ status: 'queued' }),
      'POST builds/3/cancel': build({ status: 'cancelled' })
    });
    const page = await builds.listPage({ project: 'vision', status: '', q: '' }, null, 20);
    expect(page.items[0].image).toBe('trainer');
    expect(page.next).toBeNull();
    expect(calls[0]).toEqual(['GET', 'builds?project=vision&limit=20', undefined]);
    await builds.create({ project: 'vision', image: 'trainer', dockerfile_path: 'Dockerfile' });
    expect(calls[1]).toEqual([
      'POST',
      'builds',
      { project: 'vision', image: 'trainer', dockerfile_path: 'Dockerfile' }
    ]);
    expect((await builds.cancel(3)).status).toBe('cancelled');
    expect(calls[2][0]).toBe('POST');
    expect(calls[2][1]).toBe('builds/3/cancel');
    const text: string[] = [];
    await builds.streamLog(3, t => text.push(t), new AbortController().signal);
    expect(streamed).toEqual(['builds/3/logs?follow=1']);
    expect(text.join('')).toContain('COPY hello.txt');
    expect(builds.logPath(3, false)).toBe('builds/3/logs');
  });

  it('adds, edits and deletes registries by their encoded names', async () => {
    const { calls, registries } = recorder({ 'GET registries': { registries: [registry()], next_cursor: null } });
    expect((await registries.listPage({}, null)).items[0].password_set).toBe(true);
    await registries.update('a b', { password: 'x' });
    await registries.remove('a b');
    expect(calls.slice(1)).toEqual([
      ['PATCH', 'registries/a%20b', { password: 'x' }],
      ['DELETE', 'registries/a%20b', undefined]
    ]);
  });
});
