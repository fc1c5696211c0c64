"""``progressive start``: a PipelineRun as ``tkn pipeline start`` makes it, and ``--follow``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.commands._follow import Follower
from progressive.commands.start import DEFAULT_TIMEOUTS, START_ID_LABEL, Timeouts, default_timeouts, resolve_timeouts
from progressive.errors import ConfigError
from tests.commands._cluster import cli, rollout_source, seed_web, state, write_rollout
from tests.support.kubeapi import Kube, response_lost
from tests.support.tekton import TektonController

NS = "shop"
STEPS = "SetWeight(weight=10), Analyze(min_duration='5s', max_duration='30s')"


@pytest.fixture
def installed(kube_env: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    """The rollout ``web`` applied in namespace shop (Pipeline, Tasks, RBAC)."""
    path = write_rollout(tmp_path, rollout_source(NS, steps=STEPS))
    kube_env.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    applied = cli(capsys, "apply", str(path))
    assert applied.code == 0, applied.err
    return path


def runs(kube: Kube) -> list[dict[str, Any]]:
    return kube.list("tekton.dev/v1", "PipelineRun", NS)


def test_dry_run_prints_the_pipelinerun_tkn_would_create(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=registry.example.com/web:2", "--dry-run")
    assert done.code == 0, done.err
    run = yaml.safe_load(done.out)
    pipeline = kube_env.raw("tekton.dev/v1", "Pipeline", "web", NS)
    assert pipeline is not None
    labels = run["metadata"].pop("labels")
    assert run == {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "web-", "namespace": NS},
        "spec": {
            "pipelineRef": {"name": "web"},
            "params": [{"name": "image", "value": "registry.example.com/web:2"}],
            "taskRunTemplate": {"serviceAccountName": "progressive-web"},
            "timeouts": default_timeouts(pipeline).to_json(),
        },
    }
    assert labels["app.kubernetes.io/part-of"] == "web" and len(labels[START_ID_LABEL]) == 32
    as_json = cli(
        capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--dry-run", "-o", "json", "--prefix-name", "rel"
    )
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["metadata"]["generateName"] == "rel-"
    misuse = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "-o", "yaml")
    assert misuse.code == 2 and "-o yaml: only with --dry-run" in misuse.err
    bad_prefix = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--prefix-name", "Rel_1", "--dry-run")
    assert bad_prefix.code == 2 and "--prefix-name: 'Rel_1' must be lower-case letters" in bad_prefix.err
    assert runs(kube_env) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["image=a/b:1", "imgae=a/b:2"], "progressive start: param 'imgae' not present in spec"),
        ([], "progressive start: Pipeline shop/web needs param(s) image without default: pass -p image=VALUE"),
        (["image"], "progressive start: -p 'image': expected key=value"),
        (["image=a:1", "image=a:2"], "progressive start: -p image: given twice"),
    ],
)
def test_params_are_checked_against_the_pipeline(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str], params: list[str], message: str
) -> None:
    args = [arg for param in params for arg in ("-p", param)]
    done = cli(capsys, "start", "web", "-n", NS, *args)
    assert done.code == 2
    assert done.err.startswith(message), done.err
    assert runs(kube_env) == []


def test_start_creates_one_pipelinerun_and_prints_its_name(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=registry.example.com/web:2")
    assert done.code == 0, done.err
    (run,) = runs(kube_env)
    name = run["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5
    assert done.lines == [f"pipelinerun.tekton.dev/{name} created"]
    assert f"progressive status web -n {NS}" in done.err
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "progressive-web"}
    named = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:3", "-o", "name", "--prefix-name", "hotfix")
    assert named.code == 0, named.err
    assert named.out.startswith("hotfix-") and named.lines == [named.out.strip()]


def test_a_lost_answer_does_not_start_the_rollout_twice(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube_env.faults.add(response_lost(), verb="create", resource="pipelineruns")
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=registry.example.com/web:2")
    assert done.code == 0, done.err
    (run,) = runs(kube_env)
    assert done.lines == [f"pipelinerun.tekton.dev/{run['metadata']['name']} created"]


def test_missing_pipeline_or_service_account_are_named(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nothing = cli(capsys, "start", "nope", "-n", NS, "-p", "image=a/b:1")
    assert nothing.code == 3
    assert "Pipeline shop/nope not found: install the rollout first with `progressive apply FILE.py`" in nothing.err
    kube_env.delete("v1", "ServiceAccount", "progressive-web", NS)
    no_account = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1")
    assert no_account.code == 3
    assert "ServiceAccount shop/progressive-web not found" in no_account.err
    assert runs(kube_env) == []


# --- timeouts --------------------------------------------------------------------------------------------------


def pipeline(
    tasks: list[str | None], final: list[str | None], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    def task(timeout: str | None) -> dict[str, Any]:
        return {"name": "t", **({"timeout": timeout} if timeout else {})}

    metadata: dict[str, Any] = {"name": "web"}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": {"tasks": [task(t) for t in tasks], "finally": [task(t) for t in final]}}


def test_timeouts_come_from_the_annotations_else_from_the_task_timeouts_else_the_defaults() -> None:
    annotated = pipeline(
        ["5m"],
        ["2m"],
        {
            "progressive.dev/timeouts-pipeline": "3h",
            "progressive.dev/timeouts-tasks": "2h40m",
            "progressive.dev/timeouts-finally": "20m",
        },
    )
    assert default_timeouts(annotated) == Timeouts("3h", "2h40m", "20m", source="annotations")
    assert default_timeouts(pipeline(["5m", "1m30s"], ["3m", "2m"])) == Timeouts(
        "9m30s", "6m30s", "3m", source="derived"
    )
    assert default_timeouts(pipeline(["5m", None], ["3m"])) == DEFAULT_TIMEOUTS
    with pytest.raises(ConfigError, match=r"Pipeline annotation progressive.dev/timeouts-tasks: 'soon' is not a Go"):
        default_timeouts(
            pipeline(
                ["5m"],
                ["2m"],
                {
                    "progressive.dev/timeouts-pipeline": "3h",
                    "progressive.dev/timeouts-tasks": "soon",
                    "progressive.dev/timeouts-finally": "20m",
                },
            )
        )


def test_timeout_flags_fill_in_each_other_and_keep_tektons_rule() -> None:
    base = Timeouts("2h", "1h45m", "15m", source="derived")
    assert resolve_timeouts(base, pipeline="", tasks="", finally_="") == base
    assert resolve_timeouts(base, pipeline="1h", tasks="", finally_="").to_json() == {
        "pipeline": "1h",
        "tasks": "45m",
        "finally": "15m",
    }
    assert resolve_timeouts(base, pipeline="", tasks="30m", finally_="").to_json() == {
        "pipeline": "45m",
        "tasks": "30m",
        "finally": "15m",
    }
    assert resolve_timeouts(base, pipeline="", tasks="", finally_="30m").to_json() == {
        "pipeline": "2h15m",
        "tasks": "1h45m",
        "finally": "30m",
    }
    with pytest.raises(ConfigError, match=r"timeouts: tasks 1h \+ finally 15m exceed pipeline 1h; Tekton rejects"):
        resolve_timeouts(base, pipeline="1h", tasks="1h", finally_="")
    with pytest.raises(ConfigError, match=r"--finally-timeout: '0' must be more than 0"):
        resolve_timeouts(base, pipeline="", tasks="", finally_="0")
    with pytest.raises(ConfigError, match=r"--pipeline-timeout: '1 hour' is not a Go duration"):
        resolve_timeouts(base, pipeline="1 hour", tasks="", finally_="")


def test_timeout_flags_reach_the_pipelinerun(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(
        capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--pipeline-timeout", "1h", "--finally-timeout", "10m"
    )
    assert done.code == 0, done.err
    (run,) = runs(kube_env)
    assert run["spec"]["timeouts"] == {"pipeline": "1h", "tasks": "50m", "finally": "10m"}
    short = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--finally-timeout", "1s", "--dry-run")
    assert short.code == 0
    assert "warning: finally timeout 1s is shorter than the longest finally task's own timeout" in short.err


# --- --follow ------------------------------------------------------------------------------------------------


def _condition(status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": "Succeeded", "status": status, "reason": reason, "message": message}


class ScriptedTekton:
    """Plays Tekton for one PipelineRun: writes the statuses a failed canary run goes through."""

    def __init__(self, kube: Kube, *, fail: bool) -> None:
        self.kube = kube
        self.fail = fail
        self.thread = threading.Thread(target=self.play, daemon=True)
        self.error: BaseException | None = None

    def task_run(
        self, run: str, task: str, condition: dict[str, Any], results: dict[str, str] | None = None
    ) -> dict[str, Any]:
        status: dict[str, Any] = {
            "conditions": [condition],
            "startTime": "2026-01-01T00:00:00Z",
        }
        if condition["status"] != "Unknown":
            status["completionTime"] = "2026-01-01T00:00:07Z"
        if results:
            status["results"] = [{"name": key, "type": "string", "value": value} for key, value in results.items()]
        obj = {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": f"{run}-{task}", "namespace": NS},
            "spec": {},
            "status": status,
        }
        self.kube.seed(obj)
        return {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{run}-{task}", "pipelineTaskName": task}

    def play(self) -> None:
        try:
            deadline = time.monotonic() + 20
            while not self.kube.list("tekton.dev/v1", "PipelineRun", NS):
                assert time.monotonic() < deadline, "no PipelineRun was created"
                time.sleep(0.02)
            run = self.kube.list("tekton.dev/v1", "PipelineRun", NS)[0]["metadata"]["name"]
            children = [self.task_run(run, "deploy", _condition("Unknown", "Running"))]
            self.status(run, _condition("Unknown", "Running", "Tasks Completed: 0"), children)
            time.sleep(0.3)
            children = [self.task_run(run, "deploy", _condition("True", "Succeeded"))]
            children.append(self.task_run(run, "weight-10", _condition("True", "Succeeded"), {"weight": "10"}))
            verdict = (
                {"verdict": "fail", "summary": "fail: canary worse than baseline"} if self.fail else {"verdict": "pass"}
            )
            outcome = (
                _condition("False", "Failed", '"step-analyze" exited with code 1')
                if self.fail
                else _condition("True", "Succeeded")
            )
            children.append(self.task_run(run, "analyze-10", outcome, verdict))
            self.status(run, _condition("Unknown", "Running", "Tasks Completed: 3"), children)
            time.sleep(0.3)
            skipped: list[dict[str, Any]] = []
            if self.fail:
                children.append(self.task_run(run, "rollback", _condition("True", "Succeeded")))
                skipped = [{"name": "promote", "reason": "PipelineRun Finally timeout has been reached"}]
            else:
                children.append(self.task_run(run, "promote", _condition("True", "Succeeded")))
                skipped = [{"name": "rollback", "reason": "When Expressions evaluated to false"}]
            children.append(self.task_run(run, "report", _condition("True", "Succeeded")))
            final = (
                _condition("False", "Failed", "Tasks Completed: 5 (Failed: 1, Cancelled 0), Skipped: 1")
                if self.fail
                else _condition("True", "Succeeded", "Tasks Completed: 5 (Failed: 0, Cancelled 0), Skipped: 1")
            )
            self.status(run, final, children, skipped)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def status(
        self,
        run: str,
        condition: dict[str, Any],
        children: list[dict[str, Any]],
        skipped: list[dict[str, Any]] | None = None,
    ) -> None:
        status: dict[str, Any] = {
            "conditions": [condition],
            "startTime": "2026-01-01T00:00:00Z",
            "childReferences": children,
        }
        if skipped:
            status["skippedTasks"] = skipped
        self.kube.set_status("tekton.dev/v1", "PipelineRun", run, status, NS)


@pytest.fixture
def scripted(request: pytest.FixtureRequest, kube_env: Kube) -> Iterator[ScriptedTekton]:
    tekton = ScriptedTekton(kube_env, fail=bool(request.param))
    tekton.thread.start()
    yield tekton
    tekton.thread.join(timeout=30)
    assert tekton.error is None, tekton.error


@pytest.mark.parametrize("scripted", [True], indirect=True)
def test_follow_names_the_failed_stage_its_evidence_and_the_rollback(
    installed: Path, scripted: ScriptedTekton, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--follow", "--poll-interval", "50ms")
    assert done.code == 1, done.out + done.err
    text = done.out
    assert "following PipelineRun shop/web-" in text
    assert "deploy               started (TaskRun web-" in text
    assert "deploy               Succeeded in 7s" in text
    assert "weight-10            weight=10" in text
    assert "analyze-10           verdict=fail  summary=fail: canary worse than baseline" in text
    assert 'analyze-10           Failed in 7s: "step-analyze" exited with code 1' in text
    assert "promote              skipped (PipelineRun Finally timeout has been reached)" in text
    assert "rollback             Succeeded in 7s" in text
    last = done.lines[-1]
    assert last.startswith("web-") and last.endswith(
        ' failed; stage analyze-10 failed (Failed: "step-analyze" exited with code 1); '
        "evidence: fail: canary worse than baseline; rollback rollback succeeded"
    ), last


@pytest.mark.parametrize("scripted", [False], indirect=True)
def test_follow_exits_0_when_the_run_succeeds(
    installed: Path, scripted: ScriptedTekton, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--follow", "--poll-interval", "50ms")
    assert done.code == 0, done.out + done.err
    assert "rollback             skipped (When Expressions evaluated to false)" in done.out
    assert done.lines[-1].endswith(" succeeded: every stage passed and the canary was promoted")


def test_the_follower_prints_each_change_once() -> None:
    lines: list[str] = []
    clock = iter(float(i) for i in range(100))
    follower = Follower("web-x", {"rollback"}, "rollback", write=lines.append, clock=lambda: next(clock))
    running = {
        "metadata": {"name": "web-x-deploy"},
        "status": {"startTime": "t", "conditions": [_condition("Unknown", "Running")]},
    }
    follower.observe_task("deploy", running)
    follower.observe_task("deploy", running)
    follower.observe_run({"status": {"conditions": [_condition("Unknown", "Running")]}})
    follower.observe_run({"status": {"conditions": [_condition("Unknown", "Running")]}})
    assert [line.split(None, 1)[1] for line in lines] == [
        "deploy               started (TaskRun web-x-deploy)",
        "PipelineRun web-x Running",
    ]
    assert not follower.task_done("deploy")


# --- through the Tekton harness: start, follow and status as on a cluster --------------------------------------


def test_start_follow_and_status_through_the_tekton_harness(
    kube_env: Kube, tekton: TektonController, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_web(kube_env, NS)
    path = write_rollout(tmp_path, rollout_source(NS, steps="SetWeight(weight=10), SetWeight(weight=50)"))
    assert cli(capsys, "apply", str(path)).code == 0
    done = cli(
        capsys,
        "start",
        "web",
        "-n",
        NS,
        "-p",
        "image=registry.example.com/web:2",
        "--follow",
        "--poll-interval",
        "100ms",
    )
    assert done.code == 0, done.out + done.err
    for task in ("deploy", "weight-10", "weight-50", "promote", "report"):
        assert f"{task:<20} Succeeded" in done.out, done.out
    assert "rollback             skipped" in done.out
    record = state(kube_env, NS)
    assert record is not None and record.phase == "promoted"
    status = cli(capsys, "status", "web", "-n", NS, "-o", "json")
    assert status.code == 0, status.err
    shown = json.loads(status.out)
    assert shown["pipeline_run"]["status"] == "Completed"  # Tekton's reason when a task (rollback) was skipped
    assert shown["pipeline_run"]["name"] == done.lines[0].split("/")[1].split()[0]
    assert shown["weights"]["canary"] == 0 and shown["state"]["phase"] == "promoted"


def test_follow_says_when_no_controller_picks_the_run_up(
    kube_env: Kube, installed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("progressive.commands._follow.UNCLAIMED_AFTER", 0.3)

    def late_controller() -> None:
        deadline = time.monotonic() + 20
        while not runs(kube_env) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)
        name = runs(kube_env)[0]["metadata"]["name"]
        status = {"conditions": [_condition("True", "Succeeded", "Tasks Completed: 0")]}
        kube_env.set_status("tekton.dev/v1", "PipelineRun", name, status, NS)

    thread = threading.Thread(target=late_controller, daemon=True)
    thread.start()
    done = cli(capsys, "start", "web", "-n", NS, "-p", "image=a/b:1", "--follow", "--poll-interval", "50ms")
    thread.join(timeout=30)
    assert done.code == 0, done.out + done.err
    notes = [line for line in done.lines if line.startswith("note: no controller has picked")]
    assert len(notes) == 1 and "is Tekton Pipelines running (kubectl get pods -n tekton-pipelines)?" in notes[0]
