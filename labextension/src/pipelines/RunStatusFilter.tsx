import * as React from 'react';

import { RUN_STATUSES } from './types';

/** The status filter of a run list (the sidebar's runs, the editor's history): sent to the server. */
export function RunStatusFilter(props: {
  label: string;
  testId: string;
  value: string;
  onChange: (status: string) => void;
}): JSX.Element {
  return (
    <div className="cl-Filters">
      <select
        className="jp-mod-styled cl-Select"
        aria-label={props.label}
        data-testid={props.testId}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        <option value="">Any status</option>
        {RUN_STATUSES.map(st => (
          <option key={st} value={st}>
            {st}
          </option>
        ))}
      </select>
    </div>
  );
}
