"""The executor's node, ``executor-0``: Ready status and a Lease renewed every 10 s, as a kubelet keeps its own.

Without the heartbeat the node-lifecycle controller would mark the node NotReady after its grace period, taint it
and evict the TaskRun pods on it.
"""

from __future__ import annotations

import datetime as dt
import threading

from kubernetes import client
from kubernetes.client.rest import ApiException

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
            {"type": kind, "status": status, "reason": reason, "message": message,
             "lastHeartbeatTime": stamp, "lastTransitionTime": since}
            for kind, status, reason, message in conditions
        ],  # fmt: skip
        "daemonEndpoints": {"kubeletEndpoint": {"Port": log_port}},
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "executor-0"}],
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "nodeInfo": {
            "architecture": "amd64", "operatingSystem": "linux", "osImage": "progressive executor",
            "kernelVersion": "", "kubeletVersion": "v1.37.2", "kubeProxyVersion": "", "containerRuntimeVersion":
            "executor://0", "machineID": "", "systemUUID": "", "bootID": "",
        },  # fmt: skip
    }


def _renew_lease(coordination: client.CoordinationV1Api, node: str, uid: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "metadata": {
            "name": node,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}],
        },
        "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": stamp},
    }
    try:
        coordination.patch_namespaced_lease(node, LEASE_NAMESPACE, {"spec": body["spec"]})
    except ApiException as error:
        if error.status != 404:
            raise
        coordination.create_namespaced_lease(LEASE_NAMESPACE, body)


def heartbeat(api: client.ApiClient, node: str, log_port: int, stop: threading.Event) -> None:
    """Post the node's status (with the log server's port) and renew its Lease every 10 s until ``stop`` is set."""
    core, coordination = client.CoreV1Api(api), client.CoordinationV1Api(api)
    since = now()
    while True:
        try:
            uid = core.read_node(node).metadata.uid
            core.patch_node_status(node, {"status": _node_status(since, log_port)})
            _renew_lease(coordination, node, uid)
        except ApiException as error:
            print(f"executor: heartbeat of {node}: {error.status} {error.reason}", flush=True)
        if stop.wait(INTERVAL):
            return
