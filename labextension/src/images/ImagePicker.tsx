/**
 * A text field for an image reference with suggestions from the project's
 * images (`GET /images?project=&q=`, paged, searched as you type): each shows
 * `repository:tag` and the short digest; choosing one fills the full
 * reference, "pin" fills it by digest. Any other text may still be typed.
 *
 * A plain module: forms of other features import it with the API client they
 * already hold (services, the pipeline editor's task arguments, experiments).
 */
import * as React from 'react';

import { CubeLabClient } from '../request';
import { useDebounced } from '../usePagedList';
import { errorMessage } from '../useResource';
import { ImagesClient } from './client';
import { IImageSuggestion, isPinned, moveActive, narrowSuggestions, searchTerm, suggestionsFrom } from './picker';

export interface IImagePickerProps {
  api: CubeLabClient;
  /** whose images are offered; none offered while empty */
  project: string;
  value: string;
  onChange: (value: string) => void;
  /** the input's id (its label's htmlFor), name and data-testid */
  id?: string;
  name?: string;
  testid?: string;
  placeholder?: string;
  disabled?: boolean;
  readOnly?: boolean;
  invalid?: boolean;
  describedBy?: string;
}

const PAGE = 20;

export function ImagePicker(props: IImagePickerProps): JSX.Element {
  const client = React.useMemo(() => new ImagesClient(props.api), [props.api]);
  const [open, setOpen] = React.useState(false);
  const [active, setActive] = React.useState(-1);
  const [items, setItems] = React.useState<IImageSuggestion[]>([]);
  const [next, setNext] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);
  const [error, setError] = React.useState('');
  const q = useDebounced(searchTerm(props.value), 250);
  const listId = `${props.id ?? 'cl-image-picker'}-list`;
  const base = props.testid ?? 'cubelab-image-picker';

  // only the latest request's answer is shown (typing fast sends several)
  const latest = React.useRef(0);
  const load = React.useCallback(
    async (cursor: string | null, keep: IImageSuggestion[]) => {
      if (!props.project) {
        return;
      }
      const seq = ++latest.current;
      setLoading(true);
      try {
        const page = await client.listPage({ project: props.project, q }, cursor, PAGE);
        if (seq === latest.current) {
          setItems([...keep, ...suggestionsFrom(page.items)]);
          setNext(page.next);
          setError('');
        }
      } catch (err) {
        if (seq === latest.current) {
          // the field still takes free text; say why nothing is offered
          setError(errorMessage(err));
        }
      } finally {
        if (seq === latest.current) {
          setLoading(false);
        }
      }
    },
    [client, props.project, q]
  );
  React.useEffect(() => {
    if (open) {
      void load(null, []);
    }
  }, [open, load]);

  const shown = narrowSuggestions(items, props.value);
  const choose = (value: string) => {
    props.onChange(value);
    setOpen(false);
    setActive(-1);
  };
  const editable = !props.disabled && !props.readOnly;

  return (
    <div
      className="cl-ImagePicker"
      data-testid={`${base}-picker`}
      onBlur={e => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) {
          setOpen(false);
        }
      }}
    >
      <input
        type="text"
        className={`jp-mod-styled cl-Input${props.invalid ? ' cl-mod-invalid' : ''}`}
        id={props.id}
        name={props.name}
        data-testid={base}
        value={props.value}
        placeholder={props.placeholder ?? 'an image, or pick one built in this project'}
        spellCheck={false}
        autoComplete="off"
        disabled={props.disabled}
        readOnly={props.readOnly}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={open}
        aria-controls={listId}
        aria-invalid={props.invalid || undefined}
        aria-describedby={props.describedBy}
        aria-activedescendant={open && active >= 0 ? `${listId}-${active}` : undefined}
        onFocus={() => editable && setOpen(true)}
        onChange={e => {
          props.onChange(e.target.value);
          setOpen(editable);
          setActive(-1);
        }}
        onKeyDown={e => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            setOpen(editable);
            setActive(a => moveActive(a, shown.length, e.key as 'ArrowDown' | 'ArrowUp'));
          } else if (e.key === 'Enter' && open && active >= 0 && shown[active]) {
            e.preventDefault(); // choosing, not submitting the form
            choose(shown[active].reference);
          } else if (e.key === 'Escape' && open) {
            e.stopPropagation();
            setOpen(false);
          }
        }}
      />
      {isPinned(props.value) ? (
        <div className="cl-Field-help" data-testid={`${base}-pinned`}>
          Pinned by digest: this exact image runs, whatever its tags later name.
        </div>
      ) : null}
      {open && props.project ? (
        <div className="cl-ImagePicker-popup">
          {error ? (
            <div className="cl-Field-help" role="status">
              No images offered: {error}
            </div>
          ) : null}
          {!error && !loading && !shown.length ? (
            <div className="cl-Field-help" role="status">
              {q ? `No image of ${props.project} matches “${q}”.` : `No images built in ${props.project} yet.`}
            </div>
          ) : null}
          {shown.length ? (
            <ul className="cl-ImagePicker-list" id={listId} role="listbox" aria-label={`Images of ${props.project}`}>
              {shown.map((s, i) => (
                <li
                  key={s.reference}
                  id={`${listId}-${i}`}
                  role="option"
                  aria-selected={i === active}
                  className={`cl-ImagePicker-option${i === active ? ' cl-mod-active' : ''}`}
                  data-reference={s.reference}
                  data-testid={`${base}-option`}
                >
                  <button
                    type="button"
                    tabIndex={-1}
                    className="cl-ImagePicker-choose"
                    title={s.reference}
                    onMouseDown={e => e.preventDefault()}
                    onClick={() => choose(s.reference)}
                  >
                    <span className="cl-ImagePicker-name">{s.label}</span>
                    <span className="cl-ImagePicker-digest" title={s.digest ?? 'no digest yet'}>
                      {s.short}
                    </span>
                  </button>
                  {s.pinned ? (
                    <button
                      type="button"
                      tabIndex={-1}
                      className="cl-ImagePicker-pin"
                      title={`Pin by digest: ${s.pinned}`}
                      aria-label={`Pin ${s.label} by digest`}
                      data-testid={`${base}-pin`}
                      onMouseDown={e => e.preventDefault()}
                      onClick={() => choose(s.pinned!)}
                    >
                      pin
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
          ) : null}
          {next ? (
            <button
              type="button"
              className="cl-LinkButton"
              data-testid={`${base}-more`}
              onMouseDown={e => e.preventDefault()}
              onClick={() => void load(next, items)}
            >
              More images…
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
