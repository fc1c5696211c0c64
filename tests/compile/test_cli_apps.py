"""``progressive compile`` on files that declare an App (several versions live at once), as users run it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.compile.test_cli import GOOD, ROOT, assert_user_error, progressive, write

EXAMPLE = ROOT / "examples" / "versions" / "shop.py"


def test_an_app_compiles_to_its_pipelines_and_rbac_then_check_passes(tmp_path: Path) -> None:
    source = tmp_path / "shop.py"
    shutil.copy(EXAMPLE, source)
    out = tmp_path / "out"
    result = progressive("compile", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert files == ["shop/pipelines.yaml", "shop/rbac.yaml"]
    pipelines = list(yaml.safe_load_all((out / "shop" / "pipelines.yaml").read_text(encoding="utf-8")))
    assert [doc["metadata"]["name"] for doc in pipelines] == ["shop-release", "shop-update-config", "shop-retire"]
    rbac = list(yaml.safe_load_all((out / "shop" / "rbac.yaml").read_text(encoding="utf-8")))
    assert [doc["kind"] for doc in rbac] == ["ServiceAccount", "Role", "RoleBinding"]
    assert progressive("compile", str(source), "-o", str(out), "--check").returncode == 0
    assert progressive("validate", str(out)).returncode == 0


def test_an_app_and_a_rollout_of_one_name_are_one_line(tmp_path: Path) -> None:
    rollout = GOOD.replace("\n    ", "\n").replace("shop = Rollout(", "canary = Rollout(")
    source = EXAMPLE.read_text(encoding="utf-8") + "\n" + rollout
    path = write(tmp_path / "both.py", source)
    assert_user_error(
        progressive("compile", str(path), "-o", str(tmp_path / "o")),
        "a Rollout and an App are both named 'shop'",
    )


def test_a_bad_version_names_its_path_in_the_app(tmp_path: Path) -> None:
    source = EXAMPLE.read_text(encoding="utf-8").replace("weight=15,", "weight=150,")
    path = write(tmp_path / "shop.py", source)
    assert_user_error(
        progressive("compile", str(path), "-o", str(tmp_path / "o")),
        "invalid App: versions[1].weight: 150 is above 100",
    )


def test_a_query_variable_an_app_has_no_value_for_is_one_line(tmp_path: Path) -> None:
    checks = (
        'judge=ThresholdJudge(checks=[ThresholdCheck(name="c", query="sum(x{ingress=\\"{{ ingress }}\\"})", max=1)]), '
    )
    source = EXAMPLE.read_text(encoding="utf-8").replace('provider="generic"', checks + 'provider="generic"')
    source = source.replace(
        "from progressive.model import Analysis,",
        "from progressive.model import ThresholdCheck, ThresholdJudge, Analysis,",
    )
    path = write(tmp_path / "shop.py", source)
    assert_user_error(
        progressive("compile", str(path), "-o", str(tmp_path / "o")),
        "app 'shop': analysis.judge.checks[0].query: template variable 'ingress' has no value here",
    )
