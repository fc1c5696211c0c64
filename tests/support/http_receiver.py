"""A local HTTP receiver for webhook gates and notifications: records every request, answers as scripted.

It is a real HTTP server on 127.0.0.1 (an ephemeral port), so the code under test goes through its real
HTTP client: sockets, timeouts, status codes, dropped connections. Tests script the answers per path::

    def test_gate(http_receiver: HttpReceiver) -> None:
        http_receiver.script("/gate", Answer(503), Answer(200, body="ok"))   # then the default (200)
        url = http_receiver.url("/gate")
        ...                                                                   # run the code under test
        bodies = [request.json for request in http_receiver.requests("/gate")]

An :class:`Answer` can delay (``delay`` seconds before the status line: a slow or hanging receiver) or
``drop`` the connection without answering. Answers for a path are used in order; when they run out, the
path's ``then`` answer (or the receiver's ``default``) repeats. The ``http_receiver`` fixture (registered
from ``tests/conftest.py``) gives each test a fresh receiver and closes it afterwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["Answer", "HttpReceiver", "Recorded", "http_receiver"]


@dataclass(frozen=True, slots=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: str = ""
    delay: float = 0.0
    """Seconds to wait before answering (the request is recorded at once)."""
    drop: bool = False
    """Close the connection without sending a byte."""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """``time.monotonic()`` when it arrived."""
    answer: Answer

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class _Script:
    answers: list[Answer] = field(default_factory=list)
    then: Answer | None = None


class HttpReceiver:
    """The receiver; see the module docstring."""

    def __init__(self, default: Answer = Answer()) -> None:
        self.default = default
        self._lock = threading.Lock()
        self._scripts: dict[str, _Script] = {}
        self._requests: list[Recorded] = []
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                answer = receiver._record(self.command, self.path, path, dict(self.headers.items()), body)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drop:
                    self.close_connection = True
                    return
                payload = answer.body.encode("utf-8")
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): that is what the test provoked

            do_POST = do_GET = do_PUT = _handle  # noqa: N815 - BaseHTTPRequestHandler's naming

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-receiver", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """Full URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer, then: Answer | None = None) -> None:
        """Answer requests to ``path`` with ``answers`` in order, then with ``then`` (default: ``default``)."""
        with self._lock:
            self._scripts[path] = _Script(list(answers), then)

    def _record(self, method: str, raw_path: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self._lock:
            script = self._scripts.get(path)
            if script is not None and script.answers:
                answer = script.answers.pop(0)
            elif script is not None and script.then is not None:
                answer = script.then
            else:
                answer = self.default
            self._requests.append(Recorded(method, raw_path, headers, body, time.monotonic(), answer))
            self._arrived.notify_all()
            return answer

    def requests(self, path: str | None = None) -> list[Recorded]:
        """Requests received so far (to ``path`` only, when given), oldest first."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path.split("?", 1)[0] == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Recorded]:
        """Block until ``count`` requests (to ``path``) arrived; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                got = [r for r in self._requests if path is None or r.path.split("?", 1)[0] == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests to {path or 'any path'}, got {len(got)}")
                self._arrived.wait(left)

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A fresh receiver per test, closed afterwards."""
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
