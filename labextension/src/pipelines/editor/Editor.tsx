import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import * as React from 'react';

import { Spinner } from '../../components';
import { History, LogStreamer, Problems, RunPanel } from './Bottom';
import { Canvas } from './Canvas';
import { EditorModel } from './model';
import { Palette } from './Palette';
import { Properties } from './Properties';

function useModel(model: EditorModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const fn = () => setTick(t => t + 1);
    model.changed.connect(fn);
    return () => {
      model.changed.disconnect(fn);
    };
  }, [model]);
}

type Tab = 'problems' | 'run' | 'history';

function Editor(props: { model: EditorModel; stream: LogStreamer }): JSX.Element {
  const { model } = props;
  useModel(model);
  const flow = useReactFlow();
  const [fit, setFit] = React.useState(0);
  const [tab, setTab] = React.useState<Tab>('problems');
  const [historyTick, setHistoryTick] = React.useState(0);
  const runId = model.run?.id;
  React.useEffect(() => {
    if (runId) {
      setTab('run');
    }
  }, [runId]);
  React.useEffect(() => {
    if (model.loaded) {
      setFit(f => f + 1);
    }
  }, [model.loaded]);

  if (model.loadError) {
    return (
      <div className="cl-FieldError cl-Banner" role="alert">
        {model.loadError}
      </div>
    );
  }
  if (!model.loaded) {
    return <Spinner label="Loading pipeline…" />;
  }

  const diag = model.diagnosticMap;
  const focusTask = (task: string) => {
    model.select([task], []);
    const node = flow.getNode(task);
    if (node) {
      const w = node.measured?.width ?? 180;
      const h = node.measured?.height ?? 56;
      void flow.setCenter(node.position.x + w / 2, node.position.y + h / 2, {
        zoom: Math.max(flow.getZoom(), 0.8),
        duration: 200
      });
    }
    const el = document.querySelector<HTMLElement>(
      `.cl-PipelineEditor .react-flow__node[data-id="${CSS.escape(task)}"]`
    );
    el?.focus();
  };
  const problems = model.diagnostics.length;

  return (
    <div className="cl-Editor">
      <div className="cl-Toolbar" role="toolbar" aria-label="Pipeline editor">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept cl-Button"
          data-testid="cubelab-save"
          disabled={!model.editable || model.saving || !model.dirty}
          onClick={() => void model.save()}
          title="Save (Ctrl+S)"
        >
          {model.saving ? 'Saving…' : 'Save'}
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-undo"
          disabled={!model.canUndo || !model.editable}
          onClick={() => model.undo()}
          title="Undo (Ctrl+Z)"
        >
          Undo
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-redo"
          disabled={!model.canRedo || !model.editable}
          onClick={() => model.redo()}
          title="Redo (Ctrl+Shift+Z)"
        >
          Redo
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-layout"
          disabled={!model.editable}
          onClick={() => {
            model.layout(Object.fromEntries(flow.getNodes().map(n => [n.id, n.measured])));
            setFit(f => f + 1);
          }}
        >
          Auto-layout
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-fit"
          onClick={() => setFit(f => f + 1)}
        >
          Fit
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-settings"
          aria-pressed={!model.selection.tasks.length}
          onClick={() => model.select([], [])}
          title="Pipeline settings: env, parallelism, schedule"
        >
          Settings
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-export"
          onClick={() => void model.exportDocument()}
          title={model.dirty ? 'Exports the saved version' : 'Download as JSON'}
        >
          Export
        </button>
        <span className="cl-Spacer" />
        <span
          className={`cl-Notice${model.notice ? ` cl-mod-${model.notice.kind}` : ''}`}
          role="status"
          aria-live="polite"
          data-testid="cubelab-notice"
        >
          {model.notice?.text ?? (model.dirty ? 'Unsaved changes' : '')}
        </span>
        {model.canRun ? (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept cl-Button"
            data-testid="cubelab-run-start"
            onClick={() => void model.startRun()}
            title="Save and run"
          >
            Run
          </button>
        ) : null}
      </div>
      <ReadOnlyBanner model={model} />
      <div className="cl-Editor-main">
        <Palette model={model} />
        <div className="cl-Editor-center">
          <Canvas model={model} fitSignal={fit} />
          <div className="cl-Bottom">
            <div className="cl-Tabs" role="tablist" aria-label="Editor panels">
              {(
                [
                  ['problems', `Problems${problems ? ` (${diag.errors}/${diag.warnings})` : ''}`],
                  ['run', model.run ? `Run · ${model.run.status}` : 'Run'],
                  ['history', 'History']
                ] as [Tab, string][]
              ).map(([id, label]) => (
                <button
                  key={id}
                  type="button"
                  role="tab"
                  id={`cl-tab-${id}`}
                  aria-selected={tab === id}
                  aria-controls={`cl-tabpanel-${id}`}
                  data-testid={`cubelab-tab-${id}`}
                  className={`cl-Tab${tab === id ? ' cl-mod-active' : ''}${id === 'problems' && diag.errors ? ' cl-mod-error' : ''}`}
                  onClick={() => {
                    setTab(id);
                    if (id === 'history') {
                      setHistoryTick(t => t + 1);
                    }
                  }}
                >
                  {label}
                </button>
              ))}
            </div>
            <div className="cl-TabPanel" role="tabpanel" id={`cl-tabpanel-${tab}`} aria-labelledby={`cl-tab-${tab}`}>
              {tab === 'problems' ? <Problems model={model} onFocusTask={focusTask} /> : null}
              {tab === 'run' ? <RunPanel model={model} stream={props.stream} /> : null}
              {tab === 'history' ? <History model={model} refresh={historyTick} /> : null}
            </div>
          </div>
        </div>
        <Properties model={model} />
      </div>
    </div>
  );
}

/** Says why nothing can be changed, above the canvas, while that is so. */
function ReadOnlyBanner(props: { model: EditorModel }): JSX.Element | null {
  const { model } = props;
  if (model.editable) {
    return null;
  }
  const p = model.pipeline;
  const text = model.viewingRun
    ? 'Read-only: the canvas shows a past run. "Back to editing" in the Run tab returns to the pipeline.'
    : `Read-only: only the pipeline's creator (${model.savedPipeline?.creator ?? 'unknown'}), creators of project ${p.project} and admins may change it.${model.canRun ? ' You may run it.' : ''}`;
  return (
    <div className="cl-Banner cl-ReadOnlyBanner" role="status" data-testid="cubelab-readonly">
      {text}
    </div>
  );
}

export function EditorRoot(props: { model: EditorModel; stream: LogStreamer }): JSX.Element {
  return (
    <ReactFlowProvider>
      <Editor model={props.model} stream={props.stream} />
    </ReactFlowProvider>
  );
}
