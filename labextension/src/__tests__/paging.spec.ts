import { fetchPage, IPage, PagedList, withQuery } from '../paging';
import { CubeLabClient, Transport } from '../request';
import { PipelinesClient } from '../pipelines/client';
import { ProjectsClient } from '../projects/client';

/** A fake transport serving `rows` in pages of `limit`, cursor = index of the next row. */
function pagedServer(rows: string[], options: { withCursor?: boolean } = {}) {
  const calls: string[] = [];
  const transport: Transport = async (_method, path) => {
    calls.push(path);
    const url = new URL(path, 'http://x/');
    const limit = Number(url.searchParams.get('limit') ?? 50);
    const q = url.searchParams.get('q') ?? '';
    const start = Number(url.searchParams.get('cursor') ?? 0);
    const matching = rows.filter(r => r.includes(q));
    const items = matching.slice(start, start + limit).map(name => ({ name }));
    const body: Record<string, unknown> = { items };
    if (options.withCursor !== false) {
      body.next_cursor = start + limit < matching.length ? String(start + limit) : null;
    }
    return { status: 200, text: async () => JSON.stringify(body) };
  };
  return { client: new CubeLabClient(transport), calls };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>(r => (resolve = r));
  return { promise, resolve };
}

describe('paging', () => {
  it('builds query strings without empty values', () => {
    expect(withQuery('pipelines', { project: 'a b', q: '', status: null, limit: 50, cursor: undefined })).toBe(
      'pipelines?project=a+b&limit=50'
    );
    expect(withQuery('runs', {})).toBe('runs');
    expect(withQuery('x?a=1', { b: 2 })).toBe('x?a=1&b=2');
  });

  it('follows next_cursor page by page and stops at null', async () => {
    const { client, calls } = pagedServer(['a1', 'a2', 'a3', 'a4', 'a5']);
    const list = new PagedList<{ name: string }>(cursor => fetchPage(client, 'things', 'items', { cursor, limit: 2 }));
    await list.first();
    expect(list.state.items.map(i => i.name)).toEqual(['a1', 'a2']);
    expect(list.hasMore).toBe(true);
    await list.more();
    await list.more();
    expect(list.state.items.map(i => i.name)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(list.hasMore).toBe(false);
    await list.more(); // nothing left: no request
    expect(calls).toEqual(['things?limit=2', 'things?limit=2&cursor=2', 'things?limit=2&cursor=4']);
  });

  it('takes an answer without next_cursor (an older control plane) as the last page', async () => {
    const { client } = pagedServer(['a', 'b', 'c'], { withCursor: false });
    const page = await fetchPage<{ name: string }>(client, 'things', 'items', { limit: 2 });
    expect(page).toEqual({ items: [{ name: 'a' }, { name: 'b' }], next: null });
  });

  it('sends the search to the server instead of filtering loaded items', async () => {
    const { client, calls } = pagedServer(['train-a', 'etl', 'train-b']);
    const page = await fetchPage<{ name: string }>(client, 'things', 'items', { filters: { q: 'train' } });
    expect(page.items.map(i => i.name)).toEqual(['train-a', 'train-b']);
    expect(calls).toEqual(['things?q=train&limit=50']);
  });

  it('drops the answer of a search that a newer one replaced', async () => {
    const slow = deferred<IPage<string>>();
    const fast = deferred<IPage<string>>();
    const answers = [slow.promise, fast.promise];
    const list = new PagedList<string>(() => answers.shift()!);
    const first = list.first();
    const second = list.first();
    fast.resolve({ items: ['new'], next: null });
    await second;
    slow.resolve({ items: ['old'], next: 'c' });
    await first;
    expect(list.state.items).toEqual(['new']);
    expect(list.hasMore).toBe(false);
  });

  it('keeps the loaded pages and reports the error of a failed next page', async () => {
    let fail = false;
    const list = new PagedList<string>(async cursor => {
      if (fail) {
        throw new Error('Cannot reach the server');
      }
      return cursor ? { items: ['b'], next: null } : { items: ['a'], next: 'c1' };
    });
    const states: boolean[] = [];
    await list.first();
    fail = true;
    await list.more();
    states.push(list.state.loading);
    expect(list.state.items).toEqual(['a']);
    expect(list.state.error).toBe('Cannot reach the server');
    expect(list.hasMore).toBe(true);
    fail = false;
    await list.more();
    expect(list.state.items).toEqual(['a', 'b']);
    expect(list.state.error).toBeNull();
    expect(states).toEqual([false]);
  });

  it('asks each list endpoint for a page with its filters', async () => {
    const calls: string[] = [];
    const transport: Transport = async (_m, path) => {
      calls.push(path);
      return {
        status: 200,
        text: async () =>
          JSON.stringify({ pipelines: [], runs: [], templates: [], projects: [], members: [], records: [] })
      };
    };
    const api = new CubeLabClient(transport);
    const pipelines = new PipelinesClient(api);
    const projects = new ProjectsClient(api);
    await pipelines.listPage({ project: 'team a', q: 'train' });
    await pipelines.listPage({}, 'abc');
    await pipelines.recentRunsPage({ status: 'failed' }, null, 20);
    await pipelines.runsPage(7, {}, 'r1');
    await pipelines.templatesPage({ q: 'py' });
    await pipelines.scheduleRecordsPage(7);
    await projects.projectsPage({ q: 'te' });
    await projects.membersPage('team a', {}, 'm2');
    expect(calls).toEqual([
      'pipelines?project=team+a&q=train&limit=50',
      'pipelines?limit=50&cursor=abc',
      'runs?status=failed&limit=20',
      'pipelines/7/runs?limit=50&cursor=r1',
      'templates?q=py&limit=50',
      'pipelines/7/schedule/records?limit=50',
      'projects?q=te&limit=50',
      'projects/team%20a/members?limit=50&cursor=m2'
    ]);
  });
});
