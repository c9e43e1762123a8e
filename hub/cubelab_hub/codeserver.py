"""Where code-server (VS Code in the browser) is installed on this machine.

The local spawner asks it to decide whether to offer the VS Code kind, and the
server extension to start it behind jupyter-server-proxy; both look in the same
places, so a server the form offers can always start code-server.
"""

from __future__ import annotations

import os
import shutil

# where scripts/install-code-server.sh puts its links (root: every account reads /opt/cubelab)
INSTALL_LINKS = ("/opt/cubelab/bin/code-server", "~/.local/bin/code-server")


def find_code_server() -> str | None:
    """$CUBELAB_CODE_SERVER when set (and only it), else code-server on PATH, else
    the install script's links."""
    configured = os.environ.get("CUBELAB_CODE_SERVER")
    if configured:
        # an explicit choice is never second-guessed: a wrong path means "not installed"
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("code-server")
    if found:
        return found
    for candidate in INSTALL_LINKS:
        path = os.path.expanduser(candidate)
        if os.access(path, os.X_OK):
            return path
    return None
