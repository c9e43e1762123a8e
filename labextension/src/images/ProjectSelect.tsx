/** The project an image form acts in: a select of the caller's projects, with its field error. */
import * as React from 'react';

import { FieldError, useUid } from '../components';

export function ProjectSelect(props: {
  value: string;
  onChange: (project: string) => void;
  projects: string[];
  testid: string;
  error?: string;
  disabled?: boolean;
  /** the label of a first option whose value is '' (none when not given) */
  emptyOption?: string;
}): JSX.Element {
  const id = useUid('cl-project');
  return (
    <div className="cl-Field" data-field="project">
      <label htmlFor={id} className="cl-Field-label">
        Project
      </label>
      <select
        id={id}
        className="jp-mod-styled cl-Select"
        data-testid={props.testid}
        value={props.value}
        disabled={props.disabled}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.emptyOption !== undefined ? <option value="">{props.emptyOption}</option> : null}
        {props.projects.map(p => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
      <FieldError id={`${id}-err`} field="project" message={props.error} />
    </div>
  );
}
