import { Dialog, showDialog } from '@jupyterlab/apputils';
import { stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError } from '../request';
import { Button, TextField } from '../components';
import { formErrors } from '../projects/model';
import { useResource } from '../useResource';
import { IBoard, TensorBoardClient } from './client';
import { normaliseLogdir, startedText } from './model';

export interface ITensorBoardSectionProps {
  client: TensorBoardClient;
  open: (board: IBoard) => void;
  /** subscribe to "boards changed elsewhere" (context menu); returns unsubscribe */
  onExternalChange: (fn: () => void) => () => void;
  refresh?: number;
}

export function TensorBoardSection(props: ITensorBoardSectionProps): JSX.Element {
  const { client } = props;
  const list = useResource(() => client.list(), [client], {
    subscribe: props.onExternalChange,
    refresh: props.refresh
  });
  const { data: boards, error, setError, reload: load } = list;
  const [logdir, setLogdir] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [busy, setBusy] = React.useState(false);

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!logdir.trim()) {
      setErrors({ logdir: 'Enter a log directory inside your workspace, e.g. runs.' });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const board = await client.start(normaliseLogdir(logdir));
      setLogdir('');
      await load();
      props.open(board);
    } catch (err) {
      setErrors(formErrors(err, ['logdir']));
    } finally {
      setBusy(false);
    }
  };

  const stop = async (b: IBoard) => {
    const result = await showDialog({
      title: 'Stop TensorBoard?',
      body: `The board for ${b.logdir} stops; its tab stops updating.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await client.stop(b.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        setError((err as Error).message);
      }
    }
    await load();
  };

  return (
    <div className="cl-TensorBoard" data-testid="cubelab-tensorboard">
      <form className="cl-Form" onSubmit={start} aria-label="Start TensorBoard">
        <TextField
          name="logdir"
          label="Log directory"
          value={logdir}
          onChange={setLogdir}
          placeholder="e.g. runs/exp1"
          help="A folder in your workspace (or right-click a folder in the file browser)."
          error={errors.logdir ?? errors['']}
          testid="cubelab-tensorboard-logdir"
        />
        <div className="cl-Form-buttons">
          <Button kind="accept" type="submit" disabled={busy} testid="cubelab-tensorboard-start">
            {busy ? 'Starting…' : 'Start'}
          </Button>
        </div>
      </form>
      {error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {error}
        </div>
      ) : null}
      {boards && boards.length ? (
        <ul className="cl-List" aria-label="Running TensorBoards" data-testid="cubelab-boards">
          {boards.map(b => (
            <li key={b.id} className="cl-List-item cl-Board" data-board={b.id} data-logdir={b.logdir}>
              <button
                type="button"
                className="cl-List-button"
                data-testid="cubelab-board-open"
                aria-label={`Open TensorBoard for ${b.logdir}`}
                onClick={() => props.open(b)}
              >
                <span className="cl-List-main">
                  <span className="cl-ProjectName">{b.logdir}</span>
                  <span className="cl-ProjectDesc">
                    {b.running === false ? 'stopped · ' : ''}
                    started {startedText(b.started)}
                  </span>
                </span>
              </button>
              <button
                type="button"
                className="cl-IconButton"
                aria-label={`Stop TensorBoard for ${b.logdir}`}
                title="Stop"
                data-testid="cubelab-board-stop"
                onClick={() => void stop(b)}
              >
                <stopIcon.react tag="span" elementSize="normal" />
              </button>
            </li>
          ))}
        </ul>
      ) : boards ? (
        <p className="cl-Empty">No TensorBoard is running.</p>
      ) : null}
    </div>
  );
}
