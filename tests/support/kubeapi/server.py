"""The HTTP side: a threaded standard-library server on 127.0.0.1 speaking the Kubernetes REST API.

Each connection gets a thread (HTTP/1.1 keep-alive, as the client's urllib3 pool and kubectl expect);
each request goes parse -> fault plan -> authenticate -> authorize -> :mod:`tests.support.kubeapi.rest` ->
JSON response, and is recorded in the request log (before the answer leaves). Watches stream chunked
JSON events until ``timeoutSeconds`` or the server stops. A reset bumps an epoch so that a request still
asleep in a ``slow`` fault from the previous test never writes into the next one.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.kubeapi.controllers import Controllers
from tests.support.faults import Fault, FaultPlan, RequestInfo, RequestLog
from tests.support.kubeapi.rbac import ADMIN, Attributes, Authenticator, Authorizer, User
from tests.support.kubeapi.resources import Registry
from tests.support.kubeapi.rest import Response, RestApi
from tests.support.kubeapi.routing import Route, parse_route
from tests.support.kubeapi.status import ApiError, GroupResource
from tests.support.kubeapi.store import Store

__all__ = ["KubeApiServer", "Response"]

Obj = dict[str, Any]


class KubeApiServer:
    """An in-memory Kubernetes API server on a real socket. ``start()`` it, ``stop()`` it, ``reset()`` between tests."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.registry = Registry()
        self.store = Store(self.registry, seed=seed)
        self.faults = FaultPlan(seed)
        self.log = RequestLog()
        self.auth = Authenticator()
        self.authorizer = Authorizer(self.store, self.registry)
        self.rbac_enabled = False
        """When False every request is served as the admin; True enforces tokens and RBAC."""
        self.controllers = Controllers(self.store, self.registry)
        self.rest = RestApi(self.registry, self.store, self._address, lambda: self.stopping)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.epoch = 0
        """Bumped by :meth:`reset`: a request that began before (say, asleep in a ``slow`` fault) is dropped
        instead of writing into the next test's state."""

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> KubeApiServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kubeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
        self._httpd.shutdown()
        self.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self, *, seed: int = 0) -> None:
        """Fresh state: default kinds and namespaces only, no faults, no log, no tokens, RBAC off."""
        self.epoch += 1
        self.close_connections()
        self.registry.reset()
        self.controllers.scheduler.reset()
        self.store.reset(seed=seed)
        self.controllers.reset(seed)
        self.faults.reset(seed)
        self.log.clear()
        self.auth.reset()
        self.rbac_enabled = False

    def close_connections(self) -> None:
        """Close every open client connection (keep-alive sockets, watches)."""
        self._httpd.close_all()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- request handling (called from connection threads) ---------------------------------------------

    def handle(self, route: Route, body: bytes, content_type: str) -> Response:
        """Serve one non-watch request (authn/authz already done)."""
        return self.rest.handle(route, body, content_type)

    def authenticate(self, header: str | None) -> User:
        if not self.rbac_enabled:
            try:
                return self.auth.authenticate(header) if header else ADMIN
            except ApiError:
                return ADMIN
        return self.auth.authenticate(header)

    def authorize(self, user: User, route: Route) -> None:
        if not self.rbac_enabled:
            return
        self.authorizer.check(
            Attributes(
                user=user,
                verb=route.verb,
                path=route.path,
                resource_request=route.resource is not None,
                group=route.group,
                resource=route.plural,
                subresource=route.subresource,
                namespace=route.namespace,
                name=route.authz_name,
            )
        )


_EARLY_DROPS = ("before-response", "reset")
"""Drops that happen before any response byte is sent."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    api: KubeApiServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (its timeout, a dropped connection) is normal here."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, each answer waits ~40 ms
    server: _HTTPServer
    server_version = "kubeapi-test"
    sys_version = ""

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

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        api = self.server.api
        body = self._read_body()
        split = urlsplit(self.path)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        commits_before = api.store.commits_by_this_thread()
        user_name = ""
        fault: Fault | None = None
        info = RequestInfo(self.command, split.path)
        applied: list[str] = []
        recorded = False
        epoch = api.epoch

        def record(status: int) -> None:
            """Log the request before its answer leaves, so a client that got it also finds it logged."""
            nonlocal recorded
            if recorded or api.epoch != epoch:
                return
            recorded = True
            api.log.record(
                method=self.command,
                path=split.path,
                query=split.query,
                content_type=content_type,
                body=body,
                user=user_name,
                info=info,
                status=status,
                fault="; ".join(applied) or None,
                committed=api.store.commits_by_this_thread() > commits_before,
            )

        try:
            try:
                route = parse_route(api.registry, self.command, split.path, split.query)
                info = RequestInfo(
                    self.command, split.path, route.verb, route.group, route.resource_label, route.namespace, route.name
                )
                delay, fault = api.faults.decide(info)
                if delay:
                    applied.append(f"delay {delay:g}s")
                    time.sleep(delay)
                    if api.epoch != epoch:
                        self._drop("before-response")
                        return
                if fault is not None:
                    applied.append(fault.describe())
                if fault is not None and fault.kind == "status":
                    raise _fault_error(fault, route)
                if fault is not None and fault.kind == "drop" and not fault.commit and fault.stage in _EARLY_DROPS:
                    record(0)
                    self._drop(fault.stage)
                    return
                user = api.authenticate(self.headers.get("Authorization"))
                user_name = user.name
                api.authorize(user, route)
                if route.verb == "watch":
                    record(200)
                    self._watch(route)
                    return
                response = api.handle(route, body, content_type)
            except ApiError as err:
                response = Response.error(err)
            except Exception as exc:  # a bug in the test server must still answer, visibly
                response = Response.error(ApiError.internal(f"{type(exc).__name__}: {exc}"))
            if fault is not None and fault.kind == "drop":
                record(0 if fault.stage in _EARLY_DROPS else response.code)
                self._send_partial(response, fault)
            else:
                record(response.code)
                self._send(response)
        finally:
            record(0)

    def _send(self, response: Response) -> None:
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_partial(self, response: Response, fault: Fault) -> None:
        if fault.stage in _EARLY_DROPS:
            self._drop(fault.stage)
            return
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if fault.stage == "mid-body":
            self.wfile.write(response.body[: len(response.body) // 2])
        self.wfile.flush()
        self._drop("before-response")

    def _drop(self, stage: str) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            if stage == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _watch(self, route: Route) -> None:
        api = self.server.api
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

        def emit(event: Obj) -> bool:
            data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            try:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            except OSError:
                return False
            return True

        try:
            api.rest.watch_events(route, emit)
        except ApiError as err:
            emit({"type": "ERROR", "object": err.body()})
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _fault_error(fault: Fault, route: Route) -> ApiError:
    gr = GroupResource(route.group, route.plural)
    if fault.code == 409:
        return ApiError.stale(gr, route.name or "unknown")
    if fault.code == 429:
        return ApiError.too_many_requests(fault.retry_after or 1)
    if fault.code == 503:
        return ApiError.service_unavailable("the server is currently unable to handle the request", fault.retry_after)
    if fault.code == 504:
        return ApiError.timeout(
            "the server was unable to return a response in the time allotted, but may still be processing the request",
            fault.retry_after,
        )
    if fault.code == 500:
        return ApiError.internal("injected fault")
    if fault.code == 403:
        return ApiError.forbidden(gr, route.name, "injected fault")
    if fault.code == 404:
        return ApiError.not_found(gr, route.name or "unknown")
    reason = _REASONS.get(fault.code, "InternalError" if fault.code >= 500 else "BadRequest")
    return ApiError(fault.code, reason, f"injected fault {fault.code}")


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    405: "MethodNotAllowed",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    502: "InternalError",
}
"""``metav1.StatusReason`` of the other codes a status fault may use."""
