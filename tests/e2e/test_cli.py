"""The user's path through the API, as on a cluster: ``progressive apply``, ``start --follow``, ``status``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from progressive.compile import compile_rollout
from tests.e2e._shop import NEW_IMAGE, TEKTON, Shop, condition, rollout, rollout_source


def test_the_rollout_file_is_the_scenarios_rollout() -> None:
    namespace, url = "ns-check", "http://127.0.0.1:9090"
    scope: dict[str, object] = {}
    exec(compile(rollout_source(namespace, url), "rollout.py", "exec"), scope)  # our own text
    assert compile_rollout(scope["web"]).pipeline == compile_rollout(rollout(namespace, url)).pipeline  # type: ignore[arg-type]


def test_apply_start_follow_and_status_take_a_release_to_promoted(
    make_shop: Callable[..., Shop], tmp_path: Path
) -> None:
    shop = make_shop(install=False)
    source = tmp_path / "web_rollout.py"
    source.write_text(rollout_source(shop.namespace, shop.prometheus.url))
    applied = shop.progressive("apply", str(source))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "pipeline" in applied.stdout.lower()
    again = shop.progressive("apply", str(source))
    assert again.returncode == 0 and "created" not in again.stdout, again.stdout
    shop.traffic()
    started = shop.progressive(
        "start", "web", "-n", shop.namespace, "-p", f"image={NEW_IMAGE}", "--follow", timeout=240
    )
    runs = shop.cluster.list(TEKTON, "PipelineRun")
    assert len(runs) == 1
    run = runs[0]["metadata"]["name"]
    assert started.returncode == 0, (started.stdout, started.stderr, shop.outcomes(run), shop.logs(run))
    assert run in started.stdout + started.stderr
    done = shop.wait(run, timeout=10)
    assert condition(done)[:2] == ("True", "Completed")
    assert done["spec"]["taskRunTemplate"]["serviceAccountName"] == "progressive-web"
    status = shop.progressive("status", "web", "-n", shop.namespace, "-o", "json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["state"]["phase"] == "promoted"
    assert shown["pipeline_run"]["name"] == run
    table = shop.progressive("status", "web", "-n", shop.namespace)
    assert table.returncode == 0 and "promoted" in table.stdout, table.stdout + table.stderr
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
