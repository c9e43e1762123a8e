import {
  argFields,
  asFlag,
  checkArgs,
  checkValue,
  fromFormValue,
  groupFields,
  IArgField,
  initialArgs,
  parseRange,
  toFormValue
} from '../pipelines/argforms';
import { ArgsSchema, ITemplate } from '../pipelines/types';

/** One argument of every type of the template schema (docs/formats.md), in Cube Studio's shape. */
const SCHEMA: ArgsSchema = {
  训练参数: {
    '--epochs': {
      type: 'int',
      label: 'Epochs',
      require: 1,
      range: '1,100',
      default: 10,
      describe: 'passes over the data'
    },
    '--lr': { type: 'float', label: 'Learning rate', require: 0, default: '', range: '0~1' },
    '--shuffle': { type: 'bool', label: 'Shuffle', default: 1 },
    '--name': { type: 'str', require: 1, placeholder: 'model name' },
    '--notes': { type: 'text' },
    '--optimizer': { type: 'enum', choice: ['adam', 'sgd'], default: 'adam' },
    '--metrics': { type: 'multiple', choice: 'acc,f1,auc', default: 'acc' }
  },
  高级: {
    '--layers': { type: 'list', item_type: 'int', default: [64, 32] },
    '--labels': { type: 'dict', default: '' },
    '--extra': { type: 'json' },
    '--data': { type: 'file', require: 1, default: '/mnt/data.csv', editable: 0 },
    '--mode': { type: 'weird' as any }
  }
};

const fields = argFields(SCHEMA);
const f = (flag: string): IArgField => fields.find(x => x.flag === flag)!;

describe('argFields', () => {
  it('makes one field per argument in schema order', () => {
    expect(fields.map(x => x.flag)).toEqual([
      '--epochs',
      '--lr',
      '--shuffle',
      '--name',
      '--notes',
      '--optimizer',
      '--metrics',
      '--layers',
      '--labels',
      '--extra',
      '--data',
      '--mode'
    ]);
  });

  it('chooses a widget for every type', () => {
    const widgets = Object.fromEntries(fields.map(x => [x.type + ':' + x.flag, x.widget]));
    expect(widgets).toEqual({
      'int:--epochs': 'number',
      'float:--lr': 'number',
      'bool:--shuffle': 'checkbox',
      'str:--name': 'text',
      'text:--notes': 'textarea',
      'enum:--optimizer': 'select',
      'multiple:--metrics': 'multiselect',
      'list:--layers': 'json',
      'dict:--labels': 'json',
      'json:--extra': 'json',
      'file:--data': 'file',
      'str:--mode': 'text' // unknown types fall back to text; the server reports them
    });
  });

  it('reads labels, required marks, choices, ranges and editability', () => {
    expect(f('--epochs')).toMatchObject({
      label: 'Epochs',
      required: true,
      range: { min: 1, max: 100 },
      describe: 'passes over the data',
      step: 1,
      group: '训练参数'
    });
    expect(f('--lr').range).toEqual({ min: 0, max: 1 });
    expect(f('--lr').step).toBe('any');
    expect(f('--notes').label).toBe('notes');
    expect(f('--metrics').choices).toEqual(['acc', 'f1', 'auc']);
    expect(f('--data')).toMatchObject({ editable: false, required: true });
    expect(f('--name').placeholder).toBe('model name');
  });

  it('groups fields by schema group', () => {
    expect(groupFields(fields).map(g => [g.group, g.fields.length])).toEqual([
      ['训练参数', 7],
      ['高级', 5]
    ]);
  });

  it('tolerates empty and odd schemas', () => {
    expect(argFields(null)).toEqual([]);
    expect(argFields({ g: null as any })).toEqual([]);
  });

  it('parses Cube Studio flags and ranges', () => {
    expect([asFlag(1), asFlag('1'), asFlag('true'), asFlag(0), asFlag('0'), asFlag(false)]).toEqual([
      true,
      true,
      true,
      false,
      false,
      false
    ]);
    expect(parseRange(',10')).toEqual({ min: null, max: 10 });
    expect(parseRange('')).toBeNull();
    expect(parseRange('1,2,3')).toBeNull();
  });
});

describe('initial values', () => {
  it('starts a task with every non-empty default', () => {
    const tpl = { name: 't', version: 'Release', args: SCHEMA } as unknown as ITemplate;
    expect(initialArgs(tpl)).toEqual({
      '--epochs': 10,
      '--shuffle': 1,
      '--optimizer': 'adam',
      '--metrics': 'acc',
      '--layers': [64, 32],
      '--data': '/mnt/data.csv'
    });
  });

  it('shows stored values, or defaults when absent', () => {
    expect(toFormValue(f('--epochs'), undefined)).toBe('10');
    expect(toFormValue(f('--epochs'), 3)).toBe('3');
    expect(toFormValue(f('--shuffle'), undefined)).toBe(true);
    expect(toFormValue(f('--shuffle'), false)).toBe(false);
    expect(toFormValue(f('--metrics'), undefined)).toEqual(['acc']);
    expect(toFormValue(f('--metrics'), ['f1', 'auc'])).toEqual(['f1', 'auc']);
    expect(toFormValue(f('--layers'), undefined)).toBe('[\n  64,\n  32\n]');
    expect(toFormValue(f('--labels'), { a: 1 })).toBe('{\n  "a": 1\n}');
    expect(toFormValue(f('--extra'), '{"raw": true}')).toBe('{"raw": true}');
    expect(toFormValue(f('--name'), undefined)).toBe('');
  });
});

describe('form value -> task arg', () => {
  it('types numbers, keeping unparsable text for the diagnostic', () => {
    expect(fromFormValue(f('--epochs'), '12')).toBe(12);
    expect(fromFormValue(f('--epochs'), '1.5')).toBe('1.5');
    expect(fromFormValue(f('--lr'), '0.01')).toBe(0.01);
    expect(fromFormValue(f('--lr'), 'fast')).toBe('fast');
    expect(fromFormValue(f('--epochs'), '')).toBeUndefined();
  });

  it('keeps references to upstream outputs as text', () => {
    expect(fromFormValue(f('--epochs'), '{{tasks.prep.outputs.n}}')).toBe('{{tasks.prep.outputs.n}}');
  });

  it('maps bools, enums and multiple choices', () => {
    expect(fromFormValue(f('--shuffle'), true)).toBe(true);
    expect(fromFormValue(f('--shuffle'), false)).toBe(false);
    expect(fromFormValue(f('--optimizer'), 'sgd')).toBe('sgd');
    expect(fromFormValue(f('--metrics'), ['acc', 'auc'])).toEqual(['acc', 'auc']);
    expect(fromFormValue(f('--metrics'), 'acc, f1')).toEqual(['acc', 'f1']);
    const numeric = argFields({ g: { '--k': { type: 'enum', choice: [1, 2, 3] } } })[0];
    expect(fromFormValue(numeric, '2')).toBe(2);
  });

  it('parses JSON types, keeping invalid JSON and JSON strings as text', () => {
    expect(fromFormValue(f('--layers'), '[1, 2]')).toEqual([1, 2]);
    expect(fromFormValue(f('--labels'), '{"a": "b"}')).toEqual({ a: 'b' });
    expect(fromFormValue(f('--extra'), '42')).toBe(42);
    expect(fromFormValue(f('--extra'), '"hi"')).toBe('"hi"');
    expect(fromFormValue(f('--layers'), '[1,')).toBe('[1,');
  });

  it('keeps text, long text and files as typed', () => {
    expect(fromFormValue(f('--name'), 'resnet')).toBe('resnet');
    expect(fromFormValue(f('--notes'), 'a\nb')).toBe('a\nb');
    expect(fromFormValue(f('--data'), '/mnt/x.csv')).toBe('/mnt/x.csv');
  });
});

describe('checkValue mirrors the server', () => {
  it('requires required arguments without a default', () => {
    expect(checkValue(f('--name'), undefined)).toBe('Required.');
    expect(checkValue(f('--name'), '')).toBe('Required.');
    expect(checkValue(f('--epochs'), undefined)).toBeNull(); // has a default
    expect(checkValue(f('--lr'), undefined)).toBeNull(); // optional
  });

  it('checks ints and floats with their ranges', () => {
    expect(checkValue(f('--epochs'), 5)).toBeNull();
    expect(checkValue(f('--epochs'), '1.5')).toMatch(/not a whole number/);
    expect(checkValue(f('--epochs'), 500)).toMatch(/outside the range 1..100/);
    expect(checkValue(f('--epochs'), true)).toMatch(/not a whole number/);
    expect(checkValue(f('--lr'), 0.5)).toBeNull();
    expect(checkValue(f('--lr'), 2)).toMatch(/outside/);
    expect(checkValue(f('--lr'), 'fast')).toMatch(/not a number/);
  });

  it('checks bools, enums and multiple choices', () => {
    expect(checkValue(f('--shuffle'), true)).toBeNull();
    expect(checkValue(f('--shuffle'), 'yes')).toMatch(/not true or false/);
    expect(checkValue(f('--optimizer'), 'rmsprop')).toMatch(/not one of adam, sgd/);
    expect(checkValue(f('--metrics'), ['acc', 'mse'])).toMatch(/mse not among/);
    expect(checkValue(f('--metrics'), 'acc')).toMatch(/list of choices/);
  });

  it('checks list items, dicts and JSON', () => {
    expect(checkValue(f('--layers'), [1, 2])).toBeNull();
    expect(checkValue(f('--layers'), [1, 'x'])).toMatch(/Item 1 is not a whole number/);
    expect(checkValue(f('--layers'), '[1,')).toMatch(/Not valid JSON/);
    expect(checkValue(f('--layers'), { a: 1 })).toMatch(/Must be a JSON list, got object/);
    expect(checkValue(f('--layers'), '[3, 4]')).toBeNull();
    expect(checkValue(f('--labels'), { a: 1 })).toBeNull();
    expect(checkValue(f('--labels'), [1])).toMatch(/JSON object, got list/);
    expect(checkValue(f('--extra'), '"hi"')).toBeNull();
    expect(checkValue(f('--extra'), 'hi')).toMatch(/Not valid JSON/);
    expect(checkValue(f('--extra'), null)).toBeNull();
  });

  it('checks text types and non-editable arguments', () => {
    expect(checkValue(f('--name'), { a: 1 })).toMatch(/Must be text/);
    expect(checkValue(f('--data'), '/mnt/data.csv')).toBeNull();
    expect(checkValue(f('--data'), '/mnt/other.csv')).toMatch(/Not editable/);
  });

  it('accepts references without checking their type', () => {
    expect(checkValue(f('--layers'), '{{tasks.a.outputs.path}}')).toBeNull();
  });

  it('collects messages for a whole task', () => {
    expect(checkArgs(fields, { '--epochs': 0, '--optimizer': 'adam' })).toEqual({
      '--epochs': '0 is outside the range 1..100',
      '--name': 'Required.'
    });
  });
});
