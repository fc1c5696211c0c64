"""The compiler: Rollout models -> plain ``tekton.dev/v1`` Tasks, Pipeline, RBAC and PipelineRun.

Pure: it builds dicts and YAML text; the only file system access is :func:`write_files` (and
:func:`stale_files`, which reads to compare). Everything it emits is checked by ``progressive.validate``
first; a finding there raises :class:`CompilerBug`.

* :func:`catalog_files` - the reusable Tasks, one per step command (``tasks/``);
* :func:`compile_rollout` - one rollout's Pipeline, hook Tasks, RBAC and example PipelineRun;
* :func:`stage_invocations` - what each stage runs, with which values: the Pipeline is built from it and
  ``progressive run`` executes it without Tekton, so the two cannot drift.
"""

from progressive.compile._catalog import (
    CATALOG_VERSION,
    IMAGE_PARAM,
    NOTIFY_DIR,
    NOTIFY_SECRET_PARAM,
    PIPELINE_COMMANDS,
    PROMETHEUS_CA_FILE,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRET_PARAM,
    PROMETHEUS_TOKEN_FILE,
    catalog_task,
    catalog_task_name,
    catalog_tasks,
    extra_params,
)
from progressive.compile._catalog_files import catalog_files
from progressive.compile._files import GeneratedFile, stale_files, write_files
from progressive.compile._invocations import RUN_ID, TASKS_STATUS, StageInvocation, stage_invocations
from progressive.compile._pipeline import TIMEOUT_ANNOTATIONS
from progressive.compile._queries import analysis_queries
from progressive.compile._rollout import CompiledRollout, CompilerBug, compile_rollout
from progressive.compile._yaml import dump_documents

__all__ = [
    "CATALOG_VERSION",
    "IMAGE_PARAM",
    "NOTIFY_DIR",
    "NOTIFY_SECRET_PARAM",
    "PIPELINE_COMMANDS",
    "PROMETHEUS_CA_FILE",
    "PROMETHEUS_DIR",
    "PROMETHEUS_SECRET_PARAM",
    "PROMETHEUS_TOKEN_FILE",
    "RUN_ID",
    "TASKS_STATUS",
    "TIMEOUT_ANNOTATIONS",
    "CompiledRollout",
    "CompilerBug",
    "GeneratedFile",
    "StageInvocation",
    "analysis_queries",
    "catalog_files",
    "catalog_task",
    "catalog_task_name",
    "catalog_tasks",
    "compile_rollout",
    "dump_documents",
    "extra_params",
    "stage_invocations",
    "stale_files",
    "write_files",
]
