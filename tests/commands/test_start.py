"""``progressive start``: a PipelineRun as ``tkn pipeline start`` makes it, and ``--follow``, on the real cluster.

Every PipelineRun created here is picked up by Tekton's own controller. Tests about what ``start`` creates cancel
their runs at the end (``installed``); the ``--follow`` tests let Tekton run the whole rollout: the demo workload
in the test's namespace, live traffic through the route (``tests.support.demo_traffic``), the steps in TaskRun pods
as the rollout's ServiceAccount, so what ``--follow`` prints comes from real PipelineRun and TaskRun statuses.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.commands._follow import Follower, follow
from progressive.commands.start import DEFAULT_TIMEOUTS, START_ID_LABEL, Timeouts, default_timeouts, resolve_timeouts
from progressive.commands.start import pipeline_run as start_pipeline_run
from progressive.compile import compile_rollout
from progressive.duration import parse_duration
from progressive.errors import ConfigError
from progressive.kube.client import connect
from progressive.kube.objects import Objects
from tests.commands._cluster import (
    BAD,
    GOOD,
    canary_weights,
    cli,
    cli_env,
    deployment,
    rollout_source,
    seed_web,
    start_traffic,
    state,
    write_rollout,
)
from tests.compile.rollouts import everything
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.cluster.tekton import condition
from tests.support.faults import response_lost
from tests.support.prometheus_fixtures import PrometheusStack
from tests.support.terminal import run_on_a_terminal

TEKTON = "tekton.dev/v1"
STEPS = "SetWeight(weight=10), Analyze(min_duration='5s', max_duration='60s')"


def runs(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.list(TEKTON, "PipelineRun")


def cancel_runs(cluster: Cluster) -> None:
    """``tkn pipelinerun cancel`` every unfinished run, so Tekton stops spending time on runs nobody follows."""
    for run in runs(cluster):
        if condition(run)[0] not in ("True", "False"):
            cluster.patch(TEKTON, "PipelineRun", run["metadata"]["name"], {"spec": {"status": "Cancelled"}})


@pytest.fixture
def installed(cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Path]:
    """The rollout ``web`` applied in the test's namespace (Pipeline, Tasks, RBAC); its runs cancelled at the end."""
    path = write_rollout(tmp_path, rollout_source(cluster_env.namespace, steps=STEPS))
    applied = cli(capsys, "apply", str(path))
    assert applied.code == 0, applied.err
    yield path
    cancel_runs(cluster_env)


def test_dry_run_prints_the_pipelinerun_tkn_would_create(
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_env.namespace
    done = cli(capsys, "start", "web", "-n", ns, "-p", "image=registry.example.com/web:2", "--dry-run")
    assert done.code == 0, done.err
    run = yaml.safe_load(done.out)
    pipeline = cluster_env.must_get(TEKTON, "Pipeline", "web")
    labels = run["metadata"].pop("labels")
    assert run == {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "web-", "namespace": ns},
        "spec": {
            "pipelineRef": {"name": "web"},
            "params": [{"name": "image", "value": "registry.example.com/web:2"}],
            "taskRunTemplate": {"serviceAccountName": "progressive-web"},
            "timeouts": default_timeouts(pipeline).to_json(),
        },
    }
    assert labels["app.kubernetes.io/part-of"] == "web" and len(labels[START_ID_LABEL]) == 32
    as_json = cli(
        capsys, "start", "web", "-n", ns, "-p", "image=a/b:1", "--dry-run", "-o", "json", "--prefix-name", "rel"
    )
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["metadata"]["generateName"] == "rel-"
    misuse = cli(capsys, "start", "web", "-n", ns, "-p", "image=a/b:1", "-o", "yaml")
    assert misuse.code == 2 and "-o yaml: only with --dry-run" in misuse.err
    bad_prefix = cli(capsys, "start", "web", "-n", ns, "-p", "image=a/b:1", "--prefix-name", "Rel_1", "--dry-run")
    assert bad_prefix.code == 2 and "--prefix-name: 'Rel_1' must be lower-case letters" in bad_prefix.err
    assert runs(cluster_env) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["image=a/b:1", "imgae=a/b:2"], "progressive start: param 'imgae' not present in spec"),
        ([], "progressive start: Pipeline {ns}/web needs param(s) image without default: pass -p image=VALUE"),
        (["image"], "progressive start: -p 'image': expected key=value"),
        (["image=a:1", "image=a:2"], "progressive start: -p image: given twice"),
    ],
)
def test_params_are_checked_against_the_pipeline(
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str], params: list[str], message: str
) -> None:
    args = [arg for param in params for arg in ("-p", param)]
    done = cli(capsys, "start", "web", "-n", cluster_env.namespace, *args)
    assert done.code == 2
    assert done.err.startswith(message.format(ns=cluster_env.namespace)), done.err
    assert runs(cluster_env) == []


def test_start_creates_one_pipelinerun_and_prints_its_name(
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_env.namespace
    done = cli(capsys, "start", "web", "-n", ns, "-p", "image=registry.example.com/web:2")
    assert done.code == 0, done.err
    (run,) = runs(cluster_env)
    name = run["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5
    assert done.lines == [f"pipelinerun.tekton.dev/{name} created"]
    assert f"progressive status web -n {ns}" in done.err
    assert run["spec"]["taskRunTemplate"]["serviceAccountName"] == "progressive-web"
    named = cli(capsys, "start", "web", "-n", ns, "-p", "image=a/b:3", "-o", "name", "--prefix-name", "hotfix")
    assert named.code == 0, named.err
    assert named.out.startswith("hotfix-") and named.lines == [named.out.strip()]
    assert len(runs(cluster_env)) == 2


def test_a_lost_answer_does_not_start_the_rollout_twice(
    cluster_env: Cluster, installed: Path, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    api_proxy.faults.add(response_lost(), verb="create", resource="pipelineruns")
    done = cli(capsys, "start", "web", "-n", cluster_env.namespace, "-p", "image=registry.example.com/web:2")
    assert done.code == 0, done.err
    (run,) = runs(cluster_env)
    assert done.lines == [f"pipelinerun.tekton.dev/{run['metadata']['name']} created"]
    creates = api_proxy.log.find(verb="create", resource="pipelineruns")
    assert len(creates) == 1 and creates[0].fault is not None  # created once; the answer never came back


def test_missing_pipeline_or_service_account_are_named(
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_env.namespace
    nothing = cli(capsys, "start", "nope", "-n", ns, "-p", "image=a/b:1")
    assert nothing.code == 3
    assert f"Pipeline {ns}/nope not found: install the rollout first with `progressive apply FILE.py`" in nothing.err
    cluster_env.delete("v1", "ServiceAccount", "progressive-web")
    no_account = cli(capsys, "start", "web", "-n", ns, "-p", "image=a/b:1")
    assert no_account.code == 3
    assert f"ServiceAccount {ns}/progressive-web not found" in no_account.err
    assert runs(cluster_env) == []


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
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = cluster_env.namespace
    done = cli(
        capsys, "start", "web", "-n", ns, "-p", "image=a/b:1", "--pipeline-timeout", "1h", "--finally-timeout", "10m"
    )
    assert done.code == 0, done.err
    (run,) = runs(cluster_env)
    # Tekton's controller may write the spec back with Go's duration format (1h0m0s): compare durations
    assert {key: parse_duration(value) for key, value in run["spec"]["timeouts"].items()} == {
        "pipeline": 3600,
        "tasks": 3000,
        "finally": 600,
    }
    short = cli(capsys, "start", "web", "-n", ns, "-p", "image=a/b:1", "--finally-timeout", "1s", "--dry-run")
    assert short.code == 0
    assert "warning: finally timeout 1s is shorter than the longest finally task's own timeout" in short.err


# --- --follow: Tekton's controller runs the rollout ------------------------------------------------------------


@pytest.fixture
def live(
    cluster_env: Cluster, prometheus_stack: PrometheusStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[Cluster]:
    """The demo workload with live traffic, and the rollout (10%, then an analysis) applied."""
    seed_web(cluster_env)
    path = write_rollout(tmp_path, rollout_source(cluster_env.namespace, steps=STEPS, prometheus=prometheus_stack.url))
    applied = cli(capsys, "apply", str(path))
    assert applied.code == 0, applied.err
    feed = start_traffic(cluster_env, prometheus_stack)
    yield cluster_env
    feed.stop()
    assert feed.errors == []


def task_line(task: str, text: str) -> str:
    """How ``--follow`` prints a line about a pipeline task (after the elapsed time)."""
    return f"{task:<20} {text}"


def test_follow_names_the_failed_stage_its_evidence_and_the_rollback(
    live: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = live.namespace
    done = cli(capsys, "start", "web", "-n", ns, "-p", f"image={BAD}", "--follow", "--poll-interval", "200ms")
    assert done.code == 1, done.out + done.err
    text = done.out
    (run,) = runs(live)
    name = run["metadata"]["name"]
    assert f"following PipelineRun {ns}/{name} " in text
    # the 10% stage's pod runs deploy, weight-10 and analyze-10 as steps: one TaskRun, their results together
    assert task_line("stage-10", f"started (TaskRun {name}-stage-10)") in text
    assert task_line("stage-10", "verdict=fail  summary=fail: canary worse than baseline") in text
    assert re.search(r"stage-10 {13}.*  weight=10\n", text), text
    # Tekton's own words for a step that exited 1 (reason StepFailed, the container's terminated reason appended),
    # naming the stage's step, and for the stage the failure stopped
    assert re.search(r'stage-10 {13}StepFailed in \d+s: "step-analyze-10" exited with code 1: Error\n', text), text
    assert task_line("promote", "skipped (PipelineRun was stopping)") in text
    assert re.search(r"rollback {13}Succeeded in \d+s", text), text
    assert f"PipelineRun {name} Failed: Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1" in text
    last = done.lines[-1]
    assert last.startswith(
        f'{name} failed; stage stage-10 failed (StepFailed: "step-analyze-10" exited with code 1: Error); '
        "evidence: fail: canary worse than baseline"
    ), last
    assert last.endswith("; rollback rollback succeeded"), last
    assert canary_weights(live) == [0] and deployment(live, "web-canary")["spec"]["replicas"] == 0

    shown = cli(capsys, "status", "web", "-n", ns)  # the same run, as status reads it
    assert shown.code == 0, shown.err
    assert shown.lines[1].split()[2:9] == ["rolled-back", "rollback", "0%", "0%", "fail", name, "Failed"]
    assert f"PipelineRun {name}: stage stage-10 failed (StepFailed)" in shown.lines


def test_start_follow_and_status_take_a_good_release_to_promoted(
    live: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = live.namespace
    done = cli(capsys, "start", "web", "-n", ns, "-p", f"image={GOOD}", "--follow", "--poll-interval", "200ms")
    assert done.code == 0, done.out + done.err
    for task in ("stage-10", "promote", "report"):  # stage-10: deploy, weight-10 and analyze-10 in one pod
        assert re.search(rf"{task} +Succeeded in \d+s", done.out), (task, done.out)
    assert task_line("stage-10", "verdict=pass") in done.out and "  weight=10\n" in done.out
    assert task_line("rollback", "skipped (When Expressions evaluated to false)") in done.out
    assert done.lines[-1].endswith(" succeeded: every stage passed and the canary was promoted")
    record = state(live)
    assert record is not None and record.phase == "promoted"
    status = cli(capsys, "status", "web", "-n", ns, "-o", "json")
    assert status.code == 0, status.err
    shown = json.loads(status.out)
    assert shown["pipeline_run"]["status"] == "Completed"  # Tekton's reason when a task (rollback) was skipped
    assert shown["pipeline_run"]["name"] == done.lines[0].split("/")[1].split()[0]
    assert shown["weights"]["canary"] == 0 and shown["state"]["phase"] == "promoted"
    assert deployment(live, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD


def test_the_follower_prints_each_change_once() -> None:
    lines: list[str] = []
    clock = iter(float(i) for i in range(100))
    follower = Follower("web-x", {"rollback"}, "rollback", write=lines.append, clock=lambda: next(clock))
    running_condition = {"type": "Succeeded", "status": "Unknown", "reason": "Running"}
    running = {
        "metadata": {"name": "web-x-deploy"},
        "status": {"startTime": "t", "conditions": [running_condition]},
    }
    follower.observe_task("deploy", running)
    follower.observe_task("deploy", running)
    follower.observe_run({"status": {"conditions": [running_condition]}})
    follower.observe_run({"status": {"conditions": [running_condition]}})
    assert [line.split(None, 1)[1] for line in lines] == [
        "deploy               started (TaskRun web-x-deploy)",
        "PipelineRun web-x Running",
    ]
    assert not follower.task_done("deploy")


@pytest.mark.parametrize(("verdict", "last"), [
    ("pass", "web-x succeeded: every stage passed and the canary was promoted"),
    (
        "inconclusive",
        "web-x succeeded: the canary was promoted, but the analysis of analyze-10 was inconclusive "
        "(on_inconclusive=advance let it go on)",
    ),
])  # fmt: skip
def test_a_run_that_advanced_on_an_inconclusive_analysis_never_says_every_stage_passed(verdict: str, last: str) -> None:
    follower = Follower("web-x", {"rollback"}, "rollback", write=lambda _line: None)
    done = {"type": "Succeeded", "status": "True", "reason": "Succeeded"}
    analyzed = {
        "metadata": {"name": "web-x-analyze-10"},
        "status": {"startTime": "t", "conditions": [done], "results": [{"name": "verdict", "value": verdict}]},
    }
    follower.observe_task("analyze-10", analyzed)
    follower.observe_run({"status": {"conditions": [done]}})
    assert follower.summary() == last


def test_follow_says_when_no_controller_picks_the_run_up(
    cluster_env: Cluster, installed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tekton's controller picks up every run ``start`` creates within a moment, so this run is one it must leave
    alone (``spec.managedBy`` names another controller, as for runs dispatched elsewhere), followed as ``start
    --follow`` follows; a late controller of its own finishes it after a second."""
    monkeypatch.setattr("progressive.commands._follow.UNCLAIMED_AFTER", 0.3)
    (created,) = cluster_env.create(
        {
            "apiVersion": TEKTON,
            "kind": "PipelineRun",
            "metadata": {"generateName": "web-"},
            "spec": {"pipelineRef": {"name": "web"}, "managedBy": "progressive.test/late-controller"},
        }
    )
    name = created["metadata"]["name"]

    def late_controller() -> None:
        time.sleep(1.0)  # the scenario: nothing writes a status for a second
        done = {
            "type": "Succeeded",
            "status": "True",
            "reason": "Succeeded",
            "lastTransitionTime": "2026-03-01T11:00:00Z",
        }
        status = {"conditions": [done]}
        cluster_env.set_status(TEKTON, "PipelineRun", name, status)

    thread = threading.Thread(target=late_controller, daemon=True)
    thread.start()
    api = connect()
    try:
        code = follow(
            Objects(api, 10), cluster_env.namespace, name, poll_interval=0.05, finally_tasks={"rollback", "report"},
            rollback_task="rollback", rollout="web",
        )  # fmt: skip
    finally:
        api.close()
        thread.join(timeout=30)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    assert condition(cluster_env.must_get(TEKTON, "PipelineRun", name))[:2] == ("True", "Succeeded")  # Tekton left it
    notes = [line for line in lines if line.startswith("note: no controller has picked")]
    assert len(notes) == 1 and "is Tekton Pipelines running (kubectl get pods -n tekton-pipelines)?" in notes[0]


def test_hooks_keep_their_own_account_in_a_started_run() -> None:
    """``progressive start`` works from the installed Pipeline: its annotation carries the hooks' ``taskRunSpecs``."""
    compiled = compile_rollout(everything())
    run = start_pipeline_run(
        compiled.pipeline, {}, namespace="prod", prefix="everything", service_account="someone",
        timeouts=default_timeouts(compiled.pipeline), start_id="x",
    )  # fmt: skip
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "someone"}
    assert run["spec"]["taskRunSpecs"] == compiled.pipeline_run["spec"]["taskRunSpecs"]
    assert [spec["serviceAccountName"] for spec in run["spec"]["taskRunSpecs"]] == ["progressive-everything-hooks"]


def test_follow_on_a_terminal_keeps_the_rollouts_status_under_its_lines(live: Cluster) -> None:
    ns = live.namespace
    code, screen = run_on_a_terminal(
        ["start", "web", "-n", ns, "-p", f"image={GOOD}", "--follow", "--poll-interval", "500ms"],
        cli_env(live.kubeconfig),
        columns=180,
        rows=50,
    )
    assert code == 0, screen
    lines = [line for line in screen.splitlines() if line]
    summary = next(i for i, line in enumerate(lines) if line.endswith("every stage passed and the canary was promoted"))
    header = [i for i, line in enumerate(lines) if line.split()[:3] == ["NAME", "RUN", "PHASE"]]
    assert len(header) == 1 and header[0] > summary, screen  # one status table, redrawn in place, under the lines
    row = lines[header[0] + 1].split()
    assert row[2:6] == ["promoted", "promote", "0%", "0%"], screen  # LIVE: read through the router at the end
    assert re.search(r"stage-10 +Succeeded in \d+s", screen), screen
