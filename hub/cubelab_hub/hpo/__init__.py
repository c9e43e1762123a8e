"""Hyper-parameter tuning: NNI's tuners and assessors used as a library inside the
control plane (never NNI's manager).

- :mod:`.tuners`: :class:`TunerDriver` (request proposals, report results, rebuild after a restart);
- :mod:`.assessors`: :class:`AssessorDriver` (stop a trial early);
- :mod:`.algorithms`: where each NNI algorithm lives and how it is built and seeded;
- :mod:`.tuner_backend`, :mod:`.advisor_backend`: an NNI ``Tuner`` and an NNI advisor driven in-process.

Imports NNI and the domain only; importing this package does not import ``nni``.
"""

from .assessors import AssessorDriver
from .tuners import Proposal, Record, TunerDriver

__all__ = ["AssessorDriver", "Proposal", "Record", "TunerDriver"]
