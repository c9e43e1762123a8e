/** The Projects section: the user's projects, their members and settings. */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import * as React from 'react';

import { ICubeLabApi, ICubeLabPanel } from '../tokens';
import { ProjectsClient } from './client';
import { CreatingState, NewProjectButton, ProjectsSection } from './ProjectsSection';

export const projectsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:projects',
  description: 'The CubeLab panel’s Projects section.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  activate: (_app, api: ICubeLabApi, panel: ICubeLabPanel) => {
    const client = new ProjectsClient(api.client);
    const creating = new CreatingState();
    panel.addSection({
      id: 'projects',
      title: 'Projects',
      rank: 0,
      actions: () => <NewProjectButton state={creating} />,
      render: ctx => <ProjectsSection ctx={ctx} client={client} state={creating} />
    });
  }
};
