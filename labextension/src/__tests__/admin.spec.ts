import { CubeLabClient, Transport } from '../request';
import { AdminClient } from '../admin/client';
import {
  asksForAdmin,
  filterRunning,
  labelPatch,
  moveCategory,
  quotaBars,
  runningTotals,
  totalRows,
  usageSpec,
  usageTotals,
  withOthers
} from '../admin/logic';
import { IAdminProject, IRunningItem, IUsage } from '../admin/types';

const use = (cpu: number, memory = 0, gpu = 0) => ({ cpu, memory, gpu });
const item = (
  kind: IRunningItem['kind'],
  id: string,
  project: string | null,
  user: string,
  u = use(1)
): IRunningItem => ({
  kind,
  id,
  name: id,
  project,
  user,
  status: 'running',
  started: null,
  use: u,
  cluster: 'default'
});

const ITEMS = [
  item('server', 's1', null, 'ann', use(2, 1024, 0)),
  item('task', 't1', 'p1', 'ann', use(1, 2048, 1)),
  item('trial', 'r1', 'p1', 'bob', use(0.5, 0, 0)),
  item('service', 'v1', 'p2', 'bob', use(1, 0, 2))
];

describe('admin: what is running', () => {
  it('filters by kind, project and user together', () => {
    expect(filterRunning(ITEMS, { kind: '', project: '', user: '' })).toHaveLength(4);
    expect(filterRunning(ITEMS, { kind: 'task', project: '', user: '' }).map(i => i.id)).toEqual(['t1']);
    expect(filterRunning(ITEMS, { kind: '', project: 'p1', user: 'bob' }).map(i => i.id)).toEqual(['r1']);
    expect(filterRunning(ITEMS, { kind: 'server', project: 'p1', user: '' })).toEqual([]);
  });

  it('totals count and resources per project and per user', () => {
    const t = runningTotals(ITEMS);
    expect(t.by_project['p1']).toEqual({ count: 2, cpu: 1.5, memory: 2048, gpu: 1 });
    expect(t.by_project['(none)']).toEqual({ count: 1, cpu: 2, memory: 1024, gpu: 0 });
    expect(t.by_user['bob']).toEqual({ count: 2, cpu: 1.5, memory: 0, gpu: 2 });
    expect(t.all).toEqual({ count: 4, cpu: 4.5, memory: 3072, gpu: 3 });
    expect(totalRows(t.by_user).map(r => r.key)).toEqual(['bob', 'ann']);
  });
});

describe('admin: quota bars', () => {
  const project: IAdminProject = {
    name: 'p1',
    members: 3,
    quota: { cpu: 10, memory: null, gpu: 2 },
    use: { cpu: 6, memory: 4096, gpu: 3 },
    by_kind: {
      servers: use(2, 1024, 0),
      tasks: use(4, 3072, 1),
      trials: use(0),
      services: use(0, 0, 2),
      builds: use(0)
    }
  };

  it('splits each resource by kind against the quota and flags overuse', () => {
    const [cpu, memory, gpu] = quotaBars(project);
    expect(cpu).toMatchObject({ resource: 'cpu', used: 6, limit: 10, over: false });
    expect(cpu.segments).toEqual([
      { kind: 'servers', value: 2, fraction: 0.2 },
      { kind: 'tasks', value: 4, fraction: 0.4 }
    ]);
    // no memory quota: the bar is the use itself
    expect(memory.limit).toBeNull();
    expect(memory.segments.map(s => s.fraction)).toEqual([0.25, 0.75]);
    // over quota: the bar scales to the use
    expect(gpu).toMatchObject({ used: 3, limit: 2, over: true });
    expect(gpu.segments.map(s => [s.kind, s.fraction])).toEqual([
      ['tasks', 1 / 3],
      ['services', 2 / 3]
    ]);
  });
});

describe('admin: category order', () => {
  const cats = [
    { name: 'base', index: 0, templates: 3 },
    { name: 'ml', index: 5, templates: 2 },
    { name: 'data', index: 5, templates: 1 },
    { name: 'zz', index: 9, templates: 1 }
  ];

  it('swaps the indexes of distinct neighbours', () => {
    expect(moveCategory(cats, 'data', -1)).toEqual([
      { name: 'data', index: 0 },
      { name: 'base', index: 5 }
    ]);
  });

  it('numbers upwards where neighbours share an index', () => {
    // palette order: base(0), data(5), ml(5), zz(9); data moves below ml
    expect(moveCategory(cats, 'data', 1)).toEqual([{ name: 'data', index: 6 }]);
  });

  it('does nothing at the ends or for unknown names', () => {
    expect(moveCategory(cats, 'base', -1)).toEqual([]);
    expect(moveCategory(cats, 'zz', 1)).toEqual([]);
    expect(moveCategory(cats, 'nope', 1)).toEqual([]);
  });
});

describe('admin: node labels', () => {
  it('sends changes only, removals as null', () => {
    const r = labelPatch(
      { notebook: 'true', org: 'a', 'gpu-type': 'V100' },
      { train: 'true', org: 'b', 'gpu-type': 'V100' }
    );
    expect(r.errors).toEqual({});
    expect(r.labels).toEqual({ notebook: null, train: 'true', org: 'b' });
  });

  it('names the label of a value Kubernetes refuses', () => {
    const r = labelPatch({}, { gpu: 'yes', org: 'bad value!' });
    expect(Object.keys(r.errors).sort()).toEqual(['gpu', 'org']);
    expect(r.errors.gpu).toContain('"true"');
    expect(r.labels).toEqual({});
  });

  it('treats blank text as removing the label', () => {
    expect(labelPatch({ org: 'a' }, { org: '  ' }).labels).toEqual({ org: null });
  });
});

describe('admin: usage charts', () => {
  const usage: IUsage = {
    days: ['2026-12-01', '2026-12-02', '2026-12-03'],
    series: [
      { key: 'p1', cpu_hours: [1, 0, 2.5], gpu_hours: [0, 0, 1] },
      { key: 'p2', cpu_hours: [3, 1, 0], gpu_hours: [0, 0, 0] }
    ],
    others: null
  };

  it('makes a stacked Vega-Lite bar chart of one metric, every day on the axis', () => {
    const spec = usageSpec(usage, 'cpu_hours', 'project') as any;
    expect(spec.$schema).toContain('vega-lite/v5');
    expect(spec.mark.type).toBe('bar');
    expect(spec.encoding.x.scale.domain).toEqual(usage.days);
    expect(spec.encoding.y.stack).toBe('zero');
    expect(spec.data.values).toEqual([
      { day: '2026-12-01', key: 'p1', hours: 1 },
      { day: '2026-12-03', key: 'p1', hours: 2.5 },
      { day: '2026-12-01', key: 'p2', hours: 3 },
      { day: '2026-12-02', key: 'p2', hours: 1 }
    ]);
    const gpu = usageSpec(usage, 'gpu_hours', 'user') as any;
    expect(gpu.data.values).toEqual([{ day: '2026-12-03', key: 'p1', hours: 1 }]);
    expect(gpu.encoding.color.title).toBe('user');
  });

  it('draws the summed rest as one more series, named apart from any project', () => {
    expect(withOthers(usage)).toBe(usage);
    const more = withOthers({ ...usage, others: { keys: 3, cpu_hours: [0, 2, 0], gpu_hours: [0, 0, 0] } });
    expect(more.series.map(s => s.key)).toEqual(['p1', 'p2', '(3 others)']);
    expect(usageTotals(more, 'cpu_hours')).toEqual([
      { key: 'p2', hours: 4 },
      { key: 'p1', hours: 3.5 },
      { key: '(3 others)', hours: 2 }
    ]);
    const one = withOthers({ ...usage, others: { keys: 1, cpu_hours: [1, 0, 0], gpu_hours: [0, 0, 0] } });
    expect(one.series[2].key).toBe('(1 other)');
  });

  it('totals each series over the period', () => {
    expect(usageTotals(usage, 'cpu_hours')).toEqual([
      { key: 'p2', hours: 4 },
      { key: 'p1', hours: 3.5 }
    ]);
  });
});

describe('admin: opening from a URL', () => {
  it('opens for ?cubelab-admin, with or without other parameters', () => {
    expect(asksForAdmin('?cubelab-admin')).toBe(true);
    expect(asksForAdmin('?reset&cubelab-admin=')).toBe(true);
    expect(asksForAdmin('')).toBe(false);
    expect(asksForAdmin('?cubelab-administrator')).toBe(false);
  });
});

describe('admin: client', () => {
  it('sends the API paths, the cursor as cursor, reads next_cursor', async () => {
    const calls: [string, string, unknown][] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const answer = path.startsWith('admin/running')
        ? { items: ITEMS, next_cursor: 'n2', totals: runningTotals(ITEMS) }
        : path.startsWith('templates?')
          ? { templates: [], next_cursor: 'c9' }
          : path.startsWith('admin/users')
            ? { users: [], next_cursor: null }
            : path.startsWith('admin/clusters/')
              ? { labels: { train: 'true' } }
              : path.startsWith('admin/template-categories')
                ? { categories: [] }
                : {};
      return { status: 200, text: async () => JSON.stringify(answer) };
    };
    const c = new AdminClient(new CubeLabClient(transport));
    const running = await c.running({ kind: 'task', project: 'p1' }, 'abc');
    expect(running.next).toBe('n2');
    expect(running.items).toHaveLength(4);
    expect(running.totals?.by_project['p1'].count).toBe(2);
    expect((await c.templates('', null)).next).toBe('c9');
    expect(await c.users('an', 'u1')).toEqual({ items: [], next: null });
    await c.machines('k8s', 'm1');
    await c.stop('task', 'r/1');
    await c.setCategoryIndex('my cat', 3);
    await c.release('t1');
    await c.setRetired('t1', 'Release', true);
    await c.setDemo(7, true);
    await c.setDemo(7, false);
    // the answer's labels, not the answer itself
    expect(await c.setNodeLabels('k8s', 'node-1', { gpu: null })).toEqual({ train: 'true' });
    await c.updateSettings({ registration_open: false });
    await c.audit({ action: 'settings.change' }, 'a1');
    expect(calls.map(([m, p]) => `${m} ${p}`)).toEqual([
      'GET admin/running?kind=task&project=p1&limit=200&cursor=abc',
      'GET templates?retired=true&limit=50',
      'GET admin/users?q=an&limit=50&cursor=u1',
      'GET admin/machines?cluster=k8s&cursor=m1',
      'POST admin/running/task/r%2F1/stop',
      'PUT admin/template-categories/my%20cat',
      'POST templates/t1/Alpha/release',
      'PATCH templates/t1/Release',
      'PUT admin/demo-pipelines/7',
      'DELETE admin/demo-pipelines/7',
      'PATCH admin/clusters/k8s/nodes/node-1/labels',
      'PATCH admin/settings',
      'GET admin/audit?action=settings.change&limit=50&cursor=a1'
    ]);
    expect(calls[5][2]).toEqual({ index: 3 });
    expect(calls[7][2]).toEqual({ retired: true });
    expect(calls[10][2]).toEqual({ labels: { gpu: null } });
    expect(calls[11][2]).toEqual({ registration_open: false });
  });

  it('reads no cursor from an answer without one', async () => {
    const c = new AdminClient(new CubeLabClient(async () => ({ status: 200, text: async () => '{"users": []}' })));
    expect((await c.users('', null)).next).toBeNull();
    const r = await c.running({}, null);
    expect(r).toEqual({ items: [], next: null, totals: null });
  });
});
