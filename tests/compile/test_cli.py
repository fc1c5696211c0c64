"""``progressive compile | plan | tasks | validate`` as users run them: real processes, real files.

A user mistake is one line on stderr and exit 2, never a traceback; ``--check`` exits 1 and lists files.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
    from progressive import Analysis, Analyze, GatewayAPI, Prometheus, Rollout, SetWeight, Workload

    shop = Rollout(
        name="shop",
        namespace="prod",
        workload=Workload(stable="shop", canary="shop-canary"),
        router=GatewayAPI(route="shop", stable_service="shop", canary_service="shop-canary"),
        steps=[SetWeight(weight=10), Analyze(), SetWeight(weight=50)],
        analysis=Analysis(prometheus=Prometheus(url="http://prometheus:9090")),
    )
"""


def progressive(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def assert_user_error(result: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert pattern in lines[0], lines[0]


def test_compile_writes_the_layout_then_check_passes(tmp_path: Path) -> None:
    source = write(tmp_path / "rollouts.py", GOOD)
    out = tmp_path / "out"
    result = progressive("compile", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert files == ["shop/pipeline.yaml", "shop/rbac.yaml", "shop/run/pipelinerun.yaml"]
    assert progressive("compile", str(source), "-o", str(out), "--check").returncode == 0
    assert progressive("validate", str(out), "--catalog").returncode == 0


def test_check_lists_what_differs(tmp_path: Path) -> None:
    source = write(tmp_path / "rollouts.py", GOOD)
    out = tmp_path / "out"
    assert progressive("compile", str(source), "-o", str(out)).returncode == 0
    (out / "shop" / "rbac.yaml").write_text("changed\n")
    (out / "shop" / "stale.yaml").write_text("kind: Old\n")
    (out / "shop" / "pipeline.yaml").unlink()
    result = progressive("compile", str(source), "-o", str(out), "--check")
    assert result.returncode == 1
    assert result.stdout.split() == [str(out / "shop" / name) for name in ("pipeline.yaml", "rbac.yaml", "stale.yaml")]
    assert "3 file(s)" in result.stderr
    # compiling again repairs all three, and removes the file compile no longer writes
    assert progressive("compile", str(source), "-o", str(out)).returncode == 0
    assert not (out / "shop" / "stale.yaml").exists()
    assert progressive("compile", str(source), "-o", str(out), "--check").returncode == 0


def test_compile_is_byte_identical_across_runs(tmp_path: Path) -> None:
    source = write(tmp_path / "rollouts.py", GOOD)
    for out in ("a", "b"):
        assert progressive("compile", str(source), "-o", str(tmp_path / out)).returncode == 0
    for path in (tmp_path / "a").rglob("*.yaml"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_rollouts_in_lists_and_neighbour_imports(tmp_path: Path) -> None:
    write(tmp_path / "common.py", GOOD)
    source = write(
        tmp_path / "many.py",
        """
        from common import shop

        ROLLOUTS = [shop, shop.model_copy(update={"name": "shop-2"})]
        """,
    )
    result = progressive("plan", str(source))
    assert result.returncode == 0, result.stderr
    assert "Rollout shop " in result.stdout and "Rollout shop-2 " in result.stdout


USER_ERRORS = [
    ("missing.py", None, "missing.py: no such file"),
    ("notes.txt", "x = 1\n", "not a Python file"),
    ("empty.py", "x = 1\n", "defines no Rollout"),
    ("syntax.py", "def (:\n", "syntax.py:1: SyntaxError"),
    ("boom.py", "import os\nraise RuntimeError('no cluster config')\n", "boom.py:2: RuntimeError: no cluster config"),
    (
        "rollout.py",
        GOOD.replace('name="shop"', 'name="Shop"'),
        "rollout.py:4: invalid Rollout: name: 'Shop' is not a DNS-1123 label",
    ),
    (
        "step.py",
        GOOD.replace("weight=50", "weight=120"),
        "step.py:9: invalid Rollout: steps[2].weight: 120 is above 100",
    ),
    (
        "twice.py",
        GOOD + "    other = shop.model_copy(update={'namespace': 'dev'})\n",
        "two different Rollouts are named 'shop'",
    ),
]


@pytest.mark.parametrize(("name", "source", "message"), USER_ERRORS, ids=[case[0] for case in USER_ERRORS])
@pytest.mark.parametrize("command", ["compile", "plan"])
def test_user_mistakes_are_one_line(tmp_path: Path, command: str, name: str, source: str | None, message: str) -> None:
    path = tmp_path / name
    if source is not None:
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    args = [command, str(path), *(["-o", str(tmp_path / "o")] if command == "compile" else [])]
    assert_user_error(progressive(*args), message)


BAD_VALUES = [
    ("bool-weight", ("weight=50", "weight=True"), "step.py:9: invalid Rollout: steps[2].weight: True: input should be"),
    ("text-weight", ("weight=50", 'weight="10"'), "step.py:9: invalid Rollout: steps[2].weight: '10': input should be"),
    ("float-weight", ("weight=50", "weight=50.0"), "step.py:9: invalid Rollout: steps[2].weight: 50.0: input should"),
    (
        "same-service",
        ('canary_service="shop-canary"', 'canary_service="shop"'),
        "step.py:8: invalid Rollout: router.canary_service: 'shop' is also stable_service",
    ),
    (
        "decreasing",
        ("weight=50", "weight=5"),
        "step.py:4: invalid Rollout: steps[2].weight: 5 is below 10 set by steps[0]; "
        "to send traffic back to stable on purpose set allow_weight_decrease=True on the Rollout",
    ),
    (
        "bool-alpha",
        ('url="http://prometheus:9090")', 'url="http://prometheus:9090"), judge=SequentialJudge(alpha=True)'),
        "step.py:10: invalid Rollout: analysis.judge.alpha: True: input should be a valid number",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_VALUES, ids=[case[0] for case in BAD_VALUES])
@pytest.mark.parametrize("command", ["compile", "plan"])
def test_bad_values_name_the_path_in_the_rollout(
    tmp_path: Path, command: str, case: str, change: tuple[str, str], message: str
) -> None:
    source = GOOD.replace("Rollout, SetWeight,", "Rollout, SequentialJudge, SetWeight,").replace(*change)
    assert source != GOOD.replace("Rollout, SetWeight,", "Rollout, SequentialJudge, SetWeight,"), case
    path = write(tmp_path / "step.py", source)
    args = [command, str(path), *(["-o", str(tmp_path / "o")] if command == "compile" else [])]
    assert_user_error(progressive(*args), message)


def test_decreasing_weights_compile_with_the_opt_in(tmp_path: Path) -> None:
    source = GOOD.replace("weight=50", "weight=5").replace(
        'namespace="prod",', 'namespace="prod", allow_weight_decrease=True,'
    )
    result = progressive("plan", str(write(tmp_path / "down.py", source)))
    assert result.returncode == 0, result.stderr


def test_a_part_outside_a_rollout_names_itself(tmp_path: Path) -> None:
    path = write(tmp_path / "part.py", "from progressive import SetWeight\n\nlater = [SetWeight(weight=120)]\n")
    assert_user_error(progressive("plan", str(path)), "part.py:3: invalid SetWeight: weight: 120 is above 100")


def test_a_part_named_once_then_used_in_rollouts(tmp_path: Path) -> None:
    source = GOOD.replace("steps=[SetWeight(weight=10), Analyze(), SetWeight(weight=50)]", "steps=STEPS").replace(
        "shop = Rollout(", "STEPS = (SetWeight(weight=10), Analyze(), SetWeight(weight=200))\n    shop = Rollout("
    )
    path = write(tmp_path / "shared.py", source)
    assert_user_error(progressive("plan", str(path)), "shared.py:4: invalid Rollout: steps[2].weight: 200 is above 100")


def test_model_error_line_names_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path / "model.py",
        """
        from progressive import Rollout

        shop = Rollout.model_validate({
            "name": "Shop", "namespace": "prod",
            "workload": {"stable": "a", "canary": "b"}, "router": {"type": "replicas"},
            "steps": [{"kind": "set-weight", "weight": 10}, {"kind": "set-weight", "weight": 120}],
        })
        """,
    )
    result = progressive("plan", str(path))
    assert_user_error(result, "model.py:4: invalid Rollout (2 problems): name: 'Shop' is not a DNS-1123 label")
    assert "; steps[1].weight: 120 is above 100" in result.stderr


def test_output_into_a_pipe_whose_reader_left_ends_quietly() -> None:
    """``progressive plan FILE | head -1``: no traceback, no 'Exception ignored', the shell's 141.

    (``--help`` needs nothing: argparse drops a failed write of the help itself.)
    """
    from tests.commands._cluster import into_closed_pipe  # noqa: PLC0415 - a helper, no cluster needed

    result = into_closed_pipe(["plan", "examples/gated_canary.py"])
    assert (result.returncode, result.stderr) == (141, "")


def test_abort_help_says_it_stops_a_running_analysis() -> None:
    for args in (["abort", "--help"], ["--help"]):
        result = progressive(*args)
        assert result.returncode == 0, result.stderr
        text = " ".join(result.stdout.split())
        assert "or a running analysis, stops; finally rolls back" in text, text


def test_bad_flag_is_a_usage_error() -> None:
    result = progressive("compile")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_plan_table(tmp_path: Path) -> None:
    result = progressive("plan", str(ROOT / "examples" / "gated_canary.py"))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (
        "Rollout checkout (namespace store)",
        "stage",
        "gate-change-window",
        "approve-50",
        "waits for `progressive approve checkout`",
        "rollback webhook polled",
        "fin  rollback",
        "stages budget",
        "rollback: instant",
    ):
        assert expected in text, expected


def test_tasks_command_and_check(tmp_path: Path) -> None:
    out = tmp_path / "tasks"
    assert progressive("tasks", "-o", str(out)).returncode == 0
    assert (out / "progressive-set-weight" / "0.1" / "progressive-set-weight.yaml").is_file()
    assert progressive("tasks", "-o", str(out), "--check").returncode == 0
    (out / "progressive-pause" / "0.1" / "README.md").write_text("edited\n")
    result = progressive("tasks", "-o", str(out), "--check")
    assert result.returncode == 1
    assert result.stdout.strip() == str(out / "progressive-pause" / "0.1" / "README.md")


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((ROOT / "tasks" / "progressive-pause" / "0.1" / "progressive-pause.yaml").read_text())
    assert progressive("validate", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: Bad\n"
        "spec:\n  steps:\n    - name: s\n      image: x:1\n"
    )
    result = progressive("validate", str(good), str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:4: metadata.name: 'Bad' is not a DNS-1123 subdomain of at most 63 characters [name]"
    ]
    unreadable = tmp_path / "broken.yaml"
    unreadable.write_text("a: [1,\n")
    assert_user_error(progressive("validate", str(unreadable)), "broken.yaml:2: not valid YAML")
    assert_user_error(progressive("validate", str(tmp_path / "nope")), "no such file or folder")


def test_validate_names_real_lines_and_checks_every_file(tmp_path: Path) -> None:
    """Findings point at the line in the file; a file that does not parse does not stop the others."""
    broken = write(tmp_path / "a-broken.yaml", "kind: Task\nspec:\n  steps: [\n    - x\n")
    bad = write(
        tmp_path / "b-bad.yaml",
        """
        # a ConfigMap first, so document and line differ
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        ---
        apiVersion: tekton.dev/v1
        kind: Task
        metadata:
          name: t
        spec:
          steps:
            - name: s
              image: x:1
              timeout: 5 minutes
        """,
    )
    result = progressive("validate", str(broken), str(bad), str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{bad}:15: spec.steps[0].timeout: '5 minutes' is not a Go duration such as 90s, 5m or 1h30m [timeout]"
    ]
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"progressive validate: {broken}:4: not valid YAML: "), errors
    assert errors[1] == f"progressive validate: {tmp_path / 'missing.yaml'}: no such file or folder"
    assert errors[2:] == [
        "progressive validate: 2 path(s) could not be read; 1 finding(s) in 2 document(s) of the others"
    ]
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = progressive("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("progressive ")


@pytest.mark.parametrize(
    ("judge", "said"),
    [
        ("SequentialJudge()", "inconclusive at 5m: goes on, reported inconclusive (on_inconclusive=advance)"),
        ("SequentialJudge(on_inconclusive='hold')", "inconclusive at 5m: the stage fails (exit 4), rollback"),
        (
            "SequentialJudge(on_inconclusive='fail')",
            "inconclusive at 5m: the stage fails as bad (exit 1, on_inconclusive=fail), rollback",
        ),
        (
            "ThresholdJudge(checks=[ThresholdCheck(name='ok', metric='error-rate', max=1.0)])",
            "inconclusive: the stage fails (exit 4), rollback",
        ),
    ],
)
def test_plan_says_what_each_analysis_does_when_inconclusive(tmp_path: Path, judge: str, said: str) -> None:
    source = GOOD.replace(
        "Rollout, SetWeight,", "Rollout, SequentialJudge, SetWeight, ThresholdCheck, ThresholdJudge,"
    ).replace('url="http://prometheus:9090")', f'url="http://prometheus:9090"), judge={judge}')
    result = progressive("plan", str(write(tmp_path / "judged.py", source)))
    assert result.returncode == 0, result.stderr
    analyze_rows = [line for line in result.stdout.splitlines() if " analyze " in line]
    assert len(analyze_rows) == 1 and said in analyze_rows[0], result.stdout


PUSHED = "registry.example.com/platform/progressive:0.1.0@sha256:" + "ab" * 32


def test_compile_and_tasks_pin_the_image_given_with_image(tmp_path: Path) -> None:
    """``--image`` is what every generated step runs (the pipeline's image param, the Tasks' default), and a
    later ``--check`` with the same flag passes."""
    source = write(tmp_path / "shop.py", GOOD)
    compiled = progressive("compile", str(source), "-o", str(tmp_path / "out"), "--image", PUSHED)
    assert compiled.returncode == 0, compiled.stderr
    pipeline = yaml.safe_load((tmp_path / "out" / "shop" / "pipeline.yaml").read_text())
    tasks = pipeline["spec"]["tasks"] + pipeline["spec"]["finally"]
    step_images = {
        step.get("image") or task["taskSpec"]["stepTemplate"]["image"]
        for task in tasks
        for step in task.get("taskSpec", {}).get("steps", [])
    }
    catalog_images = {
        param["value"] for task in tasks if "taskRef" in task for param in task["params"] if param["name"] == "image"
    }  # a catalog Task's image param is its step image
    assert step_images | catalog_images == {PUSHED}
    again = progressive("compile", str(source), "-o", str(tmp_path / "out"), "--image", PUSHED, "--check")
    assert again.returncode == 0, again.stdout + again.stderr

    tasks = progressive("tasks", "-o", str(tmp_path / "tasks"), "--image", PUSHED)
    assert tasks.returncode == 0, tasks.stderr
    for task_file in (tmp_path / "tasks").glob("*/*/*.yaml"):
        params = yaml.safe_load(task_file.read_text())["spec"]["params"]
        assert next(p["default"] for p in params if p["name"] == "image") == PUSHED, task_file


@pytest.mark.parametrize("command", ["compile", "tasks"])
def test_an_unpinned_image_is_one_line_naming_the_flag(tmp_path: Path, command: str) -> None:
    args = [str(write(tmp_path / "shop.py", GOOD))] if command == "compile" else []
    result = progressive(command, *args, "-o", str(tmp_path / "out"), "--image", "registry.example.com/p:latest")
    assert result.returncode == 2
    assert result.stderr == (
        f"progressive {command}: --image: 'registry.example.com/p:latest' uses :latest; pin a version or a digest\n"
    )
    assert not (tmp_path / "out").exists()
