"""``progressive step pause``: holds, resumes after a restart, stops early on abort or a rollback webhook."""

from __future__ import annotations

import time
from typing import Any

from progressive.state import State
from tests.gates._steps import (
    CANARY,
    RUN_ID,
    events,
    read_state,
    run_cli,
    run_step,
    seed_canary,
    seed_state,
    start_step,
)
from tests.support.cluster.access import Cluster
from tests.support.http_receiver import Answer, HttpReceiver

AT_20 = State(run_id=RUN_ID, phase="progressing", stage="weight-20", canary_weight=20)
PAUSE: dict[str, Any] = {"stage": "pause-20", "poll_interval": "0.1s", "canary_deployment": CANARY}


def test_holds_for_the_duration(cluster_env: Cluster) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    started = time.monotonic()
    done = run_step(cluster_env, "pause", duration="2s", **PAUSE)
    assert done.code == 0, done.stderr
    assert time.monotonic() - started >= 2.0
    assert done.events == ["Paused", "PauseEnded"]
    assert (
        done.line("Paused")["message"] == f"stage 'pause-20' of rollout {ns}/podinfo: holding canary weight 20 for 2s"
    )
    state = read_state(cluster_env)
    assert (state.phase, state.stage, state.waiting_since, state.canary_weight) == ("progressing", "pause-20", "", 20)
    assert [event["reason"] for event in events(cluster_env, "Deployment", CANARY)] == ["Paused", "PauseEnded"]


def test_abort_ends_the_pause_early(cluster_env: Cluster) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    step = start_step(cluster_env, "pause", duration="5m", **PAUSE)
    _wait_for_phase(cluster_env, "paused")
    assert run_cli("abort", "podinfo", "-n", ns, "--by", "bob").code == 0
    done = step.wait(timeout=30)
    assert done.code == 7
    assert done.error.startswith(
        f"stage 'pause-20' of rollout {ns}/podinfo: the rollout was aborted by admin (note: bob) at "
    )
    assert done.events == ["Paused", "Aborted"]


def test_an_aborted_run_does_not_pause_at_all(cluster_env: Cluster) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    assert run_cli("abort", "podinfo", "-n", ns, "--reason", "stop").code == 0
    done = run_step(cluster_env, "pause", duration="5m", **PAUSE)
    assert done.code == 7
    assert done.error.endswith(": stop")


def test_rollback_webhook_2xx_fails_the_stage(cluster_env: Cluster, http_receiver: HttpReceiver) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    http_receiver.script("/rollback/check", Answer(404), Answer(503), Answer(200))
    done = run_step(cluster_env, "pause", duration="5m", rollback_webhook=http_receiver.url("/rollback/check"), **PAUSE)
    assert done.code == 1
    assert done.error == (
        f"stage 'pause-20' of rollout {ns}/podinfo: the rollback webhook (127.0.0.1:{http_receiver.port}) "
        "answered 2xx: roll back now"
    )
    assert done.events == ["Paused", "RollbackRequested"]
    bodies = [request.json for request in http_receiver.requests("/rollback/check")]
    assert len(bodies) == 3
    assert bodies[0] == {
        "name": "podinfo",
        "namespace": ns,
        "phase": "Progressing",
        "checksum": RUN_ID,
        "metadata": {},
        "type": "rollback",
        "rollout": "podinfo",
        "runId": RUN_ID,
        "stage": "pause-20",
        "canaryWeight": 20,
    }


def test_an_unreachable_or_refusing_rollback_webhook_does_not_stop_the_pause(
    cluster_env: Cluster, http_receiver: HttpReceiver
) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    http_receiver.script("/rollback/check", then=Answer(500))
    done = run_step(cluster_env, "pause", duration="1s", rollback_webhook=http_receiver.url("/rollback/check"), **PAUSE)
    assert done.code == 0, done.stderr
    assert len(http_receiver.requests("/rollback/check")) >= 2


def test_killed_and_run_again_resumes_the_same_pause(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20.evolve(phase="paused", stage="pause-20", waiting_since="2026-01-01T00:00:00Z"))
    started = time.monotonic()
    done = run_step(cluster_env, "pause", duration="10m", **PAUSE)
    assert done.code == 0, done.stderr
    assert time.monotonic() - started < 30  # the 10 minutes were held by the run that was killed
    assert done.lines[0]["resumed"] is True
    assert done.events == ["PauseEnded"]
    assert read_state(cluster_env).phase == "progressing"


def test_a_restart_holds_only_what_is_left(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_20)
    first = start_step(cluster_env, "pause", duration="6s", **PAUSE)
    _wait_for_phase(cluster_env, "paused")
    time.sleep(3)  # the first run holds 3 of its 6 seconds
    first.kill()
    again = start_step(cluster_env, "pause", duration="6s", **PAUSE)
    resumed = again.next_line()
    resumed_at = time.monotonic()  # from here on the step holds; its cold start is not part of the hold
    done = again.wait()
    held = time.monotonic() - resumed_at
    assert done.code == 0, done.stderr
    assert resumed["resumed"] is True
    assert resumed["waited"] >= 2.0  # the record's stamp has whole seconds
    assert held < 5.0  # a fresh pause would hold the whole 6s again


def _wait_for_phase(cluster: Cluster, phase: str) -> None:
    """Until the step has recorded ``phase`` in the state record."""
    cluster.wait_for(f"phase {phase!r}", lambda: read_state(cluster).phase == phase, timeout=30, interval=0.05)
