"""The Python configurable-http-proxy, with responses streamed instead of buffered.

configurable-http-proxy 0.4.0 (PyPI) reads each upstream response whole before
answering and gives up after tornado's default 20 s: a followed task log or a
run's event stream would arrive all at once at the end, or be cut. This runs the
same proxy (same command line, same REST API for JupyterHub) with a handler that
passes the status, headers and each chunk on as they come.

Run as ``python -m cubelab_hub.platform.proxy [configurable-http-proxy options]``.
"""

from __future__ import annotations

from configurable_http_proxy import configproxy
from configurable_http_proxy.handlers import ProxyHandler

# hop-by-hop or re-computed by this server; tornado also decompresses bodies
SKIPPED_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection"}
CONNECT_TIMEOUT = 20.0


class StreamingProxyHandler(ProxyHandler):
    async def call_proxy(self, path=None):
        url = await self.get_target_url(path)
        if url is None:
            return
        request = self._get_proxy_request(url)
        # no limit on the whole exchange (streams may last), only on connecting
        request.request_timeout = self.proxy.proxy_timeout or 0
        request.connect_timeout = CONNECT_TIMEOUT
        status_line: list[str] = []
        headers: list[tuple[str, str]] = []
        state = {"started": False}

        def on_header(line: str) -> None:
            line = line.rstrip("\r\n")
            if line.startswith("HTTP/"):
                status_line[:] = [line]  # a later status line (after 100-continue) wins
                headers.clear()
            elif line:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            elif status_line and not status_line[0].split(" ")[1].startswith("1"):
                self._start_response(status_line[0], headers)
                state["started"] = True

        def on_chunk(chunk: bytes) -> None:
            if self._finished:
                return
            self.write(chunk)
            self.flush()

        request.header_callback = on_header
        request.streaming_callback = on_chunk
        try:
            await self._client().fetch(request, raise_error=False)
        except Exception as err:
            if not state["started"]:
                await self.handle_proxy_error(503, err)
                return
            raise
        if not self._finished:
            self.finish()

    def on_message(self, message):
        # configurable-http-proxy 0.4.0 sends every browser frame upstream as text;
        # binary frames (VS Code's protocol) must stay binary or the app drops the socket
        if self.ws_client:
            prefix = self.target["prefix"] if self.target else ""
            if prefix:
                self.proxy.update_last_activity(prefix)
            self.ws_client.write_message(message, binary=isinstance(message, bytes))

    def _client(self):
        from tornado.httpclient import AsyncHTTPClient

        return AsyncHTTPClient()

    def _start_response(self, status_line: str, headers: list[tuple[str, str]]) -> None:
        self.set_status(int(status_line.split(" ")[1]))
        existing = {h.lower() for h, _ in self._headers.get_all()}
        for key, value in headers:
            if key.lower() in SKIPPED_HEADERS:
                continue
            if key.lower() in existing:
                self.set_header(key, value)
                existing.discard(key.lower())
            else:
                self.add_header(key, value)


def main() -> None:
    from configurable_http_proxy.cli import main as chp_main

    configproxy.ProxyHandler = StreamingProxyHandler
    chp_main()


if __name__ == "__main__":
    main()
