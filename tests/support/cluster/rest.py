"""Plain JSON requests and resumable watches through the official client's connection and credentials.

The test infrastructure works with objects as JSON, exactly as the server sends them (no typed models in between
that would drop or rename fields), so it talks to the API through these two functions:

* :func:`request` -- one request, the answer as a dict; :class:`ApiException` for a non-2xx answer;
* :func:`events` -- list a collection, then watch it from the list's ``resourceVersion`` in short server-side
  watches, each resuming where the last ended (and listing again after a ``410 Gone``), until ``stop`` is set.
  Short watches let a caller stop within a second without closing a socket another thread reads from.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

__all__ = ["ApiException", "Obj", "events", "request"]

Obj = dict[str, Any]


def request(
    api: ApiClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    query: list[tuple[str, str]] | None = None,
    timeout: float | None = 60,
) -> Obj:
    """One request; the JSON answer (``{}`` when empty)."""
    method, url, headers, serialized, post = api.param_serialize(
        method,
        path,
        query_params=query or None,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, serialized, post, _request_timeout=timeout)
    data: bytes = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException(status=response.status, reason=response.reason, body=data.decode(errors="replace"))
    result: Obj = json.loads(data) if data else {}
    return result


def _watch_once(api: ApiClient, path: str, query: list[tuple[str, str]]) -> Iterator[Obj]:
    method, url, headers, serialized, post = api.param_serialize(
        "GET", path, query_params=query, auth_settings=["BearerToken"]
    )
    response = api.call_api(method, url, headers, serialized, post, _request_timeout=30).response
    pending = b""
    try:
        if not 200 <= response.status <= 299:
            raise ApiException(
                status=response.status, reason=response.reason, body=response.data.decode(errors="replace")
            )
        for chunk in response.stream(amt=None, decode_content=False):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
    finally:
        response.release_conn()


def events(
    api: ApiClient, path: str, stop: threading.Event, *, field_selector: str = "", since: str | None = None
) -> Iterator[tuple[str, Obj]]:
    """``(type, object)`` for every object of the collection at ``path`` (``ADDED`` from a first list, unless
    ``since`` is given), then every change, until ``stop`` is set."""
    selector = [("fieldSelector", field_selector)] if field_selector else []
    version = since
    while not stop.is_set():
        if version is None:
            listing = request(api, "GET", path, query=selector)
            version = str(listing["metadata"]["resourceVersion"])
            for item in listing.get("items") or []:
                yield "ADDED", item
        query = [("watch", "1"), ("resourceVersion", version), ("timeoutSeconds", "1"), ("allowWatchBookmarks", "true")]
        for event in _watch_once(api, path, query + selector):
            if event["type"] == "ERROR":
                if event["object"].get("code") == 410:  # too old: list again
                    version = None
                    break
                raise ApiException(status=event["object"].get("code"), reason=event["object"].get("message"))
            version = str(event["object"]["metadata"]["resourceVersion"])
            if event["type"] != "BOOKMARK":
                yield event["type"], event["object"]
