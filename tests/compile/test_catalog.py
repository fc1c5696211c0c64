"""The catalog Tasks against the step's contract, the catalog conventions and the security rules."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.compile import (
    IMAGE_PARAM,
    NOTIFY_DIR,
    PIPELINE_COMMANDS,
    PROMETHEUS_DIR,
    catalog_files,
    catalog_task,
    catalog_tasks,
    extra_params,
)
from progressive.contract import COMMANDS, Command
from progressive.model import DEFAULT_STEP_IMAGE
from progressive.validate import Document, validate_documents
from progressive.validate._quantity import parse_quantity

COMMANDS_USED = [COMMANDS[name] for name in PIPELINE_COMMANDS]
IDS = list(PIPELINE_COMMANDS)


def step_of(task: dict[str, Any]) -> dict[str, Any]:
    steps = task["spec"]["steps"]
    assert len(steps) == 1
    step: dict[str, Any] = steps[0]
    return step


ROOT = Path(__file__).resolve().parents[2]


def test_every_command_a_pipeline_runs_has_a_task() -> None:
    assert set(PIPELINE_COMMANDS) == set(COMMANDS) - {"status"}


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_contract_flags_and_results_appear_exactly_once(command: Command) -> None:
    task = catalog_task(command)
    params = [param["name"] for param in task["spec"]["params"]]
    args = step_of(task)["args"]
    flag_names = [flag.name for flag in command.flags]
    # params: every flag once, plus the documented extras, nothing else
    assert Counter(params) == Counter(flag_names + [p.name for p in extra_params(command)])
    # args: every flag once as ONE element --flag=$(params.flag), every result once, nothing else
    expected_args = [f"--{name}=$(params.{name})" for name in flag_names]
    expected_args += [f"--result-{r.name}=$(results.{r.name}.path)" for r in command.results]
    assert args == expected_args
    declared_results = [result["name"] for result in task["spec"].get("results", [])]
    assert declared_results == [result.name for result in command.results]


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_params_carry_the_flag_help_and_default(command: Command) -> None:
    params = {param["name"]: param for param in catalog_task(command)["spec"]["params"]}
    for flag in command.flags:
        param = params[flag.name]
        assert param["type"] == "string"
        assert param["description"] == flag.help
        if flag.default is None:
            assert "default" not in param, f"required flag --{flag.name} must not have a default"
        else:
            assert param["default"] == flag.default
    assert params[IMAGE_PARAM]["default"] == DEFAULT_STEP_IMAGE


def test_extra_params_never_shadow_a_flag() -> None:
    for command in COMMANDS_USED:
        flags = {flag.name for flag in command.flags}
        assert flags.isdisjoint(param.name for param in extra_params(command))


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_step_runs_the_command_without_a_shell(command: Command) -> None:
    step = step_of(catalog_task(command))
    assert step["command"] == ["progressive", "step", command.name]
    assert "script" not in step
    assert step["image"] == f"$(params.{IMAGE_PARAM})"
    assert step["name"] == command.name


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_restricted_security_context_and_resources(command: Command) -> None:
    step = step_of(catalog_task(command))
    context = step["securityContext"]
    assert context == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": True,
    }
    resources = step["computeResources"]
    for name, request in resources["requests"].items():
        low, high = parse_quantity(request), parse_quantity(resources["limits"][name])
        assert low is not None and high is not None and low <= high


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_secret_volumes_are_optional_and_named_by_params(command: Command) -> None:
    task = catalog_task(command)
    volumes = {volume["name"]: volume for volume in task["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in step_of(task)["volumeMounts"]}
    assert volumes["notify"]["secret"] == {"secretName": "$(params.notify-secret)", "optional": True}
    assert mounts[NOTIFY_DIR]["readOnly"] is True
    if command.name in {"analyze", "deploy"}:  # deploy: its preflight asks Prometheus too
        assert volumes["prometheus"]["secret"] == {"secretName": "$(params.prometheus-secret)", "optional": True}
        assert mounts[PROMETHEUS_DIR]["readOnly"] is True
    else:
        assert "prometheus" not in volumes


@pytest.mark.parametrize("command", COMMANDS_USED, ids=IDS)
def test_catalog_conventions(command: Command) -> None:
    task = catalog_task(command)
    metadata = task["metadata"]
    assert metadata["name"] == f"progressive-{command.name}"
    assert metadata["labels"] == {"app.kubernetes.io/version": "0.1"}
    annotations = metadata["annotations"]
    assert annotations["tekton.dev/pipelines.minVersion"] == "1.0.0"
    assert annotations["tekton.dev/categories"] == "Deployment"
    assert annotations["tekton.dev/displayName"] == f"progressive {command.name}"
    assert re.fullmatch(r"(linux/(amd64|arm64),?)+", annotations["tekton.dev/platforms"])
    assert all(tag.strip() for tag in annotations["tekton.dev/tags"].split(","))
    summary, blank, *details = task["spec"]["description"].split("\n")
    assert summary == command.summary
    assert blank == ""
    assert details == [command.description]


def test_results_fit_the_termination_message() -> None:
    """What the step writes at most per result, per the contract's help texts, fits Tekton's 4 KB with room."""
    most = {"weight": 3, "verdict": len("inconclusive"), "summary": 1024, "approved-by": 253}
    for command in COMMANDS_USED:
        total = sum(len('{"key":"","value":"","type":1},') + len(r.name) + most[r.name] for r in command.results)
        assert total <= 4096 - 1024, command.name


def test_catalog_tasks_pass_the_checker() -> None:
    documents = [Document(f"{task['metadata']['name']}.yaml", 0, task) for task in catalog_tasks()]
    assert [str(f) for f in validate_documents(documents)] == []


def test_catalog_files_layout() -> None:
    paths = sorted(str(file.path) for file in catalog_files())
    expected = sorted(
        path
        for name in PIPELINE_COMMANDS
        for path in (f"progressive-{name}/0.1/progressive-{name}.yaml", f"progressive-{name}/0.1/README.md")
    )
    assert paths == expected


def test_readme_documents_every_param_and_result() -> None:
    readmes = {str(file.path).split("/")[0]: file.content for file in catalog_files() if file.path.name == "README.md"}
    for command in COMMANDS_USED:
        text = readmes[f"progressive-{command.name}"]
        for flag in command.flags:
            assert f"| `{flag.name}` |" in text
        for result in command.results:
            assert f"| `{result.name}` |" in text
        assert f"name: progressive-{command.name}" in text  # the usage example references this Task


def _readme_grants(text: str) -> set[tuple[str, str, str]]:
    """(API group, resource, verbs) of every row of a README's permission tables."""
    grants = set()
    for line in text.split("## Permissions", 1)[1].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for start in (0, 1):  # shared rows, then router rows (which start with the router)
            if len(cells) >= start + 3 and cells[start].startswith("`"):
                grants.add((cells[start].strip("`"), cells[start + 1], cells[start + 2]))
    return grants


@pytest.mark.parametrize("rollout", sorted(path.parent.name for path in ROOT.glob("pipelines/*/rbac.yaml")))
def test_readme_permissions_are_what_the_generated_role_grants(rollout: str) -> None:
    """Every rule of a compiled Role, with exactly its verbs, is a row of each Task README's permissions."""
    documents = list(yaml.safe_load_all((ROOT / "pipelines" / rollout / "rbac.yaml").read_text(encoding="utf-8")))
    role = next(document for document in documents if document["kind"] == "Role")
    granted = {
        (group or "core", resource, ", ".join(rule["verbs"]))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for readme in sorted(ROOT.glob("tasks/*/*/README.md")):
        listed = _readme_grants(readme.read_text(encoding="utf-8"))
        assert granted <= listed, (readme, granted - listed)
