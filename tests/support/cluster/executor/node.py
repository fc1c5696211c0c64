"""The executor's node, ``executor-0``: Ready status and a Lease renewed every 10 s, as a kubelet keeps its own.

Without the heartbeat the node-lifecycle controller would mark the node NotReady after its grace period, taint it
and evict the TaskRun pods on it.
"""

from __future__ import annotations

import datetime as dt
import threading

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster.executor.status import now

__all__ = ["heartbeat"]

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
INTERVAL = 10.0


def _node_status(since: str, log_port: int) -> dict[str, object]:
    stamp = now()
    conditions = [
        ("Ready", "True", "KubeletReady", "executor is posting ready status"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", ""),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", ""),
        ("PIDPressure", "False", "KubeletHasSufficientPID", ""),
    ]
    return {
        "conditions": [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": since,
            }
            for kind, status, reason, message in conditions
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": log_port}},
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "executor-0"}],
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "progressive executor",
            "kernelVersion": "",
            "kubeletVersion": "v1.37.2",
            "kubeProxyVersion": "",
            "containerRuntimeVersion": "executor://0",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


def _renew_lease(coordination: client.CoordinationV1Api, node: str, uid: str) -> None:
    renewed = dt.datetime.now(dt.UTC)
    spec = client.V1LeaseSpec(holder_identity=node, lease_duration_seconds=LEASE_SECONDS, renew_time=renewed)
    try:
        patch = {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        coordination.patch_namespaced_lease(node, LEASE_NAMESPACE, {"spec": patch})
    except ApiException as error:
        if error.status != 404:
            raise
        owner = client.V1OwnerReference(api_version="v1", kind="Node", name=node, uid=uid)
        metadata = client.V1ObjectMeta(name=node, namespace=LEASE_NAMESPACE, owner_references=[owner])
        coordination.create_namespaced_lease(LEASE_NAMESPACE, client.V1Lease(metadata=metadata, spec=spec))


def heartbeat(api: client.ApiClient, node: str, log_port: int, stop: threading.Event) -> None:
    """Post the node's status (with the log server's port) and renew its Lease every 10 s until ``stop`` is set."""
    core, coordination = client.CoreV1Api(api), client.CoordinationV1Api(api)
    since = now()
    while True:
        try:
            metadata = core.read_node(node).metadata
            assert metadata is not None and metadata.uid is not None
            uid = metadata.uid
            core.patch_node_status(node, {"status": _node_status(since, log_port)})
            _renew_lease(coordination, node, uid)
        except ApiException as error:
            print(f"executor: heartbeat of {node}: {error.status} {error.reason}", flush=True)
        if stop.wait(INTERVAL):
            return
