import {
  addTask,
  connect,
  duplicateTasks,
  emptyPipeline,
  fileTaskSpec,
  nextFreePosition,
  formatEnvLines,
  isValidTaskName,
  moveTasks,
  parseEnvLines,
  reaches,
  removeEdges,
  removeTasks,
  renameTask,
  samePipeline,
  slug,
  toBody,
  uniqueName,
  updateTask
} from '../pipelines/graph';
import { History } from '../pipelines/history';
import { autoLayout, layers } from '../pipelines/layout';
import { findTemplate, paletteGroups } from '../pipelines/palette';
import { freeSpot, NODE_SIZE, visibleSpot } from '../pipelines/placement';
import { IPipeline, ITemplate } from '../pipelines/types';

const tpl = (name: string, extra: Partial<ITemplate> = {}): ITemplate => ({
  name,
  version: 'Release',
  kind: 'container',
  category: 'base',
  category_index: 0,
  args: { g: { '--n': { type: 'int', default: 3 } } },
  ...extra
});

function build(names: string[], edges: [string, string][] = []): IPipeline {
  let p = emptyPipeline('demo', 'public');
  for (const n of names) {
    p = addTask(p, tpl(n)).pipeline;
  }
  for (const [u, d] of edges) {
    const r = connect(p, u, d);
    if (!r.ok) {
      throw new Error(r.reason);
    }
    p = r.pipeline;
  }
  return p;
}

describe('adding and removing tasks', () => {
  it('adds a task from a template with its defaults and a unique name', () => {
    let p = emptyPipeline('demo', 'public');
    const a = addTask(p, tpl('Python'), { x: 10.4, y: 20.6 });
    p = a.pipeline;
    expect(a.name).toBe('python');
    expect(p.tasks[0]).toMatchObject({
      name: 'python',
      template: 'Python',
      template_version: null,
      args: { '--n': 3 },
      cpu: '1',
      memory: '2G',
      gpu: '0',
      retries: 0,
      timeout: 0,
      skip: false,
      position: { x: 10, y: 21 }
    });
    const b = addTask(p, tpl('Python'));
    expect(b.name).toBe('python-2');
    const c = addTask(b.pipeline, tpl('Python'));
    expect(c.name).toBe('python-3');
    const alpha = addTask(p, tpl('x', { version: 'Alpha' }));
    expect(alpha.pipeline.tasks[1].template_version).toBe('Alpha');
  });

  it('does not change the pipeline it was given', () => {
    const p = build(['a']);
    const before = JSON.stringify(p);
    addTask(p, tpl('b'));
    removeTasks(p, ['a']);
    expect(JSON.stringify(p)).toBe(before);
  });

  it('removes tasks with their edges', () => {
    const p = build(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c']
      ]
    );
    const q = removeTasks(p, ['b']);
    expect(q.tasks.map(t => t.name)).toEqual(['a', 'c']);
    expect(q.edges).toEqual([['a', 'c']]);
    expect(removeTasks(p, [])).toBe(p);
  });

  it('removes edges', () => {
    const p = build(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c']
      ]
    );
    expect(removeEdges(p, [['a', 'b']]).edges).toEqual([['b', 'c']]);
  });

  it('makes k8s-safe names', () => {
    expect(slug('My Template_v2!')).toBe('my-template-v2');
    expect(slug('---')).toBe('task');
    expect(uniqueName('a', ['a', 'a-2'])).toBe('a-3');
    expect(isValidTaskName('train-1')).toBe(true);
    expect(isValidTaskName('Train')).toBe(false);
    expect(isValidTaskName('-a')).toBe(false);
    expect(isValidTaskName('a'.repeat(64))).toBe(false);
  });
});

describe('connecting tasks', () => {
  it('connects and refuses self-loops, duplicates and cycles', () => {
    const p = build(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c']
      ]
    );
    expect(p.edges).toEqual([
      ['a', 'b'],
      ['b', 'c']
    ]);
    const self = connect(p, 'a', 'a');
    expect(self.ok).toBe(false);
    const dup = connect(p, 'a', 'b');
    expect(dup).toEqual({ ok: false, reason: 'a → b is already connected.' });
    const cyc = connect(p, 'c', 'a');
    expect(cyc.ok).toBe(false);
    expect(!cyc.ok && cyc.reason).toMatch(/cycle/);
    expect(connect(p, 'a', 'zzz').ok).toBe(false);
    const ok = connect(p, 'a', 'c');
    expect(ok.ok && ok.pipeline.edges.length).toBe(3);
  });

  it('finds paths', () => {
    expect(
      reaches(
        [
          ['a', 'b'],
          ['b', 'c']
        ],
        'a',
        'c'
      )
    ).toBe(true);
    expect(
      reaches(
        [
          ['a', 'b'],
          ['b', 'c']
        ],
        'c',
        'a'
      )
    ).toBe(false);
  });
});

describe('editing tasks', () => {
  it('updates fields but never the name', () => {
    const p = build(['a']);
    const q = updateTask(p, 'a', { cpu: '2', name: 'zzz', retries: 3 });
    expect(q.tasks[0]).toMatchObject({ name: 'a', cpu: '2', retries: 3 });
  });

  it('renames with edges and output references following', () => {
    let p = build(['prep', 'train'], [['prep', 'train']]);
    p = updateTask(p, 'train', {
      args: {
        '--data': '{{tasks.prep.outputs.path}}/x',
        '--list': ['{{ tasks.prep.outputs.model }}'],
        '--other': '{{tasks.prep2.outputs.path}}',
        '--n': 1
      }
    });
    const r = renameTask(p, 'prep', 'clean');
    expect(r.ok).toBe(true);
    if (!r.ok) {
      return;
    }
    expect(r.pipeline.tasks.map(t => t.name)).toEqual(['clean', 'train']);
    expect(r.pipeline.edges).toEqual([['clean', 'train']]);
    expect(r.pipeline.tasks[1].args).toEqual({
      '--data': '{{tasks.clean.outputs.path}}/x',
      '--list': ['{{ tasks.clean.outputs.model }}'],
      '--other': '{{tasks.prep2.outputs.path}}',
      '--n': 1
    });
  });

  it('refuses bad and taken names', () => {
    const p = build(['a', 'b']);
    expect(renameTask(p, 'a', 'b')).toEqual({
      ok: false,
      reason: "A task named 'b' already exists."
    });
    expect(renameTask(p, 'a', 'Bad Name').ok).toBe(false);
    expect(renameTask(p, 'x', 'y').ok).toBe(false);
    expect(renameTask(p, 'a', 'a')).toEqual({ ok: true, pipeline: p });
  });

  it('moves tasks to rounded positions', () => {
    const p = moveTasks(build(['a', 'b']), { a: { x: 1.6, y: 2.2 } });
    expect(p.tasks[0].position).toEqual({ x: 2, y: 2 });
    expect(p.tasks[1].position).toBeNull();
  });

  it('duplicates tasks with the edges among them', () => {
    let p = build(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c']
      ]
    );
    p = moveTasks(p, { a: { x: 0, y: 0 }, b: { x: 100, y: 0 } });
    const d = duplicateTasks(p, ['a', 'b']);
    expect(d.names).toEqual(['a-2', 'b-2']);
    expect(d.pipeline.edges).toEqual([
      ['a', 'b'],
      ['b', 'c'],
      ['a-2', 'b-2']
    ]);
    expect(d.pipeline.tasks[3].position).toEqual({ x: 40, y: 40 });
  });

  it('compares bodies for the dirty marker', () => {
    const p = build(['a']);
    const view = { ...p, id: 3, diagnostics: [], permissions: { edit: true, run: true } };
    expect(samePipeline(p, view as IPipeline)).toBe(true);
    expect(samePipeline(p, updateTask(p, 'a', { cpu: '3' }))).toBe(false);
    expect(Object.keys(toBody(view as IPipeline)).sort()).toEqual([
      'description',
      'edges',
      'env',
      'name',
      'parallelism',
      'project',
      'schedule',
      'tasks'
    ]);
    const demo = { ...view, parameter: { demo: 'true', img: '/x.jpg' } };
    expect(toBody(demo as IPipeline).parameter).toEqual({ demo: 'true', img: '/x.jpg' });
  });

  it('parses and formats env lines', () => {
    expect(parseEnvLines('A=1\n# note\n\nB = two=2')).toEqual({
      env: { A: '1', B: 'two=2' },
      error: null
    });
    expect(parseEnvLines('A=1\nA=2').error).toMatch(/given twice/);
    expect(parseEnvLines('1A=1').error).toMatch(/not a valid name/);
    expect(parseEnvLines('novalue').error).toMatch(/not KEY=value/);
    expect(formatEnvLines({ A: '1', B: '2' })).toBe('A=1\nB=2');
  });
});

describe('history', () => {
  it('undoes and redoes by value', () => {
    const h = new History<number>(0);
    h.push(1);
    h.push(2);
    h.push(2); // same state: no entry
    expect(h.undo()).toBe(1);
    expect(h.undo()).toBe(0);
    expect(h.canUndo).toBe(false);
    expect(h.undo()).toBe(0);
    expect(h.redo()).toBe(1);
    h.push(5); // drops the redo branch
    expect(h.canRedo).toBe(false);
    expect(h.redo()).toBe(5);
    h.replace(6);
    expect(h.present).toBe(6);
    expect(h.undo()).toBe(1);
    h.reset(9);
    expect([h.present, h.canUndo, h.canRedo]).toEqual([9, false, false]);
  });

  it('keeps at most `limit` entries', () => {
    const h = new History<number>(0, undefined, 3);
    for (let i = 1; i <= 10; i++) {
      h.push(i);
    }
    h.undo();
    h.undo();
    h.undo();
    expect(h.canUndo).toBe(false);
    expect(h.present).toBe(7);
  });
});

describe('auto-layout', () => {
  it('puts each task one layer after its deepest upstream', () => {
    expect(
      layers(
        ['a', 'b', 'c', 'd'],
        [
          ['a', 'b'],
          ['b', 'd'],
          ['a', 'c'],
          ['c', 'd'],
          ['a', 'd']
        ]
      )
    ).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('tolerates cycles and unknown edge ends', () => {
    const ls = layers(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'a'],
        ['c', 'zzz']
      ]
    );
    expect(ls.flat().sort()).toEqual(['a', 'b', 'c']);
  });

  it('places layers left to right without overlaps', () => {
    const pos = autoLayout(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['a', 'c'],
        ['b', 'd'],
        ['c', 'd']
      ]
    );
    expect(pos.a.x).toBeLessThan(pos.b.x);
    expect(pos.b.x).toBe(pos.c.x);
    expect(pos.d.x).toBeGreaterThan(pos.b.x);
    expect(pos.b.y).not.toBe(pos.c.y);
    expect(pos.a.y).toBe(pos.d.y); // centred
  });

  it('lays out 200 tasks quickly', () => {
    const names = Array.from({ length: 200 }, (_, i) => `t${i}`);
    const edges: [string, string][] = [];
    for (let i = 1; i < 200; i++) {
      edges.push([`t${Math.floor((i - 1) / 3)}`, `t${i}`]);
    }
    const start = Date.now();
    const pos = autoLayout(names, edges);
    expect(Date.now() - start).toBeLessThan(500);
    const seen = new Set(Object.values(pos).map(p => `${p.x},${p.y}`));
    expect(seen.size).toBe(200);
  });
});

describe('palette', () => {
  const templates = [
    tpl('train', { category: 'ml', category_index: 2 }),
    tpl('python', { category: 'base', category_index: 0, description: 'run code' }),
    tpl('shell', { category: 'base', category_index: 0 }),
    tpl('notebook', { category: 'base', category_index: 0 }),
    tpl('export', { category: 'data', category_index: 1 }),
    tpl('train', { category: 'ml', category_index: 2, version: 'Alpha' })
  ];

  it('groups by category in index order, sorted by name', () => {
    expect(paletteGroups(templates).map(g => [g.category, g.templates.map(t => t.name)])).toEqual([
      ['base', ['notebook', 'python', 'shell']],
      ['data', ['export']],
      ['ml', ['train', 'train']]
    ]);
  });

  it('finds the released version by default', () => {
    expect(findTemplate(templates, 'train')!.version).toBe('Release');
    expect(findTemplate(templates, 'train', 'Alpha')!.version).toBe('Alpha');
    expect(findTemplate(templates, 'nope')).toBeUndefined();
  });
});

describe('files dropped on the canvas', () => {
  it('makes python and notebook tasks', () => {
    expect(fileTaskSpec('work/train_model.py')).toEqual({
      template: 'python',
      args: { '--script': 'work/train_model.py' },
      name: 'train_model'
    });
    expect(fileTaskSpec('a/Report.ipynb')).toEqual({
      template: 'notebook',
      args: { '--notebook': 'a/Report.ipynb' },
      name: 'Report'
    });
    expect(fileTaskSpec('data.csv')).toBeNull();
    expect(nextFreePosition(emptyPipeline('x', 'p'))).toEqual({ x: 0, y: 0 });
    const p = moveTasks(build(['a', 'b']), { a: { x: 10, y: 50 }, b: { x: 300, y: 20 } });
    expect(nextFreePosition(p)).toEqual({ x: 550, y: 20 });
  });
});

describe('auto-layout and placement', () => {
  it('lays a chain out on one row, left to right, each task right of the one before', () => {
    const pos = autoLayout(
      ['c', 'a', 'b'],
      [
        ['a', 'b'],
        ['b', 'c']
      ]
    );
    expect(pos.a.y).toBe(pos.b.y);
    expect(pos.b.y).toBe(pos.c.y);
    expect(pos.b.x).toBeGreaterThanOrEqual(pos.a.x + 180);
    expect(pos.c.x).toBeGreaterThanOrEqual(pos.b.x + 180);
  });

  it('starts each layer right of the widest measured task of the one before', () => {
    const pos = autoLayout(
      ['a', 'b', 'c'],
      [
        ['a', 'c'],
        ['b', 'c']
      ],
      { sizes: { a: { width: 400, height: 56 }, b: { width: 200, height: 90 } } }
    );
    expect(pos.c.x).toBeGreaterThan(pos.a.x + 400);
    expect(Math.abs(pos.a.y - pos.b.y)).toBeGreaterThanOrEqual(90);
  });

  it('nudges a drop onto a task to the nearest free spot', () => {
    const taken = [{ x: 0, y: 0, ...NODE_SIZE }];
    expect(freeSpot({ x: 500, y: 500 }, taken)).toEqual({ x: 500, y: 500 });
    const spot = freeSpot({ x: 10, y: 10 }, taken);
    const apart = spot.x >= NODE_SIZE.width || spot.x <= -NODE_SIZE.width || spot.y >= NODE_SIZE.height;
    expect(apart).toBe(true);
    // a second drop at the same point goes elsewhere again
    const next = freeSpot({ x: 10, y: 10 }, [...taken, { ...spot, ...NODE_SIZE }]);
    expect([next.x, next.y]).not.toEqual([spot.x, spot.y]);
  });

  it('never places two dropped tasks on top of each other', () => {
    const taken: { x: number; y: number; width: number; height: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const p = freeSpot({ x: 100, y: 100 }, taken);
      for (const t of taken) {
        const overlap =
          p.x < t.x + t.width && t.x < p.x + NODE_SIZE.width && p.y < t.y + t.height && t.y < p.y + NODE_SIZE.height;
        expect(overlap).toBe(false);
      }
      taken.push({ x: p.x, y: p.y, ...NODE_SIZE });
    }
  });

  it('puts a keyboard-added task inside the visible canvas', () => {
    const view = { x: 2000, y: -300, width: 800, height: 500 };
    const p = visibleSpot(view, [{ x: 2310, y: -78, ...NODE_SIZE }]);
    expect(p.x).toBeGreaterThanOrEqual(view.x);
    expect(p.y).toBeGreaterThanOrEqual(view.y);
    expect(p.x + NODE_SIZE.width).toBeLessThanOrEqual(view.x + view.width);
    expect(p.y + NODE_SIZE.height).toBeLessThanOrEqual(view.y + view.height);
    expect(p.x === 2310 && p.y === -78).toBe(false);
  });

  it('keeps a keyboard-added task in view when the spots beside the centre are off-screen', () => {
    // a narrow view: the spots left and right of the centre are outside it
    const view = { x: 0, y: 0, width: 300, height: 400 };
    const centre = { x: 60, y: 172, ...NODE_SIZE };
    const p = visibleSpot(view, [centre]);
    expect(p.x).toBeGreaterThanOrEqual(0);
    expect(p.x + NODE_SIZE.width).toBeLessThanOrEqual(300);
    expect(p.y + NODE_SIZE.height).toBeLessThanOrEqual(400);
    expect(Math.abs(p.y - 172)).toBeGreaterThanOrEqual(NODE_SIZE.height);
  });
});
