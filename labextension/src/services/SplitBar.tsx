/** A host's traffic as a bar: one segment per service, width its share; the mirror beside it. */
import * as React from 'react';

import { ITraffic, trafficText } from './split';

export function SplitBar(props: { traffic: ITraffic; compact?: boolean }): JSX.Element {
  const { shares, mirror } = props.traffic;
  return (
    <span
      className={`cl-SplitBar${props.compact ? ' cl-mod-compact' : ''}`}
      data-testid="cubelab-service-split"
      title={trafficText(props.traffic)}
    >
      <span className="cl-SplitBar-track" role="img" aria-label={`Traffic: ${trafficText(props.traffic)}`}>
        {shares
          .filter(s => s.percent > 0)
          .map((s, i) => (
            <span
              key={s.service}
              className={`cl-SplitBar-segment cl-mod-${i % 4}`}
              style={{ width: `${s.percent}%` }}
              data-share-service={s.service}
              data-share-percent={s.percent}
            >
              {props.compact ? '' : `${s.service} ${s.percent}%`}
            </span>
          ))}
      </span>
      {mirror ? (
        <span className="cl-SplitBar-mirror" data-testid="cubelab-service-mirror">
          mirror → {mirror.service} {mirror.percent}%
        </span>
      ) : null}
    </span>
  );
}
