/**
 * A Vega-Lite spec drawn by JupyterLab's own renderer for the Vega-Lite MIME
 * type (see `charts.ts`): a renderer from `IRenderMimeRegistry`, attached
 * inside a React element, re-rendered when the spec changes (at most once a
 * second while events stream in).
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { VegaLiteSpec, VEGALITE_MIME } from './charts';

const MIN_INTERVAL_MS = 1000;

export function VegaChart(props: {
  rendermime: IRenderMimeRegistry;
  spec: VegaLiteSpec;
  testid: string;
  label: string;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<ReturnType<IRenderMimeRegistry['createRenderer']> | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const supported = !!props.rendermime.preferredMimeType({ [VEGALITE_MIME]: {} }, 'any');

  // a layout effect: its clean-up runs while the host is still in the page
  React.useLayoutEffect(() => {
    if (!supported || !host.current) {
      return;
    }
    const r = props.rendermime.createRenderer(VEGALITE_MIME);
    renderer.current = r;
    Widget.attach(r, host.current);
    return () => {
      renderer.current = null;
      detachFromRemovedHost(r);
      r.dispose();
    };
  }, [props.rendermime, supported]);

  const text = JSON.stringify(props.spec);
  const last = React.useRef(0);
  React.useEffect(() => {
    const draw = () => {
      const r = renderer.current;
      if (!r) {
        return;
      }
      last.current = Date.now();
      const model = new MimeModel({ data: { [VEGALITE_MIME]: JSON.parse(text) } });
      r.renderModel(model).then(
        () => setError(null),
        err => setError(`The chart could not be drawn: ${(err as Error)?.message ?? err}`)
      );
    };
    const wait = last.current + MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      draw();
      return;
    }
    const timer = setTimeout(draw, wait);
    return () => clearTimeout(timer);
  }, [text, supported]);

  if (!supported) {
    return (
      <p className="cl-Empty" data-testid={props.testid}>
        JupyterLab’s Vega renderer is not installed, so {props.label} cannot be drawn.
      </p>
    );
  }
  return (
    <figure className="cl-Chart" data-testid={props.testid} aria-label={props.label}>
      <div ref={host} className="cl-Chart-host" />
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
    </figure>
  );
}

/**
 * Detach a widget whose host React may already have taken out of the page
 * (leaving a tab that shows a chart): Lumino's `Widget.detach` (and `dispose`)
 * throws for a node no longer in the document, which would unmount the whole view.
 */
function detachFromRemovedHost(w: Widget): void {
  if (!w.isAttached) {
    return;
  }
  if (w.node.isConnected) {
    Widget.detach(w);
    return;
  }
  MessageLoop.sendMessage(w, Widget.Msg.BeforeDetach);
  w.node.remove();
  MessageLoop.sendMessage(w, Widget.Msg.AfterDetach);
}
