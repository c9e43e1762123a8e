/** The Admin tab: one page of tabs over the admin API, for admins. */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { AccountsClient } from '../accounts/client';
import { IMe, ProjectsClient } from '../projects/client';
import { AdminClient } from './client';
import { ClustersTab } from './ClustersTab';
import { NotInstalled, useAvailable } from './common';
import { ProjectsTab } from './ProjectsTab';
import { RunningTab } from './RunningTab';
import { SettingsTab } from './SettingsTab';
import { TemplatesTab } from './TemplatesTab';
import { UsageTab } from './UsageTab';
import { UsersTab } from './UsersTab';

export type AdminTabId = 'users' | 'projects' | 'running' | 'templates' | 'clusters' | 'settings' | 'usage';

export const ADMIN_TABS: { id: AdminTabId; title: string; probe: string | null }[] = [
  { id: 'users', title: 'Users', probe: null },
  { id: 'projects', title: 'Projects', probe: 'admin/projects?limit=1' },
  { id: 'running', title: 'Running', probe: 'admin/running?limit=1' },
  { id: 'templates', title: 'Templates', probe: null },
  { id: 'clusters', title: 'Clusters & machines', probe: 'admin/clusters' },
  { id: 'settings', title: 'Settings', probe: null },
  { id: 'usage', title: 'Usage', probe: 'admin/usage?days=1&by=project' }
];

export interface IAdminViewProps {
  me: IMe;
  client: AdminClient;
  accounts: AccountsClient;
  projects: ProjectsClient;
  rendermime: IRenderMimeRegistry;
  /** whether a GET path of the API answers (404: that part is not installed) */
  available: (path: string) => Promise<boolean>;
  initialTab?: AdminTabId;
}

export function AdminView(props: IAdminViewProps): JSX.Element {
  const [tab, setTab] = React.useState<AdminTabId>(props.initialTab ?? 'users');
  return (
    <div className="cl-Admin" data-testid="cubelab-admin-page">
      <div className="cl-Tabs cl-AdminTabs" role="tablist" aria-label="Admin">
        {ADMIN_TABS.map(t => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`cl-admin-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls="cl-admin-tabpanel"
            className={`cl-Tab${tab === t.id ? ' cl-mod-active' : ''}`}
            data-testid={`cubelab-admin-tab-${t.id}`}
            onClick={() => setTab(t.id)}
          >
            {t.title}
          </button>
        ))}
      </div>
      <div className="cl-AdminPanel" role="tabpanel" id="cl-admin-tabpanel" aria-labelledby={`cl-admin-tab-${tab}`}>
        <TabBody key={tab} tab={tab} {...props} />
      </div>
    </div>
  );
}

function TabBody(props: IAdminViewProps & { tab: AdminTabId }): JSX.Element | null {
  const { tab, client, available } = props;
  const spec = ADMIN_TABS.find(t => t.id === tab)!;
  // the admin API comes in parts: a tab whose part does not answer says so
  const probe =
    spec.probe ??
    (tab === 'users' ? 'admin/users?limit=1' : tab === 'settings' ? 'admin/settings' : 'admin/template-categories');
  const ok = useAvailable(available, probe);
  const audit = useAvailable(available, 'admin/audit?limit=1');
  if (ok === null) {
    return null;
  }
  switch (tab) {
    case 'users':
      return <UsersTab client={client} accounts={props.accounts} me={props.me} detailed={ok} />;
    case 'settings':
      return ok || audit ? (
        <SettingsTab client={client} hasSettings={ok} hasAudit={!!audit} />
      ) : (
        <NotInstalled what="The settings API" />
      );
    default:
      break;
  }
  if (!ok) {
    return <NotInstalled what={`The ${spec.title} API`} />;
  }
  switch (tab) {
    case 'projects':
      return <ProjectsTab client={client} projects={props.projects} me={props.me} />;
    case 'running':
      return <RunningTab client={client} />;
    case 'templates':
      return <TemplatesTab client={client} />;
    case 'clusters':
      return <ClustersTab client={client} />;
    case 'usage':
      return <UsageTab client={client} rendermime={props.rendermime} />;
  }
  return null;
}
