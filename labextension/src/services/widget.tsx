/** The main-area tabs: a service's view and its create/edit form. */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IServiceFormProps, ServiceForm } from './ServiceForm';
import { IServiceViewProps, ServiceView } from './ServiceView';

/** A tab showing one service, polled while it is open. */
export class ServiceWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IServiceViewProps, 'onLoaded'>) {
    const self = { tab: null as ServiceWidget | null };
    super({
      content: ReactWidget.create(
        <ServiceView
          {...props}
          onLoaded={s => {
            if (self.tab) {
              self.tab.title.label = s.name;
              self.tab.title.caption = `${s.project}/${s.name}: ${s.status}`;
            }
          }}
        />
      )
    });
    self.tab = this;
    this.serviceId = props.id;
    this.id = `cubelab-service-${props.id}`;
    this.addClass('cl-ServiceWidget');
    this.title.label = 'Service';
    this.title.closable = true;
    this.node.dataset.serviceId = String(props.id);
  }

  readonly serviceId: number;
}

/** The create or edit form in a tab. */
export class ServiceFormWidget extends MainAreaWidget<ReactWidget> {
  constructor(props: Omit<IServiceFormProps, 'onCancel'>) {
    // the form's Cancel closes this tab, which exists only after super()
    const close = { tab: null as ServiceFormWidget | null };
    super({
      content: ReactWidget.create(<ServiceForm {...props} onCancel={() => close.tab?.dispose()} />)
    });
    close.tab = this;
    this.id = props.service ? `cubelab-edit-service-${props.service.id}` : 'cubelab-new-service';
    this.addClass('cl-ServiceFormWidget');
    this.title.label = props.service ? `Edit ${props.service.name}` : 'New service';
    this.title.closable = true;
  }
}
