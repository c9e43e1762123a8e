/** Clusters and machines: reachability; this machine's CPU, memory and GPUs; Kubernetes nodes' role labels, editable. */
import * as React from 'react';

import { Button } from '../components';
import { errorMessage, useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner, UseCell } from './common';
import { formatBytes, labelPatch } from './logic';
import { ILocalMachine, INode, NodeLabels, ROLE_LABELS, SWITCH_LABELS } from './types';

export function ClustersTab(props: { client: AdminClient }): JSX.Element {
  const { client } = props;
  const clusters = useResource(() => client.clusters(), [client]);
  const [selected, setSelected] = React.useState<string | null>(null);
  const cluster = selected ?? clusters.data?.[0]?.name ?? null;

  return (
    <div className="cl-AdminClusters" data-testid="cubelab-admin-clusters">
      <ErrorBanner error={clusters.error} />
      <ul className="cl-List" aria-label="Clusters">
        {(clusters.data ?? []).map(c => (
          <li
            key={c.name}
            className={`cl-List-item cl-Row${c.name === cluster ? ' cl-mod-selected' : ''}`}
            data-cluster={c.name}
          >
            <button type="button" className="cl-LinkButton" onClick={() => setSelected(c.name)}>
              {c.name}
            </button>
            <span className="cl-Muted">{c.kind}</span>
            <span className={c.reachable ? 'cl-Ok' : 'cl-FieldError'}>
              {c.reachable ? 'reachable' : `unreachable: ${c.error ?? ''}`}
            </span>
          </li>
        ))}
      </ul>
      {cluster ? <Machines key={cluster} client={client} cluster={cluster} /> : null}
    </div>
  );
}

function Machines(props: { client: AdminClient; cluster: string }): JSX.Element {
  const { client, cluster } = props;
  const machines = useResource(() => client.machines(cluster), [client, cluster]);
  const m = machines.data;
  return (
    <section aria-label={`Machines of ${cluster}`}>
      <ErrorBanner error={machines.error} />
      {m?.kind === 'local' ? <LocalMachine machine={m} /> : null}
      {m?.kind === 'kubernetes' ? (
        <table className="cl-Table cl-AdminTable" aria-label="Nodes" data-testid="cubelab-admin-nodes">
          <thead>
            <tr>
              <th>Node</th>
              <th>Ready</th>
              <th>Allocatable</th>
              <th>Role labels</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {m.nodes.map(n => (
              <NodeRow key={n.name} client={client} cluster={cluster} node={n} />
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function LocalMachine(props: { machine: ILocalMachine }): JSX.Element {
  const m = props.machine;
  return (
    <div data-testid="cubelab-admin-local-machine">
      <p data-testid="cubelab-admin-machine-use">
        CPU: {Math.round(m.cpu.used * 100) / 100} of {m.cpu.count} cores held · memory: {formatBytes(m.memory.used)} of{' '}
        {m.memory.total === null ? 'unknown' : formatBytes(m.memory.total)} held
      </p>
      {m.gpus.length ? (
        <ul className="cl-List" aria-label="GPUs">
          {m.gpus.map(g => (
            <li key={g.index} className="cl-List-item">
              GPU {g.index}: {g.name} ({g.memory === null ? 'memory unknown' : formatBytes(g.memory)}) —{' '}
              {g.holder ?? 'free'}
            </li>
          ))}
        </ul>
      ) : (
        <p className="cl-Muted">No GPUs.</p>
      )}
      <table className="cl-Table cl-AdminTable" aria-label="What holds this machine">
        <thead>
          <tr>
            <th>Kind</th>
            <th>Id</th>
            <th>Project</th>
            <th>User</th>
            <th>Use</th>
          </tr>
        </thead>
        <tbody>
          {m.holders.map(h => (
            <tr key={`${h.kind}/${h.id}`}>
              <td>{h.kind}</td>
              <td>{h.id}</td>
              <td>{h.project ?? '—'}</td>
              <td>{h.user}</td>
              <td>
                <UseCell use={h} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function NodeRow(props: { client: AdminClient; cluster: string; node: INode }): JSX.Element {
  const { client, cluster } = props;
  const [labels, setLabels] = React.useState<NodeLabels>(props.node.labels);
  const [draft, setDraft] = React.useState<NodeLabels | null>(null);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [error, setError] = React.useState<string | null>(null);
  const [saving, setSaving] = React.useState(false);

  const save = async () => {
    if (!draft) {
      return;
    }
    const patch = labelPatch(labels, draft);
    setErrors(patch.errors);
    if (Object.keys(patch.errors).length) {
      return;
    }
    if (!Object.keys(patch.labels).length) {
      setDraft(null);
      return;
    }
    setSaving(true);
    try {
      setLabels(await client.setNodeLabels(cluster, props.node.name, patch.labels));
      setDraft(null);
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <tr data-node={props.node.name}>
      <td>{props.node.name}</td>
      <td>{props.node.ready ? 'ready' : 'not ready'}</td>
      <td>
        <UseCell use={props.node.allocatable} />
      </td>
      <td>
        {draft ? (
          <div className="cl-AdminLabels">
            {ROLE_LABELS.map(key =>
              SWITCH_LABELS.includes(key) ? (
                <label key={key} className="cl-Check">
                  <input
                    type="checkbox"
                    checked={draft[key] === 'true'}
                    onChange={e => setDraft({ ...draft, [key]: e.target.checked ? 'true' : undefined })}
                  />
                  {key}
                </label>
              ) : (
                <label key={key}>
                  {key}{' '}
                  <input
                    className="jp-mod-styled cl-Input"
                    value={draft[key] ?? ''}
                    aria-invalid={errors[key] ? true : undefined}
                    onChange={e => setDraft({ ...draft, [key]: e.target.value })}
                  />
                  {errors[key] ? <span className="cl-FieldError">{errors[key]}</span> : null}
                </label>
              )
            )}
            <ErrorBanner error={error} />
          </div>
        ) : (
          Object.entries(labels)
            .map(([k, v]) => (v === 'true' ? k : `${k}=${v}`))
            .join(', ') || '—'
        )}
      </td>
      <td>
        {draft ? (
          <>
            <Button kind="accept" disabled={saving} onClick={() => void save()}>
              {saving ? 'Saving…' : 'Save'}
            </Button>
            <Button kind="reject" disabled={saving} onClick={() => setDraft(null)}>
              Cancel
            </Button>
          </>
        ) : (
          <Button aria-label={`Edit the labels of ${props.node.name}`} onClick={() => setDraft({ ...labels })}>
            Edit labels
          </Button>
        )}
      </td>
    </tr>
  );
}
