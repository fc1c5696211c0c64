"""Raw JSON access to Kubernetes objects, every operation retried under one ``--api-timeout`` budget.

Objects are plain ``dict``s exactly as the server sent them (key order kept by ``json``), changed in
place by pure functions and written back whole with ``PUT`` and the ``resourceVersion`` they were read
at. That is optimistic concurrency: if anyone wrote the object in between, the server answers 409 and
:meth:`Objects.update` reads it again and re-applies the change. One ``PUT`` per object means a failed
write leaves the object exactly as it was; a change is never half applied.

A write whose answer was lost (connection dropped after the server committed it) is the hard case. The
retry reads the object again; the change function sees its own result and has nothing left to do, and
:class:`Updated` still reports ``changed=True`` because this operation did send a write that may have
been applied.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from progressive.errors import InfrastructureError, NotFoundError, StepError
from progressive.kube.client import Kube
from progressive.kube.resources import Ref, Resource
from progressive.kube.retry import Deadline, fail, retrying
from progressive.kube.status import ApiError

__all__ = ["JSON", "AlreadyExistsError", "Objects", "Updated"]

JSON = dict[str, Any]
"""A Kubernetes object as decoded JSON."""


class AlreadyExistsError(InfrastructureError):
    """``create`` found another object with the same name (exit 5 when nobody handles it)."""


@dataclass(frozen=True, slots=True)
class Updated:
    """Outcome of a read-modify-write."""

    object: JSON
    """The object as it is now (the server's answer to the write, or the last read)."""
    changed: bool
    """This operation sent a write that was (or, after a lost answer, may have been) applied."""


def _definitely_not_applied(exc: BaseException) -> bool:
    """A 4xx answer to a write means the server rejected it (409, 422, ...): nothing was stored."""
    return isinstance(exc, ApiError) and 400 <= exc.status < 500


class Objects:
    """Get, read-modify-write, create, delete and list objects as raw JSON."""

    def __init__(self, kube: Kube, api_timeout: float) -> None:
        self.kube = kube
        self.api_timeout = api_timeout

    # --- one HTTP request --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        body: object = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; return the decoded JSON answer or raise :class:`ApiError` / a transport error."""
        answer = self.kube.request(method, path, timeout=timeout, query=query, body=body, content_type=content_type)
        if not 200 <= answer.status <= 299:
            raise ApiError.from_answer(answer.status, answer.reason, answer.data, answer.headers)
        return json.loads(answer.data) if answer.data else None

    def _read(self, ref: Ref, deadline: Deadline) -> JSON:
        """One GET, no retry of its own (the caller's loop retries); 404 is :class:`NotFoundError`."""
        try:
            found: JSON = self.request("GET", ref.path, timeout=deadline.request_timeout())
        except ApiError as exc:
            if exc.status == 404:
                raise NotFoundError(f"{ref} not found") from None
            raise
        return found

    # --- retried operations ------------------------------------------------------------------------

    def find(self, ref: Ref) -> JSON | None:
        """The object, or ``None`` when it does not exist."""
        deadline = Deadline.start(self.api_timeout)
        try:
            for attempt in retrying(f"read {ref}", self.api_timeout):
                with attempt:
                    try:
                        found: JSON = self.request("GET", ref.path, timeout=deadline.request_timeout())
                    except ApiError as exc:
                        if exc.status == 404:
                            return None
                        raise
                    return found
        except StepError:
            raise
        except Exception as exc:
            raise fail(f"read {ref}", exc) from exc
        raise AssertionError("unreachable")

    def get(self, ref: Ref) -> JSON:
        """The object; :class:`NotFoundError` (exit 3) naming it when it does not exist."""
        found = self.find(ref)
        if found is None:
            raise NotFoundError(f"{ref} not found")
        return found

    def list(self, resource: Resource, namespace: str, *, label_selector: str = "") -> list[JSON]:
        """Objects of ``resource`` in ``namespace`` matching ``label_selector``."""
        what = f"list {resource.plural} in {namespace}" + (f" ({label_selector})" if label_selector else "")
        deadline = Deadline.start(self.api_timeout)
        query = {"labelSelector": label_selector} if label_selector else None
        try:
            for attempt in retrying(what, self.api_timeout):
                with attempt:
                    answer = self.request(
                        "GET", resource.collection(namespace), query=query, timeout=deadline.request_timeout()
                    )
                    items: list[JSON] = list(answer.get("items") or [])
                    return items
        except StepError:
            raise
        except Exception as exc:
            raise fail(what, exc) from exc
        raise AssertionError("unreachable")

    def update(self, ref: Ref, change: Callable[[JSON], JSON | None], *, seen: JSON | None = None) -> Updated:
        """Read ``ref``, apply ``change`` to a copy, and ``PUT`` the result if it differs; retried whole.

        ``change`` gets a deep copy of the current object and returns the desired object (or ``None`` for
        "nothing to do"); it must be deterministic and idempotent, because a conflict or a lost answer
        runs it again on a fresher copy. It may raise a :class:`StepError` (e.g. a missing backend), which
        stops everything with nothing written.

        ``seen`` is the object as the caller last read it: the first attempt starts from it instead of a
        GET. That is safe because the ``PUT`` carries its ``resourceVersion`` (stale: 409, re-read, re-apply)
        and because "nothing to do" is only believed after a fresh read.
        """
        what = f"update {ref}"
        deadline = Deadline.start(self.api_timeout)
        maybe_applied = False
        start = copy.deepcopy(seen) if seen is not None else None
        try:
            for attempt in retrying(what, self.api_timeout):
                with attempt:
                    current = start if start is not None else self._read(ref, deadline)
                    desired = change(copy.deepcopy(current))
                    if start is not None and (desired is None or desired == current):
                        start = None  # believe "nothing to do" only from a fresh read
                        current = self._read(ref, deadline)
                        desired = change(copy.deepcopy(current))
                    start = None
                    if desired is None or desired == current:
                        return Updated(current, maybe_applied)
                    version = current.get("metadata", {}).get("resourceVersion")
                    desired.setdefault("metadata", {})["resourceVersion"] = version
                    try:
                        written: JSON = self.request("PUT", ref.path, body=desired, timeout=deadline.request_timeout())
                    except Exception as exc:
                        maybe_applied = maybe_applied or not _definitely_not_applied(exc)
                        raise
                    return Updated(written, True)
        except StepError:
            raise
        except Exception as exc:
            raise fail(what, exc) from exc
        raise AssertionError("unreachable")

    def create(self, ref: Ref, body: JSON) -> JSON:
        """Create ``body`` as ``ref``. If an earlier attempt's answer was lost, return what it created.

        A 409 AlreadyExists on the first attempt means another object has the name: that is
        :class:`AlreadyExistsError`, never a silent overwrite.
        """
        what = f"create {ref}"
        deadline = Deadline.start(self.api_timeout)
        collection = ref.resource.collection(ref.namespace)
        maybe_applied = False
        try:
            for attempt in retrying(what, self.api_timeout, conflicts=False):
                with attempt:
                    try:
                        created: JSON = self.request("POST", collection, body=body, timeout=deadline.request_timeout())
                    except ApiError as exc:
                        if exc.status == 409 and exc.reason == "AlreadyExists" and maybe_applied:
                            return self._read(ref, deadline)
                        raise
                    except Exception:
                        maybe_applied = True
                        raise
                    return created
        except StepError:
            raise
        except ApiError as exc:
            if exc.status == 409 and exc.reason == "AlreadyExists":
                raise AlreadyExistsError(f"{what}: an object with that name already exists") from exc
            raise fail(what, exc) from exc
        except Exception as exc:
            raise fail(what, exc) from exc
        raise AssertionError("unreachable")

    def delete(self, ref: Ref, *, uid: str = "") -> bool:
        """Delete ``ref`` (only if its ``uid`` still matches, when given); ``False`` when it was gone already."""
        what = f"delete {ref}"
        deadline = Deadline.start(self.api_timeout)
        body: JSON | None = None
        if uid:
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        maybe_applied = False
        try:
            for attempt in retrying(what, self.api_timeout, conflicts=False):
                with attempt:
                    try:
                        self.request("DELETE", ref.path, body=body, timeout=deadline.request_timeout())
                    except ApiError as exc:
                        if exc.status == 404:
                            return maybe_applied
                        raise
                    except Exception:
                        maybe_applied = True
                        raise
                    return True
        except StepError:
            raise
        except Exception as exc:
            raise fail(what, exc) from exc
        raise AssertionError("unreachable")
