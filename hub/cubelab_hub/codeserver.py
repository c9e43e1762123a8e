"""Where code-server (VS Code in the browser) is installed on this machine.

The local spawner asks it to decide whether to offer the VS Code kind, and the
server extension to start it behind jupyter-server-proxy; both look in the same
places, so a server the form offers can always start code-server.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_code_server() -> str | None:
    """$CUBELAB_CODE_SERVER, code-server on PATH, or npm's ~/.local prefix."""
    configured = os.environ.get("CUBELAB_CODE_SERVER")
    if configured and os.access(configured, os.X_OK):
        return configured
    found = shutil.which("code-server")
    if found:
        return found
    for candidate in (Path.home() / ".local" / "node_modules" / ".bin" / "code-server", Path.home() / ".local" / "bin" / "code-server"):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None
