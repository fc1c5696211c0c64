"""The generic "on write of kind K, call F" hook and the thread that runs the callbacks.

``Hooks.on_write(group, kind, callback, delay=...)`` runs ``callback(event)`` on the :class:`Scheduler`'s
thread ``delay`` seconds after every committed write of that kind. The simulated controllers are built on
it, and so can a test's own (the end-to-end harness's Tekton controller). ``Scheduler.settle()`` waits until
nothing is pending and re-raises the first error a callback hit, so a controller bug fails the test.

All callbacks share the one thread, in due order: a callback must return quickly (hand long work, such as
running a PipelineRun, to a thread of its own), or the Deployment and route controllers wait behind it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from tests.support.kubeapi.store import Store, WriteEvent

__all__ = ["Callback", "Hooks", "Scheduler"]

Callback = Callable[[WriteEvent], None]


class Scheduler:
    """One background thread running delayed callbacks in due order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._running = 0
        self._errors: list[BaseException] = []
        self._generation = 0
        self._thread = threading.Thread(target=self._loop, name="kubeapi-controllers", daemon=True)
        self._thread.start()

    def schedule(self, delay: float, task: Callable[[], None]) -> None:
        with self._cond:
            generation = self._generation

            def guarded() -> None:
                if generation == self._generation:
                    task()

            heapq.heappush(self._queue, (time.monotonic() + max(0.0, delay), next(self._seq), guarded))
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(timeout)
                _, _, task = heapq.heappop(self._queue)
                self._running += 1
            try:
                task()
            except BaseException as exc:  # kept for settle(): a controller bug must fail the test
                with self._cond:
                    self._errors.append(exc)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is queued or running; raise the first callback error, if any."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"controllers still busy after {timeout}s ({len(self._queue)} queued)")
                self._cond.wait(min(remaining, 0.05))
            if self._errors:
                error = self._errors[0]
                self._errors.clear()
                raise RuntimeError(f"a simulated controller failed: {error!r}") from error

    def reset(self) -> None:
        """Drop queued work (tasks of the previous test never run) and forget errors."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._errors.clear()
            self._cond.notify_all()


class Hooks:
    """``on write of kind K, call F`` — the extension point for simulated controllers."""

    def __init__(self, store: Store, scheduler: Scheduler) -> None:
        self._store = store
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._hooks: list[tuple[str, str, Callback, float]] = []
        self._permanent: list[tuple[str, str, Callback, float]] = []

    def attach(self) -> None:
        """Subscribe to the store (again, after a store reset cleared its listeners)."""
        self._store.listeners.append(self._on_event)

    def on_write(
        self, group: str, kind: str, callback: Callback, *, delay: float = 0.0, permanent: bool = False
    ) -> None:
        """Call ``callback(event)`` on the controller thread ``delay`` seconds after each write of the kind.

        Test hooks are dropped by :meth:`clear` (each test starts clean); ``permanent`` ones (the built-in
        simulated controllers, which check their own ``enabled`` flag) stay.
        """
        with self._lock:
            (self._permanent if permanent else self._hooks).append((group, kind, callback, delay))

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()

    def _on_event(self, event: WriteEvent) -> None:
        with self._lock:
            hooks = self._permanent + self._hooks
        for group, kind, callback, delay in hooks:
            if event.resource.group == group and event.resource.kind == kind:
                self._scheduler.schedule(delay, lambda cb=callback: cb(event))  # type: ignore[misc]
