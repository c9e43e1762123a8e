/** The main-area tabs: a build's view, the new-build form, "save environment as image" and "import an archive". */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { BuildForm, IBuildFormProps } from './BuildForm';
import { BuildView, IBuildViewProps } from './BuildView';
import { IImportFormProps, ImportForm } from './ImportForm';
import { buildTitle } from './model';
import { ISaveImageFormProps, SaveImageForm } from './SaveImageForm';

/** A tab following one build. */
export class BuildWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IBuildViewProps, 'onLoaded'>) {
    const self = { tab: null as BuildWidget | null };
    super({
      content: ReactWidget.create(
        <BuildView
          {...props}
          onLoaded={b => {
            if (self.tab) {
              self.tab.title.label = `Build #${b.id}`;
              self.tab.title.caption = `${buildTitle(b)}: ${b.status}`;
            }
          }}
        />
      )
    });
    self.tab = this;
    this.buildId = props.id;
    this.id = `cubelab-build-${props.id}`;
    this.addClass('cl-BuildWidget');
    this.title.label = `Build #${props.id}`;
    this.title.closable = true;
  }

  readonly buildId: number;
}

/** The new-build form in a tab. */
export class BuildFormWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IBuildFormProps, 'onCancel'>) {
    // the form's Cancel closes this tab, which exists only after super()
    const close = { tab: null as BuildFormWidget | null };
    super({
      content: ReactWidget.create(<BuildForm {...props} onCancel={() => close.tab?.dispose()} />)
    });
    close.tab = this;
    this.id = 'cubelab-new-build';
    this.addClass('cl-BuildFormWidget');
    this.title.label = 'New build';
    this.title.closable = true;
  }
}

/** "Save environment as image…" in a tab. */
export class SaveImageWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<ISaveImageFormProps, 'onCancel'>) {
    const close = { tab: null as SaveImageWidget | null };
    super({
      content: ReactWidget.create(<SaveImageForm {...props} onCancel={() => close.tab?.dispose()} />)
    });
    close.tab = this;
    this.id = 'cubelab-save-image';
    this.addClass('cl-SaveImageWidget');
    this.title.label = 'Save as image';
    this.title.closable = true;
  }
}

/** "Import an archive" in a tab (admins). */
export class ImportImageWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IImportFormProps, 'onCancel'>) {
    const close = { tab: null as ImportImageWidget | null };
    super({
      content: ReactWidget.create(<ImportForm {...props} onCancel={() => close.tab?.dispose()} />)
    });
    close.tab = this;
    this.id = 'cubelab-import-image';
    this.addClass('cl-ImportImageWidget');
    this.title.label = 'Import image';
    this.title.closable = true;
  }
}
