"""Run the in-memory API server outside pytest: ``python -m tests.support.kubeapi``.

Serves on 127.0.0.1 (``--port 0`` picks a free port), writes an admin kubeconfig, optionally seeds
objects from YAML files and turns the simulated controllers on, then prints one JSON line
(``{"url": ..., "kubeconfig": ...}``) on stdout and serves until SIGINT/SIGTERM. The demo script uses it as
the cluster; ``KUBECONFIG=<path> kubectl get ...`` works against it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tests.support.kubeapi.kube import Kube
from tests.support.kubeapi.server import KubeApiServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.support.kubeapi", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated names and fault draws")
    parser.add_argument("--objects", type=Path, action="append", default=[], help="YAML file of objects to seed")
    parser.add_argument("--deployments", action="store_true", help="turn the simulated Deployment controller on")
    parser.add_argument("--routes", action="store_true", help="turn the simulated Gateway route-status controller on")
    parser.add_argument("--controller-delay", type=float, default=0.0, help="seconds before controllers react")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.port < 0 or args.port > 65535:
        print(f"--port: {args.port} is not a TCP port (0-65535)", file=sys.stderr)
        return 2
    try:
        server = KubeApiServer(host=args.host, port=args.port, seed=args.seed)
    except OSError as exc:
        print(f"--port: cannot bind {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    server.reset(seed=args.seed)
    server.start()
    kube = Kube(server, args.kubeconfig.parent, args.kubeconfig)
    for path in args.objects:
        try:
            kube.seed(path.read_text())
        except (OSError, ValueError, KeyError) as exc:
            print(f"--objects {path}: {exc}", file=sys.stderr)
            server.stop()
            return 2
    if args.deployments:
        kube.controllers.deployments.enable(delay=args.controller_delay)
    if args.routes:
        kube.controllers.routes.enable(delay=args.controller_delay)

    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(json.dumps({"url": server.url, "kubeconfig": str(kube.kubeconfig)}), flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
