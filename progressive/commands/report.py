"""``progressive report ROLLOUT [-n NS] [--run RUN] -o report.html``: one run as a self-contained HTML page.

It reads the rollout's state record (its ``timeline``: each verified weight, analysis poll, verdict, gate
decision and the end, as the steps wrote them) and the Events the steps recorded since the run began, and
writes one HTML file that opens offline: the outcome and why in one sentence, the canary weight per stage,
canary and baseline error and slow-request rates per poll, the judge's evidence against its rollback line
with each decision marked, the gates (who, when) and the Events. The plots are drawn by matplotlib
(``pip install 'tekton-progressive[report]'``).

The record keeps the newest run of the rollout only: ``--run`` names the run the report must be about and
fails (exit 3) when the record has moved on to another run. ``-o -`` writes the page to stdout.

Exit codes: 0 written, 2 bad input (or matplotlib missing), 3 no record or another run, 5 the API kept
failing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from progressive.commands._connection import add_cluster_arguments, api_timeout, connect_to_cluster, kube_context
from progressive.errors import ConfigError, NotFoundError, StepError
from progressive.naming import is_dns_label, state_configmap

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive report``."""
    parser.add_argument("rollout", metavar="ROLLOUT", help="Rollout name.")
    parser.add_argument("-n", "--namespace", default="", help="Namespace (default: the current context's, or default).")
    parser.add_argument("--run", default="", help="The run the report must be about (default: the newest).")
    parser.add_argument("-o", "--output", required=True, help="HTML file to write ('-': stdout).")
    parser.add_argument(
        "--api-timeout", default="30s", help="Time limit for retrying one API call (Go duration, default 30s)."
    )
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Write the report; see the module docstring."""
    rollout: str = args.rollout
    if not is_dns_label(rollout):
        raise ConfigError(f"ROLLOUT: {rollout!r} is not a rollout name (lower-case DNS label)")
    timeout = api_timeout(args)
    namespace = args.namespace or kube_context(args).namespace or "default"
    from progressive.report.page import render  # noqa: PLC0415 - matplotlib only when a report is written
    from progressive.report.story import tell  # noqa: PLC0415

    try:
        kube = connect_to_cluster(args)
        try:
            from progressive.kube.objects import Objects  # noqa: PLC0415
            from progressive.kube.resources import EVENTS  # noqa: PLC0415
            from progressive.kube.state_store import StateStore  # noqa: PLC0415

            objects = Objects(kube, timeout)
            store = StateStore(kube, namespace, rollout, api_timeout=timeout)
            if objects.find(store.ref) is None:
                raise NotFoundError(
                    f"rollout {namespace}/{rollout} has no state record (ConfigMap {state_configmap(rollout)}): "
                    "it never ran here; check the name and -n"
                )
            state = store.read()
            if args.run and state.run_id != args.run:
                raise NotFoundError(
                    f"--run: the record of {namespace}/{rollout} is about run {state.run_id or '(none)'}, not "
                    f"{args.run}; it keeps the newest run only (earlier ones: {'; '.join(state.history) or 'none'})"
                )
            events = objects.list(EVENTS, namespace)
        finally:
            kube.close()
    except StepError as exc:
        print(f"progressive report: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    story = tell(rollout, namespace, state, events, now=time.time())
    page = render(story)
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    target = Path(args.output)
    target.write_text(page, encoding="utf-8")
    print(f"{target}: {story.outcome}")
    return 0
