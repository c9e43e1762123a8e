/** Calls of the accounts and projects API (`me`, `projects`, members). */
import { fetchPage, IPage } from '../paging';
import { CubeLabClient } from '../request';

export type Role = 'creator' | 'dev' | 'ops';
export const ROLES: Role[] = ['creator', 'dev', 'ops'];

export interface IProjectRef {
  name: string;
  role: Role | null;
}

export interface IMe {
  name: string;
  admin: boolean;
  projects: IProjectRef[];
}

export interface IQuota {
  cpu: string | null;
  memory: string | null;
  gpu: string | null;
}

export interface ISettings {
  cluster: string | null;
  org: string | null;
  node_selector: string | null;
  volume_mount: string | null;
  service_external_ip: string | null;
  quota: IQuota | null;
  namespace: string | null;
}

export interface IProjectSummary {
  name: string;
  description: string;
  role: Role | null;
  settings: ISettings;
  member_count: number;
}

export interface IMember {
  name: string;
  role: Role;
}

export interface IPermissions {
  edit_settings: boolean;
  manage_members: boolean;
  delete: boolean;
  [key: string]: boolean;
}

export interface IProject extends IProjectSummary {
  creator?: string | null;
  members: IMember[];
  permissions: IPermissions;
}

export type SettingsPatch = Partial<{
  [K in keyof ISettings]: ISettings[K] | Partial<IQuota> | null;
}>;

const enc = encodeURIComponent;

export class ProjectsClient {
  constructor(readonly api: CubeLabClient) {}

  me(): Promise<IMe> {
    return this.api.call('GET', 'me');
  }

  async listProjects(): Promise<IProjectSummary[]> {
    const body = await this.api.call<{ projects: IProjectSummary[] }>('GET', 'projects');
    return body.projects;
  }

  /** One page of the caller's projects (all projects for admins) whose name contains `q`. */
  projectsPage(
    filter: { q?: string } = {},
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<IProjectSummary>> {
    return fetchPage(this.api, 'projects', 'projects', { cursor, limit, filters: { q: filter.q } });
  }

  /** One page of a project's members whose name contains `q`. */
  membersPage(
    project: string,
    filter: { q?: string } = {},
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<IMember>> {
    return fetchPage(this.api, `projects/${enc(project)}/members`, 'members', {
      cursor,
      limit,
      filters: { q: filter.q }
    });
  }

  getProject(name: string): Promise<IProject> {
    return this.api.call('GET', `projects/${enc(name)}`);
  }

  createProject(data: { name: string; description?: string; settings?: SettingsPatch }): Promise<IProject> {
    return this.api.call('POST', 'projects', data);
  }

  updateProject(name: string, data: { description?: string; settings?: SettingsPatch }): Promise<IProject> {
    return this.api.call('PATCH', `projects/${enc(name)}`, data);
  }

  deleteProject(name: string): Promise<void> {
    return this.api.call('DELETE', `projects/${enc(name)}`);
  }

  addMember(project: string, name: string, role: Role): Promise<IMember> {
    return this.api.call('POST', `projects/${enc(project)}/members`, {
      name,
      role
    });
  }

  setMemberRole(project: string, name: string, role: Role): Promise<IMember> {
    return this.api.call('PATCH', `projects/${enc(project)}/members/${enc(name)}`, { role });
  }

  removeMember(project: string, name: string): Promise<void> {
    return this.api.call('DELETE', `projects/${enc(project)}/members/${enc(name)}`);
  }
}
