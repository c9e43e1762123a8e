"""TensorBoard served on a Unix socket.

    python -m cubelab_server.tensorboard.serve --socket PATH [tensorboard flags]

TensorBoard has no socket option; its WSGI app is served here by werkzeug's
threaded server bound to ``unix://PATH``. Nothing listens on TCP.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tensorboard import program
from werkzeug.serving import make_server


class UnixSocketServer(program.TensorBoardServer):
    """TensorBoard's server interface over werkzeug on a Unix socket."""

    def __init__(self, path: str, wsgi_app, flags):
        self.path = path
        self._server = make_server(f"unix://{path}", 0, wsgi_app, threaded=True)
        # werkzeug's default logs a line per request; the board's log keeps errors only
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def serve_forever(self):
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def get_url(self):
        return f"http+unix://{self.path}"

    def print_serving_message(self):
        sys.stderr.write(f"TensorBoard on unix socket {self.path}\n")
        sys.stderr.flush()


class SocketTensorBoard(program.TensorBoard):
    def _register_info(self, server):
        # The shared info file (for `tensorboard --list`) records a TCP port, which a
        # socket-served board has none of, and would tell other accounts its log dir.
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    ours, rest = parser.parse_known_args(argv)
    os.umask(0o077)  # the socket file: this account only (its directory is private too)
    board = SocketTensorBoard(server_class=lambda app, flags: UnixSocketServer(ours.socket, app, flags))
    board.configure(["tensorboard", *rest])
    return board.main()


if __name__ == "__main__":  # pragma: no cover - runs as the board's process
    sys.exit(main())
