"""A Tekton-semantics harness: runs compiled Pipelines locally, as the Tekton controller of the in-repo API server.

Create Tasks, a Pipeline and a PipelineRun in the in-memory API server (``tests/support/kubeapi``) the
way you would on a cluster (``kubectl``, the official client, ``progressive start``); the harness picks
the PipelineRun up, runs it with Tekton's semantics and writes back the PipelineRun and TaskRun objects
Tekton would write, so ``--follow``, ``progressive status`` and ``kubectl get taskruns`` see a real run.

Example (the ``tekton`` fixture is registered in ``tests/conftest.py``)::

    def test_hello(kube: Kube, tekton: TektonController) -> None:
        kube.seed(TASK_YAML, PIPELINE_YAML, {"apiVersion": "v1", "kind": "ServiceAccount",
                                             "metadata": {"name": "default", "namespace": "ci"}})
        api = client.CustomObjectsApi(kube.api_client())
        run = api.create_namespaced_custom_object("tekton.dev", "v1", "ci", "pipelineruns", PIPELINERUN)
        done = tekton.wait(run["metadata"]["name"], "ci")
        assert done["status"]["conditions"][0]["reason"] == "Succeeded"

What is emulated (details in each module):

* :mod:`~tests.support.tekton.spec` -- strict reading of ``tekton.dev/v1`` Task, Pipeline and
  PipelineRun: any field outside the implemented and the documented inert ones raises
  :class:`UnsupportedFeature` (workspaces, ``script``, sidecars, ``stepTemplate``, ``matrix``,
  ``onError``, ``pipelineSpec``, resolvers, CEL ``when``, array/object params, non-Secret volumes...).
* :mod:`~tests.support.tekton.variables` -- ``$(params.*)`` (with defaults), ``$(tasks.X.results.Y)``,
  ``$(context.pipelineRun.name|namespace|uid)``, ``$(context.pipeline.name)``,
  ``$(context.pipelineTask.retries)``, ``$(context.taskRun.name|namespace|uid)``, ``$(context.task.name|
  retry-count)``, ``$(results.R.path)``, and in finally ``$(tasks.status)``, ``$(tasks.X.status)``,
  ``$(tasks.X.reason)``: Pipeline params into pipeline-task params and ``when``; Task params into step
  ``command``, ``args``, ``env[].value`` and ``volumes[].secret.secretName``.
* :mod:`~tests.support.tekton.dag` -- order from ``runAfter`` and result references; unknown names and
  cycles fail as ``PipelineInvalidGraph``.
* :mod:`~tests.support.tekton.engine` -- scheduling (ready tasks start concurrently, launched in
  declaration order; finally tasks all at once), ``when``, ``retries``, pipeline-task ``timeout``,
  ``timeouts.{pipeline,tasks,finally}``, ``spec.status`` cancellation (``Cancelled``,
  ``CancelledRunFinally``, ``StoppedRunFinally``, ``PipelineRunPending``), and the PipelineRun/TaskRun
  conditions and reasons Tekton writes.
* :mod:`~tests.support.tekton.executor` -- steps as local processes: argv, a clean environment,
  ``KUBECONFIG`` of the run's ServiceAccount, Secret volumes materialised and their mount paths
  rewritten in argv and env, results files with the 4096-byte termination-message limit, exit codes,
  SIGTERM/SIGKILL on cancellation and timeouts, logs.
* :mod:`~tests.support.tekton.controller` -- the ``on_write`` hook that makes the harness the
  controller of the API server; ``wait``, ``running_step``, ``logs`` for tests.

Two kinds of refusal (:mod:`~tests.support.tekton.errors`): :class:`TektonRejection` is what Tekton
would refuse too (reported as a failed run with Tekton's reason); :class:`UnsupportedFeature` is what
the harness cannot emulate (reported as a failed run with reason ``HarnessUnsupportedFeature`` and
re-raised to the test).
"""

from tests.support.tekton.controller import TektonController
from tests.support.tekton.durations import format_duration, parse_duration
from tests.support.tekton.errors import UNSUPPORTED_REASON, HarnessError, TektonRejection, UnsupportedFeature
from tests.support.tekton.executor import MAX_TERMINATION_MESSAGE, RunningStep
from tests.support.tekton.status import child_name

__all__ = [
    "MAX_TERMINATION_MESSAGE",
    "UNSUPPORTED_REASON",
    "HarnessError",
    "RunningStep",
    "TektonController",
    "TektonRejection",
    "UnsupportedFeature",
    "child_name",
    "format_duration",
    "parse_duration",
]
