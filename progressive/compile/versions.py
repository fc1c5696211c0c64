"""Compile an :class:`~progressive.model.versions.App` to the Pipelines a CI run starts with a commit as a param.

* ``<app>-release``: ``version add`` (the commit's objects, available, no traffic), then ``version set-weights``
  giving it ``weight`` percent while the other live versions share the rest in proportion to their weights;
  ``finally``, when anything failed, the same set-weights puts it back to 0 (the others get its share back);
* ``<app>-update-config``: ``version update-config`` (new immutable ConfigMap, only that version's pods roll,
  rolled back automatically when the rollout does not become available);

With ``App.analyze`` both the release and the update are then judged by ``progressive step analyze`` against
the weighted rest of the app's versions (the ``<provider>-versions`` query family); a failed verdict fails the
run, so the release's ``finally`` puts the version back to 0, and the update's ``finally`` runs
``version restore-config`` with the configuration it replaced.
* ``<app>-retire``: ``version set-weights`` to 0 (the rest shared as before), then ``version retire``.

Plus the ServiceAccount, Role and RoleBinding ``progressive-<app>-versions`` the steps run as: only what the verbs
call, with ``resourceNames`` where the names are known at compile time (the routing object, the Leases, the
analysis record).

Every step runs ``progressive step version <verb>`` from ``command`` + ``args`` (never a shell), with the same
restricted securityContext and resources as the canary Tasks. Deterministic: same App, same YAML. The version
verbs support Gateway API, Istio, SMI, Traefik, Contour and the replica router; NGINX (two versions at most) is a
compile-time error, as is a third version on it (the model refuses it).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from progressive.compile._catalog import COMPUTE_RESOURCES, PROMETHEUS_DIR, restricted_security_context
from progressive.compile._files import GeneratedFile
from progressive.compile._invocations import judge_flags, prometheus_flags
from progressive.compile._queries import comparison_queries
from progressive.compile._rollout import check_compiled
from progressive.compile._yaml import dump_documents
from progressive.contract import COMMANDS, Command
from progressive.duration import format_duration
from progressive.errors import ConfigError
from progressive.metrics.errors import TemplateError
from progressive.metrics.queries import Query
from progressive.model import DEFAULT_STEP_IMAGE
from progressive.model.plan import analysis_budget
from progressive.model.versions import (
    App,
    VersionsContour,
    VersionsGatewayAPI,
    VersionsIstio,
    VersionsReplicas,
    VersionsSMI,
    VersionsTraefik,
)
from progressive.validate import Document
from progressive.versions.contract import VERSION_COMMANDS
from progressive.versions.naming import analysis_name, lease_name, state_name

__all__ = ["app_analysis_queries", "app_files", "compile_app", "service_account_name"]

RUN_ID = "$(context.pipelineRun.name)"


def service_account_name(app: App) -> str:
    """The account the version steps run as."""
    return f"progressive-{app.name}-versions"


def _labels(app: App) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "progressive", "app.kubernetes.io/part-of": app.name}


def _metadata(app: App, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": app.namespace, "labels": _labels(app)}


def _router_args(app: App) -> list[str]:
    router = app.router
    if isinstance(router, VersionsGatewayAPI):
        return [
            "--router=gateway-api",
            f"--name={router.route}",
            f"--port={app.port}",
            f"--wait-accepted={str(router.wait_accepted).lower()}",
            f"--accepted-timeout={router.accepted_timeout}",
        ]
    if isinstance(router, VersionsReplicas):
        return ["--router=replicas", f"--name={router.service}", f"--accepted-timeout={router.accepted_timeout}"]
    if isinstance(router, VersionsSMI | VersionsTraefik):
        return [
            f"--router={router.type}",
            f"--name={router.object_name()}",
            f"--api-version={router.api_version}",
            f"--port={app.port}",
        ]
    if isinstance(router, VersionsContour):
        return [
            "--router=contour",
            f"--name={router.http_proxy}",
            f"--port={app.port}",
            f"--wait-accepted={str(router.wait_accepted).lower()}",
            f"--accepted-timeout={router.accepted_timeout}",
        ]
    assert isinstance(router, VersionsIstio)
    return [
        "--router=istio",
        f"--name={router.virtual_service}",
        f"--api-version={router.api_version}",
        f"--port={app.port}",
    ]


def _container(command: Command, argv: list[str], name: str, args: list[str], image: str) -> dict[str, Any]:
    known = {flag.name for flag in command.flags} | {result.flag for result in command.results}
    used = {arg.split("=", 1)[0].removeprefix("--") for arg in args}
    unknown = used - known
    assert not unknown, f"{' '.join(argv)} has no flags {sorted(unknown)}"  # a compiler bug, not user input
    return {
        "name": name,
        "image": image,
        "command": argv,
        "args": args,
        "computeResources": {key: dict(value) for key, value in COMPUTE_RESOURCES.items()},
        "securityContext": restricted_security_context(read_only_root=True),
    }


def _step(verb: str, name: str, args: list[str], image: str) -> dict[str, Any]:
    command = VERSION_COMMANDS[verb]
    return _container(command, ["progressive", "step", "version", verb], name, args, image)


def _task(
    name: str,
    description: str,
    params: list[str],
    step: dict[str, Any],
    *,
    results: tuple[tuple[str, str], ...] = (),
    volumes: list[dict[str, Any]] | None = None,
    values: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A pipeline task with its own one-step ``taskSpec``; ``values`` overrides where a param comes from."""
    spec: dict[str, Any] = {
        "description": description,
        "params": [{"name": param, "type": "string"} for param in params],
    }
    if results:
        spec["results"] = [{"name": result, "type": "string", "description": why} for result, why in results]
    spec["steps"] = [step]
    if volumes:
        spec["volumes"] = volumes
    given = values or {}
    return {
        "name": name,
        "params": [{"name": param, "value": given.get(param, f"$(params.{param})")} for param in params],
        **extra,
        "taskSpec": spec,
    }


def _result_args(verb: str) -> list[str]:
    """``--result-<name>=$(results.<name>.path)`` for every result of the verb."""
    return [f"--{result.flag}=$(results.{result.name}.path)" for result in VERSION_COMMANDS[verb].results]


def _results(verb: str) -> tuple[tuple[str, str], ...]:
    return tuple((result.name, result.help) for result in VERSION_COMMANDS[verb].results)


_VERDICT_RESULTS = (
    ("verdict", "pass, fail or inconclusive."),
    ("summary", "One line of evidence behind the verdict (< 1 KB)."),
)
_PROMETHEUS_VOLUME = "prometheus"


def _analysis_variables(app: App, version: str) -> dict[str, str]:
    """``analyze``'s flags that carry the query template variables, judging Deployment ``version``."""
    metrics = app.metrics
    assert metrics is not None
    return {
        "namespace": app.namespace,
        "canary-workload": version,
        "stable-workload": app.name,
        "service": metrics.service or "",
        "route-name": metrics.route if metrics.route is not None else app.router.object_name(),
    }


def _analyze(app: App, source: str, after: str, image: str) -> dict[str, Any]:
    """Judge the version ``source`` added or reconfigured against the others, once ``after`` is done.

    ``source``'s ``workload`` result names the version. ``progressive step analyze`` as in a canary stage, with
    the ``<provider>-versions`` query family: the canary is ``<app>-<sha7>``, the baseline every other version of
    the app, weighted as the router weighs them. Its record and Lease are ``progressive-<app>-analysis``.
    """
    metrics, step = app.metrics, app.analyze
    assert metrics is not None and step is not None  # the App refuses analyze without metrics
    flags = {
        "namespace": app.namespace,
        "rollout": analysis_name(app.name),
        "run-id": RUN_ID,
        "stage": "$(params.workload)",  # the record's verdict_stage names the version: `progressive versions`
        **prometheus_flags(metrics.prometheus),
        "provider": f"{metrics.provider}-versions",
        "judge": metrics.judge.type,
        **_analysis_variables(app, "$(params.workload)"),
        "canary-deployment": "$(params.workload)",  # its Events go on the version's Deployment
        **judge_flags(metrics.judge, step),
    }
    args = [f"--{name}={value}" for name, value in flags.items()]
    args += [f"--result-{name}=$(results.{name}.path)" for name, _ in _VERDICT_RESULTS]
    container = _container(COMMANDS["analyze"], ["progressive", "step", "analyze"], "analyze", args, image)
    volumes = None
    if metrics.prometheus.secret is not None:
        container["volumeMounts"] = [{"name": _PROMETHEUS_VOLUME, "mountPath": PROMETHEUS_DIR, "readOnly": True}]
        volumes = [{"name": _PROMETHEUS_VOLUME, "secret": {"secretName": metrics.prometheus.secret}}]
    return _task(
        "analyze",
        f"Judge the version against the other versions of {app.name} (Prometheus, provider "
        f"{metrics.provider}-versions).",
        ["workload"],
        container,
        results=_VERDICT_RESULTS,
        volumes=volumes,
        values={"workload": f"$(tasks.{source}.results.workload)"},
        runAfter=[after],
        timeout=format_duration(analysis_budget(metrics, step)),
    )


def _common(app: App) -> list[str]:
    return [f"--namespace={app.namespace}", f"--app={app.name}", f"--run-id={RUN_ID}"]


def _param(name: str, description: str, default: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "type": "string", "description": description}
    if default is not None:
        param["default"] = default
    return param


_COMMIT = _param("commit", "Full commit id (40 hex) of the version.")


def _pipeline(
    app: App,
    name: str,
    description: str,
    params: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    *,
    final: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": description, "params": params, "tasks": tasks}
    if final:
        spec["finally"] = final
    return {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": _metadata(app, name), "spec": spec}


def _release(app: App, image: str) -> dict[str, Any]:
    add = _step(
        "add",
        "add",
        [
            *_common(app),
            "--commit=$(params.commit)",
            "--image=$(params.image)",
            "--config=$(params.config)",
            "--pod-annotations=$(params.pod-annotations)",
            "--replicas=$(params.replicas)",
            f"--port={app.port}",
            f"--container={app.container}",
            f"--config-mount={app.config_mount}",
            f"--keep={app.keep_configmaps}",
            f"--progress-deadline={app.progress_deadline}",
            *_result_args("add"),
        ],
        image,
    )
    shift = _step(
        "set-weights",
        "set-weights",
        [
            *_common(app),
            *_router_args(app),
            "--commit=$(params.commit)",
            "--weight=$(params.weight)",
            "--rest=proportional",
        ],
        image,
    )
    undo = _step(
        "set-weights",
        "back-to-zero",
        [*_common(app), *_router_args(app), "--commit=$(params.commit)", "--weight=0", "--rest=proportional"],
        image,
    )
    params = [
        _COMMIT,
        _param("image", "The version's image, pinned by digest (repo[:tag]@sha256:<64 hex>)."),
        _param("config", "The version's configuration: JSON object file name -> content.", "{}"),
        _param("pod-annotations", "JSON object of annotations the configuration puts on the pods.", "{}"),
        _param("replicas", "Pods of the version.", "1"),
        _param("weight", "Share of the traffic for the new version, percent; the others share the rest."),
    ]
    tasks = [
        _task(
            "add",
            "Create the version's objects and wait until it is available; no traffic.",
            ["commit", "image", "config", "pod-annotations", "replicas"],
            add,
            results=_results("add"),
        ),
        _task(
            "set-weights",
            "Give the version its weight; the others share the rest in proportion.",
            ["commit", "weight"],
            shift,
            runAfter=["add"],
        ),
    ]
    if app.analyze is not None:
        tasks.append(_analyze(app, "add", "set-weights", image))
    final = [
        _task(
            "back-to-zero",
            "Something failed: the new version back to 0, the others get its share back.",
            ["commit"],
            undo,
            when=[{"input": "$(tasks.status)", "operator": "notin", "values": ["Succeeded", "Completed"]}],
        ),
    ]
    return _pipeline(
        app,
        f"{app.name}-release",
        f"Release a commit of {app.name} as a new live version at a weight.",
        params,
        tasks,
        final=final,
    )


def _update_config(app: App, image: str) -> dict[str, Any]:
    step = _step(
        "update-config",
        "update-config",
        [
            *_common(app),
            "--commit=$(params.commit)",
            "--config=$(params.config)",
            "--pod-annotations=$(params.pod-annotations)",
            f"--keep={app.keep_configmaps}",
            f"--progress-deadline={app.progress_deadline}",
            *_result_args("update-config"),
        ],
        image,
    )
    params = [
        _COMMIT,
        _param("config", "The new configuration: JSON object file name -> content."),
        _param("pod-annotations", "JSON object of annotations the configuration puts on the pods.", "{}"),
    ]
    tasks = [
        _task(
            "update-config",
            "New configuration for one running version; rolled back if it does not become available.",
            ["commit", "config", "pod-annotations"],
            step,
            results=_results("update-config"),
        )
    ]
    final: list[dict[str, Any]] = []
    if app.analyze is not None:
        tasks.append(_analyze(app, "update-config", "update-config", image))
        restore = _step(
            "restore-config",
            "restore-config",
            [
                *_common(app),
                "--commit=$(params.commit)",
                "--config-hash=$(params.config-hash)",
                f"--progress-deadline={app.progress_deadline}",
                *_result_args("restore-config"),
            ],
            image,
        )
        final.append(
            _task(
                "restore-config",
                "The analysis failed: the version back on the configuration it had.",
                ["commit", "config-hash"],
                restore,
                results=_results("restore-config"),
                values={"config-hash": "$(tasks.update-config.results.previous-config-hash)"},
                when=[{"input": "$(tasks.analyze.status)", "operator": "in", "values": ["Failed"]}],
            )
        )
    return _pipeline(
        app,
        f"{app.name}-update-config",
        f"Change the configuration of one running version of {app.name}.",
        params,
        tasks,
        final=final,
    )


def _retire(app: App, image: str) -> dict[str, Any]:
    zero = _step(
        "set-weights",
        "set-weights",
        [*_common(app), *_router_args(app), "--commit=$(params.commit)", "--weight=0", "--rest=proportional"],
        image,
    )
    retire = _step("retire", "retire", [*_common(app), "--commit=$(params.commit)", *_router_args(app)], image)
    tasks = [
        _task("to-zero", "Move the version's traffic to the others (in proportion).", ["commit"], zero),
        _task(
            "retire", "Remove it from every rule, drain, delete its objects.", ["commit"], retire, runAfter=["to-zero"]
        ),
    ]
    return _pipeline(app, f"{app.name}-retire", f"Retire one live version of {app.name}.", [_COMMIT], tasks)


def _rule(group: str, resource: str, verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": [group], "resources": [resource]}
    if names:
        rule["resourceNames"] = names
    rule["verbs"] = verbs
    return rule


def _routing_rule(app: App) -> dict[str, Any] | None:
    """The verbs get and update the one routing object; replicas needs none (the deployments rule covers scaling)."""
    router = app.router
    if isinstance(router, VersionsGatewayAPI):
        return _rule("gateway.networking.k8s.io", "httproutes", ["get", "update"], [router.route])
    if isinstance(router, VersionsIstio):
        return _rule("networking.istio.io", "virtualservices", ["get", "update"], [router.virtual_service])
    if isinstance(router, VersionsSMI):
        return _rule("split.smi-spec.io", "trafficsplits", ["get", "update"], [router.traffic_split])
    if isinstance(router, VersionsTraefik):  # the group follows the apiVersion: traefik.io or traefik.containo.us
        group = router.api_version.rpartition("/")[0]
        return _rule(group, "traefikservices", ["get", "update"], [router.traefik_service])
    if isinstance(router, VersionsContour):
        return _rule("projectcontour.io", "httpproxies", ["get", "update"], [router.http_proxy])
    return None


def _rbac(app: App) -> list[dict[str, Any]]:
    name = service_account_name(app)
    routing = _routing_rule(app)
    rules = [
        # the version ConfigMaps are named by content hash, so not known here; only the state record is updated
        _rule("", "configmaps", ["get", "list", "create", "delete"]),
        _rule("", "configmaps", ["update"], [state_name(app.name)]),
        _rule("", "events", ["create"]),
        _rule("", "pods", ["list"]),
        _rule("", "services", ["get", "list", "create"]),
        _rule("apps", "deployments", ["get", "list", "create", "update", "delete"]),
        _rule("apps", "replicasets", ["list"]),
        _rule("coordination.k8s.io", "leases", ["create"]),
        _rule("coordination.k8s.io", "leases", ["get", "update"], [lease_name(app.name)]),
    ]
    if routing is not None:
        rules.append(routing)
    if app.analyze is not None:  # progressive step analyze: its record and Lease, and its PipelineRun's timeouts
        record = f"progressive-{analysis_name(app.name)}"
        rules += [
            _rule("", "configmaps", ["get", "update"], [record]),
            _rule("coordination.k8s.io", "leases", ["get", "update"], [record]),
            _rule("tekton.dev", "pipelineruns", ["get"]),
        ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(app, name)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(app, name),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(app, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": app.namespace}],
        },
    ]


def compile_app(app: App, image: str = DEFAULT_STEP_IMAGE) -> list[dict[str, Any]]:
    """Pipelines and RBAC of ``app``, in a fixed order; :class:`ConfigError` for a router the verbs lack."""
    routed = VersionsGatewayAPI | VersionsIstio | VersionsSMI | VersionsTraefik | VersionsContour | VersionsReplicas
    if not isinstance(app.router, routed):
        raise ConfigError(
            f"app {app.name}: router {app.router.type}: the version steps route with gateway-api, istio, smi, traefik, "
            "contour or replicas (ingress-nginx carries at most two versions: one canary Ingress per rule)"
        )
    return [_release(app, image), _update_config(app, image), _retire(app, image), *_rbac(app)]


PROBE_VERSION = "0000000"
"""The short commit queries are rendered with at compile time: the judged version is a run-time param."""


def app_analysis_queries(app: App) -> list[Query]:
    """Every query the App's analysis runs, rendered for a placeholder version; :class:`ConfigError` for a gap."""
    if app.metrics is None or app.analyze is None:
        return []
    provider = f"{app.metrics.provider}-versions"
    try:
        return comparison_queries(
            f"app {app.name!r}",
            app.metrics,
            provider,
            _analysis_variables(app, f"{app.name}-{PROBE_VERSION}"),
            "metrics.provider",
        )
    except TemplateError as exc:
        raise ConfigError(f"app {app.name!r}: {exc}") from None


def app_files(app: App, source: str, image: str = DEFAULT_STEP_IMAGE) -> tuple[GeneratedFile, ...]:
    """``<app>/pipelines.yaml`` (release, update-config, retire) and ``<app>/rbac.yaml``, checked like a rollout's.

    ``progressive compile`` writes them; ``kubectl apply -f <app>/`` installs them.
    """
    app_analysis_queries(app)  # a query that cannot render is a compile error, here
    documents = compile_app(app, image)
    pipelines = [doc for doc in documents if doc["kind"] == "Pipeline"]
    rbac = [doc for doc in documents if doc["kind"] != "Pipeline"]
    generated = f"Generated by `progressive compile` from {source}; do not edit: change the app and compile again."
    start = f"Start: tkn pipeline start {app.name}-release -n {app.namespace} -p commit=<sha> -p image=<ref> ..."
    folder = PurePosixPath(app.name)
    files = (
        GeneratedFile(folder / "pipelines.yaml", dump_documents(pipelines, f"{generated}\n{start}")),
        GeneratedFile(folder / "rbac.yaml", dump_documents(rbac, f"{generated}\nWhat the version steps may do.")),
    )
    check_compiled(
        [
            Document(str(file.path), index, document, exact_json=True)
            for file, content in zip(files, (pipelines, rbac), strict=True)
            for index, document in enumerate(content)
        ]
    )
    return files
