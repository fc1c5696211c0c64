"""The benchmark end to end: decision.md §5 tests (a) and (c), the CSV contract and determinism."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import pytest

from benchmarks import decision_sim
from benchmarks._model import EFFECTS, grid
from benchmarks._report import CSV_HEADER
from benchmarks._sim import Scenario

ALPHA = 0.05


def test_grid_has_the_forty_cells_of_the_spec() -> None:
    cells = grid()
    assert len(cells) == 40
    assert sum(cell.kind == "good" for cell in cells) == 8
    assert {cell.effect for cell in cells} == set(EFFECTS)
    assert [cell.index for cell in cells] == list(range(40))
    assert {cell.p0 for cell in cells if cell.effect.startswith("lat")} == {0.001}


def test_a_sequential_false_rollbacks_stay_under_alpha_in_every_good_cell() -> None:
    reps = 200
    for cell in (cell for cell in grid() if cell.kind == "good"):
        for outcome in decision_sim.run_cell(cell, ("seq-5m", "seq-1m", "seq-10s"), reps, Scenario()):
            bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
            assert outcome.rollback <= bound, (cell, outcome.policy, outcome.rollback)
            assert outcome.rollback + outcome.promote == 1.0  # every good rollout ends within T_CAP


def test_c_harm_is_excess_rate_times_canary_traffic_until_detection() -> None:
    # p0 1%, 20x, 1000 rps: every policy detects with certainty at its first chance, still at 5% weight.
    cell = next(c for c in grid() if c.kind == "bad" and c.p0 == 0.01 and c.effect == "err20x" and c.rps == 1000)
    expected_minutes = {
        "seq-5m": 1,
        "seq-1m": 1,
        "argo-fl0": 1,
        "argo-fl1": 2,
        "kayenta": 5,
        "flagger": 6,
        "flagger-docs": 11,  # threshold 10: the 10th failed check at 10 min, rollback at the next tick
    }
    outcomes = decision_sim.run_cell(cell, tuple(expected_minutes), 60, Scenario())
    for outcome in outcomes:
        minutes = expected_minutes[outcome.policy]
        assert outcome.rollback == 1.0, outcome.policy
        assert outcome.ttd_mean == minutes and outcome.ttd_p90 == minutes, outcome.policy
        formula = (0.2 - 0.01) * 1000 * 0.05 * 60 * minutes
        assert outcome.harm_canary == pytest.approx(formula, rel=0.02), outcome.policy
        assert outcome.harm_total == outcome.harm_canary  # nothing promoted


def test_missed_regressions_pay_an_hour_at_full_traffic() -> None:
    cell = next(c for c in grid() if c.kind == "bad" and c.p0 == 0.001 and c.effect == "err2x" and c.rps == 1000)
    (flagger,) = decision_sim.run_cell(cell, ("flagger",), 40, Scenario())
    assert flagger.promote == 1.0
    assert flagger.harm_total == pytest.approx(flagger.harm_canary + 0.001 * 1000 * 3600)


def run_main(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[bytes, str]:
    path = tmp_path / name
    argv = ["--reps-good", "30", "--reps-bad", "20", "--rps", "10,1000", "--csv", str(path), *extra]
    assert decision_sim.main(argv) == 0
    out = capsys.readouterr().out
    return path.read_bytes(), out.replace(str(path), "CSV")


def test_same_seed_gives_byte_identical_csv_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first_csv, first_out = run_main(tmp_path, "a.csv", capsys, "--jobs", "1")
    second_csv, second_out = run_main(tmp_path, "b.csv", capsys, "--jobs", "2")
    assert hashlib.sha256(first_csv).hexdigest() == hashlib.sha256(second_csv).hexdigest()
    assert first_out.replace("--jobs 1", "--jobs N") == second_out.replace("--jobs 2", "--jobs N")
    assert "Scoreboard" in first_out and "[PASS] 1 accuracy  seq-5m" in first_out
    assert first_out.startswith("# decision_sim seed=20240601 numpy=")


def test_csv_has_the_contract_header_and_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = run_main(tmp_path, "c.csv", capsys, "--jobs", "1", "--policies", "flagger,seq-5m")
    text = data.decode()
    assert text.splitlines()[0] == CSV_HEADER
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 20 * 2  # 20 cells at 10 and 1000 rps, two policies
    for row in rows:
        assert row["kind"] in {"good", "bad"}
        assert float(row["p0"]) in {0.001, 0.01}
        assert row["effect"] in EFFECTS
        assert (row["effect"] == "none") == (row["kind"] == "good")
        assert row["policy"] in {"flagger", "seq-5m"}
        assert 0 <= float(row["rollback_pct"]) <= 100 and 0 <= float(row["promote_pct"]) <= 100
        assert (row["t_star"] == "" and row["h_star"] == "") if row["kind"] == "good" else row["h_star"] != ""
        if float(row["rollback_pct"]) == 0:
            assert row["ttd_mean"] == "" and row["ttd_p90"] == ""
    # A regression slower than the whole schedule has no T*.
    slow = next(r for r in rows if r["effect"] == "err2x" and r["p0"] == "0.001" and r["rps"] == "10")
    assert slow["t_star"] == ""


def test_scoreboard_and_criteria_show_the_strict_and_the_docs_peers(capsys: pytest.CaptureFixture[str]) -> None:
    assert decision_sim.main(["--reps-good", "20", "--reps-bad", "10", "--rps", "1000", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    board = out.split("Scoreboard", 1)[1].split("decision.md section 7 criteria", 1)[0]
    rows = {line.split()[0]: line.split()[1] for line in board.strip().splitlines()[2:]}
    assert rows == {
        "flagger": "strict",
        "argo-fl0": "strict",
        "argo-fl1": "strict",
        "kayenta": "strict",
        "seq-5m": "ours",
        "seq-1m": "ours",
        "seq-10s": "ours",
        "flagger-docs": "docs",
        "argo-docs": "docs",
        "kayenta-docs": "docs",
    }
    checks = out.split("decision.md section 7 criteria", 1)[1]
    for peer in ("flagger", "argo-fl0", "argo-fl1", "kayenta", "flagger-docs", "argo-docs", "kayenta-docs"):
        assert f"] 1 accuracy  peer {peer} (" in checks, peer
    for mine, peer in (("seq-1m", "flagger-docs"), ("seq-5m", "argo-docs"), ("seq-5m", "kayenta-docs")):
        assert f"] 2 detection {mine} vs {peer}" in checks, peer
        assert f"] 5 promote   {mine} mean T_promote" in checks and f"vs {peer} " in checks, peer
    for peer in ("kayenta", "flagger", "kayenta-docs", "flagger-docs"):
        assert f"] 4 harm      {peer} / seq-5m median harm_total" in checks, peer
    assert "] 3 limit     seq-5m" in checks


def test_bad_options_are_refused() -> None:
    with pytest.raises(SystemExit, match="--policies: 'istio'"):
        decision_sim.main(["--policies", "istio"])
    with pytest.raises(SystemExit, match="no cell left"):
        decision_sim.main(["--rps", "7"])
    with pytest.raises(SystemExit, match="--p0: 'x'"):
        decision_sim.main(["--p0", "x"])
