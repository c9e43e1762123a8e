/**
 * Past imports in the Images section (admins): newest first, a page at a time,
 * each with its reference, archive, format, digest and size; the button opens
 * the "Import an archive" form.
 */
import { fileUploadIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { LoadMore } from '../components';
import { usePagedList } from '../usePagedList';
import { describeImport, IImageImport, ImageImportsClient } from './imports';

const PAGE = 10;

export function ImportList(props: {
  client: ImageImportsClient;
  refresh: number;
  onChange: (fn: () => void) => () => void;
  openImport: () => void;
}): JSX.Element {
  const list = usePagedList<IImageImport>(cursor => props.client.listPage(cursor, PAGE), [props.client], {
    subscribe: props.onChange,
    refresh: props.refresh
  });
  return (
    <div className="cl-Imports" data-testid="cubelab-imports">
      <div className="cl-Images-heading">
        <h4>Imports</h4>
        <button
          type="button"
          className="cl-IconButton"
          aria-label="Import an archive"
          title="Import an archive"
          data-testid="cubelab-new-import"
          onClick={props.openImport}
        >
          <fileUploadIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {list.loaded && !list.items.length ? <p className="cl-Empty">No imports.</p> : null}
      {list.items.length ? (
        <ul className="cl-List" aria-label="Imports" data-testid="cubelab-import-list">
          {list.items.map(imp => (
            <li
              key={imp.id}
              className="cl-List-item"
              data-import-id={imp.id}
              data-reference={imp.reference}
              title={`${imp.reference}\n${imp.digest ?? ''}\nby ${imp.creator}, ${imp.created_at}`}
            >
              <span className="cl-List-main">
                <span className="cl-ProjectName">
                  {imp.project}/{imp.image}:{imp.tag}
                </span>
                <span className="cl-ProjectDesc">{describeImport(imp)}</span>
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-imports-more"
      />
    </div>
  );
}
