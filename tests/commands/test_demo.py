"""``scripts/demo`` end to end, in both modes, each ending with one line per release.

* ``scripts/demo`` starts a local cluster of its own in a temporary folder (``scripts/cluster up --run``), runs the
  two releases with ``progressive run``, stops the cluster and removes the folder: all of that is checked.
* ``scripts/demo --cluster --cluster-dir RUN`` runs the two releases as PipelineRuns executed by Tekton's
  controller, on the test session's cluster (``--cluster-dir`` spares a second start of about 25 s); the demo's
  namespace there is deleted afterwards.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.commands._cluster import BAD, GOOD, REPO
from tests.support.browser import open_page
from tests.support.cluster.cluster import LocalCluster
from tests.support.cluster.tekton import condition

TIMEOUT = 840.0
"""Seconds a whole demo may take: two releases of two analyses each, a cluster start, on a loaded machine."""


def demo(*args: str) -> list[str]:
    """Run ``scripts/demo ARGS``; its stdout lines (the run must succeed).

    Stopped early (a timeout, pytest's or ours), the demo gets SIGTERM and time to stop the cluster it started.
    """
    with subprocess.Popen(
        [str(REPO / "scripts" / "demo"), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except BaseException:
            process.terminate()
            process.communicate(timeout=120)
            raise
    assert process.returncode == 0, out[-6000:] + err[-4000:]
    return out.splitlines()


def section(lines: list[str], title: str) -> list[str]:
    """The lines under the heading ``=== TITLE... ===``, up to the next heading."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"=== {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("=== ")), len(lines))
    return lines[start + 1 : end]


def demo_namespace(lines: list[str]) -> str:
    heading = next(line for line in lines if line.startswith("=== the workload: "))
    found = re.search(r"\(namespace ([a-z0-9-]+)\) ===$", heading)
    assert found, heading
    return found.group(1)


def status_row(lines: list[str]) -> list[str]:
    """The row of ``progressive status web``'s table."""
    table = [line for line in section(lines, "progressive status web") if line and not line.startswith("$ ")]
    assert table[0].split()[:3] == ["NAME", "RUN", "PHASE"], table
    return table[1].split()


def check_reports(folder: Path) -> None:
    """The demo's two reports open offline in chromium, with their plots, and say how each run ended."""
    for name, outcome in (("good", "Promoted after "), ("bad", "Rolled back after ")):
        opened = open_page(folder / f"report-{name}.html", folder / f"report-{name}.png")
        assert opened.console == [] and opened.page_errors == [], (name, opened.console, opened.page_errors)
        assert opened.requests == [(folder / f"report-{name}.html").as_uri()], opened.requests
        assert opened.svg_ids == ["plot-weights", "plot-rate-errors", "plot-rate-slow", "plot-evidence"], opened.svg_ids
        assert opened.outcome.startswith(outcome), opened.outcome
    assert (
        "stage analyze-20 found the canary worse than baseline: errors: canary"
        in (folder / "report-bad.html").read_text()
    )


@pytest.mark.timeout(TIMEOUT + 180)
def test_the_demo_promotes_the_good_release_and_rolls_back_the_bad_one_with_progressive_run(tmp_path: Path) -> None:
    lines = demo("--report-dir", str(tmp_path))
    assert lines[-2:] == [
        f"release {GOOD}: promoted; report: {tmp_path / 'report-good.html'}",
        f"release {BAD}: rolled back; report: {tmp_path / 'report-bad.html'}",
    ]
    check_reports(tmp_path)
    up = next(line for line in lines if line.startswith("$ scripts/cluster up --run "))
    run_dir = Path(up.split()[4])
    assert any(line.startswith("cluster up in ") for line in lines)
    assert "pipeline.tekton.dev/web created" in lines
    assert any(line.startswith("rollout web: promoted in ") for line in lines)
    assert any(
        line.startswith("rollout web: rolled back after ") and "stage analyze-20 failed" in line for line in lines
    )
    row = status_row(lines)
    assert row[0] == "web" and row[1].startswith("web-local-")
    assert row[2:6] == ["rolled-back", "rollback", "0%", "0%"]  # the live weight is read through the Pipeline
    stopped = section(lines, "stopping the local cluster")
    assert stopped[0] == f"$ scripts/cluster down --run {run_dir}"
    assert stopped[1].startswith("stopped: ") and "kube-apiserver" in stopped[1] and "tekton-controller" in stopped[1]
    assert not run_dir.exists()  # the temporary folder is gone, and with it the cluster's state


def demo_namespace_names(core: client.CoreV1Api) -> set[str]:
    """The namespaces the demo picks from (``demo``, ``demo-2``, ...) that exist."""
    names = [item.metadata.name for item in core.list_namespace().items if item.metadata and item.metadata.name]
    return {name for name in names if re.fullmatch(r"demo(-\d+)?", name)}


@pytest.fixture
def new_demo_namespaces(local_cluster: LocalCluster) -> Iterator[None]:
    """Delete the namespaces the demo created on the session's cluster, however the test ended."""
    with local_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        before = demo_namespace_names(core)
        yield
        for name in demo_namespace_names(core) - before:
            core.delete_namespace(name)


@pytest.mark.timeout(TIMEOUT + 180)
def test_the_demo_on_tekton_promotes_the_good_release_and_rolls_back_the_bad_one(
    local_cluster: LocalCluster, new_demo_namespaces: None, tmp_path: Path
) -> None:
    lines = demo("--cluster", "--cluster-dir", str(local_cluster.run), "--report-dir", str(tmp_path))
    namespace = demo_namespace(lines)
    assert lines[-2:] == [
        f"release {GOOD}: promoted; report: {tmp_path / 'report-good.html'}",
        f"release {BAD}: rolled back; report: {tmp_path / 'report-bad.html'}",
    ]
    check_reports(tmp_path)
    assert not any(line.startswith("$ scripts/cluster") for line in lines)  # the cluster given is used, not started
    installed = section(lines, "the catalog Tasks")
    assert "task.tekton.dev/progressive-analyze created" in installed  # kubectl apply -R -f tasks/
    # then progressive apply: the catalog Tasks the Pipeline references (promote, rollback, report), the same ones
    assert "task.tekton.dev/progressive-promote unchanged" in installed
    assert "task.tekton.dev/progressive-analyze unchanged" not in installed  # the stages' steps are inline
    assert "pipeline.tekton.dev/web created" in installed

    with local_cluster.api_client() as api:
        runs: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "tekton.dev", "v1", namespace, "pipelineruns"
        )
    by_image = {run["spec"]["params"][0]["value"]: run for run in runs["items"]}
    assert set(by_image) == {GOOD, BAD}
    good, bad = by_image[GOOD], by_image[BAD]
    assert condition(good)[:2] == ("True", "Completed")
    assert condition(bad) == ("False", "Failed", "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2")
    rows = [line.split(None, 4) for line in section(lines, "PipelineRuns: final condition") if line]
    assert rows[0] == ["PIPELINERUN", "IMAGE", "STATUS", "REASON", "MESSAGE"]
    assert rows[1:] == [
        [good["metadata"]["name"], GOOD, *condition(good)],
        [bad["metadata"]["name"], BAD, *condition(bad)],
    ]  # what Tekton's controller wrote, as it wrote it
    release = section(lines, f"release {BAD}")
    assert any(re.search(r"stage-20 +StepFailed in \d+s: \"step-analyze-20\"", line) for line in release), release
    assert any(re.search(r"rollback +Succeeded in \d+s", line) for line in release), release
    row = status_row(lines)
    name = bad["metadata"]["name"]
    assert row[:9] == ["web", name, "rolled-back", "rollback", "0%", "0%", "fail", name, "Failed"]
