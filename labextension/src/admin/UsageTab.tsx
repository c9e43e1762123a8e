/** Usage over the last 30 days: CPU and GPU hours per project or user, drawn by JupyterLab's Vega renderer. */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { VegaChart } from '../experiments/VegaChart';
import { useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner } from './common';
import { usageSpec, usageTotals, withOthers } from './logic';
import { IUsage } from './types';

const DAYS = 30;

/** Each series' CPU and GPU hours over the period, most CPU first. */
function usageRows(usage: IUsage): { key: string; cpu: number; gpu: number }[] {
  const gpu = new Map(usageTotals(usage, 'gpu_hours').map(t => [t.key, t.hours]));
  return usageTotals(usage, 'cpu_hours').map(t => ({ key: t.key, cpu: t.hours, gpu: gpu.get(t.key) ?? 0 }));
}

export function UsageTab(props: { client: AdminClient; rendermime: IRenderMimeRegistry }): JSX.Element {
  const { client } = props;
  const [by, setBy] = React.useState<'project' | 'user'>('project');
  const usage = useResource(() => client.usage(by, DAYS), [client, by]);
  // the API sends the largest series and sums the rest: drawn as one more
  const data = usage.data ? withOthers(usage.data) : null;
  return (
    <div className="cl-AdminUsage" data-testid="cubelab-admin-usage">
      <label>
        Per{' '}
        <select
          className="jp-mod-styled"
          value={by}
          aria-label="Usage per"
          onChange={e => setBy(e.target.value as 'project' | 'user')}
        >
          <option value="project">project</option>
          <option value="user">user</option>
        </select>
      </label>
      <ErrorBanner error={usage.error} />
      {data ? (
        <>
          <VegaChart
            rendermime={props.rendermime}
            spec={usageSpec(data, 'cpu_hours', by)}
            testid="cubelab-admin-usage-cpu"
            label={`CPU hours per ${by}`}
          />
          <VegaChart
            rendermime={props.rendermime}
            spec={usageSpec(data, 'gpu_hours', by)}
            testid="cubelab-admin-usage-gpu"
            label={`GPU hours per ${by}`}
          />
          <table className="cl-Table cl-AdminTable" aria-label={`Hours per ${by}`}>
            <thead>
              <tr>
                <th>{by}</th>
                <th>CPU hours</th>
                <th>GPU hours</th>
              </tr>
            </thead>
            <tbody>
              {usageRows(data).map(row => (
                <tr key={row.key}>
                  <td>{row.key}</td>
                  <td>{Math.round(row.cpu * 10) / 10}</td>
                  <td>{Math.round(row.gpu * 10) / 10}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}
