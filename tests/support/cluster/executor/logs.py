"""The kubelet's container-log endpoint for the executor's pods, so ``kubectl logs`` and ``tkn logs`` work.

The API server serves ``pods/log`` by calling the node's kubelet at ``https://<InternalIP>:<kubeletEndpoint.Port>
/containerLogs/<namespace>/<pod>/<container>`` (``pkg/registry/core/pod/strategy.go``, ``LogLocation``). This server
answers that path on 127.0.0.1 from the files the executor writes for each container, with the query parameters
clients use: ``follow`` (keep streaming until the container ends), ``tailLines`` and ``limitBytes``. The API server
does not verify a kubelet's certificate unless told to, so the API server's own serving certificate is used.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["LogServer"]

LogFinder = Callable[[str, str, str], tuple[Path, Callable[[], bool]] | None]
"""``find(namespace, pod, container)``: the container's log file and a ``running()`` check, or None."""


class LogServer:
    """HTTPS on 127.0.0.1 (ephemeral port) serving ``/containerLogs/...`` from ``find``."""

    def __init__(self, find: LogFinder, cert: Path, key: Path) -> None:
        self.find = find
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="kubelet-logs", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: LogServer) -> None:
        super().__init__(address, handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in split.path.split("/") if p]
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        found = self.server.owner.find(*parts[1:4]) if len(parts) == 4 and parts[0] == "containerLogs" else None
        if found is None:
            body = b"container not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path, running = found
        data = path.read_bytes() if path.exists() else b""
        if "tailLines" in query:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) else b""
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"])]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(data)
        if query.get("follow") in ("true", "1"):
            offset = path.stat().st_size if path.exists() else 0
            while True:
                alive = running()
                if path.exists() and path.stat().st_size > offset:
                    with path.open("rb") as log:
                        log.seek(offset)
                        more = log.read()
                    offset += len(more)
                    self._chunk(more)
                elif not alive:
                    break
                else:
                    time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
