import { BuildsClient } from '../images/client';
import { debugOutcome, debugRunBody } from '../images/debugRequest';
import {
  changesRequest,
  changesSummary,
  IEnvironmentSnapshots,
  imageNameFrom,
  listingProblems,
  newSaveDraft,
  SaveAsImageClient,
  saveDraftToBuild,
  saveFormField,
  savedTag
} from '../images/saveAsImage';
import { CubeLabClient, Transport } from '../request';

const snapshots = (patch: Partial<IEnvironmentSnapshots> = {}): IEnvironmentSnapshots => ({
  base: '127.0.0.1:5000/vision/trainer:v1',
  before: { taken_at: 1, python: '/opt/py/bin/python', pip: 'numpy==1.0\n', apt: 'curl\t7.88\n', errors: {} },
  after: {
    taken_at: 2,
    python: '/opt/py/bin/python',
    pip: 'numpy==1.0\nrich==13.0\n',
    apt: 'curl\t7.88\n',
    errors: { conda: 'conda list exited with 1: broken' }
  },
  managers: ['apt', 'pip'],
  ...patch
});

describe('the dockerfile-from-environment request', () => {
  it('sends both lists of each manager listed both times, and the base', () => {
    expect(changesRequest(snapshots(), ' 127.0.0.1:5000/vision/trainer:v1 ')).toEqual({
      base: '127.0.0.1:5000/vision/trainer:v1',
      apt_before: 'curl\t7.88\n',
      apt_after: 'curl\t7.88\n',
      pip_before: 'numpy==1.0\n',
      pip_after: 'numpy==1.0\nrich==13.0\n'
    });
  });

  it('leaves out a manager listed only once', () => {
    const s = snapshots();
    delete s.after.apt;
    expect(Object.keys(changesRequest(s, 'python:3.11'))).toEqual(['base', 'pip_before', 'pip_after']);
  });

  it('says why a manager could not be listed', () => {
    expect(listingProblems(snapshots())).toEqual(['conda (after): conda list exited with 1: broken']);
  });
});

describe('the review form', () => {
  it('names the image after the base and tags it with the time', () => {
    const draft = newSaveDraft('vision', snapshots(), new Date(Date.UTC(2026, 0, 2, 3, 4)));
    expect(draft).toEqual({
      project: 'vision',
      base: '127.0.0.1:5000/vision/trainer:v1',
      image: 'trainer',
      tag: 'saved-20260102-0304',
      dockerfile: ''
    });
    expect(savedTag(new Date(Date.UTC(2026, 11, 31, 23, 59)))).toBe('saved-20261231-2359');
  });

  it('falls back to a plain name without a usable base', () => {
    expect(imageNameFrom(null)).toBe('saved-environment');
    expect(imageNameFrom('')).toBe('saved-environment');
    expect(imageNameFrom('quay.io/jupyter/Scipy-Notebook:2025')).toBe('scipy-notebook');
    expect(imageNameFrom('python@sha256:abc')).toBe('python');
    expect(newSaveDraft('p', snapshots({ base: null })).base).toBe('');
  });

  it('builds the reviewed Dockerfile inline with one tag', () => {
    const draft = { project: 'vision', base: 'x', image: ' trainer ', tag: 'v2', dockerfile: 'FROM x\nRUN true\n' };
    expect(saveDraftToBuild(draft)).toEqual({
      project: 'vision',
      image: 'trainer',
      dockerfile: 'FROM x\nRUN true\n',
      tags: ['v2']
    });
    expect(saveDraftToBuild({ ...draft, tag: ' ' }).tags).toBeUndefined();
  });

  it('shows each server message at its field', () => {
    expect(saveFormField('tags[0]')).toBe('tag');
    expect(saveFormField('base')).toBe('base');
    expect(saveFormField('dockerfile')).toBe('dockerfile');
    expect(saveFormField('pip_after')).toBe('');
    expect(saveFormField(null)).toBe('');
  });

  it('summarizes the changes per manager', () => {
    expect(
      changesSummary({
        dockerfile: '',
        base: 'x',
        changes: {
          pip: { added: ['rich==13.0'], changed: [], removed: [], left_out: [{ line: 'mine', why: 'editable' }] },
          apt: { added: [], changed: [], removed: ['vim'], left_out: [] }
        }
      })
    ).toEqual([
      'pip: 1 added, 0 changed, 0 removed (1 left out: see the comments)',
      'apt: 0 added, 0 changed, 1 removed'
    ]);
  });
});

describe('the calls', () => {
  it('asks the server for snapshots, the control plane for the Dockerfile, then starts the build', async () => {
    const calls: [string, string, unknown][] = [];
    const transport =
      (root: string): Transport =>
      async (method, path, body) => {
        calls.push([method, `${root}/${path}`, body]);
        const answer =
          root === 'env'
            ? snapshots()
            : path === 'builds'
              ? { id: 9, status: 'queued' }
              : { dockerfile: 'FROM b\n', base: 'b', changes: {} };
        return { status: path === 'builds' ? 201 : 200, text: async () => JSON.stringify(answer) };
      };
    const api = new CubeLabClient(transport('api'));
    const client = new SaveAsImageClient(new CubeLabClient(transport('env')), api, new BuildsClient(api));
    const snaps = await client.snapshots();
    const generated = await client.dockerfile(snaps, 'b');
    const build = await client.build({
      project: 'vision',
      base: 'b',
      image: 'img',
      tag: 't',
      dockerfile: generated.dockerfile
    });
    expect(build.id).toBe(9);
    expect(calls.map(c => `${c[0]} ${c[1]}`)).toEqual([
      'POST env/snapshots',
      'POST api/images/dockerfile-from-environment',
      'POST api/builds'
    ]);
    expect(calls[2][2]).toEqual({ project: 'vision', image: 'img', dockerfile: 'FROM b\n', tags: ['t'] });
  });
});

describe('a command run in a built image', () => {
  it('is the typed line for the image’s own shell', () => {
    expect(debugRunBody('vision', '127.0.0.1:5000/vision/trainer:v1', 'pip list | head')).toEqual({
      project: 'vision',
      image: '127.0.0.1:5000/vision/trainer:v1',
      command: ['sh', '-c', 'pip list | head']
    });
    expect(debugRunBody('p', 'i', 'true', ' 30s ').timeout).toBe('30s');
  });

  it('says how it ended from the last line', () => {
    expect(debugOutcome('a\nb\n')).toBeNull();
    expect(debugOutcome('a\n[cubelab] exited with code 0\n')).toEqual({ code: 0, stopped: null });
    expect(debugOutcome('[cubelab] exited with code 127')).toEqual({ code: 127, stopped: null });
    expect(debugOutcome('x\n[cubelab] stopped after the timeout of 1m\n')).toEqual({
      code: null,
      stopped: 'stopped after the timeout of 1m'
    });
    expect(debugOutcome('[cubelab] killed at its memory limit of 1G\n')?.stopped).toBe(
      'killed at its memory limit of 1G'
    );
  });
});
