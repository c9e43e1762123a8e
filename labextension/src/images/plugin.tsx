/**
 * Images: the panel's section (builds, images, registries), a build's tab with its
 * live log, the new-build form, "Build image" on Dockerfiles in the file
 * browser, "Save environment as image…" (command palette and the section), and
 * for admins "Import as image…" on tar files of the file browser (and the
 * section's Imports list).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import { IMe } from '../projects/client';
import { API_ROOT, ICubeLabApi, ICubeLabPanel, ISidebarContext } from '../tokens';
import { streamRequest } from '../transport';
import { BuildsClient, ImagesClient, IRegistry, RegistriesClient } from './client';
import { DebugRunner } from './debugRequest';
import { IImagesOpener, ImagesSection } from './ImagesSection';
import { ImageImportsClient, isArchivePath, newImportDraft } from './imports';
import {
  draftFromDockerfile,
  draftFromRegistry,
  IBuildDraft,
  isDockerfile,
  newBuildDraft,
  newRegistryDraft
} from './model';
import { RegistryForm } from './RegistryForm';
import { SaveAsImageClient } from './saveAsImage';
import { ShellWidget } from './ShellWidget';
import { BuildFormWidget, BuildWidget, ImportImageWidget, SaveImageWidget } from './widget';

namespace CommandIDs {
  export const openBuild = 'cubelab:open-build';
  export const newBuild = 'cubelab:new-build';
  export const buildImage = 'cubelab:build-image';
  export const saveEnvironment = 'cubelab:save-environment-as-image';
  export const importImage = 'cubelab:import-image';
  export const openShell = 'cubelab:open-image-shell';
}

/** Files of the file browser; the command shows itself only for Dockerfiles (by name). */
const FILE_SELECTOR = '.jp-DirListing-item[data-isdir="false"]';

export const imagesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cubelab:images',
  description: 'The CubeLab Images section, a build’s tab with its live log, and building a Dockerfile.',
  autoStart: true,
  requires: [ICubeLabApi, ICubeLabPanel],
  optional: [ILayoutRestorer, IDefaultFileBrowser, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    api: ICubeLabApi,
    panel: ICubeLabPanel,
    restorer: ILayoutRestorer | null,
    browser: IDefaultFileBrowser | null,
    palette: ICommandPalette | null
  ) => {
    const builds = new BuildsClient(api.client);
    const registries = new RegistriesClient(api.client);
    const images = new ImagesClient(api.client);
    const imports = new ImageImportsClient(api.client);
    let admin = false; // known once `me` has answered; only admins import
    const changed = new Signal<BuildsClient, void>(builds);
    const views = new WidgetTracker<BuildWidget>({ namespace: 'cubelab-builds' });
    let ctx: ISidebarContext | null = null;
    const debug: DebugRunner = (body, onText, signal) =>
      streamRequest(API_ROOT, 'POST', 'images/debug-runs', body, onText, signal, app.serviceManager.serverSettings);

    const openForm = (draft: IBuildDraft) => {
      const existing = Array.from(app.shell.widgets('main')).find(w => w.id === 'cubelab-new-build');
      if (existing) {
        existing.dispose(); // a new prefill (another Dockerfile) replaces the open form
      }
      if (!ctx) {
        return;
      }
      const widget: BuildFormWidget = new BuildFormWidget({
        me: ctx.me,
        client: builds,
        draft,
        onStarted: build => {
          widget.dispose();
          changed.emit();
          void app.commands.execute(CommandIDs.openBuild, { id: build.id! });
        }
      });
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };

    app.commands.addCommand(CommandIDs.openShell, {
      label: 'Open a Shell in This Image',
      caption: 'An interactive shell inside the image, as your account; what it writes is gone when it ends',
      execute: args => {
        const widget = new ShellWidget(
          { project: String(args.project), image: String(args.image) },
          app.serviceManager.serverSettings
        );
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    const openShell = (project: string, image: string) =>
      void app.commands.execute(CommandIDs.openShell, { project, image });

    app.commands.addCommand(CommandIDs.openBuild, {
      label: 'Open Build',
      execute: args => {
        const id = Number(args.id);
        let widget = views.find(w => w.buildId === id);
        if (!widget) {
          widget = new BuildWidget({ client: builds, id, changed: () => changed.emit(), debug, openShell });
          void views.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    const defaultProject = (args: { project?: unknown }) =>
      String(args.project ?? ctx?.me.projects[0]?.name ?? 'public');
    app.commands.addCommand(CommandIDs.newBuild, {
      label: 'New Image Build',
      execute: args => openForm(newBuildDraft(defaultProject(args)))
    });

    const selectedDockerfile = (): string | null => {
      const item = browser?.selectedItems().next();
      return item && !item.done && item.value.type !== 'directory' && isDockerfile(item.value.path)
        ? item.value.path
        : null;
    };
    app.commands.addCommand(CommandIDs.buildImage, {
      label: 'Build image',
      caption: 'Open the new-build form for this Dockerfile, its folder as the context',
      isVisible: () => !!ctx && selectedDockerfile() !== null,
      execute: args => {
        const path = typeof args.path === 'string' && args.path ? args.path : selectedDockerfile();
        if (path) {
          openForm(draftFromDockerfile(path, defaultProject(args)));
        }
      }
    });

    const saver = new SaveAsImageClient(api.clientFor('cubelab/environment'), api.client, builds);
    app.commands.addCommand(CommandIDs.saveEnvironment, {
      label: 'Save Environment as Image…',
      caption: 'A Dockerfile of the packages changed since this server started, for review, then built',
      execute: async args => {
        // from the palette before the panel was opened: who the user is comes from the API
        const me = ctx?.me ?? (await api.client.call<IMe>('GET', 'me'));
        Array.from(app.shell.widgets('main'))
          .find(w => w.id === 'cubelab-save-image')
          ?.dispose(); // lists taken again: a fresh form
        const widget: SaveImageWidget = new SaveImageWidget({
          me,
          client: saver,
          project: String(args.project ?? me.projects[0]?.name ?? 'public'),
          onStarted: build => {
            widget.dispose();
            changed.emit();
            void app.commands.execute(CommandIDs.openBuild, { id: build.id! });
          }
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });

    const selectedArchive = (): string | null => {
      const item = browser?.selectedItems().next();
      return item && !item.done && item.value.type !== 'directory' && isArchivePath(item.value.path)
        ? item.value.path
        : null;
    };
    app.commands.addCommand(CommandIDs.importImage, {
      label: args => (args.path || selectedArchive() ? 'Import as image…' : 'Import an Image Archive…'),
      caption: 'Import an OCI or docker archive of your workspace as an image of a project (admins)',
      isVisible: args => admin && (args.fromSection === true || selectedArchive() !== null),
      execute: async args => {
        const me = ctx?.me ?? (await api.client.call<IMe>('GET', 'me'));
        const path =
          typeof args.path === 'string' && args.path ? args.path : args.fromSection ? '' : (selectedArchive() ?? '');
        Array.from(app.shell.widgets('main'))
          .find(w => w.id === 'cubelab-import-image')
          ?.dispose(); // another archive: a fresh form
        const widget = new ImportImageWidget({
          me,
          client: imports,
          draft: newImportDraft(String(args.project ?? me.projects[0]?.name ?? ''), path),
          selectedArchive,
          onImported: () => changed.emit()
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });

    if (restorer) {
      void restorer.restore(views, {
        command: CommandIDs.openBuild,
        args: w => ({ id: w.buildId }),
        name: w => String(w.buildId)
      });
    }

    const editRegistry = (registry: IRegistry | null) => {
      if (!ctx) {
        return;
      }
      const me = ctx.me;
      const firstOwned = me.admin ? '' : (me.projects.find(p => p.role === 'creator')?.name ?? '');
      ctx.showDetail({
        key: `registry-${registry?.name ?? 'new'}`,
        render: current => (
          <RegistryForm
            me={current.me}
            client={registries}
            registry={registry}
            draft={registry ? draftFromRegistry(registry) : newRegistryDraft(firstOwned)}
            onDone={() => {
              changed.emit();
              current.showDetail(null);
            }}
          />
        )
      });
    };

    const opener: IImagesOpener = {
      openBuild: id => void app.commands.execute(CommandIDs.openBuild, { id }),
      newBuild: project => void app.commands.execute(CommandIDs.newBuild, { project }),
      saveEnvironment: project => void app.commands.execute(CommandIDs.saveEnvironment, { project }),
      importArchive: () => void app.commands.execute(CommandIDs.importImage, { fromSection: true }),
      editRegistry,
      openShell,
      onChange: fn => {
        const slot = () => fn();
        changed.connect(slot);
        return () => changed.disconnect(slot);
      }
    };

    void api.available('builds').then(ok => {
      if (!ok) {
        return;
      }
      app.contextMenu.addItem({ command: CommandIDs.buildImage, selector: FILE_SELECTOR, rank: 62 });
      // "Import as image…" only for admins: everyone else gets nothing added
      void api.client
        .call<IMe>('GET', 'me')
        .then(me => {
          admin = me.admin;
          if (admin) {
            app.contextMenu.addItem({ command: CommandIDs.importImage, selector: FILE_SELECTOR, rank: 63 });
          }
        })
        .catch(() => undefined);
      palette?.addItem({ command: CommandIDs.saveEnvironment, category: 'CubeLab' });
      panel.addSection({
        id: 'images',
        title: 'Images',
        rank: 28, // projects 0, this server 5, pipelines 10, runs 20, experiments 25, services 27, TensorBoard 30, accounts 50
        visible: c => c.me.projects.length > 0,
        render: c => {
          ctx = c;
          return (
            <ImagesSection
              me={c.me}
              builds={builds}
              registries={registries}
              images={images}
              imports={imports}
              opener={opener}
              refresh={c.refresh}
            />
          );
        }
      });
    });
  }
};
