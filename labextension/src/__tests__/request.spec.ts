import { ProjectsClient } from '../projects/client';
import { ApiError, CubeLabClient, parseError, Transport } from '../request';

function fakeTransport(status: number, body: unknown, calls: any[] = []): Transport {
  return async (method, path, data) => {
    calls.push({ method, path, data });
    return {
      status,
      text: async () => (body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body))
    };
  };
}

describe('parseError', () => {
  it('keeps code, message and field of a control-plane error', () => {
    const e = parseError(
      400,
      JSON.stringify({
        error: 'invalid',
        message: "node_selector: 'a' has no '='",
        field: 'node_selector'
      })
    );
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid');
    expect(e.field).toBe('node_selector');
    expect(e.fieldMessages).toEqual({
      node_selector: "node_selector: 'a' has no '='"
    });
  });

  it('keeps every field error of a multi-field 400', () => {
    const e = parseError(
      400,
      JSON.stringify({
        error: 'invalid',
        message: 'org: bad',
        field: 'org',
        errors: [
          { field: 'org', message: 'org: bad', accepted: 'labels' },
          { field: 'quota.cpu', message: 'quota.cpu: bad', accepted: '2' }
        ]
      })
    );
    expect(e.details).toHaveLength(2);
    expect(e.fieldMessages).toEqual({
      org: 'org: bad',
      'quota.cpu': 'quota.cpu: bad'
    });
  });

  it('puts a message without a field under the empty key', () => {
    const e = parseError(403, JSON.stringify({ error: 'forbidden', message: 'not a creator', field: null }));
    expect(e.field).toBeNull();
    expect(e.fieldMessages).toEqual({ '': 'not a creator' });
  });

  it('explains non-JSON answers by their status', () => {
    expect(parseError(502, '<html>Bad gateway</html>').message).toMatch(/control plane cannot be reached/);
    expect(parseError(401, '').message).toMatch(/not logged in/);
    expect(parseError(418, 'x').message).toBe('Request failed (HTTP 418)');
  });

  it('uses a tornado reason when there is no message', () => {
    const e = parseError(404, JSON.stringify({ reason: 'Not Found' }));
    expect(e.message).toBe('Not Found');
    expect(e.code).toBe('http_404');
  });
});

/** The projects client on the shared request helper. */
function projects(transport: Transport): ProjectsClient {
  return new ProjectsClient(new CubeLabClient(transport));
}

describe('CubeLabClient with ProjectsClient', () => {
  it('sends JSON to the right paths and parses the answer', async () => {
    const calls: any[] = [];
    const client = projects(fakeTransport(201, { name: 'team-a', role: 'creator' }, calls));
    const p = await client.createProject({ name: 'team-a', description: 'x' });
    expect(p.name).toBe('team-a');
    await client.addMember('team a', 'bob', 'dev');
    await client.setMemberRole('team-a', 'bob/x', 'ops');
    expect(calls).toEqual([
      {
        method: 'POST',
        path: 'projects',
        data: { name: 'team-a', description: 'x' }
      },
      {
        method: 'POST',
        path: 'projects/team%20a/members',
        data: { name: 'bob', role: 'dev' }
      },
      {
        method: 'PATCH',
        path: 'projects/team-a/members/bob%2Fx',
        data: { role: 'ops' }
      }
    ]);
  });

  it('returns undefined for 204', async () => {
    const client = projects(fakeTransport(204, undefined));
    await expect(client.removeMember('p', 'u')).resolves.toBeUndefined();
  });

  it('unwraps the project list', async () => {
    const client = projects(fakeTransport(200, { projects: [{ name: 'public', role: 'dev' }] }));
    const list = await client.listProjects();
    expect(list.map(p => p.name)).toEqual(['public']);
  });

  it('throws ApiError with the field for a 400', async () => {
    const client = projects(
      fakeTransport(400, {
        error: 'invalid',
        message: 'volume_mount: bad type',
        field: 'volume_mount'
      })
    );
    await expect(client.updateProject('p', { settings: { volume_mount: 'x' } })).rejects.toMatchObject({
      status: 400,
      field: 'volume_mount',
      message: 'volume_mount: bad type'
    });
  });

  it('maps a network failure to status 0', async () => {
    const client = projects(async () => {
      throw new Error('offline');
    });
    await expect(client.me()).rejects.toMatchObject({
      status: 0,
      code: 'network'
    });
  });

  it('refuses a success answer that is not JSON', async () => {
    const client = projects(fakeTransport(200, '<html>'));
    await expect(client.me()).rejects.toMatchObject({ code: 'bad_response' });
  });
});
