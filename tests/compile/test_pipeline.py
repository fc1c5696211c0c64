"""The shape of a compiled rollout: DAG, finally, timeouts, PipelineRun, RBAC, hooks, determinism."""

from __future__ import annotations

import itertools
import json
import re

import pytest
import yaml

from progressive import Rollout, Run
from progressive.compile import TIMEOUT_ANNOTATIONS, CompilerBug, compile_rollout
from progressive.compile._rollout import check_compiled
from progressive.duration import parse_duration
from progressive.naming import TASK_RUN_SPECS_ANNOTATION
from progressive.permissions import backend_services, rollout_rules
from progressive.validate import Document
from tests.compile.readback import assert_reads_back_exactly
from tests.compile.rollouts import ROUTERS, all_rollouts, everything, per_router


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_stages_form_a_chain_and_never_use_when(rollout: Rollout) -> None:
    spec = compile_rollout(rollout).pipeline["spec"]
    tasks = spec["tasks"]
    assert "runAfter" not in tasks[0]
    for previous, task in itertools.pairwise(tasks):
        assert task["runAfter"] == [previous["name"]]
    assert all("when" not in task for task in tasks), "a skipped stage would let the next one run"
    assert all("onError" not in task for task in tasks), "onError: continue would hide a failed stage"


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_finally_rolls_back_unless_promoted_and_always_reports(rollout: Rollout) -> None:
    """Not ``$(tasks.status) in [Failed]``: a graceful stop, or a cancel or timeout between two stages, ends with
    ``$(tasks.status)`` = ``Completed`` although traffic moved (tests/e2e/test_rollback.py runs those cases)."""
    final = {task["name"]: task for task in compile_rollout(rollout).pipeline["spec"]["finally"]}
    assert final["rollback"]["taskRef"] == {"name": "progressive-rollback"}
    promote = "$(tasks.promote.status)"
    assert final["rollback"]["when"] == [{"input": promote, "operator": "notin", "values": ["Succeeded"]}]
    assert final["report"]["taskRef"] == {"name": "progressive-report"}
    assert "when" not in final["report"]
    assert all("runAfter" not in task for task in final.values())


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_timeouts_leave_finally_its_budget(rollout: Rollout) -> None:
    compiled = compile_rollout(rollout)
    timeouts = compiled.pipeline_run["spec"]["timeouts"]
    pipeline, tasks, final = (parse_duration(timeouts[key]) for key in ("pipeline", "tasks", "finally"))
    assert tasks + final <= pipeline
    assert final == parse_duration(rollout.timeouts.finally_)
    spec = compiled.pipeline["spec"]
    assert sum(parse_duration(task["timeout"]) for task in spec["tasks"]) <= tasks
    assert all(parse_duration(task["timeout"]) <= final for task in spec["finally"])
    assert all(parse_duration(task["timeout"]) > 0 for task in [*spec["tasks"], *spec["finally"]])


def test_pipeline_run_example() -> None:
    run = compile_rollout(everything()).pipeline_run
    assert run["metadata"]["generateName"] == "everything-"
    assert "name" not in run["metadata"]
    assert run["metadata"]["namespace"] == "prod"
    assert run["spec"]["pipelineRef"] == {"name": "everything"}
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "progressive-everything"}
    assert [p["name"] for p in run["spec"]["params"]] == ["image-app", "image-proxy"]
    assert run["spec"]["timeouts"] == {"pipeline": "4h", "tasks": "3h30m", "finally": "30m"}


def test_pipeline_carries_the_run_timeouts() -> None:
    from progressive.commands.start import TIMEOUT_ANNOTATIONS as START_READS  # noqa: PLC0415

    compiled = compile_rollout(everything())
    annotations = dict(compiled.pipeline["metadata"]["annotations"])
    del annotations[TASK_RUN_SPECS_ANNOTATION]
    assert annotations == {
        TIMEOUT_ANNOTATIONS[key]: value for key, value in compiled.pipeline_run["spec"]["timeouts"].items()
    }
    assert dict(START_READS) == dict(TIMEOUT_ANNOTATIONS)


def test_pipeline_params_are_the_images() -> None:
    params = compile_rollout(everything()).pipeline["spec"]["params"]
    assert [(p["name"], p["type"]) for p in params] == [("image-app", "string"), ("image-proxy", "string")]
    assert "container app" in params[0]["description"]
    assert all("default" not in p for p in params)


@pytest.mark.parametrize("router", ROUTERS)
def test_rbac_is_the_permissions_module(router: str) -> None:
    rollout = per_router(router)
    service_account, role, binding, *_others = compile_rollout(rollout).rbac
    name = "progressive-shop"
    assert service_account == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "labels": {"app.kubernetes.io/managed-by": "progressive", "app.kubernetes.io/part-of": "shop"},
        },
    }
    flags = rollout.router.step_flags(rollout.workload)
    rules = rollout_rules(
        rollout="shop",
        router=rollout.router.type,
        routing_object=flags["name"],
        stable_deployment="shop",
        canary_deployment="shop-canary",
        api_version=flags.get("api-version", ""),
        services=backend_services(
            rollout.router.type,
            "prod",
            (flags["stable"], flags["canary"]),
            istio_subsets=flags.get("istio-subsets") == "true",
        ),
    )
    services = [(rule.names, rule.verbs) for rule in rules if rule.resource == "services"]
    # the preflight of deploy reads the backend Services, by name and only get; Istio's FQDN host is its Service
    expected = {"replicas": [], "istio-subsets": [], "istio-hosts": [(("shop", "shop-canary"), ("get",))]}
    assert services == expected.get(router, [((flags["stable"], flags["canary"]), ("get",))])
    assert role["rules"] == [
        {
            "apiGroups": [rule.api_group],
            "resources": [rule.resource],
            **({"resourceNames": list(rule.names)} if rule.names else {}),
            "verbs": list(rule.verbs),
        }
        for rule in rules
    ]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "prod"}]


def test_rbac_names_the_traefik_group_of_the_api_version() -> None:
    role = compile_rollout(per_router("traefik")).rbac[1]
    groups = {group for rule in role["rules"] for group in rule["apiGroups"]}
    assert "traefik.containo.us" in groups
    assert "traefik.io" not in groups


def test_hook_task() -> None:
    (hook,) = compile_rollout(everything()).hooks
    assert hook["metadata"]["name"] == "everything-smoke"
    step = hook["spec"]["steps"][0]
    assert step["image"] == "busybox:1.36"
    assert step["command"] == ["sh", "-c"]
    assert step["args"] == ["true"]
    assert step["env"] == [
        {"name": "NEW_IMAGE", "value": "$(params.NEW_IMAGE)"},
        {"name": "RUN", "value": "$(params.RUN)"},
    ]
    assert "script" not in step
    assert step["securityContext"]["runAsNonRoot"] is True
    assert [p["name"] for p in hook["spec"]["params"]] == ["NEW_IMAGE", "RUN"]


def test_files_layout_and_headers() -> None:
    files = compile_rollout(everything(), "everything.py").files
    assert [str(file.path) for file in files] == [
        "everything/pipeline.yaml",
        "everything/rbac.yaml",
        "everything/hooks.yaml",
        "everything/run/pipelinerun.yaml",
    ]
    for file in files:
        assert file.content.startswith("# Generated by `progressive compile` from everything.py")
    no_hooks = compile_rollout(per_router("gateway-api"), "x.py").files
    assert "shop/hooks.yaml" not in [str(file.path) for file in no_hooks]


def test_key_order_and_block_style() -> None:
    for file in compile_rollout(everything(), "x.py").files:
        for document in yaml.safe_load_all(file.content):
            assert list(document)[:3] == ["apiVersion", "kind", "metadata"]
        flow = [line for line in file.content.splitlines() if re.search(r"(: |^\s*- )[\[{]", line)]
        assert flow == [], "flow-style collections (JSON values are quoted strings, so they do not match)"


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_compiling_twice_gives_the_same_bytes(rollout: Rollout) -> None:
    first = [(f.path, f.data) for f in compile_rollout(rollout, "x.py").files]
    again = Rollout.model_validate(rollout.model_dump(by_alias=True))
    second = [(f.path, f.data) for f in compile_rollout(again, "x.py").files]
    assert first == second


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_what_is_written_reads_back_as_what_was_checked(rollout: Rollout) -> None:
    assert_reads_back_exactly(compile_rollout(rollout, "x.py"))


def test_a_compiler_bug_is_reported_not_written() -> None:
    broken = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "x"},
        "spec": {"tasks": [{"name": "a", "taskRef": {"name": "progressive-pause"}, "runAfter": ["b"]}]},
    }
    with pytest.raises(CompilerBug, match=r"bug in progressive.*runAfter 'b' is not a task in tasks"):
        check_compiled([Document("x/pipeline.yaml", 0, broken)])


def test_hooks_run_as_their_own_account_without_a_token() -> None:
    compiled = compile_rollout(everything())
    specs = [
        {
            "pipelineTaskName": "hook-smoke",
            "serviceAccountName": "progressive-everything-hooks",
            "podTemplate": {"automountServiceAccountToken": False},
        }
    ]
    assert compiled.pipeline_run["spec"]["taskRunSpecs"] == specs
    assert json.loads(compiled.pipeline["metadata"]["annotations"][TASK_RUN_SPECS_ANNOTATION]) == specs
    (hooks_account,) = [d for d in compiled.rbac if d["metadata"]["name"] == "progressive-everything-hooks"]
    assert (hooks_account["kind"], hooks_account["automountServiceAccountToken"]) == ("ServiceAccount", False)
    bound = [d for d in compiled.rbac if d["kind"] == "RoleBinding"]
    assert [s["name"] for d in bound for s in d["subjects"]] == ["progressive-everything"]  # hooks: no Role at all


def test_a_hook_may_name_an_account_you_granted() -> None:
    rollout = everything()
    steps = [
        step.model_copy(update={"service_account": "smoke-tester"}) if isinstance(step, Run) else step
        for step in rollout.steps
    ]
    compiled = compile_rollout(rollout.model_copy(update={"steps": tuple(steps)}))
    assert compiled.pipeline_run["spec"]["taskRunSpecs"] == [
        {"pipelineTaskName": "hook-smoke", "serviceAccountName": "smoke-tester"}
    ]
    assert not [d for d in compiled.rbac if d["metadata"]["name"].endswith("-hooks")]


def test_approvals_are_a_secret_only_approvers_write() -> None:
    rbac = compile_rollout(everything()).rbac
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in rbac}
    secret = by_kind[("Secret", "progressive-everything-approvals")]
    assert "data" not in secret  # applying it again never wipes approvals
    steps_rules = by_kind[("Role", "progressive-everything")]["rules"]
    approver_rules = by_kind[("Role", "progressive-everything-approver")]["rules"]
    on_secrets = [r for r in steps_rules if "secrets" in r["resources"]]
    assert on_secrets == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret["metadata"]["name"]], "verbs": ["get"]}
    ]
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret["metadata"]["name"]],
            "verbs": ["get", "update"]} in approver_rules  # fmt: skip
    assert all("create" not in r["verbs"] for r in approver_rules if r["resources"] != ["events"])
    assert not [d for d in rbac if d["kind"] == "RoleBinding" and d["roleRef"]["name"].endswith("-approver")]
