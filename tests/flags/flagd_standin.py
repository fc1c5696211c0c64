"""A flagd stand-in for tests: OpenFeature's own flagd evaluator behind flagd's OFREP endpoint, on 127.0.0.1.

The flagd binary cannot be built here (the Go module proxy refuses ``github.com/open-feature/flagd/flagd`` at
every version), so the tests evaluate with ``openfeature-flagd-core`` 2.0.0 (PyPI): the reference evaluator of
flagd's rules (``fractional`` with the flagd ≥ v0.15.0 hashing) that flagd's in-process providers use. It is
wrapped in the two things flagd itself adds:

- a sync from the real cluster: the FeatureFlag's ``spec.flagSpec`` (flagd's ``kubernetes`` sync) or a
  ConfigMap key's document (flagd's ``file`` sync of a mounted ConfigMap), re-read every ``poll`` seconds and
  loaded when its ``resourceVersion`` changes. ``freeze()`` stops syncing (a flagd that lost its sync);
- OFREP: ``POST /ofrep/v1/evaluate/flags/<key>`` with ``{"context": {"targetingKey": ...}}`` answers
  ``{"key", "value", "variant", "reason", "metadata"}``, 404 ``FLAG_NOT_FOUND`` for an unknown flag.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import FlagNotFoundError, TypeMismatchError

__all__ = ["FlagdStandin", "running_flagd"]

PREFIX = "/ofrep/v1/evaluate/flags/"


class FlagdStandin:
    """Evaluator + sync thread + OFREP server; see the module docstring."""

    def __init__(self, read: Callable[[], tuple[str, dict[str, Any]]], poll: float = 0.3) -> None:
        self.read = read
        self.poll = poll
        self.core = FlagdCore()
        self.version = ""
        self.syncs = 0
        self.requests = 0
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._sync_once()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self._sync_loop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _sync_once(self) -> None:
        version, document = self.read()
        if version != self.version:
            self.core.set_flags(document)
            self.version = version
            self.syncs += 1

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.poll):
            if not self._frozen.is_set():
                self._sync_once()

    def freeze(self) -> None:
        """Stop picking up changes (flagd whose sync broke): it keeps serving what it has."""
        self._frozen.set()

    def evaluate(self, flag_key: str, targeting_key: str | None) -> tuple[int, dict[str, Any]]:
        """The OFREP answer (status, body) for one evaluation."""
        context = EvaluationContext(targeting_key=targeting_key)
        resolvers: list[Callable[[], Any]] = [
            lambda: self.core.resolve_boolean_value(flag_key, False, context),
            lambda: self.core.resolve_string_value(flag_key, "", context),
            lambda: self.core.resolve_object_value(flag_key, {}, context),
        ]
        result: Any = None
        for resolver in resolvers:  # OFREP is untyped: try the flag's value types in turn
            try:
                result = resolver()
                break
            except FlagNotFoundError:
                return 404, {"key": flag_key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": "flag not found"}
            except TypeMismatchError:
                continue
        if result is None:
            return 400, {"key": flag_key, "errorCode": "TYPE_MISMATCH", "errorDetails": "unsupported value type"}
        reason = result.reason.value if hasattr(result.reason, "value") else str(result.reason)
        return 200, {
            "key": flag_key,
            "value": result.value,
            "variant": result.variant,
            "reason": reason,
            "metadata": {},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                standin.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.startswith(PREFIX):
                    status, answer = 404, {"errorCode": "GENERAL", "errorDetails": "unknown path"}
                else:
                    key = (body.get("context") or {}).get("targetingKey")
                    try:
                        status, answer = standin.evaluate(unquote(self.path[len(PREFIX) :]), key)
                    except Exception as error:  # flagd answers an evaluation error, it does not hang up
                        status, answer = 500, {"errorCode": "GENERAL", "errorDetails": str(error)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def close(self) -> None:
        """Stop the server and the sync."""
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


@contextmanager
def running_flagd(read: Callable[[], tuple[str, dict[str, Any]]]) -> Iterator[FlagdStandin]:
    """A started :class:`FlagdStandin`, closed afterwards."""
    standin = FlagdStandin(read)
    try:
        yield standin
    finally:
        standin.close()
