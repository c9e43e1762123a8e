/**
 * Templates and categories: the palette's category order, Alpha -> Release,
 * retiring a version, importing Cube Studio templates (with the per-entry
 * report), and which pipelines are demos.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { BusyLabel, useBusy } from '../accounts/actions';
import { Button, LoadMore } from '../components';
import { pipelineFileFormat, reportLines, reportTitle } from '../pipelines/cubeStudioImport';
import { useDebounced, usePagedList } from '../usePagedList';
import { errorMessage, useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner } from './common';
import { moveCategory, sortCategories } from './logic';
import { IAdminTemplate } from './types';

export function TemplatesTab(props: { client: AdminClient }): JSX.Element {
  const [changed, setChanged] = React.useState(0);
  const bump = () => setChanged(n => n + 1);
  return (
    <div className="cl-AdminTemplates" data-testid="cubelab-admin-templates">
      <Categories client={props.client} changed={changed} onChange={bump} />
      <Templates client={props.client} changed={changed} onChange={bump} />
      <Demos client={props.client} />
    </div>
  );
}

function Categories(props: { client: AdminClient; changed: number; onChange: () => void }): JSX.Element {
  const { client } = props;
  const categories = useResource(() => client.categories(), [client], { refresh: props.changed });
  const { busy, run } = useBusy();
  const order = sortCategories(categories.data ?? []);

  const move = (name: string, step: -1 | 1) =>
    run(name, 'Moving…', async () => {
      try {
        // one change at a time, in order: the palette is never left with a half-applied move for long
        for (const change of moveCategory(order, name, step)) {
          await client.setCategoryIndex(change.name, change.index);
        }
        categories.setError(null);
      } catch (err) {
        categories.setError(errorMessage(err));
      }
      props.onChange();
    });

  return (
    <section aria-label="Template categories">
      <h3>Categories (palette order)</h3>
      <ErrorBanner error={categories.error} />
      <ol className="cl-List cl-AdminCategories" data-testid="cubelab-admin-categories">
        {order.map((c, i) => (
          <li
            key={c.name}
            className="cl-List-item cl-Row"
            data-category={c.name}
            aria-busy={busy[c.name] ? true : undefined}
          >
            <span className="cl-List-main">
              {c.name}{' '}
              <span className="cl-Muted">
                index {c.index} · {c.templates} template version(s)
              </span>
            </span>
            {busy[c.name] ? <BusyLabel doing={busy[c.name]} testid="cubelab-admin-category-busy" /> : null}
            <Button
              aria-label={`Move ${c.name} up`}
              testid="cubelab-admin-category-up"
              disabled={i === 0 || !!Object.keys(busy).length}
              onClick={() => void move(c.name, -1)}
            >
              ↑
            </Button>
            <Button
              aria-label={`Move ${c.name} down`}
              testid="cubelab-admin-category-down"
              disabled={i === order.length - 1 || !!Object.keys(busy).length}
              onClick={() => void move(c.name, 1)}
            >
              ↓
            </Button>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Templates(props: { client: AdminClient; changed: number; onChange: () => void }): JSX.Element {
  const { client } = props;
  const [filter, setFilter] = React.useState('');
  const q = useDebounced(filter.trim());
  const list = usePagedList(cursor => client.templates(q, cursor), [client, q], { refresh: props.changed });
  const { busy, run } = useBusy();
  const file = React.useRef<HTMLInputElement>(null);

  const act = (t: IAdminTemplate, doing: string, fn: () => Promise<unknown>) =>
    run(`${t.name}/${t.version}`, doing, async () => {
      try {
        await fn();
        list.setError(null);
      } catch (err) {
        list.setError(errorMessage(err));
      }
      props.onChange();
    });

  const release = async (t: IAdminTemplate) => {
    const r = await showDialog({
      title: `Release ${t.name}?`,
      body: `The Alpha of ${t.name} becomes its Release, which everyone sees in the palette (the Alpha stays).`,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Release' })]
    });
    if (r.button.accept) {
      await act(t, 'Releasing…', () => client.release(t.name));
    }
  };

  const retire = async (t: IAdminTemplate) => {
    if (!t.retired) {
      const r = await showDialog({
        title: `Retire ${t.name} (${t.version})?`,
        body: 'It leaves the palette and new pipelines; pipelines that use it keep running it.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Retire' })]
      });
      if (!r.button.accept) {
        return;
      }
    }
    await act(t, t.retired ? 'Bringing back…' : 'Retiring…', () => client.setRetired(t.name, t.version, !t.retired));
  };

  const importFile = async (f: File) => {
    let doc: unknown;
    try {
      doc = JSON.parse(await f.text());
    } catch {
      list.setError(`${f.name} is not a JSON document.`);
      return;
    }
    if (pipelineFileFormat(doc) !== 'cube-studio-templates') {
      list.setError(`${f.name} holds no Cube Studio job templates.`);
      return;
    }
    try {
      const answer = await client.importTemplates(doc);
      list.setError(null);
      await showDialog({
        title: reportTitle(answer.entries, 'template'),
        body: (
          <pre className="cl-ImportReport" data-testid="cubelab-import-report">
            {reportLines(answer.entries).join('\n')}
          </pre>
        ),
        buttons: [Dialog.okButton()]
      });
    } catch (err) {
      list.setError(`Not imported: ${errorMessage(err)}`);
    }
    props.onChange();
  };

  return (
    <section aria-label="Job templates">
      <h3>Job templates</h3>
      <div className="cl-Filters">
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search templates by name"
          data-testid="cubelab-admin-templates-search"
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
        <Button testid="cubelab-admin-templates-import" onClick={() => file.current?.click()}>
          Import Cube Studio templates…
        </Button>
        <input
          ref={file}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="cubelab-admin-templates-import-file"
          onChange={e => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) {
              void importFile(f);
            }
          }}
        />
      </div>
      <ErrorBanner error={list.error} />
      <table className="cl-Table cl-AdminTable" aria-label="Job templates" data-testid="cubelab-admin-template-list">
        <thead>
          <tr>
            <th>Template</th>
            <th>Version</th>
            <th>Category</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.items.map(t => {
            const key = `${t.name}/${t.version}`;
            return (
              <tr
                key={key}
                data-template={t.name}
                data-version={t.version}
                data-retired={String(!!t.retired)}
                aria-busy={busy[key] ? true : undefined}
              >
                <td title={t.description}>{t.name}</td>
                <td>{t.version}</td>
                <td>{t.category}</td>
                <td>{t.retired ? <span className="cl-RoleBadge">retired</span> : t.builtin ? 'built-in' : ''}</td>
                <td className="cl-AdminActions">
                  {busy[key] ? <BusyLabel doing={busy[key]} testid="cubelab-admin-template-busy" /> : null}
                  {t.version === 'Alpha' ? (
                    <Button
                      testid="cubelab-admin-release"
                      disabled={!!busy[key]}
                      onClick={() => void release(t)}
                      aria-label={`Release ${t.name}`}
                    >
                      Release
                    </Button>
                  ) : null}
                  <Button
                    testid="cubelab-admin-retire"
                    kind={t.retired ? 'plain' : 'warn'}
                    disabled={!!busy[key]}
                    onClick={() => void retire(t)}
                    aria-label={`${t.retired ? 'Bring back' : 'Retire'} ${t.name} ${t.version}`}
                  >
                    {t.retired ? 'Bring back' : 'Retire'}
                  </Button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-admin-templates-more"
      />
    </section>
  );
}

function Demos(props: { client: AdminClient }): JSX.Element {
  const { client } = props;
  const [filter, setFilter] = React.useState('');
  const q = useDebounced(filter.trim());
  const list = usePagedList(cursor => client.pipelines(q, cursor), [client, q]);
  const { busy, run } = useBusy();

  return (
    <section aria-label="Demo pipelines">
      <h3>Demo pipelines</h3>
      <p className="cl-Muted">A demo is listed to everyone to copy from.</p>
      <div className="cl-Filters">
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search pipelines by name"
          aria-label="Search pipelines by name"
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
      </div>
      <ErrorBanner error={list.error} />
      <ul className="cl-List" data-testid="cubelab-admin-demos">
        {list.items.map(p => (
          <li key={p.id} className="cl-List-item cl-Row" data-pipeline={p.id} aria-busy={busy[p.id] ? true : undefined}>
            <label className="cl-Check">
              <input
                type="checkbox"
                checked={p.demo}
                disabled={!!busy[p.id]}
                aria-label={`${p.project}/${p.name} is a demo`}
                onChange={e => {
                  const demo = e.target.checked;
                  void run(String(p.id), demo ? 'Marking…' : 'Unmarking…', async () => {
                    try {
                      const answer = await client.setDemo(p.id, demo);
                      list.setItems(list.items.map(x => (x.id === p.id ? { ...x, demo: answer.demo } : x)));
                    } catch (err) {
                      list.setError(errorMessage(err));
                    }
                  });
                }}
              />
              {p.project}/{p.name}
            </label>
          </li>
        ))}
      </ul>
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-admin-demos-more"
      />
    </section>
  );
}
