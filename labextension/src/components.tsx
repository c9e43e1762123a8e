import * as React from 'react';

/** A message about one form field (or the whole form when `field` is ''). */
export function FieldError(props: { id: string; field: string; message?: string }): JSX.Element | null {
  if (!props.message) {
    return null;
  }
  return (
    <div
      id={props.id}
      className="cl-FieldError"
      role="alert"
      data-testid={props.field ? `cubelab-field-error-${props.field}` : 'cubelab-form-error'}
    >
      {props.message}
    </div>
  );
}

let counter = 0;
/** A stable unique id for label/aria wiring. */
export function useUid(prefix: string): string {
  const ref = React.useRef<string>();
  if (!ref.current) {
    counter += 1;
    ref.current = `${prefix}-${counter}`;
  }
  return ref.current;
}

export interface ITextFieldProps {
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  help?: string;
  error?: string;
  readOnly?: boolean;
  multiline?: boolean;
  required?: boolean;
  testid?: string;
  autoFocus?: boolean;
}

/** A labelled text input with help text and the server's message below it. */
export function TextField(props: ITextFieldProps): JSX.Element {
  const uid = useUid('cl-field');
  const helpId = `${uid}-help`;
  const errId = `${uid}-err`;
  const describedBy = [props.help ? helpId : '', props.error ? errId : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id: uid,
    name: props.name,
    value: props.value,
    placeholder: props.placeholder,
    readOnly: props.readOnly,
    required: props.required,
    autoFocus: props.autoFocus,
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': describedBy,
    'data-testid': props.testid,
    className: 'jp-mod-styled cl-Input' + (props.error ? ' cl-mod-invalid' : ''),
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => props.onChange(e.target.value)
  };
  return (
    <div className="cl-Field" data-field={props.name}>
      <label htmlFor={uid} className="cl-Field-label">
        {props.label}
        {props.required ? (
          <span className="cl-Required" aria-hidden="true">
            {' '}
            *
          </span>
        ) : null}
      </label>
      {props.multiline ? <textarea rows={2} {...common} /> : <input type="text" spellCheck={false} {...common} />}
      {props.help ? (
        <div id={helpId} className="cl-Field-help">
          {props.help}
        </div>
      ) : null}
      <FieldError id={errId} field={props.name} message={props.error} />
    </div>
  );
}

/** Buttons in JupyterLab's style. */
export function Button(
  props: React.ButtonHTMLAttributes<HTMLButtonElement> & {
    kind?: 'accept' | 'reject' | 'warn' | 'plain';
    testid?: string;
  }
): JSX.Element {
  const { kind = 'plain', testid, className, ...rest } = props;
  const mod =
    kind === 'accept' ? ' jp-mod-accept' : kind === 'warn' ? ' jp-mod-warn' : kind === 'reject' ? ' jp-mod-reject' : '';
  return (
    <button
      type="button"
      data-testid={testid}
      className={`jp-Button jp-mod-styled cl-Button${mod} ${className ?? ''}`}
      {...rest}
    />
  );
}

export function RoleBadge(props: { role: string | null }): JSX.Element {
  const role = props.role ?? 'admin';
  return (
    <span
      className={`cl-RoleBadge cl-mod-${role}`}
      data-testid="cubelab-role"
      title={props.role ? `Your role: ${role}` : 'Admin (not a member)'}
    >
      {role}
    </span>
  );
}

export function Spinner(props: { label?: string }): JSX.Element {
  return (
    <div className="cl-Loading" role="status" aria-live="polite">
      {props.label ?? 'Loading…'}
    </div>
  );
}

/** A collapsible section of the sidebar. */
export function Section(props: {
  id: string;
  title: string;
  children: React.ReactNode;
  actions?: React.ReactNode;
  defaultOpen?: boolean;
}): JSX.Element {
  const [open, setOpen] = React.useState(props.defaultOpen ?? true);
  const bodyId = `cl-section-${props.id}`;
  return (
    <section className="cl-Section" data-testid={`cubelab-section-${props.id}`}>
      <div className="cl-Section-header">
        <button
          type="button"
          className="cl-Section-toggle"
          aria-expanded={open}
          aria-controls={bodyId}
          onClick={() => setOpen(!open)}
        >
          <span className={`cl-Caret${open ? ' cl-mod-open' : ''}`} aria-hidden="true" />
          <h3 className="cl-Section-title">{props.title}</h3>
        </button>
        <div className="cl-Section-actions">{props.actions}</div>
      </div>
      {open ? (
        <div id={bodyId} className="cl-Section-body">
          {props.children}
        </div>
      ) : null}
    </section>
  );
}

/** "Load more" under a paged list, shown while the server has a next page. */
export function LoadMore(props: {
  hasMore: boolean;
  loading: boolean;
  onClick: () => void;
  testid: string;
  label?: string;
}): JSX.Element | null {
  if (!props.hasMore) {
    return null;
  }
  return (
    <button
      type="button"
      className="jp-Button jp-mod-styled cl-Button cl-LoadMore"
      data-testid={props.testid}
      disabled={props.loading}
      aria-busy={props.loading}
      onClick={props.onClick}
    >
      {props.loading ? 'Loading…' : (props.label ?? 'Load more')}
    </button>
  );
}
