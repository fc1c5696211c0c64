"""PromQL syntax of a rollout's queries, checked at compile time with ``promtool`` when it is installed.

``promtool`` has no command that parses a bare expression in every version, but ``promtool check
rules`` parses every ``expr`` of a rule file and names the rule that does not parse. So each query
becomes a recording rule ``progressive:query_<n>`` in a throw-away file, and an error is mapped back to
the query's field path. Without ``promtool`` on ``PATH`` the caller prints one note and goes on: the
first stage's preflight still asks Prometheus to run every query before any traffic moves.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from progressive.metrics.queries import Query

__all__ = ["MISSING_NOTE", "PromtoolError", "check_promql", "check_queries"]

MISSING_NOTE = (
    "note: promtool is not on PATH, so the PromQL syntax of the queries was not checked here "
    "(the first stage's preflight still has Prometheus check every query before any traffic moves)"
)
_RULE = re.compile(r'rule (\d+), "progressive:query_(\d+)": (?:could not parse expression: )?(.*)')
_TIMEOUT = 60.0


class PromtoolError(Exception):
    """``promtool`` itself could not be run or answered something we cannot read."""


def check_promql(queries: Sequence[Query], promtool: str | None = None) -> list[str] | None:
    """One line per query that does not parse (``where: ...: 'query'``); ``None`` when promtool is missing."""
    binary = promtool or shutil.which("promtool")
    if binary is None:
        return None
    if not queries:
        return []
    rules = [{"record": f"progressive:query_{index}", "expr": query.promql} for index, query in enumerate(queries)]
    with tempfile.TemporaryDirectory(prefix="progressive-promtool-") as folder:
        path = Path(folder) / "queries.rules.yaml"
        path.write_text(json.dumps({"groups": [{"name": "progressive-queries", "rules": rules}]}), encoding="utf-8")
        try:
            done = subprocess.run(
                [binary, "check", "rules", str(path)],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PromtoolError(f"promtool check rules could not run: {exc}") from None
    if done.returncode == 0:
        return []
    problems: list[str] = []
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        match = _RULE.search(line)
        if match is None:
            continue
        query = queries[int(match.group(2))]
        problems.append(f"{query.where}: PromQL does not parse ({match.group(3).strip()}): {query.promql!r}")
    if not problems:
        output = " ".join((done.stderr or done.stdout).split())
        raise PromtoolError(f"promtool check rules failed (exit {done.returncode}) without naming a query: {output}")
    return problems


def check_queries(command: str, rollouts: Sequence[tuple[str, Sequence[Query]]]) -> bool:
    """Check every rollout's queries; print one line per bad query (or one note); ``False`` if any is bad."""
    clean = True
    for rollout, queries in rollouts:
        if not queries:
            continue
        try:
            problems = check_promql(queries)
        except PromtoolError as exc:
            print(f"progressive {command}: note: {exc}; the PromQL syntax was not checked here", file=sys.stderr)
            return True
        if problems is None:
            print(f"progressive {command}: {MISSING_NOTE}", file=sys.stderr)
            return True
        for problem in problems:
            print(f"progressive {command}: rollout {rollout!r}: {problem}", file=sys.stderr)
            clean = False
    return clean
