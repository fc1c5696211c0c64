"""Run a program inside a fresh network namespace whose only way out is a relay to the API server.

Started as ``unshare --net -- python -m tests.support.cluster.netns --forward tcp:127.0.0.1:PORT=unix:PATH --
PROGRAM ARGS...``: brings ``lo`` up, relays ``127.0.0.1:PORT`` (inside) to the Unix socket ``PATH`` (served by
a host-side :mod:`tests.support.cluster.relay`), runs the program and exits with its status. Whatever the
program listens on stays inside the namespace. Used for Tekton's controller (see :mod:`.relay`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import threading
from types import FrameType

from tests.support.cluster.relay import serve

__all__ = ["main"]


def _relay_in_background(listen: str, connect: str) -> None:
    started = threading.Event()

    def run() -> None:
        async def go() -> None:
            ready = asyncio.Event()
            task = asyncio.create_task(serve(listen, connect, ready))
            await ready.wait()
            started.set()
            await task

        asyncio.run(go())

    threading.Thread(target=run, name="relay", daemon=True).start()
    if not started.wait(10):
        raise RuntimeError(f"the relay {listen} -> {connect} did not start")


def main(argv: list[str] | None = None) -> int:
    """Bring up ``lo``, start the relays, run the program; its exit status is ours."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.cluster.netns")
    parser.add_argument("--forward", action="append", default=[], help="tcp:HOST:PORT=unix:PATH (repeatable)")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        parser.error("no program given")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for forward in args.forward:
        listen, _, connect = forward.partition("=")
        _relay_in_background(listen, connect)
    child = subprocess.Popen(program)

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
