"""``ObjectRecorder``: every version of one object, as a real watch delivers them, recorded in the background.

Tests use it to see what happened *during* a step (the weights a route went through, a Deployment's rollout
progress), which a read before and after cannot show. It watches from the object's current ``resourceVersion``, so
it sees every later change in order; :meth:`ObjectRecorder.stop` ends the watch and returns what was seen.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.support.cluster.access import Cluster

__all__ = ["ObjectRecorder"]

Obj = dict[str, Any]


class ObjectRecorder:
    """Records each ``MODIFIED`` version of ``kind``/``name`` in the test's namespace after the current one."""

    def __init__(self, cluster: Cluster, api_version: str, kind: str, name: str) -> None:
        self.versions: list[Obj] = []
        current = cluster.must_get(api_version, kind, name)
        self._path = cluster.names.path(api_version, kind, cluster.namespace)
        self._api = cluster.api_client()
        self._stopped = threading.Event()
        self._since = current["metadata"]["resourceVersion"]
        self._name = name
        self._thread = threading.Thread(target=self._run, name=f"record {kind} {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Short watches (1 s on the server's clock), each resuming where the last left off, until stopped."""
        while not self._stopped.is_set():
            query = [
                ("watch", "1"),
                ("fieldSelector", f"metadata.name={self._name}"),
                ("resourceVersion", self._since),
                ("timeoutSeconds", "1"),
                ("allowWatchBookmarks", "true"),
            ]
            method, url, headers, body, post = self._api.param_serialize(
                "GET", self._path, query_params=query, auth_settings=["BearerToken"]
            )
            response = self._api.call_api(method, url, headers, body, post, _request_timeout=30).response
            pending = b""
            try:
                for chunk in response.stream(amt=None, decode_content=False):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            self._take(json.loads(line))
            finally:
                response.release_conn()

    def _take(self, event: Obj) -> None:
        if event["type"] == "ERROR":
            raise RuntimeError(f"watch of {self._name} failed: {event['object'].get('message')}")
        self._since = event["object"]["metadata"]["resourceVersion"]
        if event["type"] == "MODIFIED":
            self.versions.append(event["object"])

    def stop(self) -> list[Obj]:
        """End the watch (within about a second); every version seen, oldest first."""
        self._stopped.set()
        self._thread.join(timeout=10)
        return list(self.versions)
