import { CubeLabClient, Transport } from '../request';
import { ExperimentsClient, IExperiment, IMetricPoint, ITrial, ITunerInfo } from '../experiments/client';
import { axisFor, curvesSpec, parallelSpec, VEGALITE_MIME } from '../experiments/charts';
import {
  draftToSpec,
  fileTrial,
  formField,
  mapFormDiagnostics,
  newDraft,
  spaceTypes,
  tunerMismatch
} from '../experiments/draft';
import { emptyLive, trialList, withMetrics, withTrials } from '../experiments/live';
import { asTaskArgs, bestTrial, nextSort, parameterNames, sortTrials } from '../experiments/trials';

const trial = (seq: number, patch: Partial<ITrial> = {}): ITrial => ({
  id: `trial-${seq}`,
  experiment_id: 1,
  seq,
  status: 'succeeded',
  parameters: {},
  final_value: null,
  intermediate_count: 0,
  run_id: null,
  message: '',
  created_at: null,
  started_at: null,
  finished_at: null,
  duration_seconds: null,
  source_trial_id: null,
  ...patch
});

const point = (id: number, trialSeq: number, sequence: number, value: number, kind = 'intermediate'): IMetricPoint =>
  ({ id, trial_id: `trial-${trialSeq}`, seq: trialSeq, kind, sequence, value }) as IMetricPoint;

describe('experiments client', () => {
  const recorder = (answers: Record<string, unknown>) => {
    const calls: [string, string, unknown][] = [];
    const transport: Transport = async (method, path, body) => {
      calls.push([method, path, body]);
      const key = Object.keys(answers).find(k => `${method} ${path}`.startsWith(k));
      const answer = key ? answers[key] : undefined;
      return { status: answer === undefined ? 204 : 200, text: async () => (answer ? JSON.stringify(answer) : '') };
    };
    return { calls, client: new ExperimentsClient(new CubeLabClient(transport)) };
  };

  it('lists a project’s experiments with the status filter, paged', async () => {
    const { calls, client } = recorder({
      'GET experiments': { experiments: [{ id: 3, name: 'lr' }], next_cursor: 'c2' }
    });
    const page = await client.listPage({ project: 'vision', status: 'running' });
    expect(page.items[0].id).toBe(3);
    expect(page.next).toBe('c2');
    expect(calls[0][1]).toBe('experiments?project=vision&status=running&limit=50');
  });

  it('validates drafts, stops, resumes, re-runs and builds log paths', async () => {
    const { calls, client } = recorder({
      'POST experiments/validate': { diagnostics: [{ field: 'tuner', message: 'unknown', severity: 'error' }] },
      'POST experiments/4/stop': { id: 4, status: 'stopping' },
      'POST experiments/4/resume': { id: 4, status: 'running' },
      'POST experiments/4/trials/trial-ab/rerun': { id: 'trial-cd' }
    });
    expect((await client.validate({ name: 'x' }))[0].field).toBe('tuner');
    expect((await client.stop(4)).status).toBe('stopping');
    expect((await client.resume(4)).status).toBe('running');
    expect((await client.rerun(4, 'trial-ab')).id).toBe('trial-cd');
    expect(calls.map(c => `${c[0]} ${c[1]}`)).toEqual([
      'POST experiments/validate',
      'POST experiments/4/stop',
      'POST experiments/4/resume',
      'POST experiments/4/trials/trial-ab/rerun'
    ]);
    expect(client.logPath(4, 'trial-ab', true)).toBe('experiments/4/trials/trial-ab/logs?follow=1');
    expect(client.logPath(4, 'trial-ab', false)).toBe('experiments/4/trials/trial-ab/logs');
  });

  it('reads metrics after the last id it has, page after page', async () => {
    const paths: string[] = [];
    const transport: Transport = async (_m, path) => {
      paths.push(path);
      const after = Number(new URLSearchParams(path.split('?')[1]).get('after'));
      const body =
        after === 5
          ? { metrics: [point(6, 1, 1, 0.1), point(7, 1, 2, 0.2)], next_cursor: 'more' }
          : { metrics: [point(8, 1, 3, 0.3)], next_cursor: null };
      return { status: 200, text: async () => JSON.stringify(body) };
    };
    const points = await new ExperimentsClient(new CubeLabClient(transport)).metricsAfter(2, 5);
    expect(points.map(p => p.id)).toEqual([6, 7, 8]);
    expect(paths).toEqual(['experiments/2/metrics?after=5&limit=500', 'experiments/2/metrics?after=7&limit=500']);
  });

  it('dispatches the event stream’s experiment, trial and metric events', async () => {
    const stream = async (_path: string, onText: (t: string) => void) => {
      onText('event: experiment\ndata: {"id": 2, "status": "running"}\n\n: keep-alive\n\nevent: tri');
      onText('al\ndata: {"id": "trial-1", "seq": 1}\n\nevent: metric\ndata: {"id": 9, "value": 0.5}\n\n');
      onText('event: metric\ndata: not json\n\n');
    };
    const client = new ExperimentsClient(
      new CubeLabClient(async () => ({ status: 200, text: async () => '' }), stream)
    );
    const got: string[] = [];
    await client.events(
      2,
      {
        experiment: e => got.push(`experiment ${e.status}`),
        trial: t => got.push(`trial ${t.seq}`),
        metric: m => got.push(`metric ${m.value}`)
      },
      new AbortController().signal
    );
    expect(got).toEqual(['experiment running', 'trial 1', 'metric 0.5']);
  });
});

describe('the trial table', () => {
  const trials = [
    trial(1, { parameters: { lr: 0.1, opt: 'sgd' }, final_value: 0.7, duration_seconds: 30 }),
    trial(2, { parameters: { lr: 0.01, opt: 'adam' }, final_value: 0.9, duration_seconds: 10 }),
    trial(3, { parameters: { lr: 0.001 }, status: 'running' }),
    trial(4, { parameters: { lr: 0.05, opt: 'adam' }, final_value: 0.9, duration_seconds: 20 })
  ];

  it('has a column per parameter in first-seen order', () => {
    expect(parameterNames(trials)).toEqual(['lr', 'opt']);
  });

  it('sorts by metric, duration and parameters, rows without a value last either way', () => {
    const seqs = (ts: ITrial[]) => ts.map(t => t.seq);
    expect(seqs(sortTrials(trials, { key: 'final_value', descending: true }))).toEqual([2, 4, 1, 3]);
    expect(seqs(sortTrials(trials, { key: 'final_value', descending: false }))).toEqual([1, 2, 4, 3]);
    expect(seqs(sortTrials(trials, { key: 'duration_seconds', descending: false }))).toEqual([2, 4, 1, 3]);
    expect(seqs(sortTrials(trials, { key: 'param:lr', descending: false }))).toEqual([3, 2, 4, 1]);
    expect(seqs(sortTrials(trials, { key: 'param:opt', descending: true }))).toEqual([1, 2, 4, 3]);
  });

  it('sorts a new metric column best first, and flips the same column', () => {
    expect(nextSort({ key: 'seq', descending: false }, 'final_value', 'maximize')).toEqual({
      key: 'final_value',
      descending: true
    });
    expect(nextSort({ key: 'seq', descending: false }, 'final_value', 'minimize').descending).toBe(false);
    expect(nextSort({ key: 'seq', descending: false }, 'seq', 'maximize').descending).toBe(true);
  });

  it('picks the best succeeded trial for the direction, the earliest on ties', () => {
    expect(bestTrial(trials, 'maximize')?.seq).toBe(2);
    expect(bestTrial(trials, 'minimize')?.seq).toBe(1);
    expect(bestTrial([trial(1, { status: 'failed', final_value: 5 })], 'maximize')).toBeNull();
  });

  it('copies parameters as a pipeline task’s arguments', () => {
    expect(asTaskArgs({ lr: 0.01, opt: { _name: 'sgd', momentum: 0.9 }, '--x': 1 })).toEqual({
      '--lr': 0.01,
      '--opt': { _name: 'sgd', momentum: 0.9 },
      '--x': 1
    });
  });
});

describe('the live state', () => {
  it('folds trial and metric events; a point sent again replaces its sequence', () => {
    let s = withTrials(emptyLive(), [trial(2), trial(1)]);
    s = withMetrics(s, [point(1, 1, 2, 0.4), point(2, 1, 1, 0.2), point(3, 2, 1, 0.3)]);
    s = withMetrics(s, [point(4, 1, 2, 0.5), point(5, 1, 3, 0.6, 'final')]);
    expect(trialList(s).map(t => t.seq)).toEqual([1, 2]);
    expect(s.curves['trial-1'].map(p => [p.sequence, p.value])).toEqual([
      [1, 0.2],
      [2, 0.5]
    ]);
    expect(s.trials['trial-1'].final_value).toBe(0.6);
    expect(s.lastMetricId).toBe(5);
    // a later trial event is the truth
    s = withTrials(s, [trial(1, { final_value: 0.61, status: 'succeeded' })]);
    expect(s.trials['trial-1'].final_value).toBe(0.61);
  });
});

describe('the charts', () => {
  it('draws one curve per trial through the Vega-Lite MIME type JupyterLab renders', () => {
    expect(VEGALITE_MIME).toBe('application/vnd.vegalite.v5+json');
    const spec = curvesSpec(
      { 'trial-1': [point(1, 1, 1, 0.2), point(2, 1, 2, 0.4)], 'trial-2': [point(3, 2, 1, 0.1)] },
      {
        metric: 'accuracy',
        bestTrialId: 'trial-1'
      }
    ) as any;
    expect(spec.$schema).toContain('vega-lite/v5');
    expect(spec.data.values).toEqual([
      { trial: '#1', seq: 1, sequence: 1, value: 0.2, best: true },
      { trial: '#1', seq: 1, sequence: 2, value: 0.4, best: true },
      { trial: '#2', seq: 2, sequence: 1, value: 0.1, best: false }
    ]);
    expect(spec.encoding.y.title).toBe('accuracy');
    expect(spec.encoding.color.field).toBe('trial');
  });

  it('scales numeric axes and spreads categories evenly', () => {
    const num = axisFor('lr', [0.1, 0.3, 0.2, null]);
    expect(num.numeric).toBe(true);
    expect(num.position(0.2)).toBeCloseTo(0.5);
    expect(num.ticks.map(t => t.label)).toEqual(['0.1', '0.3']);
    const cat = axisFor('opt', ['sgd', 'adam', 'sgd', 'rms']);
    expect(cat.numeric).toBe(false);
    expect(cat.ticks.map(t => t.label)).toEqual(['adam', 'rms', 'sgd']);
    expect(cat.position('rms')).toBe(0.5);
    expect(cat.position('other')).toBeNull();
    // a nested choice's value is one category, written as JSON
    expect(axisFor('n', [{ _name: 'x' }]).ticks).toEqual([{ pos: 0.5, label: '{"_name":"x"}' }]);
    expect(axisFor('one', [2, 2]).position(2)).toBe(0.5);
  });

  it('draws parallel coordinates of the finished trials, metric as the last axis', () => {
    const trials = [
      trial(1, { parameters: { lr: 0.1, opt: 'sgd' }, final_value: 0.5 }),
      trial(2, { parameters: { lr: 0.3, opt: 'adam' }, final_value: 0.9 }),
      trial(3, { parameters: { lr: 0.2 }, status: 'running' })
    ];
    const spec = parallelSpec(trials, { metric: 'acc', parameters: ['lr', 'opt'], bestTrialId: 'trial-2' }) as any;
    const lines = spec.layer[1].data.values;
    expect(lines.filter((l: any) => l.trial === '#2')).toEqual([
      { trial: '#2', seq: 2, dimension: 'lr', pos: 1, label: '0.3', metric: 0.9, best: true },
      { trial: '#2', seq: 2, dimension: 'opt', pos: 0, label: 'adam', metric: 0.9, best: true },
      { trial: '#2', seq: 2, dimension: 'acc (metric)', pos: 1, label: '0.9', metric: 0.9, best: true }
    ]);
    expect(lines.some((l: any) => l.trial === '#3')).toBe(false);
    expect(spec.layer[1].encoding.x.sort).toEqual(['lr', 'opt', 'acc (metric)']);
    // one y scale for every layer, none with an axis (Vega-Lite 5 fails merging layered axis titles)
    for (const layer of spec.layer) {
      expect(layer.encoding.y).toMatchObject({ axis: null, scale: { domain: [0, 1] } });
    }
  });
});

describe('the new-experiment form', () => {
  it('builds the request body from the draft', () => {
    const d = {
      ...newDraft('vision'),
      name: ' lr-search ',
      file: 'train.py',
      goal: '0.95',
      maxFailed: '',
      seed: '7',
      tunerArgsText: '{"population_size": 8}'
    };
    const { spec, local } = draftToSpec(d);
    expect(local).toEqual([]);
    expect(spec.name).toBe('lr-search');
    expect(spec.trial.template).toBe('python');
    expect(spec.trial.args).toEqual({ '--script': 'train.py' });
    expect(spec.objective).toEqual({ metric: 'default', direction: 'maximize', goal: 0.95 });
    expect(spec.tuner_args).toEqual({ population_size: 8 });
    expect(spec.max_failed_trials).toBeNull();
    expect(spec.seed).toBe(7);
    expect((spec.search_space as any).lr._type).toBe('loguniform');
  });

  it('runs a notebook with papermill’s template, and a template with its own arguments', () => {
    expect(fileTrial('nb/train.ipynb')).toEqual({ template: 'notebook', args: { '--notebook': 'nb/train.ipynb' } });
    const { spec } = draftToSpec({
      ...newDraft('p'),
      source: 'template',
      template: 'shell',
      args: { '--command': 'python t.py' }
    });
    expect(spec.trial).toMatchObject({ template: 'shell', args: { '--command': 'python t.py' } });
  });

  it('names each field the browser can already tell is wrong', () => {
    const { local } = draftToSpec({
      ...newDraft('p'),
      spaceText: '{"lr": ',
      tunerArgsText: '[1]',
      goal: 'high',
      maxTrials: '0',
      concurrency: '1.5'
    });
    expect(local.map(d => d.field)).toEqual([
      'search_space',
      'tuner_args',
      'objective.goal',
      'trial.file',
      'trial_concurrency',
      'max_trials'
    ]);
    expect(local[0].message).toMatch(/not valid JSON/);
    expect(local[5].accepted).toBe('a whole number ≥ 1');
  });

  it('shows server diagnostics by form field', () => {
    const known = new Set(['name', 'trial.cpu', 'trial.args.--lr']);
    expect(formField('search_space.lr._value', 'file', known)).toBe('search_space');
    expect(formField('tuner_args.population_size', 'file', known)).toBe('tuner_args');
    expect(formField('trial.args.--script', 'file', known)).toBe('trial.file');
    expect(formField('trial.args.--lr', 'template', known)).toBe('trial.args.--lr');
    expect(formField('trial.args.--lr.x', 'template', known)).toBe('trial.args.--lr');
    expect(formField('something', 'template', known)).toBeNull();
    const mapped = mapFormDiagnostics(
      [
        { field: 'search_space.lr._value', message: 'low must be < high', severity: 'error' },
        { field: 'search_space.lr._value', message: 'low must be < high', severity: 'error' },
        { field: 'max_trials', message: 'large', severity: 'warning' },
        { field: null, message: 'engine down', severity: 'error' }
      ],
      'file'
    );
    expect(Object.keys(mapped.fields)).toEqual(['search_space', 'max_trials']);
    expect(mapped.general.map(d => d.message)).toEqual(['engine down']);
    expect([mapped.errors, mapped.warnings]).toEqual([2, 1]);
  });

  it('tells which tuners cannot take the search space', () => {
    const space = {
      opt: {
        _type: 'choice',
        _value: [{ _name: 'sgd', lr: { _type: 'loguniform', _value: [0.001, 0.1] } }, { _name: 'adam' }]
      },
      layers: { _type: 'randint', _value: [1, 4] }
    };
    expect([...spaceTypes(space)].sort()).toEqual(['choice', 'loguniform', 'randint']);
    const tuner = (name: string, types: string[], flat_only = false): ITunerInfo => ({
      name,
      kind: 'tuner',
      types,
      flat_only,
      args: {},
      description: ''
    });
    expect(tunerMismatch(tuner('TPE', ['choice', 'randint', 'loguniform']), space)).toBeNull();
    expect(tunerMismatch(tuner('Grid', ['choice', 'randint']), space)).toBe('Grid does not support loguniform');
    expect(tunerMismatch(tuner('SMAC', ['choice', 'randint', 'loguniform'], true), space)).toBe(
      'SMAC does not support nested choices'
    );
  });
});

// keep the declared JSON shapes in step with the contract's example
const example: IExperiment = {
  id: 1,
  name: 'e',
  project: 'p',
  creator: 'alice',
  description: '',
  status: 'running',
  end_reason: null,
  message: '',
  created_at: null,
  started_at: null,
  finished_at: null,
  spec: draftToSpec({ ...newDraft('p'), file: 't.py' }).spec,
  progress: {
    trials: 1,
    max_trials: 9,
    pending: 0,
    running: 1,
    succeeded: 0,
    failed: 0,
    early_stopped: 0,
    cancelled: 0
  },
  best: null
};
void example;

describe('an open experiment', () => {
  const experiment = (status: string): IExperiment => ({ ...example, id: 5, status: status as IExperiment['status'] });

  it('loads, follows the events, and after a broken stream catches up on what it missed', async () => {
    const { ExperimentModel } = await import('../experiments/model');
    const metricPaths: string[] = [];
    let streams = 0;
    const transport: Transport = async (_m, path) => {
      let body: unknown;
      if (path === 'experiments/5') {
        body = experiment(streams < 2 ? 'running' : 'succeeded');
      } else if (path.startsWith('experiments/5/trials')) {
        body = { trials: [trial(1)], next_cursor: null };
      } else if (path.startsWith('experiments/5/metrics')) {
        metricPaths.push(path);
        body = { metrics: streams === 0 ? [point(3, 1, 1, 0.1)] : [], next_cursor: null };
      }
      return { status: 200, text: async () => JSON.stringify(body) };
    };
    const stream = async (_path: string, onText: (t: string) => void) => {
      streams++;
      if (streams === 1) {
        onText(`event: metric\ndata: ${JSON.stringify(point(4, 1, 2, 0.2))}\n\n`);
        throw new Error('connection reset');
      }
      onText(`event: trial\ndata: ${JSON.stringify(trial(2, { final_value: 0.9 }))}\n\n`);
      onText(`event: experiment\ndata: ${JSON.stringify(experiment('succeeded'))}\n\n`);
    };
    const model = new ExperimentModel(new ExperimentsClient(new CubeLabClient(transport, stream)), 5);
    let changes = 0;
    model.changed.connect(() => changes++);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const done = model.start();
      // the broken stream is retried after a pause
      for (let i = 0; i < 20 && streams < 2; i++) {
        await Promise.resolve();
        jest.advanceTimersByTime(1000);
        await new Promise(r => setImmediate(r));
      }
      await done;
    } finally {
      jest.useRealTimers();
    }
    expect(streams).toBe(2);
    expect(model.experiment?.status).toBe('succeeded');
    expect(trialList(model.state).map(t => t.seq)).toEqual([1, 2]);
    expect(model.state.curves['trial-1'].map(p => p.value)).toEqual([0.1, 0.2]);
    // the reconnect asked only for the points after the last one received
    expect(metricPaths[1]).toBe('experiments/5/metrics?after=4&limit=500');
    expect(model.live).toBe(false);
    expect(changes).toBeGreaterThan(3);
    model.dispose();
  });
});
