"""``progressive apply FILE.py [--rollout NAME] [-n NS] [--dry-run]``: install a rollout's Tekton objects.

Compiles the rollout (the same code as ``progressive compile``) and applies, in this order, its
ServiceAccount, Role and RoleBinding, the catalog Tasks its Pipeline references, its hook Tasks and its
Pipeline, all in the rollout's namespace, with the credentials of the current kube context. One line per
object says what happened, as ``kubectl apply`` says it: ``created``, ``configured`` or ``unchanged``.
Applying the same rollout again changes nothing and says so.

How: Kubernetes server-side apply (``PATCH`` with ``application/apply-patch+yaml``) under the field
manager ``progressive`` with ``force=true``. Why force: these objects are compiler output ("do not edit");
the rollout file is their source of truth, so a field someone changed by hand (``kubectl edit``) is taken
back rather than failing the apply with a conflict, exactly as GitOps controllers apply generated
manifests. Fields other managers own and the compiler does not emit (e.g. labels added by a policy
engine) are left alone, which a create-or-replace would not do. Whether an object changed is decided by
comparing it before and after (``managedFields`` and ``resourceVersion`` aside), so the outcome is exact
for the real API server and for a server dry run alike.

``-n`` only confirms the namespace: the Pipeline, its RBAC and every step work in the rollout's
``namespace``, so a different ``-n`` is an error (as ``kubectl apply -n`` refuses a file whose objects
name another namespace). ``--dry-run`` sends every request with ``dryRun=All``: the API server validates
and reports, and stores nothing.

Objects that an earlier version of the rollout had and this one no longer has (a removed hook's Task)
are not deleted; apply lists them so they can be removed by hand.

Exit codes: 0 applied, 2 bad input (the file, ``--rollout``, ``-n``), 3 the namespace does not exist,
5 the API refused or kept failing (the message names the object and the server's reason), 70 a compiler
bug (nothing applied).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from progressive.commands._connection import add_cluster_arguments, api_timeout, connect_to_cluster
from progressive.commands._pick import pick_rollout
from progressive.commands._tekton import PIPELINES, TASKS
from progressive.commands.compile import EXIT_COMPILER_BUG
from progressive.compile import (
    PIPELINE_COMMANDS,
    CompiledRollout,
    CompilerBug,
    catalog_task,
    catalog_task_name,
    compile_rollout,
)
from progressive.contract import COMMANDS
from progressive.errors import ConfigError, NotFoundError, StepError
from progressive.kube.resources import Resource

if TYPE_CHECKING:
    from progressive.kube.objects import Objects

__all__ = [
    "APPLY_PATCH",
    "FIELD_MANAGER",
    "Applied",
    "add_arguments",
    "apply_documents",
    "leftovers",
    "manifests",
    "run",
]

FIELD_MANAGER = "progressive"
"""The field manager of every object ``progressive apply`` writes."""
APPLY_PATCH = "application/apply-patch+yaml"

_RESOURCES: dict[tuple[str, str], Resource] = {
    (resource.api_version, resource.kind): resource
    for resource in (
        Resource("v1", "ServiceAccount", "serviceaccounts"),
        Resource("v1", "Secret", "secrets"),
        Resource("rbac.authorization.k8s.io/v1", "Role", "roles"),
        Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        TASKS,
        PIPELINES,
    )
}
"""Every kind ``progressive apply`` writes, with its REST path."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive apply``."""
    parser.add_argument("file", metavar="FILE.py", help="Python file that defines the Rollout.")
    parser.add_argument("--rollout", default="", help="Rollout to apply when the file defines several.")
    parser.add_argument(
        "-n", "--namespace", default="", help="Namespace; must be the rollout's own (default: the rollout's)."
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="Server dry run: the API server validates everything, stores nothing."
    )
    parser.add_argument(
        "--api-timeout", default="30s", help="Time limit for retrying one API call (Go duration, default 30s)."
    )
    add_cluster_arguments(parser)


def manifests(compiled: CompiledRollout) -> list[dict[str, Any]]:
    """What apply writes, in order: RBAC, the catalog Tasks the Pipeline references, hook Tasks, the Pipeline.

    The rollout's own documents are the compiled dicts themselves (not copies): read them, do not change them.
    Stages that run as steps of a shared pod's inline Task need no catalog Task.
    """
    namespace = compiled.rollout.namespace
    spec = compiled.pipeline["spec"]
    referenced = {task["taskRef"]["name"] for task in [*spec["tasks"], *spec["finally"]] if "taskRef" in task}
    tasks = []
    for name in PIPELINE_COMMANDS:
        if catalog_task_name(name) in referenced:
            task = catalog_task(COMMANDS[name])
            task["metadata"] = {"name": task["metadata"]["name"], "namespace": namespace, **task["metadata"]}
            tasks.append(task)
    return [*compiled.rbac, *tasks, *compiled.hooks, compiled.pipeline]


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one object did."""

    kind: str
    """``kubectl``'s name for the kind: ``serviceaccount``, ``role.rbac.authorization.k8s.io``, ``task.tekton.dev``."""
    name: str
    outcome: str
    """``created``, ``configured`` or ``unchanged``."""

    def line(self, *, dry_run: bool) -> str:
        """The line kubectl would print."""
        return f"{self.kind}/{self.name} {self.outcome}" + (" (server dry run)" if dry_run else "")


def _kubectl_kind(resource: Resource) -> str:
    kind = resource.kind.lower()
    return f"{kind}.{resource.group}" if resource.group else kind


def _comparable(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The object without the fields every write touches (server bookkeeping), to tell a real change."""
    if obj is None:
        return None
    copied = copy.deepcopy(obj)
    metadata = copied.get("metadata") or {}
    for key in ("managedFields", "resourceVersion"):
        metadata.pop(key, None)
    return copied


def apply_documents(
    objects: Objects,
    documents: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    report: Callable[[Applied], None] = lambda _applied: None,
) -> list[Applied]:
    """Server-side apply each document (see the module docstring); ``report`` hears of each as it is done."""
    from progressive.kube.retry import call  # noqa: PLC0415 - slow import, only when running

    for namespace in sorted({document["metadata"]["namespace"] for document in documents}):
        _check_namespace(objects, namespace)
    query = {"fieldManager": FIELD_MANAGER, "force": "true"}
    if dry_run:
        query["dryRun"] = "All"
    done: list[Applied] = []
    for document in documents:
        resource = _RESOURCES[(document["apiVersion"], document["kind"])]
        metadata = document["metadata"]
        ref = resource.ref(metadata["namespace"], metadata["name"])
        before = objects.find(ref)

        def send(timeout: float, path: str = ref.path, body: dict[str, Any] = document) -> Any:
            return objects.request("PATCH", path, body=body, query=query, content_type=APPLY_PATCH, timeout=timeout)

        try:
            after = call(f"apply {ref}", objects.api_timeout, send, conflicts=True)
        except NotFoundError:
            # The namespace exists (checked above), so the API server does not serve this kind.
            raise NotFoundError(
                f"apply {ref}: the API server does not serve {resource.plural}.{resource.group or 'core'}/"
                f"{resource.version}" + (" (is Tekton Pipelines installed?)" if resource.group == "tekton.dev" else "")
            ) from None
        if before is None:
            outcome = "created"
        elif _comparable(before) == _comparable(after):
            outcome = "unchanged"
        else:
            outcome = "configured"
        applied = Applied(_kubectl_kind(resource), ref.name, outcome)
        report(applied)
        done.append(applied)
    return done


def _check_namespace(objects: Objects, namespace: str) -> None:
    """Fail clearly when the namespace is missing; a user who may not read namespaces learns it at the first write."""
    from progressive.kube.retry import call  # noqa: PLC0415

    def read(timeout: float) -> Any:
        return objects.request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}", timeout=timeout)

    try:
        call(f"read namespace {namespace}", objects.api_timeout, read)
    except NotFoundError:
        raise NotFoundError(
            f"namespace {namespace} does not exist; create it first: kubectl create namespace {namespace}"
        ) from None
    except StepError:
        return  # e.g. 403: a namespaced user may not read Namespace objects; the first write will say why


def leftovers(objects: Objects, compiled: CompiledRollout, documents: list[dict[str, Any]]) -> list[str]:
    """Tasks labelled as this rollout's that the rollout no longer compiles to (e.g. a removed hook's)."""
    labels = compiled.pipeline["metadata"]["labels"]
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    wanted = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "Task"}
    try:
        found = objects.list(TASKS, compiled.rollout.namespace, label_selector=selector)
    except StepError:
        return []  # only a hint: no list permission is no reason to fail an apply that worked
    return sorted(str(task["metadata"]["name"]) for task in found if task["metadata"]["name"] not in wanted)


def run(args: argparse.Namespace) -> int:
    """Compile the rollout and apply its objects; see the module docstring."""
    timeout = api_timeout(args)
    loaded = pick_rollout(args.file, args.rollout)
    rollout = loaded.rollout
    if args.namespace and args.namespace != rollout.namespace:
        raise ConfigError(
            f"-n: {args.namespace!r} is not the namespace of rollout {rollout.name} ({rollout.namespace!r}); "
            "its Pipeline, RBAC and steps all work there: change Rollout.namespace to install it elsewhere"
        )
    try:
        compiled = compile_rollout(rollout, loaded.source)
    except CompilerBug as exc:
        print(f"progressive apply: {exc}", file=sys.stderr)
        return EXIT_COMPILER_BUG
    documents = manifests(compiled)
    from progressive.kube.objects import Objects  # noqa: PLC0415 - slow import, only when running

    try:
        kube = connect_to_cluster(args)
    except StepError as exc:
        print(f"progressive apply: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    try:
        objects = Objects(kube, timeout)
        done = apply_documents(
            objects,
            documents,
            dry_run=args.dry_run,
            report=lambda applied: print(applied.line(dry_run=args.dry_run), flush=True),
        )
        stale = [] if args.dry_run else leftovers(objects, compiled, documents)
    except StepError as exc:
        print(f"progressive apply: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    finally:
        kube.close()
    changed = sum(applied.outcome != "unchanged" for applied in done)
    where = f"rollout {rollout.name} in namespace {rollout.namespace}"
    if changed == 0:
        print(f"nothing changed: all {len(done)} objects of {where} are up to date")
    for name in stale:
        print(
            f"note: task.tekton.dev/{name} is labelled as part of {where} but is no longer compiled from it; "
            f"remove it with: kubectl delete task {name} -n {rollout.namespace}",
            file=sys.stderr,
        )
    return 0
