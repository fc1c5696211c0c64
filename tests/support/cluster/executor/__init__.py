"""The executor: plays kubelet for Tekton's TaskRun pods on node ``executor-0`` (see :mod:`.executor`).

Modules: :mod:`.executor` (watch, bind, finalize), :mod:`.pod` (one pod's lifecycle), :mod:`.container` (one
container in its own mount namespace), :mod:`.volumes`, :mod:`.environment`, :mod:`.status`, :mod:`.node`,
:mod:`.logs` (``pods/log`` for the API server), :mod:`.unsupported` (what fails a pod at once, named).

Its own tests: ``tests/cluster/test_executor.py``.
"""
