"""``%load_ext cubelab`` in any kernel of a CubeLab server.

This tiny package only exists so that the IPython extension has the
platform's name; the magics live in :mod:`cubelab_server.magics`.
"""

from cubelab_server.magics import load_ipython_extension  # noqa: F401
