/**
 * What the caller may do with a pipeline of a list, decided in the browser
 * from `/me` and the summary (the control plane's rule for changing and
 * deleting a pipeline: admins, the project's creators, or the pipeline's
 * creator while a member).  A summary that carries `permissions` wins.
 */
import { IMe } from '../projects/client';
import { IPipelineSummary } from './types';

export interface IPipelineCan {
  /** change or delete the pipeline */
  edit: boolean;
  /** null when allowed, else the reason (for a disabled control's tooltip) */
  why: string | null;
}

export function pipelineCan(
  me: IMe,
  s: Pick<IPipelineSummary, 'project' | 'creator'> & { permissions?: { edit?: boolean } }
): IPipelineCan {
  const role = me.projects.find(p => p.name === s.project)?.role ?? null;
  const member = me.projects.some(p => p.name === s.project);
  const edit =
    typeof s.permissions?.edit === 'boolean'
      ? s.permissions.edit
      : me.admin || role === 'creator' || (s.creator === me.name && member);
  return {
    edit,
    why: edit
      ? null
      : `Only the pipeline's creator (${s.creator}), creators of project ${s.project} and admins may delete it`
  };
}
