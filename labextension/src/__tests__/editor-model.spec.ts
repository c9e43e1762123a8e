import { ApiError } from '../request';
import { PipelinesClient } from '../pipelines/client';
import { EditorModel } from '../pipelines/editor/model';
import { IPipelineView, IRun, ITemplate } from '../pipelines/types';

const TEMPLATES: ITemplate[] = [
  {
    name: 'shell',
    version: 'Release',
    kind: 'shell',
    category: 'base',
    category_index: 0,
    args: { shell: { '--command': { type: 'text', require: 1 } } }
  },
  {
    name: 'python',
    version: 'Release',
    kind: 'python',
    category: 'base',
    category_index: 0,
    args: { python: { '--script': { type: 'str' }, '--code': { type: 'text' } } }
  }
];

function view(extra: Partial<IPipelineView> = {}): IPipelineView {
  return {
    id: 7,
    name: 'demo',
    project: 'public',
    description: '',
    tasks: [],
    edges: [],
    env: {},
    parallelism: null,
    schedule: { enabled: false, cron: null, timezone: 'UTC' },
    permissions: { edit: true, run: true },
    diagnostics: [],
    ...extra
  };
}

/** A fake of the API: saves echo the body back in the server's normal form. */
function fakeClient(overrides: Partial<Record<keyof PipelinesClient, any>> = {}) {
  const calls: string[] = [];
  const client = {
    template: async (name: string, version?: string | null) => {
      calls.push(`template ${name}@${version ?? ''}`);
      const found = TEMPLATES.find(t => t.name === name && t.version === (version || 'Release'));
      if (!found) {
        throw new ApiError(404, 'not_found', `no template ${name}`);
      }
      return found;
    },
    get: async () => view(),
    runs: async () => [],
    save: async (_id: number, p: any) => {
      calls.push('save');
      return view({ ...p, schedule: { timezone: 'UTC', ...p.schedule }, diagnostics: [] });
    },
    validateDraft: async () => [],
    ...overrides
  } as unknown as PipelinesClient;
  return { client, calls };
}

describe('EditorModel', () => {
  it('loads only the templates its tasks use (and those dropped files become); learns the palette pages', async () => {
    const { client, calls } = fakeClient({
      get: async () =>
        view({
          tasks: [
            { name: 'a', template: 'shell', args: {}, position: { x: 0, y: 0 } } as any,
            { name: 'b', template: 'gone', template_version: 'Alpha', args: {}, position: { x: 300, y: 0 } } as any
          ]
        })
    });
    const m = new EditorModel(client, 7);
    await m.load();
    expect(m.loaded).toBe(true);
    expect(calls.filter(c => c.startsWith('template')).sort()).toEqual([
      'template gone@Alpha',
      'template notebook@',
      'template python@',
      'template shell@'
    ]);
    expect(m.templates.map(t => t.name).sort()).toEqual(['python', 'shell']);
    const train = { ...TEMPLATES[0], name: 'train' };
    m.learnTemplates([train, TEMPLATES[0]]);
    expect(m.templates.map(t => t.name).sort()).toEqual(['python', 'shell', 'train']);
  });

  it('loads, edits with undo/redo and tracks the dirty state', async () => {
    const { client } = fakeClient();
    const m = new EditorModel(client, 7);
    await m.load();
    expect(m.loaded).toBe(true);
    expect(m.dirty).toBe(false);
    const a = m.addTemplateTask(TEMPLATES[0], { x: 0, y: 0 });
    const b = m.addTemplateTask(TEMPLATES[0]);
    expect([a, b]).toEqual(['shell', 'shell-2']);
    expect(m.connect('shell', 'shell-2')).toBe(true);
    expect(m.connect('shell-2', 'shell')).toBe(false);
    expect(m.notice?.kind).toBe('error');
    expect(m.dirty).toBe(true);
    m.undo();
    expect(m.pipeline.edges).toEqual([]);
    m.redo();
    expect(m.pipeline.edges).toEqual([['shell', 'shell-2']]);
    m.select(['shell'], []);
    m.deleteSelection();
    expect(m.pipeline.tasks.map(t => t.name)).toEqual(['shell-2']);
    expect(m.pipeline.edges).toEqual([]);
    m.dispose();
  });

  it('groups typing in one field into one undo step', async () => {
    const { client } = fakeClient();
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0]);
    m.updateTask('shell', { cpu: '2' }, 'shell:cpu');
    m.updateTask('shell', { cpu: '24' }, 'shell:cpu');
    expect(m.pipeline.tasks[0].cpu).toBe('24');
    m.undo();
    expect(m.pipeline.tasks[0].cpu).toBe('1');
    m.dispose();
  });

  it('makes one undo step of a drag', async () => {
    const { client } = fakeClient();
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0], { x: 0, y: 0 });
    m.dragTo({ shell: { x: 10, y: 10 } });
    m.dragTo({ shell: { x: 50, y: 60 } });
    m.commitDrag();
    expect(m.pipeline.tasks[0].position).toEqual({ x: 50, y: 60 });
    m.undo();
    expect(m.pipeline.tasks[0].position).toEqual({ x: 0, y: 0 });
    m.dispose();
  });

  it('adopts the saved form so a save leaves nothing dirty', async () => {
    const { client, calls } = fakeClient();
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0]);
    expect(await m.save()).toBe(true);
    expect(calls.filter(c => !c.startsWith('template'))).toEqual(['save']);
    expect(m.dirty).toBe(false);
    expect(m.notice).toEqual({ kind: 'info', text: 'Saved.' });
    m.dispose();
  });

  it('makes python and notebook tasks from dropped files', async () => {
    const { client } = fakeClient();
    const m = new EditorModel(client, 7);
    await m.load();
    expect(m.addFileTask('work/train.py')).toBe('train');
    expect(m.pipeline.tasks[0]).toMatchObject({ template: 'python', args: { '--script': 'work/train.py' } });
    expect(m.addFileTask('data.csv')).toBeNull();
    expect(m.addFileTask('a.ipynb')).toBeNull(); // no notebook template here
    expect(m.notice?.text).toMatch(/notebook/);
    m.dispose();
  });

  it('shows the diagnostics of a refused run', async () => {
    const diagnostics = [
      {
        severity: 'error',
        message: "required argument '--command' has no value",
        task: 'shell',
        field: 'args.--command'
      }
    ];
    const { client } = fakeClient({
      run: async () => {
        throw new ApiError(409, 'invalid_pipeline', 'pipeline is invalid', null, [], { diagnostics });
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0]);
    await m.startRun();
    expect(m.diagnostics).toEqual(diagnostics);
    expect(m.diagnosticMap.taskFields.shell).toEqual({
      'args.--command': "required argument '--command' has no value"
    });
    expect(m.notice?.kind).toBe('error');
    m.dispose();
  });

  it('follows a run until it finishes', async () => {
    jest.useFakeTimers();
    const states: IRun['status'][] = ['running', 'succeeded'];
    let getRuns = 0;
    const run = (status: IRun['status']): IRun => ({
      id: 'r1',
      pipeline_id: 7,
      pipeline_name: 'demo',
      project: 'public',
      trigger: 'manual',
      runner: 'a',
      engine: 'local',
      status,
      message: '',
      created_at: '',
      started_at: null,
      finished_at: null,
      tasks: [
        {
          name: 'shell',
          status: status === 'succeeded' ? 'succeeded' : 'running',
          attempts: 1,
          exit_code: null,
          started_at: null,
          finished_at: null,
          message: '',
          outputs: {}
        }
      ]
    });
    const { client } = fakeClient({
      run: async () => run('pending'),
      getRun: async () => {
        getRuns++;
        return run(states.shift() ?? 'succeeded');
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    const finished = jest.fn();
    m.runFinished.connect(finished);
    await m.startRun();
    expect(m.run?.status).toBe('pending');
    // polled every 250 ms while the run starts
    await jest.advanceTimersByTimeAsync(250);
    expect(m.run?.status).toBe('running');
    await jest.advanceTimersByTimeAsync(250);
    expect(m.run?.status).toBe('succeeded');
    await jest.advanceTimersByTimeAsync(5000);
    expect(getRuns).toBe(2); // polling stopped at the final status
    expect(finished).toHaveBeenCalledTimes(1);
    m.select(['shell'], []);
    expect(m.logTask).toBe('shell');
    m.closeRun();
    expect(m.run).toBeNull();
    m.dispose();
    jest.useRealTimers();
  });

  it('follows a run through its events stream, without polling', async () => {
    let getRuns = 0;
    let streamed: string | null = null;
    const run = (status: IRun['status']): IRun => ({
      id: 'r2',
      pipeline_id: 7,
      pipeline_name: 'demo',
      project: 'public',
      trigger: 'manual',
      runner: 'a',
      engine: 'local',
      status,
      message: '',
      created_at: '',
      started_at: null,
      finished_at: null,
      tasks: []
    });
    const { client } = fakeClient({
      run: async () => run('pending'),
      getRun: async () => {
        getRuns++;
        return run('succeeded');
      },
      runEvents: async (id: string, onRun: (r: IRun) => void) => {
        streamed = id;
        await Promise.resolve();
        onRun(run('running'));
        onRun(run('succeeded'));
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    const finished = jest.fn();
    m.runFinished.connect(finished);
    await m.startRun();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(streamed).toBe('r2');
    expect(m.run?.status).toBe('succeeded');
    expect(finished).toHaveBeenCalledTimes(1);
    expect(getRuns).toBe(0);
    m.dispose();
  });

  it('is read-only without edit permission', async () => {
    const { client } = fakeClient({ get: async () => view({ permissions: { edit: false, run: true } }) });
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0]);
    expect(m.pipeline.tasks).toEqual([]);
    expect(await m.save()).toBe(false);
    m.dispose();
  });
});

describe('unreadable bodies', () => {
  it('turns the field errors of a 400 into diagnostics on tasks and fields', async () => {
    const { shapeDiagnostics } = jest.requireActual('../pipelines/editor/model');
    const p = { ...view(), tasks: [{ name: 'a' }, { name: 'b' }] } as any;
    const err = new ApiError(400, 'invalid', 'tasks[1].timeout: x', 'tasks[1].timeout', [
      { field: 'tasks[1].timeout', message: "tasks[1].timeout: 'x' is not a whole number" },
      { field: 'schedule.cron', message: 'schedule.cron: bad' }
    ]);
    expect(shapeDiagnostics(err, p)).toEqual([
      {
        severity: 'error',
        message: "tasks[1].timeout: 'x' is not a whole number",
        task: 'b',
        edge: null,
        field: 'timeout'
      },
      { severity: 'error', message: 'schedule.cron: bad', task: null, edge: null, field: 'schedule.cron' }
    ]);
    const single = new ApiError(400, 'invalid', 'name: bad', 'name');
    expect(shapeDiagnostics(single, p)).toEqual([
      { severity: 'error', message: 'name: bad', task: null, edge: null, field: 'name' }
    ]);
  });

  it('shows them after a failed save', async () => {
    const { client } = fakeClient({
      save: async () => {
        throw new ApiError(400, 'invalid', 'schedule.cron: bad', 'schedule.cron');
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    m.updatePipeline({ schedule: { enabled: true, cron: 'nope' } });
    expect(await m.save()).toBe(false);
    expect(m.diagnosticMap.pipelineFields['schedule.cron']).toBe('schedule.cron: bad');
    expect(m.dirty).toBe(true);
    m.dispose();
  });
});

describe('resource proposals', () => {
  const proposal = {
    task: 'shell',
    current: { cpu: '1', memory: '2G' },
    proposed: { cpu: '2', memory: '3G' },
    runs: 10,
    peak_cpu: 1.2,
    peak_memory: 2 * 2 ** 30
  };

  it('accepts through the server when nothing is unsaved', async () => {
    const saved = view({
      tasks: [
        {
          name: 'shell',
          template: 'shell',
          args: {},
          cpu: '1',
          memory: '2G',
          gpu: '0',
          volume_mount: '',
          node_selector: '',
          timeout: 0,
          retries: 0,
          skip: false,
          env: {},
          position: { x: 0, y: 0 }
        }
      ]
    });
    const accepted: string[] = [];
    const { client } = fakeClient({
      get: async () => saved,
      proposals: async () => [proposal],
      acceptProposal: async (_id: number, task: string) => {
        accepted.push(task);
        return { ...saved, tasks: [{ ...saved.tasks[0], cpu: '2', memory: '3G' }] };
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    await m.loadProposals();
    expect(Object.keys(m.proposals)).toEqual(['shell']);
    await m.acceptProposal('shell');
    expect(accepted).toEqual(['shell']);
    expect(m.pipeline.tasks[0]).toMatchObject({ cpu: '2', memory: '3G' });
    expect(m.dirty).toBe(false);
    expect(m.proposals).toEqual({});
    m.dispose();
  });

  it('applies locally when there are unsaved edits', async () => {
    const accepted: string[] = [];
    const { client } = fakeClient({
      proposals: async () => [proposal],
      acceptProposal: async (_id: number, task: string) => {
        accepted.push(task);
        return view();
      }
    });
    const m = new EditorModel(client, 7);
    await m.load();
    m.addTemplateTask(TEMPLATES[0]);
    await m.loadProposals();
    await m.acceptProposal('shell');
    expect(accepted).toEqual([]);
    expect(m.pipeline.tasks[0]).toMatchObject({ cpu: '2', memory: '3G' });
    expect(m.dirty).toBe(true);
    expect(m.notice?.text).toMatch(/save to keep/);
    m.dispose();
  });
});
