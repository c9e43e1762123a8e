import {
  describeImport,
  IImageImport,
  ImageImportsClient,
  imageNameFromArchive,
  importBody,
  importErrors,
  importFormField,
  importProgress,
  isArchivePath,
  newImportDraft
} from '../images/imports';
import { ApiError, CubeLabClient, Transport } from '../request';

describe('archives of the file browser', () => {
  it('offers tar files only', () => {
    expect(isArchivePath('images/python-3.11.oci.tar')).toBe(true);
    expect(isArchivePath('base.TAR')).toBe(true);
    expect(isArchivePath('a/b.tar.gz')).toBe(true);
    expect(isArchivePath('a/b.tgz')).toBe(true);
    expect(isArchivePath('notes.txt')).toBe(false);
    expect(isArchivePath('tar')).toBe(false);
    expect(isArchivePath('.tar')).toBe(false);
    expect(isArchivePath('folder.tar/readme.md')).toBe(false);
  });

  it('guesses the image name from the file name, in the accepted form', () => {
    expect(imageNameFromArchive('images/python-3.11.oci.tar')).toBe('python-3.11');
    expect(imageNameFromArchive('base.docker.tar')).toBe('base');
    expect(imageNameFromArchive('My Model.docker-archive.tar.gz')).toBe('my-model');
    expect(imageNameFromArchive('__.tar')).toBe('');
  });

  it('starts a draft from an archive, or empty', () => {
    expect(newImportDraft('ml', 'images/trainer.oci.tar')).toEqual({
      path: 'images/trainer.oci.tar',
      project: 'ml',
      image: 'trainer',
      tag: 'latest',
      format: ''
    });
    expect(newImportDraft('ml').image).toBe('');
  });
});

describe('the request', () => {
  it('sends what was typed; auto format and an empty tag are left to the API defaults', () => {
    const draft = { path: ' a/b.tar ', project: 'ml', image: 'b', tag: '', format: '' as const };
    expect(importBody(draft)).toEqual({ path: 'a/b.tar', project: 'ml', image: 'b' });
    expect(importBody({ ...draft, tag: 'v1', format: 'docker-archive' })).toEqual({
      path: 'a/b.tar',
      project: 'ml',
      image: 'b',
      tag: 'v1',
      format: 'docker-archive'
    });
    // a wrong value is sent as typed: the API names what is wrong
    expect(importBody({ ...draft, image: 'Not Valid' }).image).toBe('Not Valid');
  });

  it('puts each API error next to its field, with the accepted form', () => {
    expect(importFormField('path')).toBe('path');
    expect(importFormField('tag')).toBe('tag');
    expect(importFormField('body')).toBe('');
    expect(importFormField(null)).toBe('');
    const err = new ApiError(400, 'invalid', 'several', null, [
      { field: 'path', message: "'x.tar' is not a file of your workspace", accepted: 'a relative path of a tar file' },
      { field: 'image', message: "'Bad' is not a repository name" },
      { field: 'extra', message: 'is not a field' }
    ]);
    expect(importErrors(err)).toEqual({
      path: "'x.tar' is not a file of your workspace (accepted: a relative path of a tar file)",
      image: "'Bad' is not a repository name",
      '': 'extra: is not a field'
    });
    expect(importErrors(new ApiError(403, 'forbidden', 'Only admins import images'))).toEqual({
      '': 'Only admins import images'
    });
    expect(importErrors(new Error('network down'))).toEqual({ '': 'network down' });
  });

  it('says how long the import has waited', () => {
    expect(importProgress('a.tar', 0.2)).not.toMatch(/\(/);
    expect(importProgress('a.tar', 65)).toContain('Importing a.tar');
    expect(importProgress('a.tar', 65)).toMatch(/\(1\s*m/);
  });
});

describe('past imports', () => {
  const imp: IImageImport = {
    id: 3,
    project: 'ml',
    image: 'python',
    tag: '3.11',
    reference: '127.0.0.1:5000/ml/python:3.11',
    archive: 'images/python.oci.tar',
    format: 'oci-archive',
    image_id: 'abc',
    digest: 'sha256:0123456789abcdef0123',
    size: 2048,
    creator: 'admin',
    created_at: '2026-12-04T10:00:00+00:00'
  };

  it('reads as reference, archive, format, digest and size', () => {
    const line = describeImport(imp);
    expect(line).toContain('ml/python:3.11 ← images/python.oci.tar (oci-archive)');
    expect(line).toContain('0123456789ab');
  });

  it('posts the import and pages the list', async () => {
    const calls: [string, string, unknown][] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = method === 'POST' ? imp : { imports: [imp], next_cursor: 'c2' };
      return { status: method === 'POST' ? 201 : 200, text: async () => JSON.stringify(answer) };
    };
    const client = new ImageImportsClient(new CubeLabClient(transport));
    expect((await client.create({ path: 'a.tar', project: 'ml', image: 'python', tag: '3.11' })).id).toBe(3);
    const page = await client.listPage(null, 10);
    expect(page).toEqual({ items: [imp], next: 'c2' });
    expect(await client.listPage('c2', 10)).toBeTruthy();
    expect(calls.map(c => `${c[0]} ${c[1]}`)).toEqual([
      'POST images/import',
      'GET images/imports?limit=10',
      'GET images/imports?limit=10&cursor=c2'
    ]);
  });
});
