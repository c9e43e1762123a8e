/**
 * The CubeLab JupyterLab extension: one plugin per feature.  `api` and
 * `panel` provide the tokens of `tokens.ts`; every other plugin adds its
 * section to the panel (see the README's "Adding a feature").
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { accountsPlugin } from './accounts/plugin';
import { adminPlugin } from './admin/plugin';
import { apiPlugin } from './api/plugin';
import { experimentsPlugin } from './experiments/plugin';
import { imagesPlugin } from './images/plugin';
import { panelPlugin } from './panel/plugin';
import { pipelinesPlugin } from './pipelines/plugin';
import { projectsPlugin } from './projects/plugin';
import { serverPlugin } from './server/plugin';
import { servicesPlugin } from './services/plugin';
import { tensorboardPlugin } from './tensorboard/plugin';

export * from './tokens';

const plugins: JupyterFrontEndPlugin<any>[] = [
  apiPlugin,
  panelPlugin,
  projectsPlugin,
  serverPlugin,
  pipelinesPlugin,
  experimentsPlugin,
  servicesPlugin,
  imagesPlugin,
  tensorboardPlugin,
  accountsPlugin,
  adminPlugin
];

export default plugins;
