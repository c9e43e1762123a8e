/**
 * The images of a project in the Images section: each repository with its
 * tags, digests, sizes and the build that made them, and deleting a tag. A
 * delete the API refuses because something uses the image (409) lists those
 * users and asks again before deleting with `force`.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { LoadMore } from '../components';
import { IMe } from '../projects/client';
import { useDebounced, usePagedList } from '../usePagedList';
import { errorMessage } from '../useResource';
import { IImage, ImagesClient } from './client';
import { describeImageUser, formatSize, IImageUser, imageUsersOf, shortDigest } from './model';

const PAGE = 20;

async function confirmDelete(label: string): Promise<boolean> {
  const result = await showDialog({
    title: `Delete ${label}?`,
    body: 'The registry deletes the image this tag names, so every tag of the same digest goes with it.',
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  return result.button.accept;
}

async function confirmInUse(label: string, users: IImageUser[]): Promise<boolean> {
  const result = await showDialog({
    title: `${label} is in use`,
    body: (
      <div data-testid="cubelab-image-users">
        <p>These use it and will fail to pull it once it is deleted:</p>
        <ul className="cl-ImageUsers">
          {users.map((u, i) => (
            <li key={i} data-kind={u.kind} title={u.reference ?? ''}>
              {describeImageUser(u)}
            </li>
          ))}
        </ul>
      </div>
    ),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete anyway' })]
  });
  return result.button.accept;
}

export function ImageList(props: {
  me: IMe;
  client: ImagesClient;
  refresh: number;
  onChange: (fn: () => void) => () => void;
  openShell?: (project: string, image: string) => void;
}): JSX.Element {
  const { client, me } = props;
  const [project, setProject] = React.useState(me.projects[0]?.name ?? '');
  // creators and devs of a project (and admins) may debug its images
  const canDebug = me.admin || me.projects.some(p => p.name === project && (p.role === 'creator' || p.role === 'dev'));
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const [message, setMessage] = React.useState('');
  const list = usePagedList<IImage>(cursor => client.listPage({ project, q }, cursor, PAGE), [client, project, q], {
    subscribe: props.onChange,
    refresh: props.refresh
  });

  const remove = async (image: IImage, tag: string) => {
    const label = `${image.repository}:${tag}`;
    if (!(await confirmDelete(label))) {
      return;
    }
    setMessage('');
    try {
      let done;
      try {
        done = await client.remove(image.project, image.image, tag);
      } catch (err) {
        const users = imageUsersOf(err);
        if (users === null) {
          throw err;
        }
        if (!(await confirmInUse(label, users))) {
          return;
        }
        done = await client.remove(image.project, image.image, tag, true);
      }
      setMessage(`Deleted ${image.repository}: ${(done.deleted_tags ?? [tag]).join(', ')}.`);
      await list.reload();
    } catch (err) {
      setMessage(errorMessage(err));
    }
  };

  return (
    <div className="cl-ImageList" data-testid="cubelab-images-list">
      <div className="cl-Images-heading">
        <h4>Images</h4>
      </div>
      <div className="cl-Filters">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Images of project"
          data-testid="cubelab-images-project"
          value={project}
          onChange={e => setProject(e.target.value)}
        >
          {me.projects.map(p => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search images"
          aria-label="Search images by name"
          data-testid="cubelab-images-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
      </div>
      {message ? (
        <div className="cl-Field-help" role="status" data-testid="cubelab-images-message">
          {message}
        </div>
      ) : null}
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {list.loaded && !list.items.some(i => i.tags?.length) ? (
        <p className="cl-Empty">{q ? 'No image matches.' : 'No images.'}</p>
      ) : null}
      <ul className="cl-List" aria-label="Images">
        {list.items
          .filter(i => i.tags?.length)
          .map(image => (
            <li key={image.repository} className="cl-List-item" data-repository={image.repository}>
              <span className="cl-ProjectName">{image.repository}</span>
              <ul className="cl-ImageTags">
                {(image.tags ?? []).map(t => (
                  <li key={t.tag} className="cl-ImageTag" data-tag={t.tag} data-testid="cubelab-image-tag">
                    <span className="cl-ProjectDesc" title={t.reference}>
                      :{t.tag} · <span title={t.digest ?? ''}>{shortDigest(t.digest)}</span> · {formatSize(t.size)}
                      {t.build ? ` · build #${t.build}` : ''}
                    </span>
                    {props.openShell && canDebug && t.reference ? (
                      <button
                        type="button"
                        className="cl-LinkButton"
                        aria-label={`Open a shell in ${image.repository}:${t.tag}`}
                        title="Open a shell in this image"
                        data-testid="cubelab-image-shell"
                        onClick={() => props.openShell!(image.project ?? project, t.reference!)}
                      >
                        shell
                      </button>
                    ) : null}
                    {t.in_registry ? (
                      <button
                        type="button"
                        className="cl-LinkButton"
                        aria-label={`Delete ${image.repository}:${t.tag}`}
                        data-testid="cubelab-image-delete"
                        onClick={() => void remove(image, t.tag)}
                      >
                        delete
                      </button>
                    ) : null}
                  </li>
                ))}
              </ul>
            </li>
          ))}
      </ul>
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-images-more"
      />
    </div>
  );
}
