"""``python -m tests.support.cluster up | down | status [--run DIR]``: what ``scripts/cluster`` runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.support.cluster.binaries import BuildMissing
from tests.support.cluster.cluster import ClusterFailed, LocalCluster

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    """Start, stop or describe the local cluster whose state is in ``--run`` (default ``.cluster/``)."""
    parser = argparse.ArgumentParser(
        prog="scripts/cluster",
        description="A real local Kubernetes control plane with Tekton's controller (see tests/support/cluster).",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--run", type=Path, default=REPO / ".cluster", help="state directory (default: .cluster)")
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.run)
    if args.command == "down":
        stopped = cluster.down()
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        return 0
    if args.command == "status":
        report = cluster.status()
        print(json.dumps(report, indent=2))
        return 0 if all(report["components"].values()) else 1
    started = time.monotonic()
    try:
        cluster.up()
    except (BuildMissing, ClusterFailed, TimeoutError) as error:
        print(f"scripts/cluster up: {error}", file=sys.stderr)
        return 1
    print(f"cluster up in {time.monotonic() - started:.1f} s; logs in {cluster.run / 'logs'}")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    print(f"export PATH={cluster.run / 'bin'}:$PATH    # kubectl v1.37, built with the cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
