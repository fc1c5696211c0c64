"""The simulated controllers of one server, off by default and driven by tests.

* :mod:`tests.support.kubeapi.hooks`: ``on_write(group, kind, callback, delay=...)``, the generic hook (how
  the end-to-end harness plugs a Tekton controller in) and ``settle()``;
* :mod:`tests.support.kubeapi.deployment_controller`: ReplicaSets, Pods and Deployment status, or the
  failures a test asks for;
* :mod:`tests.support.kubeapi.route_controller`: HTTPRoute ``status.parents`` with ``Accepted`` at the
  current generation, refused, late or never.
"""

from __future__ import annotations

from tests.support.kubeapi.deployment_controller import DeploymentBehavior, DeploymentController
from tests.support.kubeapi.hooks import Callback, Hooks, Scheduler
from tests.support.kubeapi.resources import Registry
from tests.support.kubeapi.route_controller import RouteBehavior, RouteStatusController
from tests.support.kubeapi.store import Store

__all__ = [
    "Controllers",
    "DeploymentBehavior",
    "DeploymentController",
    "Hooks",
    "RouteBehavior",
    "RouteStatusController",
    "Scheduler",
]


class Controllers:
    """The simulated controllers of one server and their scheduler, plus the generic hook."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.scheduler = Scheduler()
        self.hooks = Hooks(store, self.scheduler)
        self.deployments = DeploymentController(store, registry, self.hooks, self.scheduler)
        self.routes = RouteStatusController(store, registry, self.hooks, self.scheduler)
        self.hooks.attach()

    def on_write(self, group: str, kind: str, callback: Callback, *, delay: float = 0.0) -> None:
        """Run ``callback(event)`` after each committed write of ``group``/``kind`` (see :class:`Hooks`)."""
        self.hooks.on_write(group, kind, callback, delay=delay)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no controller work is pending (delays included); re-raise a controller's error."""
        self.scheduler.settle(timeout)

    def reset(self, seed: int = 0) -> None:
        """Everything off, no test hooks, nothing pending; re-subscribe to the (reset) store."""
        self.scheduler.reset()
        self.hooks.clear()
        self.deployments.reset(seed)
        self.routes.reset()
        self.hooks.attach()
