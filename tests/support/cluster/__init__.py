"""A real local Kubernetes control plane with Tekton's own controller, for tests, the demo and trying it out.

Built from the Go module proxy by ``tools/cluster/build.sh`` (pinned versions, cached); started, inspected and
stopped by :class:`~tests.support.cluster.cluster.LocalCluster` (``scripts/cluster up | status | down``).

* :mod:`.cluster` -- the components, start order, readiness, the run directory;
* :mod:`.components` -- every component's command line; :mod:`.processes` -- starting and stopping by pid;
* :mod:`.bootstrap` -- CRDs, Tekton's ConfigMaps, the two Nodes; :mod:`.pki` -- certificates and tokens;
* :mod:`.relay`, :mod:`.netns` -- Tekton's controller in its own network namespace, reaching the API server;
* :mod:`.executor` -- the kubelet of TaskRun pods, running Tekton's real ``entrypoint`` per step;
* :mod:`.status_writers` -- Gateway API and Contour status, as their controllers write it;
* :mod:`.fault_proxy` -- fault injection and a request log in front of the real API server;
* :mod:`.access`, :mod:`.fixtures` -- the ``cluster`` fixture: one namespace per test, clients and helpers.

Simulated, and only these: nodes and the Deployments' pods (kwok), step containers (host processes in private
mount namespaces), the data planes' status. Everything else is the real thing.
"""
