import { focusTarget, mapDiagnostics, sortDiagnostics, worst } from '../pipelines/diagnostics';
import { addTask, connect, emptyPipeline } from '../pipelines/graph';
import { IDiagnostic, IPipeline } from '../pipelines/types';

function pipeline(): IPipeline {
  const tpl = { name: 't', version: 'Release', kind: 'container', category: 'c', category_index: 0, args: {} };
  let p = emptyPipeline('demo', 'public');
  for (const n of ['prep', 'train']) {
    p = addTask(p, { ...tpl, name: n }).pipeline;
  }
  const r = connect(p, 'prep', 'train');
  return r.ok ? r.pipeline : p;
}

// diagnostics as the server's Diagnostic.to_dict() returns them
const DIAGS: IDiagnostic[] = [
  {
    severity: 'error',
    message: "required argument '--data' (Data) has no value",
    task: 'train',
    edge: null,
    field: 'args.--data'
  },
  { severity: 'error', message: "cpu: 'lots' is not a CPU amount", task: 'train', edge: null, field: 'cpu' },
  {
    severity: 'warning',
    message: "template 'prep' is Alpha, not released",
    task: 'prep',
    edge: null,
    field: 'template'
  },
  {
    severity: 'error',
    message: 'cycle: prep -> train -> prep',
    task: null,
    edge: ['prep', 'train'],
    field: 'edges',
    extra: { cycle: ['prep', 'train'] }
  },
  {
    severity: 'error',
    message: 'task is part of a cycle: prep -> train -> prep',
    task: 'prep',
    edge: null,
    field: 'edges'
  },
  {
    severity: 'warning',
    message: 'edge a -> b: upstream task does not exist',
    task: null,
    edge: ['a', 'b'],
    field: 'edges'
  },
  { severity: 'error', message: 'parallelism: 0 is less than 1', task: null, edge: null, field: 'parallelism' },
  {
    severity: 'error',
    message: 'schedule is enabled but has no cron expression',
    task: null,
    edge: null,
    field: 'schedule.cron'
  },
  { severity: 'warning', message: 'ghost task', task: 'ghost', edge: null, field: 'name' }
];

describe('mapDiagnostics', () => {
  const map = mapDiagnostics(DIAGS, pipeline());

  it('puts task diagnostics on their node', () => {
    expect(map.tasks.train.map(d => d.field)).toEqual(['args.--data', 'cpu']);
    expect(map.tasks.prep.map(d => d.field)).toEqual(['template', 'edges']);
    expect(worst(map.tasks.train)).toBe('error');
    expect(worst([DIAGS[2]])).toBe('warning');
    expect(worst(undefined)).toBeNull();
  });

  it('puts the field messages into the task form', () => {
    expect(map.taskFields.train).toEqual({
      'args.--data': "required argument '--data' (Data) has no value",
      cpu: "cpu: 'lots' is not a CPU amount"
    });
    // an 'edges' field is not a form field
    expect(map.taskFields.prep).toEqual({ template: "template 'prep' is Alpha, not released" });
  });

  it('puts edge diagnostics on existing edges only', () => {
    expect(Object.keys(map.edges)).toEqual(['prep->train']);
    expect(map.edges['prep->train'][0].message).toMatch(/cycle/);
  });

  it('keeps the rest as general diagnostics, with pipeline fields', () => {
    expect(map.general.map(d => d.message)).toEqual([
      'edge a -> b: upstream task does not exist',
      'parallelism: 0 is less than 1',
      'schedule is enabled but has no cron expression',
      'ghost task'
    ]);
    expect(map.pipelineFields).toEqual({
      parallelism: 'parallelism: 0 is less than 1',
      'schedule.cron': 'schedule is enabled but has no cron expression'
    });
  });

  it('counts errors and warnings', () => {
    expect([map.errors, map.warnings]).toEqual([6, 3]);
  });

  it('handles no diagnostics', () => {
    const empty = mapDiagnostics(undefined, pipeline());
    expect(empty).toMatchObject({ tasks: {}, edges: {}, general: [], errors: 0, warnings: 0 });
  });

  it('joins several messages for one field', () => {
    const m = mapDiagnostics(
      [
        { severity: 'error', message: 'one', task: 'prep', field: 'cpu' },
        { severity: 'warning', message: 'two', task: 'prep', field: 'cpu' }
      ],
      pipeline()
    );
    expect(m.taskFields.prep.cpu).toBe('one\ntwo');
  });
});

describe('focus and order', () => {
  it('focuses the task, else the edge, else the pipeline field', () => {
    expect(focusTarget(DIAGS[0])).toEqual({ kind: 'task', task: 'train' });
    expect(focusTarget(DIAGS[3])).toEqual({ kind: 'edge', edge: ['prep', 'train'] });
    expect(focusTarget(DIAGS[6])).toEqual({ kind: 'pipeline', field: 'parallelism' });
  });

  it('lists errors first, keeping server order', () => {
    const sorted = sortDiagnostics(DIAGS);
    expect(sorted.slice(0, 6).every(d => d.severity === 'error')).toBe(true);
    expect(sorted[0]).toBe(DIAGS[0]);
    expect(sorted[6]).toBe(DIAGS[2]);
  });
});

describe('run times', () => {
  const { duration, formatTime } = jest.requireActual('../pipelines/format');
  it('formats durations', () => {
    expect(duration(null, null)).toBe('');
    expect(duration('2026-01-01T00:00:00Z', '2026-01-01T00:00:42Z')).toBe('42s');
    expect(duration('2026-01-01T00:00:00Z', '2026-01-01T00:03:05Z')).toBe('3m 5s');
    expect(duration('2026-01-01T00:00:00Z', '2026-01-01T02:10:00Z')).toBe('2h 10m');
    expect(duration('2026-01-01T00:00:00Z', null, Date.parse('2026-01-01T00:00:10Z'))).toBe('10s');
    expect(formatTime('not a time')).toBe('not a time');
    expect(formatTime(null)).toBe('');
    expect(formatTime('2026-01-01T00:00:00Z')).toMatch(/2026/);
  });
});

describe('sizes', () => {
  const { formatBytes } = jest.requireActual('../pipelines/format');
  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512');
    expect(formatBytes(1536)).toBe('1.5K');
    expect(formatBytes(3 * 2 ** 30)).toBe('3G');
    expect(formatBytes(12.4 * 2 ** 20)).toBe('12M');
    expect(formatBytes(null)).toBe('');
  });
});
