/**
 * What changing an account asks and shows, shared by the Accounts section and
 * the admin page's Users tab: the confirmations, and which accounts have a change
 * in flight (deactivation stops their servers: seconds).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

export async function confirmDeactivate(name: string): Promise<boolean> {
  const r = await showDialog({
    title: `Deactivate ${name}?`,
    body: `${name}'s logins are refused, their tokens stop working and their servers stop. You can reactivate the account later.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Deactivate' })]
  });
  return r.button.accept;
}

export async function confirmAdmin(name: string, admin: boolean): Promise<boolean> {
  const r = await showDialog({
    title: admin ? `Make ${name} an admin?` : `Remove ${name}'s admin role?`,
    body: admin
      ? `${name} can then manage every user, project, template and setting, and see everything that runs.`
      : `${name} keeps their account and projects but loses the admin page and admin rights at once.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: admin ? 'Make admin' : 'Remove admin' })]
  });
  return r.button.accept;
}

export async function confirmDelete(name: string): Promise<boolean> {
  const r = await showDialog({
    title: `Delete the account ${name}?`,
    body: `The account and its project memberships are removed. This cannot be undone.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  return r.button.accept;
}

/** Accounts (or any keyed rows) with a change in flight, and what each is doing. */
export function useBusy(): {
  busy: Record<string, string>;
  run: (key: string, doing: string, fn: () => Promise<unknown>) => Promise<void>;
} {
  const [busy, setBusy] = React.useState<Record<string, string>>({});
  const run = React.useCallback(async (key: string, doing: string, fn: () => Promise<unknown>) => {
    setBusy(b => ({ ...b, [key]: doing }));
    try {
      await fn();
    } finally {
      setBusy(b => {
        const rest = { ...b };
        delete rest[key];
        return rest;
      });
    }
  }, []);
  return { busy, run };
}

/** A button's label while its row is busy: a pulsing dot and what is happening. */
export function BusyLabel(props: { doing: string; testid?: string }): JSX.Element {
  return (
    <span className="cl-Busy" data-testid={props.testid ?? 'cubelab-account-busy'}>
      <span className="cl-Busy-dot" aria-hidden="true" />
      {props.doing}
    </span>
  );
}
