"""TensorBoard in the user's Jupyter server: start boards on log directories
inside the workspace, list and stop them, and serve them through the server's
own authentication (no port reachable without the user's login).

``handlers(base_url)`` gives the routes; the CubeLab extension loader adds them.
"""

from .handlers import handlers
from .manager import Board, BoardError, TensorBoardManager, resolve_logdir

__all__ = ["handlers", "Board", "BoardError", "TensorBoardManager", "resolve_logdir"]
