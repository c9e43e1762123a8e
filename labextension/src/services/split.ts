/**
 * The traffic of a service's host at a glance: the shares of the service and
 * of the services it splits to (`canary`, `svc-a:20%,svc-b:30%`: the rest
 * stays on the service), and the mirror (`shadow:20%`: copies, answers
 * discarded).  Pure; the control plane has parsed and checked both already,
 * so text it does not recognise is shown as nothing rather than refused.
 */

export interface IShare {
  service: string;
  percent: number;
  /** the service the split belongs to (it keeps the rest) */
  self: boolean;
}

export interface ITraffic {
  shares: IShare[];
  mirror: { service: string; percent: number } | null;
}

const PAIR = /^\s*([a-z0-9][a-z0-9-]*)\s*:\s*(\d{1,3})\s*%?\s*$/;

function pairs(text: string | null | undefined): [string, number][] {
  const out: [string, number][] = [];
  for (const item of (text ?? '').split(',')) {
    const m = PAIR.exec(item);
    if (m) {
      out.push([m[1], Number(m[2])]);
    }
  }
  return out;
}

export function traffic(service: { name: string; canary?: string | null; mirror?: string | null }): ITraffic {
  const others = pairs(service.canary).map(([name, percent]) => ({ service: name, percent, self: false }));
  const rest = Math.max(0, 100 - others.reduce((sum, s) => sum + s.percent, 0));
  const mirror = pairs(service.mirror)[0];
  return {
    shares: [{ service: service.name, percent: rest, self: true }, ...others],
    mirror: mirror ? { service: mirror[0], percent: mirror[1] } : null
  };
}

/** `web 50% · b 30% · c 20%`, with `mirror shadow 10%` after; '' for a plain 100%. */
export function trafficText(t: ITraffic): string {
  const parts: string[] = [];
  if (t.shares.length > 1) {
    parts.push(t.shares.map(s => `${s.service} ${s.percent}%`).join(' · '));
  }
  if (t.mirror) {
    parts.push(`mirror ${t.mirror.service} ${t.mirror.percent}%`);
  }
  return parts.join('; ');
}

/**
 * The shares that reach each service of a project through the hosts they
 * serve: a service that others split to shows its share of each host.
 * Keyed by service name: `[{host service, percent}]`.
 */
export function receivedShares(
  services: { name: string; canary?: string | null }[]
): Record<string, { from: string; percent: number }[]> {
  const out: Record<string, { from: string; percent: number }[]> = {};
  for (const s of services) {
    for (const share of traffic(s).shares) {
      if (!share.self) {
        (out[share.service] ??= []).push({ from: s.name, percent: share.percent });
      }
    }
  }
  return out;
}
