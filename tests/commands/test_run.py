"""``progressive run``: a rollout's stages on this machine, against the real local cluster and a real Prometheus.

No Tekton here: ``progressive run`` runs each stage's step command itself. The real controller manager rolls the
Deployments out (kwok makes their pods ready one by one) and the stand-in Gateway controller accepts each change of
the route. Traffic follows the HTTPRoute's live weights and the real pods (``tests.support.demo_traffic``): stable
and good canary pods err 1% of the time, pods running :data:`BAD` 10%. Each test runs ``progressive run`` as a
child process, as a user would, and checks the cluster afterwards: weights, images, replicas, the state record.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from progressive.commands.run import EXIT_ROLLBACK_FAILED
from tests.commands._cluster import (
    BAD,
    GOOD,
    REPO,
    STABLE,
    canary_weights,
    cli_env,
    deployment,
    progressive,
    rollout_source,
    seed_web,
    start_traffic,
    state,
    write_rollout,
)
from tests.support.cluster.access import Cluster
from tests.support.cluster.status_writers import DELAY_ANNOTATION
from tests.support.demo_traffic import RouteTraffic
from tests.support.prometheus_fixtures import PrometheusStack
from tests.support.terminal import run_on_a_terminal

ANALYZED = (
    "SetWeight(weight=20), Analyze(min_duration='3s', max_duration='60s'), "
    "SetWeight(weight=50), Analyze(min_duration='3s', max_duration='60s')"
)


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    """The demo workload in the test's namespace (also the metrics' ``namespace`` label)."""
    seed_web(cluster)
    return cluster.namespace


@pytest.fixture
def traffic(cluster: Cluster, namespace: str, prometheus_stack: PrometheusStack) -> Iterator[RouteTraffic]:
    feed = start_traffic(cluster, prometheus_stack)
    yield feed
    feed.stop()
    assert feed.errors == []


@pytest.fixture
def analyzed(tmp_path: Path, namespace: str, prometheus_stack: PrometheusStack, traffic: RouteTraffic) -> Path:
    return write_rollout(tmp_path, rollout_source(namespace, steps=ANALYZED, prometheus=prometheus_stack.url))


def stage(label: str, name: str) -> str:
    """How ``progressive run`` starts a stage's lines."""
    return f"{label} {name:<18} "


def assert_back_on_stable(cluster: Cluster, image: str) -> None:
    assert canary_weights(cluster) == [0]
    assert deployment(cluster, "web-canary")["spec"]["replicas"] == 0
    assert deployment(cluster, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == image


def gateway_delay(cluster: Cluster, milliseconds: int) -> None:
    """Make the Gateway's controller take this long to accept each change of the route (a slower data plane)."""
    cluster.patch(
        "gateway.networking.k8s.io/v1", "Gateway", "public",
        {"metadata": {"annotations": {DELAY_ANNOTATION: str(milliseconds)}}},
    )  # fmt: skip


def stable_loses_its_pods(cluster: Cluster) -> None:
    """The stable Deployment's pods go and their replacements never become ready (a bad node pool, a bad config).

    Recreate ends every old pod first; kwok keeps pods labelled ``progressive.test/never-ready`` Pending.
    """
    cluster.patch(
        "apps/v1", "Deployment", "web",
        {
            "spec": {
                "strategy": {"type": "Recreate", "rollingUpdate": None},
                "template": {"metadata": {"labels": {"progressive.test/never-ready": "true"}}},
            }
        },
    )  # fmt: skip
    cluster.wait_for(
        "Deployment web without available pods",
        lambda: not (deployment(cluster, "web").get("status") or {}).get("availableReplicas"),
    )


def test_a_good_release_is_promoted(cluster: Cluster, namespace: str, analyzed: Path) -> None:
    done = progressive(["run", str(analyzed), "-p", f"image={GOOD}"], cluster.kubeconfig)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"progressive run: rollout {namespace}/web, run web-local-")
    assert lines[-1].startswith("rollout web: promoted in ")
    for stage in ("[1/6] deploy", "[2/6] weight-20", "[3/6] analyze-20", "[5/6] analyze-50", "[6/6] promote"):
        assert any(line.startswith(stage) and " done in " in line for line in lines), (stage, done.stdout)
    assert any("analyze-20" in line and "AnalysisPassed" in line for line in lines)
    assert any("[fin] rollback" in line and "skipped: promote succeeded" in line for line in lines)
    assert_back_on_stable(cluster, GOOD)  # promoted: stable runs the new image, all traffic on it
    record = state(cluster)
    assert record is not None and record.phase == "promoted" and record.run_id in lines[-1]


def test_a_bad_release_is_rolled_back(cluster: Cluster, namespace: str, analyzed: Path) -> None:
    done = progressive(["run", str(analyzed), "-p", f"image={BAD}", "--run-id", "web-bad-1"], cluster.kubeconfig)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("rollout web: rolled back after ")
    assert "stage analyze-20 failed (exit 1): " in last and "canary worse than baseline" in last
    assert last.endswith("(run web-bad-1)")
    assert f"{stage('[fin]', 'rollback')}RolledBack: " in done.stdout
    assert "weight-50" not in done.stdout.split("FAILED after", 1)[1].split("[fin]", 1)[0]
    assert_back_on_stable(cluster, STABLE)
    record = state(cluster)
    assert record is not None
    assert (record.run_id, record.phase, record.verdict, record.verdict_stage) == (
        "web-bad-1",
        "rolled-back",
        "fail",
        "analyze-20",
    )
    # the timeline progressive report draws: each verified weight, the polls, the verdict, the end
    marks = [(mark["kind"], mark["stage"], mark.get("weight")) for mark in record.timeline if mark["kind"] != "poll"]
    assert marks == [
        ("started", "", None),
        ("weight", "weight-20", 20),
        ("verdict", "analyze-20", None),
        ("weight", "rollback", 0),
        ("outcome", "analyze-20", None),
    ], marks
    polls = [mark for mark in record.timeline if mark["kind"] == "poll"]
    assert polls and all(mark["stage"] == "analyze-20" for mark in polls)
    assert polls[-1]["verdict"] == "fail" and polls[-1]["e"]["errors"] >= polls[-1]["threshold"]


class Output:
    """Collects a child's stdout lines and lets the test wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, *parts: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if all(part in line for part in parts):
                        return line
                left = deadline - time.monotonic()
                assert left > 0, f"no line with {parts} in:\n" + "\n".join(self.lines)
                self._changed.wait(left)

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "\n".join(self.lines)


def test_ctrl_c_rolls_back_before_exiting(cluster: Cluster, namespace: str, analyzed: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "progressive.cli", "run", str(analyzed), "-p", f"image={GOOD}"],
        cwd=REPO,
        env=cli_env(cluster.kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        output = Output(process)
        try:
            output.wait_for("[3/6] analyze-20", "started")
            assert canary_weights(cluster) == [20]
            gateway_delay(cluster, 1000)  # a slower data plane keeps the rollback busy a while
            process.send_signal(signal.SIGINT)
            output.wait_for("[fin] rollback", "started")
            process.send_signal(signal.SIGINT)  # a second Ctrl-C while the rollback runs
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    text = output.text()
    assert code == 130, text
    assert "interrupted: stopping analyze-20, then rolling back" in text
    assert f"{stage('[3/6]', 'analyze-20')}INTERRUPTED after " in text
    assert "still rolling back (rollback, " in text
    assert f"{stage('[fin]', 'rollback')}done in " in text
    assert text.splitlines()[-1].startswith("rollout web: interrupted during stage analyze-20; rolled back in ")
    assert_back_on_stable(cluster, STABLE)


# --- hooks, timeouts, a failing rollback: no analysis, no Prometheus -----------------------------------------------


def hook(code: str, *, timeout: str = "1m") -> str:
    command = (sys.executable, "-c", code)
    return (
        f"Run(name='smoke', image='registry.example.com/smoke:1', command={command!r}, "
        f"env={{'CANARY_IMAGE': '$(params.image)', 'RUN': '$(context.pipelineRun.name)'}}, timeout='{timeout}')"
    )


PRINT_ENV = "import os; print('smoke test of', os.environ['CANARY_IMAGE'], 'in run', os.environ['RUN'])"


def test_hooks_need_local_hooks_and_a_command(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    proxy, kubeconfig = cluster.fault_proxy()  # its log shows every request progressive run made
    path = write_rollout(tmp_path, rollout_source(namespace, steps=f"{hook(PRINT_ENV)}, SetWeight(weight=10)"))
    refused = progressive(["run", str(path), "-p", f"image={GOOD}"], kubeconfig)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "progressive run: stage hook-smoke runs container registry.example.com/smoke:1: progressive run does not "
        "run containers; pass --local-hooks to run each hook's command on this machine, or run the rollout on "
        "Tekton (progressive apply + progressive start)"
    )
    entrypoint = write_rollout(
        tmp_path,
        rollout_source(
            namespace, steps="Run(name='smoke', image='registry.example.com/smoke:1'), SetWeight(weight=10)"
        ),
        "entrypoint.py",
    )
    no_command = progressive(["run", str(entrypoint), "-p", f"image={GOOD}", "--local-hooks"], kubeconfig)
    assert no_command.returncode == 2
    assert "stage hook-smoke: hook smoke has no command (its image's entrypoint runs)" in no_command.stderr
    assert proxy.log.writes() == []  # refused before anything changed


def test_a_local_hook_runs_with_its_env_and_its_failure_rolls_back(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    good = write_rollout(tmp_path, rollout_source(namespace, steps=f"{hook(PRINT_ENV)}, SetWeight(weight=10)"))
    done = progressive(
        ["run", str(good), "-p", f"image={GOOD}", "--local-hooks", "--run-id", "web-hook-1"], cluster.kubeconfig
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{stage('[2/4]', 'hook-smoke')}  | smoke test of {GOOD} in run web-hook-1" in done.stdout
    assert_back_on_stable(cluster, GOOD)

    failing = write_rollout(
        tmp_path,
        rollout_source(namespace, steps=f"{hook('import sys; sys.exit(3)')}, SetWeight(weight=10)"),
        "failing.py",
    )
    failed = progressive(["run", str(failing), "-p", f"image={BAD}", "--local-hooks"], cluster.kubeconfig)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert f"{stage('[2/4]', 'hook-smoke')}FAILED after " in failed.stdout
    assert failed.stdout.splitlines()[-1].startswith("rollout web: rolled back after ")
    assert "stage hook-smoke failed (exit 3): exited with code 3" in failed.stdout.splitlines()[-1]
    assert_back_on_stable(cluster, GOOD)


def test_a_stage_that_overruns_its_timeout_is_stopped_and_rolled_back(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    slow = write_rollout(
        tmp_path,
        rollout_source(namespace, steps=f"SetWeight(weight=10), {hook('import time; time.sleep(60)', timeout='2s')}"),
    )
    began = time.monotonic()
    done = progressive(["run", str(slow), "-p", f"image={GOOD}", "--local-hooks"], cluster.kubeconfig)
    assert done.returncode == 6, done.stdout + done.stderr
    assert time.monotonic() - began < 45
    assert f"{stage('[3/4]', 'hook-smoke')}TIMEDOUT after " in done.stdout
    assert "stage hook-smoke timedout (exit 6): did not finish within its timeout 2s" in done.stdout
    assert_back_on_stable(cluster, STABLE)


def test_a_rollback_that_cannot_finish_says_so_and_how_to_retry(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    path = write_rollout(
        tmp_path,
        rollout_source(
            namespace, steps=f"SetWeight(weight=10), {hook('import sys; sys.exit(1)')}", progress_deadline="2s"
        ),
    )
    stable_loses_its_pods(cluster)
    done = progressive(
        ["run", str(path), "-p", f"image={GOOD}", "--local-hooks", "--run-id", "web-stuck"], cluster.kubeconfig
    )
    assert done.returncode == EXIT_ROLLBACK_FAILED == 10, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("rollout web: stage hook-smoke failed, then the ROLLBACK FAILED (Failed, exit 8): ")
    assert f"roll back with: progressive step rollback --namespace={namespace} --rollout=web --run-id=web-stuck" in last
    assert canary_weights(cluster) == [10]  # never routed to a stable that is not available


def test_params_are_checked_like_start_checks_them(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    proxy, kubeconfig = cluster.fault_proxy()  # its log shows every request progressive run made
    path = write_rollout(tmp_path, rollout_source(namespace, steps="SetWeight(weight=10)"))
    missing = progressive(["run", str(path)], kubeconfig)
    assert missing.returncode == 2
    assert f"Pipeline {namespace}/web needs param(s) image without default: pass -p image=VALUE" in missing.stderr
    unknown = progressive(["run", str(path), "-p", f"image={GOOD}", "-p", "tag=1"], kubeconfig)
    assert unknown.returncode == 2
    assert "param 'tag' not present in spec" in unknown.stderr
    bad_id = progressive(["run", str(path), "-p", f"image={GOOD}", "--run-id", "Run_1"], kubeconfig)
    assert bad_id.returncode == 2 and "--run-id: 'Run_1' is not a DNS label" in bad_id.stderr
    bad_url = progressive(["run", str(path), "-p", f"image={GOOD}", "--prometheus-url", "localhost:9090"], kubeconfig)
    assert bad_url.returncode == 2 and "--prometheus-url: 'localhost:9090' is not an http(s) URL" in bad_url.stderr
    assert proxy.log.writes() == []


def test_on_a_terminal_the_live_screen_ends_with_every_stage_the_evidence_and_the_outcome(
    cluster: Cluster, namespace: str, analyzed: Path
) -> None:
    code, screen = run_on_a_terminal(
        ["run", str(analyzed), "-p", f"image={BAD}", "--run-id", "web-pty-1"], cli_env(cluster.kubeconfig)
    )
    assert code == 1, screen
    lines = screen.splitlines()
    assert any(line.startswith("rollout web: rolled back after ") for line in lines), screen
    assert f"rollout {namespace}/web, run web-pty-1" in lines, screen
    row = {
        line.split()[1]: line.split()[2] for line in lines if line.startswith(("[", "[fin]")) and len(line.split()) > 2
    }
    assert row.get("deploy") == "done" and row.get("weight-20") == "done", screen
    assert row.get("analyze-20") == "FAILED" and row.get("weight-50") == "waiting", screen
    assert row.get("rollback") == "done", screen
    assert any(line.startswith("weights: canary ") for line in lines), screen
    evidence = [line.strip() for line in lines if line.strip().startswith("errors: canary ")]
    assert evidence and "reached the rollback line" in evidence[-1], screen
    assert "evidence (analyze-20):" in lines, screen
