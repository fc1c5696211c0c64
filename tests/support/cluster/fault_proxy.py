"""An HTTP proxy in front of the real API server that injects faults and logs every request.

The step's retries and idempotency are tested against the real kube-apiserver, with the faults a real network and
a loaded server produce put in between by this proxy: a :class:`~tests.support.faults.FaultPlan` decides per
request (a concurrent writer acting just before the request reaches the server, 409 bursts, 429 with
``Retry-After``, 5xx answered without forwarding, slow answers, connections refused or reset before the request
reaches the server, answers cut after the status line or mid-body *after* the server applied the write, and writes
applied whose answer is lost). Clients speak plain HTTP to the proxy on 127.0.0.1;
the proxy speaks HTTPS to the API server, verifying its certificate, and passes the client's bearer token on, so
RBAC applies as without it.

Requests are classified the way the API server's ``RequestInfoFactory`` does (verb from method, path and
``watch``; group, resource with subresource, namespace, name), so fault rules read like RBAC rules. Watches are
streamed through. The log records each request and whether it changed something: a write answered 2xx whose
object ``resourceVersion`` differs from the one last seen for that object through the proxy (a no-op patch keeps it).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.faults import Fault, FaultPlan, RequestInfo, RequestLog

__all__ = ["FaultProxy", "request_info"]

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
UPSTREAM_IDLE = 30.0
"""Seconds a kept-alive connection to the API server may sit idle and still be reused."""
_WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def request_info(method: str, path: str, query: dict[str, list[str]]) -> RequestInfo:
    """Verb, group, resource (``plural[/sub]``), namespace and name of a request, as the API server reads them."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(method, path)
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        if len(parts) < 3:
            return RequestInfo(method, path)
        group, rest = parts[1], parts[3:]
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return RequestInfo(method, path)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if rest[0] == "namespaces" and not name:
        namespace = ""
    watching = query.get("watch", [""])[0] in ("1", "true")
    verb = {
        "GET": "watch" if watching else ("get" if name else "list"),
        "HEAD": "get",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    return RequestInfo(method, path, verb, group, resource, namespace, name)


def _status_body(code: int, info: RequestInfo) -> bytes:
    reasons = {
        409: (
            "Conflict",
            f'Operation cannot be fulfilled on {info.resource} "{info.name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
        ),
        429: ("TooManyRequests", "Too many requests, please try again later."),
        500: ("InternalError", "Internal error occurred: injected by the fault proxy"),
        503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
        504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
        403: ("Forbidden", f'{info.resource} "{info.name}" is forbidden: injected by the fault proxy'),
        404: ("NotFound", f'{info.resource} "{info.name}" not found'),
        422: ("Invalid", f'{info.resource} "{info.name}" is invalid: injected by the fault proxy'),
    }
    reason, message = reasons.get(code, ("InternalError", f"injected status {code}"))
    details: dict[str, Any] = {"name": info.name, "kind": info.resource.split("/")[0]}
    if info.group:
        details["group"] = info.group
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        }
    ).encode()


class FaultProxy:
    """A started proxy to ``upstream`` (``https://127.0.0.1:PORT``); ``url`` is what clients use."""

    def __init__(self, upstream: str, ca_cert: Path, *, seed: int = 0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 443
        self.context = ssl.create_default_context(cafile=str(ca_cert))
        self.faults = FaultPlan(seed)
        self.log = RequestLog()
        self._versions: dict[tuple[str, str, str, str], str] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def upstream(self, timeout: float | None = 60) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.upstream_host, self.upstream_port, context=self.context, timeout=timeout
        )

    def changed(self, info: RequestInfo, status: int, body: bytes) -> bool:
        """Whether a request changed the object: a 2xx write whose resourceVersion is new to the proxy."""
        key = (info.group, info.resource.split("/")[0], info.namespace, info.name)
        version = ""
        if 200 <= status < 300 and body:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                document = json.loads(body)
                version = str((document.get("metadata") or {}).get("resourceVersion") or "")
                if not info.name:
                    key = (*key[:3], str((document.get("metadata") or {}).get("name") or ""))
        with self._lock:
            previous = self._versions.get(key)
            if version:
                self._versions[key] = version
        if info.verb not in _WRITE_VERBS or not 200 <= status < 300:
            return False
        return not version or version != previous


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy) -> None:
        super().__init__(address, handler)
        self.proxy = proxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a dropped connection, a step's own timeout) is no error here."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query)
        info = request_info(self.command, split.path, query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        delay, fault, actions = proxy.faults.decide_all(info)
        if delay:
            time.sleep(delay)
        for action in actions:
            action()
        user = "token" if self.headers.get("Authorization") else "anonymous"

        def record(status: int, committed: bool) -> None:
            proxy.log.record(
                method=self.command,
                path=split.path,
                query=split.query,
                content_type=self.headers.get("Content-Type", ""),
                body=body,
                user=user,
                info=info,
                status=status,
                fault=_describe(delay, fault),
                committed=committed,
            )

        if fault is not None and fault.kind == "status":
            payload = _status_body(fault.code, info)
            record(fault.code, False)  # before the answer: the client may read the log as soon as it has it
            self.send_response(fault.code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if fault.retry_after:
                self.send_header("Retry-After", str(fault.retry_after))
            self.end_headers()
            self.wfile.write(payload)
            return
        if (
            fault is not None
            and fault.kind == "drop"
            and fault.stage in ("before-response", "reset")
            and not fault.commit
        ):
            record(0, False)
            self._drop(fault.stage)
            return
        if info.verb == "watch":
            self._stream(split, body)
            record(200, False)
            return
        connection = self._upstream_connection()
        try:
            connection.request(self.command, self.path, body=body or None, headers=self._forwarded_headers())
            response = connection.getresponse()
            payload = response.read()
        except BaseException:
            connection.close()
            self._upstream = None
            raise
        self._upstream = (connection, time.monotonic())
        committed = proxy.changed(info, response.status, payload)
        record(response.status, committed)
        if fault is not None and fault.kind == "drop":
            if fault.stage in ("before-response", "reset"):
                self._drop(fault.stage)
                return
            self._send_head(response, len(payload))
            if fault.stage == "mid-body":
                self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._drop("before-response")
            return
        self._send_head(response, len(payload))
        if self.command != "HEAD":
            self.wfile.write(payload)

    _upstream: tuple[http.client.HTTPSConnection, float] | None = None
    """The TLS connection to the API server this client connection reuses, and when it was last used."""

    def _upstream_connection(self) -> http.client.HTTPSConnection:
        """The kept-alive connection to the API server if it was used in the last 30 s, else a new one.

        The API server keeps idle connections far longer than that, so a kept one is never stale.
        """
        if self._upstream is not None:
            connection, used = self._upstream
            if time.monotonic() - used < UPSTREAM_IDLE:
                return connection
            connection.close()
        self._upstream = None
        return self.server.proxy.upstream()

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream[0].close()
            self._upstream = None

    def _forwarded_headers(self) -> dict[str, str]:
        skip = {"host", "connection", "content-length", "accept-encoding", "transfer-encoding"}
        return {key: value for key, value in self.headers.items() if key.lower() not in skip}

    def _send_head(self, response: http.client.HTTPResponse, length: int) -> None:
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _stream(self, split: urllib.parse.SplitResult, body: bytes) -> None:
        connection = self.server.proxy.upstream(timeout=None)
        try:
            connection.request(self.command, self.path, body=body or None, headers=self._forwarded_headers())
            response = connection.getresponse()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := response.read1(65536):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, OSError):
            pass
        finally:
            connection.close()
        self.close_connection = True

    def _drop(self, stage: str) -> None:
        if stage == "reset":
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def _describe(delay: float, fault: Fault | None) -> str | None:
    parts = [f"delay {delay}s"] if delay else []
    if fault is not None:
        parts.append(fault.describe())
    return "; ".join(parts) or None
