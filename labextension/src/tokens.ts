/**
 * The tokens CubeLab's plugins share.  The API plugin provides `ICubeLabApi`,
 * the panel plugin provides `ICubeLabPanel`; every feature (projects, this
 * server, pipelines, TensorBoard, accounts, ...) is its own plugin that
 * requires them and adds its section to the panel.
 */
import { Token } from '@lumino/coreutils';
import * as React from 'react';

import { IMe, IProjectSummary } from './projects/client';
import { CubeLabClient } from './request';

/** Root of the control-plane API as the server extension forwards it. */
export const API_ROOT = 'cubelab/api';

/** Same-origin access to CubeLab's REST APIs through the user's Jupyter server. */
export interface ICubeLabApi {
  /** The control plane's API (`<base_url>cubelab/api/…`): calls and streams. */
  readonly client: CubeLabClient;
  /** A client for another API root of the user's server (e.g. `cubelab/tensorboard/api`). */
  clientFor(root: string): CubeLabClient;
  /**
   * Whether the API answering `probe` (a GET path of `client`) is there;
   * a 404 means that part of CubeLab is not installed, so its section is not shown.
   */
  available(probe: string, client?: CubeLabClient): Promise<boolean>;
}

export const ICubeLabApi = new Token<ICubeLabApi>(
  'cubelab:ICubeLabApi',
  'The CubeLab REST client of the user’s Jupyter server.'
);

/** What every section sees: the loaded user and their projects. */
export interface ISidebarContext {
  me: IMe;
  projects: IProjectSummary[];
  /** increases each time the panel reloads: sections reload then */
  refresh: number;
  /** Reload the user and their projects (and every section). */
  reload(): Promise<void>;
  /**
   * Show a detail view in place of the sections (a project's page), or go
   * back to the sections with `null`.
   */
  showDetail(detail: ISidebarDetail | null): void;
}

/** A view that takes the whole panel below its header. */
export interface ISidebarDetail {
  /** identifies the view (a different key remounts it) */
  key: string;
  render: (ctx: ISidebarContext) => React.ReactNode;
}

/** A section of the CubeLab panel, added by a feature plugin. */
export interface ISidebarSection {
  /** `data-testid="cubelab-section-<id>"` */
  id: string;
  title: string;
  /** sections are shown in increasing rank (projects 0, this server 5, pipelines 10, ...) */
  rank: number;
  render: (ctx: ISidebarContext) => React.ReactNode;
  /** buttons in the section's header */
  actions?: (ctx: ISidebarContext) => React.ReactNode;
  /** whether the section applies to this user (default: always) */
  visible?: (ctx: ISidebarContext) => boolean;
}

/** The CubeLab left-sidebar panel. */
export interface ICubeLabPanel {
  /** The panel widget's id (`cubelab-panel`), e.g. to activate it. */
  readonly id: string;
  addSection(section: ISidebarSection): void;
  /** Reload the user, their projects and every section. */
  refresh(): void;
}

export const ICubeLabPanel = new Token<ICubeLabPanel>(
  'cubelab:ICubeLabPanel',
  'The CubeLab sidebar panel, to which each feature adds its section.'
);
