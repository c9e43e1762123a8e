import {
  Background,
  Connection,
  Controls,
  Edge as FlowEdge,
  EdgeChange,
  Handle,
  MarkerType,
  MiniMap,
  Node as FlowNode,
  NodeChange,
  NodeProps,
  Position,
  ReactFlow,
  useReactFlow
} from '@xyflow/react';
import * as React from 'react';

import { worst } from '../diagnostics';
import { edgeId, reaches } from '../graph';
import { templateKey } from '../palette';
import { Edge, IPosition, TaskStatus } from '../types';
import { EditorModel } from './model';

export const TEMPLATE_MIME = 'application/x-cubelab-template';

export const STATUS_ICONS: Record<string, string> = {
  pending: '○',
  running: '◔',
  succeeded: '✓',
  failed: '✕',
  skipped: '↷',
  cancelled: '⊘',
  'upstream-failed': '⚠'
};

type TaskNodeData = {
  name: string;
  label: string;
  template: string;
  severity: 'error' | 'warning' | null;
  messages: string[];
  status: TaskStatus | null;
  attempts: number;
};

type TaskFlowNode = FlowNode<TaskNodeData, 'task'>;

function TaskNode(props: NodeProps<TaskFlowNode>): JSX.Element {
  const d = props.data;
  const classes = ['cl-TaskNode'];
  if (d.severity) {
    classes.push(`cl-sev-${d.severity}`);
  }
  if (d.status) {
    classes.push(`cl-status-${d.status}`);
  }
  if (props.selected) {
    classes.push('cl-mod-selected');
  }
  const title = [d.name, d.status ? `status: ${d.status}` : '', ...d.messages].filter(Boolean).join('\n');
  return (
    <div
      className={classes.join(' ')}
      data-testid="cubelab-task-node"
      data-task={d.name}
      data-status={d.status ?? ''}
      data-severity={d.severity ?? ''}
      title={title}
    >
      <Handle type="target" position={Position.Left} aria-label={`Input of ${d.name}`} />
      <div className="cl-TaskNode-body">
        <div className="cl-TaskNode-title">{d.label || d.name}</div>
        <div className="cl-TaskNode-sub">
          {d.label ? `${d.name} · ` : ''}
          {d.template}
        </div>
      </div>
      {d.status ? (
        <span className="cl-TaskNode-status" aria-label={`status ${d.status}`} data-testid="cubelab-task-status">
          <span className="cl-StatusIcon" aria-hidden="true">
            {STATUS_ICONS[d.status] ?? '?'}
          </span>
          {d.attempts > 1 ? <span className="cl-Attempts">×{d.attempts}</span> : null}
        </span>
      ) : null}
      {d.severity ? (
        <span
          className={`cl-DiagBadge cl-sev-${d.severity}`}
          data-testid="cubelab-task-diagnostic"
          aria-label={`${d.messages.length} ${d.severity === 'error' ? 'problem' : 'warning'}${d.messages.length === 1 ? '' : 's'}: ${d.messages.join('; ')}`}
        >
          {d.severity === 'error' ? '!' : '?'}
          {d.messages.length > 1 ? d.messages.length : ''}
        </span>
      ) : null}
      <Handle type="source" position={Position.Right} aria-label={`Output of ${d.name}`} />
    </div>
  );
}

const NODE_TYPES = { task: TaskNode };

/** Paths dragged from JupyterLab's file browser (Lumino drag). */
const CONTENTS_MIME = 'application/x-jupyter-icontents';

export function Canvas(props: { model: EditorModel; fitSignal: number }): JSX.Element {
  const { model } = props;
  const flow = useReactFlow();
  const wrapper = React.useRef<HTMLDivElement>(null);
  const p = model.pipeline;
  const run = model.run;
  const diag = model.diagnosticMap;
  const readOnly = !model.editable;
  // controlled nodes lose React Flow's measurements unless we keep them
  const measured = React.useRef<Record<string, { width: number; height: number }>>({});
  const [, setMeasureTick] = React.useState(0);

  const statusOf = React.useMemo(() => {
    const m = new Map<string, { status: TaskStatus; attempts: number }>();
    for (const t of run?.tasks ?? []) {
      m.set(t.name, { status: t.status, attempts: t.attempts });
    }
    return m;
  }, [run]);

  // the graph shown: the pipeline, or a past run's snapshot (names + edges)
  const shown = React.useMemo(() => {
    if (model.viewingRun && run?.tasks) {
      const positions = new Map(p.tasks.map(t => [t.name, t.position]));
      return {
        tasks: run.tasks.map((t, i) => ({
          name: t.name,
          label: '',
          template: p.tasks.find(x => x.name === t.name)?.template ?? '',
          position: positions.get(t.name) ?? { x: 250 * i, y: 0 }
        })),
        edges: (run.edges ?? []) as Edge[]
      };
    }
    return {
      tasks: p.tasks.map(t => ({
        name: t.name,
        label: t.label ?? '',
        template: t.template,
        position: t.position ?? { x: 0, y: 0 }
      })),
      edges: p.edges
    };
  }, [p, run, model.viewingRun]);

  const selectedTasks = new Set(model.selection.tasks);
  const selectedEdges = new Set(model.selection.edges.map(edgeId));

  // reuse node objects whose content did not change, so React Flow only
  // re-renders the nodes that did (matters for pipelines of hundreds of tasks)
  const nodeCache = React.useRef(new Map<string, { sig: string; node: TaskFlowNode }>());
  const edgeCache = React.useRef(new Map<string, { sig: string; edge: FlowEdge }>());
  const nodes: TaskFlowNode[] = shown.tasks.map(t => {
    const ds = model.viewingRun ? [] : (diag.tasks[t.name] ?? []);
    const st = statusOf.get(t.name);
    const node: TaskFlowNode = {
      id: t.name,
      type: 'task',
      position: t.position as IPosition,
      selected: selectedTasks.has(t.name),
      measured: measured.current[t.name],
      draggable: !readOnly,
      connectable: !readOnly,
      ariaLabel: `Task ${t.name}`,
      data: {
        name: t.name,
        label: t.label,
        template: t.template,
        severity: worst(ds),
        messages: ds.map(d => d.message),
        status: st?.status ?? null,
        attempts: st?.attempts ?? 0
      }
    };
    const sig = JSON.stringify([node.position, node.selected, node.measured, node.draggable, node.data]);
    const cached = nodeCache.current.get(t.name);
    if (cached && cached.sig === sig) {
      return cached.node;
    }
    nodeCache.current.set(t.name, { sig, node });
    return node;
  });

  const edges: FlowEdge[] = shown.edges.map(e => {
    const id = edgeId(e);
    const ds = model.viewingRun ? [] : (diag.edges[id] ?? []);
    const sev = worst(ds);
    const edge: FlowEdge = {
      id,
      source: e[0],
      target: e[1],
      selected: selectedEdges.has(id),
      markerEnd: { type: MarkerType.ArrowClosed },
      className: sev ? `cl-edge-${sev}` : undefined,
      label: sev ? (sev === 'error' ? '!' : '?') : undefined,
      ariaLabel: `Edge ${e[0]} to ${e[1]}${ds.length ? ': ' + ds.map(d => d.message).join('; ') : ''}`,
      data: { messages: ds.map(d => d.message) }
    };
    const sig = JSON.stringify([edge.selected, edge.className, edge.ariaLabel]);
    const cached = edgeCache.current.get(id);
    if (cached && cached.sig === sig) {
      return cached.edge;
    }
    edgeCache.current.set(id, { sig, edge });
    return edge;
  });

  React.useEffect(() => {
    if (props.fitSignal) {
      window.requestAnimationFrame(() => void flow.fitView({ padding: 0.2, maxZoom: 1, duration: 200 }));
    }
  }, [props.fitSignal]);

  const onNodesChange = (changes: NodeChange<TaskFlowNode>[]) => {
    const moved: Record<string, IPosition> = {};
    const nudged: Record<string, IPosition> = {};
    let selectionChanged = false;
    let measuredChanged = false;
    const sel = new Set(model.selection.tasks);
    for (const c of changes) {
      if (c.type === 'dimensions' && c.dimensions) {
        measured.current[c.id] = c.dimensions;
        measuredChanged = true;
      } else if (c.type === 'position' && c.position) {
        // a mouse drag reports dragging=true until it ends; arrow keys move at once
        if (c.dragging) {
          moved[c.id] = c.position;
        } else {
          nudged[c.id] = c.position;
        }
      } else if (c.type === 'select') {
        selectionChanged = true;
        if (c.selected) {
          sel.add(c.id);
        } else {
          sel.delete(c.id);
        }
      }
    }
    if (Object.keys(moved).length && !readOnly) {
      model.dragTo(moved);
    }
    if (Object.keys(nudged).length && !readOnly) {
      model.moveBy(nudged);
    }
    if (selectionChanged) {
      model.select([...sel], model.selection.edges);
    }
    if (measuredChanged) {
      setMeasureTick(t => t + 1);
    }
  };

  const onEdgesChange = (changes: EdgeChange[]) => {
    let changed = false;
    const sel = new Map(model.selection.edges.map(e => [edgeId(e), e] as [string, Edge]));
    for (const c of changes) {
      if (c.type === 'select') {
        changed = true;
        const [u, d] = c.id.split('->');
        if (c.selected) {
          sel.set(c.id, [u, d]);
        } else {
          sel.delete(c.id);
        }
      }
    }
    if (changed) {
      model.select(model.selection.tasks, [...sel.values()]);
    }
  };

  const onConnect = (c: Connection) => {
    if (c.source && c.target) {
      model.connect(c.source, c.target);
    }
  };

  const isValidConnection = (c: Connection | FlowEdge) =>
    !!c.source &&
    !!c.target &&
    c.source !== c.target &&
    !p.edges.some(([u, d]) => u === c.source && d === c.target) &&
    !reaches(p.edges, c.target, c.source);

  const focusEditor = () => wrapper.current?.closest<HTMLElement>('.cl-PipelineEditor')?.focus();

  const onKeyDown = (e: React.KeyboardEvent) => {
    const target = e.target as HTMLElement;
    if (target.closest('input, textarea, select, [contenteditable="true"]')) {
      return;
    }
    if ((e.key === 'Delete' || e.key === 'Backspace') && !readOnly) {
      e.preventDefault();
      e.stopPropagation();
      model.deleteSelection();
      // the focused task is gone: keep the focus in the editor (Ctrl+Z next)
      focusEditor();
    }
  };

  // HTML5 drops from the palette, Lumino drops from the file browser
  const onDragOver = (e: React.DragEvent) => {
    if (!readOnly && e.dataTransfer.types.includes(TEMPLATE_MIME)) {
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    }
  };
  const onDrop = (e: React.DragEvent) => {
    const key = e.dataTransfer.getData(TEMPLATE_MIME);
    if (!key || readOnly) {
      return;
    }
    e.preventDefault();
    const tpl = model.templates.find(t => templateKey(t) === key);
    if (tpl) {
      const pos = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      model.addTemplateTask(tpl, { x: pos.x - 90, y: pos.y - 25 });
    }
  };

  React.useEffect(() => {
    const node = wrapper.current;
    if (!node) {
      return;
    }
    const accepts = (ev: any) => !readOnly && ev.mimeData?.hasData?.(CONTENTS_MIME);
    const over = (ev: any) => {
      if (accepts(ev)) {
        ev.preventDefault();
        ev.stopPropagation();
        // the file browser only supports 'move'; the files stay where they are
        ev.dropAction = ev.proposedAction;
      }
    };
    const drop = (ev: any) => {
      if (!accepts(ev)) {
        return;
      }
      ev.preventDefault();
      ev.stopPropagation();
      ev.dropAction = ev.proposedAction;
      const data = ev.mimeData.getData(CONTENTS_MIME);
      const paths: string[] = (Array.isArray(data) ? data : [data])
        .map((x: any) => (typeof x === 'string' ? x : x?.path))
        .filter(Boolean);
      let pos = flow.screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
      for (const path of paths) {
        model.addFileTask(path, { x: pos.x - 90, y: pos.y - 25 });
        pos = { x: pos.x, y: pos.y + 80 };
      }
    };
    node.addEventListener('lm-dragenter', over);
    node.addEventListener('lm-dragover', over);
    node.addEventListener('lm-drop', drop);
    return () => {
      node.removeEventListener('lm-dragenter', over);
      node.removeEventListener('lm-dragover', over);
      node.removeEventListener('lm-drop', drop);
    };
  }, [model, readOnly, flow]);

  return (
    <div
      className="cl-Canvas"
      ref={wrapper}
      onKeyDown={onKeyDown}
      onDragOver={onDragOver}
      onDrop={onDrop}
      data-testid="cubelab-canvas"
      aria-label="Pipeline canvas"
    >
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onNodeDragStop={() => model.commitDrag()}
        onNodeClick={(e, node) => {
          if (!(e.shiftKey || e.metaKey || e.ctrlKey)) {
            model.select([node.id], []);
          }
        }}
        onEdgeClick={(e, edge) => {
          const [u, d] = edge.id.split('->');
          model.select(e.shiftKey ? model.selection.tasks : [], [[u, d]]);
        }}
        onPaneClick={() => {
          model.select([], []);
          focusEditor();
        }}
        onNodeContextMenu={(_e, node) => {
          // JupyterLab's context menu (selector .cl-TaskNode) acts on the selection
          if (!model.selection.tasks.includes(node.id)) {
            model.select([node.id], []);
          }
        }}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        deleteKeyCode={null}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        elementsSelectable
        minZoom={0.1}
        maxZoom={2}
        fitView
        fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} />
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable ariaLabel="Pipeline overview" />
      </ReactFlow>
      {!p.tasks.length && !model.viewingRun ? (
        <div className="cl-Canvas-empty" aria-hidden="true">
          Drag templates here from the palette (or press Enter on one), or drop a .py / .ipynb file from the file
          browser.
        </div>
      ) : null}
    </div>
  );
}
