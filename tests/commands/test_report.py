"""``progressive report`` against the real local cluster: the record and Events it reads, the errors it says.

The page itself (plots, escaping, chromium) is tested in ``tests/report``; the demo's real runs are reported and
opened in chromium by ``tests/commands/test_demo.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from progressive.kube.events import Involved, event_body
from progressive.kube.resources import CONFIGMAPS
from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY
from tests.commands._cluster import cli, store_state
from tests.report._records import rolled_back_record
from tests.support.cluster.access import Cluster


def test_the_report_of_the_newest_run_with_its_events(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ns = cluster_env.namespace
    record = rolled_back_record()
    store_state(cluster_env, record)
    involved = Involved(CONFIGMAPS.ref(ns, state_configmap("web")))
    ours = event_body(involved, "", "RollbackRequested", "a <b>gate</b> said no", warning=True)
    theirs = {**event_body(involved, "", "Scaled", "not progressive's", warning=False), "source": {"component": "x"}}
    cluster_env.create(ours, theirs)
    page = tmp_path / "report.html"
    # the made-up run began in 2026-09, before these Events: a report of a run keeps its own Events only
    written = cli(capsys, "report", "web", "-n", ns, "-o", str(page))
    assert written.code == 0, written.err
    assert written.out == f"{page}: {record_outcome()}\n"
    text = page.read_text(encoding="utf-8")
    assert "a &lt;b&gt;gate&lt;/b&gt; said no" not in text and "not progressive" not in text

    fresh = record.evolve(run_id="web-now", timeline=()).mark("started", "", at=time.time() - 60)
    cluster_env.patch("v1", "ConfigMap", state_configmap("web"), {"data": {CONFIGMAP_KEY: fresh.to_json()}})
    again = cli(capsys, "report", "web", "-n", ns, "-o", str(page))  # a run that began a minute ago: its Event
    assert again.code == 0, again.err
    assert "a &lt;b&gt;gate&lt;/b&gt; said no" in page.read_text(encoding="utf-8")


def record_outcome() -> str:
    return (
        "Rolled back after 2m2s: stage analyze-20 found the canary worse than baseline: errors: canary 10% (80 of 800) "
        "vs baseline 1% (72 of 7200) = 10x."
    )


def test_no_record_and_another_run_are_one_line_and_exit_3(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ns = cluster_env.namespace
    page = tmp_path / "report.html"
    missing = cli(capsys, "report", "web", "-n", ns, "-o", str(page))
    assert missing.code == 3
    assert missing.err == (
        f"progressive report: rollout {ns}/web has no state record (ConfigMap progressive-web): it never ran here; "
        "check the name and -n\n"
    )
    store_state(cluster_env, rolled_back_record())
    other = cli(capsys, "report", "web", "-n", ns, "--run", "web-older", "-o", str(page))
    assert other.code == 3
    assert other.err.startswith(
        f"progressive report: --run: the record of {ns}/web is about run web-x7k2p, not web-older; it keeps the "
        "newest run only"
    ), other.err
    assert not page.exists()  # nothing written
    bad = cli(capsys, "report", "Web", "-n", ns, "-o", str(page))
    assert bad.code == 2 and "ROLLOUT: 'Web' is not a rollout name" in bad.err
