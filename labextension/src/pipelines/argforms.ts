/**
 * Form generation from a job template's argument schema (Cube Studio's shape):
 * `{"group": {"--name": {type, item_type, label, require, choice, range,
 * default, placeholder, describe, editable}}}`.
 *
 * Pure functions: which widget each argument gets, how a widget's value maps
 * to the task's `args` value (and back), and a client-side check that mirrors
 * the server's `coerce_arg_value` (the server's diagnostics stay the truth).
 */
import { ArgsSchema, ArgType, ARG_TYPES, IArgSpecRaw, ITemplate } from './types';

export type Widget = 'number' | 'checkbox' | 'text' | 'textarea' | 'select' | 'multiselect' | 'json' | 'file';

export interface IArgField {
  flag: string;
  group: string;
  type: ArgType;
  widget: Widget;
  label: string;
  required: boolean;
  choices: unknown[];
  default: unknown;
  placeholder: string;
  describe: string;
  editable: boolean;
  range: { min: number | null; max: number | null } | null;
  itemType: string;
  /** `step` for number inputs: 1 for int, 'any' for float. */
  step?: number | 'any';
}

export type FormValue = string | boolean | string[];

const REFERENCE_RE = /\{\{\s*tasks\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}/;

/** Cube Studio writes 0/1; JSON users write true/false. */
export function asFlag(value: unknown): boolean {
  if (typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    return value !== 0;
  }
  if (typeof value === 'string') {
    return ['1', 'true', 'yes'].includes(value.trim().toLowerCase());
  }
  return !!value;
}

export function parseRange(text: string | undefined): { min: number | null; max: number | null } | null {
  if (!text) {
    return null;
  }
  const sep = text.includes('~') ? '~' : ',';
  const parts = text.split(sep);
  if (parts.length !== 2) {
    return null;
  }
  const num = (s: string) => {
    const t = s.trim();
    if (!t) {
      return null;
    }
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  };
  return { min: num(parts[0]), max: num(parts[1]) };
}

function choicesOf(raw: IArgSpecRaw): unknown[] {
  const c = raw.choice;
  if (typeof c === 'string') {
    return c
      .split(',')
      .map(s => s.trim())
      .filter(Boolean);
  }
  return Array.isArray(c) ? c : [];
}

const WIDGETS: Record<ArgType, Widget> = {
  int: 'number',
  float: 'number',
  bool: 'checkbox',
  str: 'text',
  text: 'textarea',
  enum: 'select',
  multiple: 'multiselect',
  list: 'json',
  dict: 'json',
  json: 'json',
  file: 'file'
};

/** One field per argument, in schema order (groups in order, flags in order). */
export function argFields(schema: ArgsSchema | null | undefined): IArgField[] {
  const fields: IArgField[] = [];
  if (!schema || typeof schema !== 'object') {
    return fields;
  }
  for (const [group, items] of Object.entries(schema)) {
    if (!items || typeof items !== 'object') {
      continue;
    }
    for (const [flag, raw] of Object.entries(items)) {
      const spec = (raw ?? {}) as IArgSpecRaw;
      const type = (ARG_TYPES.includes(spec.type as ArgType) ? spec.type : 'str') as ArgType;
      fields.push({
        flag,
        group,
        type,
        widget: WIDGETS[type],
        label: spec.label ? String(spec.label) : flag.replace(/^-+/, ''),
        required: asFlag(spec.require ?? 0),
        choices: choicesOf(spec),
        default: spec.default ?? '',
        placeholder: spec.placeholder ? String(spec.placeholder) : '',
        describe: spec.describe ? String(spec.describe) : '',
        editable: asFlag(spec.editable ?? 1),
        range: parseRange(spec.range),
        itemType: spec.item_type ? String(spec.item_type) : '',
        step: type === 'int' ? 1 : type === 'float' ? 'any' : undefined
      });
    }
  }
  return fields;
}

/** Fields grouped by their schema group, groups in schema order. */
export function groupFields(fields: IArgField[]): { group: string; fields: IArgField[] }[] {
  const groups: { group: string; fields: IArgField[] }[] = [];
  for (const f of fields) {
    let g = groups.find(x => x.group === f.group);
    if (!g) {
      g = { group: f.group, fields: [] };
      groups.push(g);
    }
    g.fields.push(f);
  }
  return groups;
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** The args a new task starts with: every non-empty default. */
export function initialArgs(template: ITemplate): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const f of argFields(template.args)) {
    if (!isEmpty(f.default)) {
      args[f.flag] = f.default;
    }
  }
  return args;
}

/** What a widget shows for a stored value (absent: the default). */
export function toFormValue(field: IArgField, stored: unknown): FormValue {
  const value = stored === undefined ? field.default : stored;
  switch (field.widget) {
    case 'checkbox':
      return isEmpty(value) ? false : asFlag(value);
    case 'multiselect': {
      if (Array.isArray(value)) {
        return value.map(String);
      }
      if (typeof value === 'string' && value) {
        return value
          .split(',')
          .map(s => s.trim())
          .filter(Boolean);
      }
      return [];
    }
    case 'json':
      if (isEmpty(value)) {
        return '';
      }
      return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    default:
      return isEmpty(value) ? '' : String(value);
  }
}

/**
 * The task's `args` value for what a widget holds; `undefined` means "leave
 * the argument out".  Values that do not parse are kept as typed text, so the
 * user's input is never lost and the server's diagnostic explains it.
 */
export function fromFormValue(field: IArgField, value: FormValue): unknown {
  switch (field.type) {
    case 'bool':
      return !!value;
    case 'multiple':
      return Array.isArray(value)
        ? matchChoices(field, value)
        : matchChoices(
            field,
            String(value)
              .split(',')
              .map(s => s.trim())
              .filter(Boolean)
          );
    default:
      break;
  }
  const text = Array.isArray(value) ? value.join(',') : String(value);
  if (text.trim() === '') {
    return undefined;
  }
  if (REFERENCE_RE.test(text)) {
    return text;
  }
  switch (field.type) {
    case 'int':
      return /^\s*[-+]?\d+\s*$/.test(text) ? parseInt(text, 10) : text;
    case 'float': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? n : text;
    }
    case 'enum': {
      const match = field.choices.find(c => String(c) === text);
      return match === undefined ? text : match;
    }
    case 'list':
    case 'dict':
    case 'json':
      // the server reads a string value as JSON text, so a JSON string
      // ("hello" with quotes) stays text and invalid JSON stays as typed
      try {
        const parsed = JSON.parse(text);
        return typeof parsed === 'string' ? text : parsed;
      } catch {
        return text;
      }
    default:
      return text;
  }
}

const NOT_JSON = Symbol('not-json');

/** The value the server sees for a JSON-typed argument (strings are JSON text). */
function jsonValue(value: unknown): unknown {
  if (typeof value !== 'string') {
    return value;
  }
  try {
    return JSON.parse(value);
  } catch {
    return NOT_JSON;
  }
}

function matchChoices(field: IArgField, values: string[]): unknown[] {
  return values.map(v => {
    const match = field.choices.find(c => String(c) === v);
    return match === undefined ? v : match;
  });
}

function typeName(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'list';
  }
  return typeof value === 'object' ? 'object' : typeof value;
}

function checkRange(field: IArgField, n: number): string | null {
  const r = field.range;
  if (!r) {
    return null;
  }
  if ((r.min !== null && n < r.min) || (r.max !== null && n > r.max)) {
    return `${n} is outside the range ${r.min ?? ''}..${r.max ?? ''}`;
  }
  return null;
}

function checkItem(itemType: string, item: unknown, index: number): string | null {
  switch (itemType) {
    case 'int':
      return Number.isInteger(item) || (typeof item === 'string' && /^\s*[-+]?\d+\s*$/.test(item))
        ? null
        : `item ${index} is not a whole number`;
    case 'float':
      return typeof item === 'number' || (typeof item === 'string' && Number.isFinite(Number(item)))
        ? null
        : `item ${index} is not a number`;
    case 'bool':
      return typeof item === 'boolean' ? null : `item ${index} is not true or false`;
    case 'str':
      return typeof item === 'string' || typeof item === 'number' ? null : `item ${index} is not text`;
    default:
      return null;
  }
}

/**
 * A message when `value` (a task's stored arg, undefined when absent) would be
 * refused, or null.  Mirrors the server's checks; references to upstream
 * outputs are accepted here (they are checked when the run starts).
 */
export function checkValue(field: IArgField, value: unknown): string | null {
  if (isEmpty(value)) {
    if (field.required && isEmpty(field.default)) {
      return 'Required.';
    }
    return null;
  }
  if (typeof value === 'string' && REFERENCE_RE.test(value)) {
    return null;
  }
  if (!field.editable && JSON.stringify(value) !== JSON.stringify(field.default)) {
    return `Not editable: must stay ${JSON.stringify(field.default)}.`;
  }
  switch (field.type) {
    case 'int':
      if (typeof value === 'boolean' || !Number.isInteger(value)) {
        return `'${String(value)}' is not a whole number.`;
      }
      return checkRange(field, value as number);
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return `'${String(value)}' is not a number.`;
      }
      return checkRange(field, value);
    case 'bool':
      return typeof value === 'boolean' ? null : `'${String(value)}' is not true or false.`;
    case 'str':
    case 'text':
    case 'file':
      return typeof value === 'string' || typeof value === 'number' ? null : `Must be text, got ${typeName(value)}.`;
    case 'enum':
      return field.choices.some(c => String(c) === String(value))
        ? null
        : `'${String(value)}' is not one of ${field.choices.map(String).join(', ')}.`;
    case 'multiple': {
      if (!Array.isArray(value)) {
        return 'Must be a list of choices.';
      }
      const bad = value.filter(v => !field.choices.some(c => String(c) === String(v)));
      return bad.length ? `${bad.map(String).join(', ')} not among the choices.` : null;
    }
    case 'list': {
      const v = jsonValue(value);
      if (v === NOT_JSON) {
        return 'Not valid JSON; a list looks like ["a", "b"].';
      }
      if (!Array.isArray(v)) {
        return `Must be a JSON list, got ${typeName(v)}.`;
      }
      for (let i = 0; i < v.length; i++) {
        const m = checkItem(field.itemType, v[i], i);
        if (m) {
          return m[0].toUpperCase() + m.slice(1) + '.';
        }
      }
      return null;
    }
    case 'dict': {
      const v = jsonValue(value);
      if (v === NOT_JSON) {
        return 'Not valid JSON; an object looks like {"k": "v"}.';
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        return `Must be a JSON object, got ${typeName(v)}.`;
      }
      return null;
    }
    case 'json':
      return jsonValue(value) === NOT_JSON ? 'Not valid JSON.' : null;
    default:
      return null;
  }
}

/** Client-side messages for every argument of a task (flag -> message). */
export function checkArgs(fields: IArgField[], args: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const m = checkValue(f, args[f.flag]);
    if (m) {
      out[f.flag] = m;
    }
  }
  return out;
}

/** Set or clear one argument, returning new args. */
export function setArg(args: Record<string, unknown>, flag: string, value: unknown): Record<string, unknown> {
  const next = { ...args };
  if (value === undefined) {
    delete next[flag];
  } else {
    next[flag] = value;
  }
  return next;
}

/**
 * The field of a container task's image override (`images`) when its template
 * does not declare one: the template's image is what runs while it is empty.
 */
export function imageOverrideField(templateImage: string | undefined): IArgField {
  return {
    flag: 'images',
    group: 'image',
    type: 'str',
    widget: 'text',
    label: 'Image',
    required: false,
    choices: [],
    default: '',
    placeholder: templateImage || '',
    describe: templateImage
      ? `Replaces the template's image (${templateImage}) for this task; empty keeps it.`
      : 'The image this task runs.',
    editable: true,
    range: null,
    itemType: ''
  };
}
