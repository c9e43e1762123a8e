import { useReactFlow } from '@xyflow/react';
import * as React from 'react';

import { LoadMore } from '../../components';
import { useDebounced, usePagedList } from '../../usePagedList';
import { paletteGroups, templateKey } from '../palette';
import { ITemplate } from '../types';
import { EditorModel } from './model';
import { TEMPLATE_MIME } from './Canvas';

/**
 * Released templates by category (index order), draggable onto the canvas;
 * searched on the server and loaded a page at a time.
 */
export function Palette(props: { model: EditorModel }): JSX.Element {
  const { model } = props;
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const pages = usePagedList(cursor => model.client.templatesPage({ q }, cursor), [model, q]);
  React.useEffect(() => model.learnTemplates(pages.items), [model, pages.items]);
  const groups = paletteGroups(pages.items);
  const flow = useReactFlow();
  const root = React.useRef<HTMLDivElement>(null);
  // a task added by keyboard lands in the middle of the canvas the user sees
  const addVisible = (t: ITemplate) => {
    const canvas = root.current?.closest('.cl-Editor')?.querySelector('.cl-Canvas');
    if (!canvas) {
      model.addTemplateTask(t);
      return;
    }
    const r = canvas.getBoundingClientRect();
    const a = flow.screenToFlowPosition({ x: r.left, y: r.top });
    const b = flow.screenToFlowPosition({ x: r.right, y: r.bottom });
    model.addTemplateTask(t, model.spotIn({ x: a.x, y: a.y, width: b.x - a.x, height: b.y - a.y }));
  };
  const disabled = !model.editable;
  return (
    <div className="cl-Palette" ref={root} data-testid="cubelab-palette" aria-label="Templates">
      <input
        type="search"
        className="jp-mod-styled cl-Input"
        placeholder="Search templates"
        aria-label="Search templates"
        value={search}
        data-testid="cubelab-palette-search"
        onChange={e => setSearch(e.target.value)}
      />
      {pages.error ? (
        <div className="cl-FieldError" role="alert">
          {pages.error}
        </div>
      ) : null}
      {pages.loaded && groups.length === 0 ? (
        <p className="cl-Empty">{q ? 'No template matches.' : 'No templates.'}</p>
      ) : null}
      {groups.map(g => (
        <div key={g.category} className="cl-PaletteGroup">
          <h4 className="cl-PaletteGroup-title">{g.category}</h4>
          <ul className="cl-List" aria-label={`Templates in ${g.category}`}>
            {g.templates.map(t => (
              <li
                key={templateKey(t)}
                className="cl-PaletteItem"
                draggable={!disabled}
                tabIndex={0}
                role="button"
                aria-disabled={disabled}
                aria-label={`Add ${t.name}${t.version !== 'Release' ? ` (${t.version})` : ''} to the pipeline`}
                title={t.description || t.name}
                data-template={t.name}
                data-version={t.version}
                onDragStart={e => {
                  e.dataTransfer.setData(TEMPLATE_MIME, templateKey(t));
                  e.dataTransfer.effectAllowed = 'copy';
                }}
                onKeyDown={e => {
                  if ((e.key === 'Enter' || e.key === ' ') && !disabled) {
                    e.preventDefault();
                    addVisible(t);
                  }
                }}
                onDoubleClick={() => !disabled && addVisible(t)}
              >
                <span className="cl-PaletteItem-name">{t.name}</span>
                {t.version !== 'Release' ? <span className="cl-RoleBadge">{t.version}</span> : null}
                {t.description ? <span className="cl-PaletteItem-desc">{t.description}</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ))}
      <LoadMore
        hasMore={pages.hasMore}
        loading={pages.loading}
        onClick={() => void pages.loadMore()}
        testid="cubelab-palette-more"
      />
    </div>
  );
}
