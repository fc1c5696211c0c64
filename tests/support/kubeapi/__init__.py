"""An in-memory Kubernetes API server on real HTTP, for tests (no real API server can run here).

The official ``kubernetes`` client, ``kubectl`` and the step talk to it through a generated kubeconfig.
It follows the real API server wherever a client can observe the difference: ``Status`` error bodies,
``resourceVersion`` conflicts, generation, status/scale subresources, the four PATCH types, discovery,
RBAC with the real 403 message, watch. Test-only extras: fault injection, a request log, simulated
Deployment and Gateway controllers, and a hook to add more.

Fixtures (``tests/support/kube_fixtures.py``): ``kube`` — a :class:`Kube` with fresh state per test over a
session-wide server; ``kube_env`` — the same with ``KUBECONFIG`` set; ``kube_server`` — the server.

Example::

    from kubernetes import client
    from tests.support.kubeapi import Kube, conflict, response_lost

    def test_weights(kube: Kube) -> None:
        kube.seed('''
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: web, namespace: shop}
            spec: {rules: [{backendRefs: [{name: web, port: 80, weight: 100}]}]}
        ''')
        kube.controllers.routes.enable(delay=0.05)          # Accepted at the new generation, 50 ms later
        kube.faults.add(conflict(), verb="patch", resource="httproutes", times=2)
        kube.faults.add(response_lost(), verb="patch", after=2)   # third patch: stored, answer lost
        api = client.CustomObjectsApi(kube.api_client())     # or: KUBECONFIG=kube.kubeconfig
        ...
        kube.controllers.settle()
        stored = kube.raw("gateway.networking.k8s.io/v1", "HTTPRoute", "web", "shop")  # exactly as stored
        assert [e.verb for e in kube.log.writes()] == ["patch"]

:class:`Kube` (the fixture's value):

* ``url``, ``kubeconfig`` (admin), ``api_client(kubeconfig=None)`` (official ``ApiClient``, closed at
  teardown), ``revision`` (the latest resourceVersion: unchanged = nothing written);
* ``seed(*dicts_or_yaml)`` (stored as given, status included; namespaces created),
  ``raw(api_version, kind, name, ns)`` (exactly as stored), ``raw_json(...)`` (stored key order),
  ``get(...)`` (as served at that version), ``list(api_version, kind, ns=None)``, ``delete(...)``,
  ``set_status(...)``, ``register(ResourceType)`` / ``crd(...)`` for extra kinds;
* ``faults`` (:class:`FaultPlan`: ``add(fault, verb=, resource=, group=, namespace=, name=, path=,
  times=1, after=0, probability=1.0)`` with :func:`conflict`, :func:`too_many_requests`,
  :func:`server_error`, :func:`unavailable`, :func:`gateway_timeout`, :func:`status_fault`, :func:`slow`,
  :func:`drop`,
  :func:`response_lost`), ``log`` (:class:`RequestLog`: ``entries``, ``find(...)``, ``writes()``);
* ``controllers``: ``deployments.enable(delay=)`` / ``.behave(name, failure="ImagePullBackOff",
  deadline_after=0.1, namespace=...)``, ``routes.enable(delay=, accepted=True|False|None)`` / ``.behave(...)``,
  ``on_write(group, kind, callback, delay=)`` for new controllers, ``settle()``;
* ``enable_rbac()``, ``service_account_token(ns, name)``, ``service_account_kubeconfig(ns, name)``,
  ``kubeconfig_for_token(token)``.

Outside pytest: ``python -m tests.support.kubeapi --port 8001 --kubeconfig /tmp/kc`` serves until killed.

Faithful to the real server where the step can observe it (each module says which upstream code it
follows): ``Status`` bodies and messages; resourceVersion conflicts and no-op writes that keep it;
PUT without resourceVersion allowed for built-ins, 422 for custom resources; generation; status and
scale subresources; finalizers; ``generateName``; label/field selectors (``metadata.name`` pins RBAC's
name); validation of metadata labels/annotations, Deployment selector vs template labels and Events
(:mod:`tests.support.kubeapi.validation`); strategic merge only for built-ins (415 for CRDs); 422 with
the generic message for a failed JSON-patch ``test``; one storage per group served at every version of
it (apiVersion rewritten on read: HTTPRoute v1/v1beta1, VirtualService v1/v1beta1/v1alpha3, TrafficSplit
v1alpha1..v1alpha4); watch (``?watch=1``) as chunked JSON events.

Simplifications: server-side apply merges without field ownership (no conflicts, see
:func:`tests.support.kubeapi.patch.apply_patch`); JSON/YAML bodies only (protobuf, which kubectl's
``create <generator>`` commands send, gets 415); no OpenAPI (kubectl ``create``/``apply`` need
``--validate=false``); no server-side Table printing (``kubectl get`` shows NAME and AGE);
core/v1 and events.k8s.io/v1 Events are stored apart; defaulting only for Deployment/ReplicaSet
top-level ``spec`` fields; Namespace deletion is immediate; no ``managedFields``; watches do not send
``DELETED`` for objects that stop matching a selector; no admission webhooks beyond test-registered
``store.admission`` hooks.
"""

from tests.support.kubeapi.controllers import DeploymentBehavior, RouteBehavior
from tests.support.faults import (
    Fault,
    FaultPlan,
    LoggedRequest,
    RequestLog,
    conflict,
    drop,
    gateway_timeout,
    response_lost,
    server_error,
    slow,
    status_fault,
    too_many_requests,
    unavailable,
)
from tests.support.kubeapi.kube import Kube
from tests.support.kubeapi.rbac import ADMIN_TOKEN
from tests.support.kubeapi.resources import ResourceType, crd
from tests.support.kubeapi.server import KubeApiServer
from tests.support.kubeapi.status import ApiError

__all__ = [
    "ADMIN_TOKEN",
    "ApiError",
    "DeploymentBehavior",
    "Fault",
    "FaultPlan",
    "Kube",
    "KubeApiServer",
    "LoggedRequest",
    "RequestLog",
    "ResourceType",
    "RouteBehavior",
    "conflict",
    "crd",
    "drop",
    "gateway_timeout",
    "response_lost",
    "server_error",
    "slow",
    "status_fault",
    "too_many_requests",
    "unavailable",
]
