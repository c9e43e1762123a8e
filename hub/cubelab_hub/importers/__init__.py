"""Importers: other tools' job and pipeline formats -> CubeLab's domain objects.

One module per source format, each a pure function from the parsed document
(or its text) to domain objects, raising :class:`~cubelab_hub.domain.errors.FieldErrors`
that name every field it cannot carry over:

- :mod:`.cube_studio`: Cube Studio job templates (registration form and database export),
  whole files entry by entry;
- :mod:`.cube_studio_pipeline`: Cube Studio pipelines (``init-pipeline.json``), entry by entry;
- :mod:`.kubeflow`: Kubeflow Pipelines v1 component YAML (an argv template: Kubeflow's exact command line);
- :mod:`.kubeflow_v2`: KFP v2 IR (compiled pipelines): container components and a root DAG of container tasks;
- :mod:`.naming`: the naming rules they share (an input's ``--flag``, a template's name).

Like the domain, nothing here imports Jupyter, tornado, SQLAlchemy or Kubernetes
code: the REST handlers and the command line call these functions.
"""
