"""Run ``progressive`` on a pseudo-terminal and read the screen a person would see at the end.

The child's stdout and stderr are the follower side of a pty sized ``columns`` x ``rows``; everything it
writes (cursor moves, line erases, colours) goes through pyte, a VT100 terminal emulator, so the result is the
final screen, not the byte stream: what an in-place display leaves behind.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyte

__all__ = ["run_on_a_terminal"]

REPO = Path(__file__).resolve().parents[2]


def run_on_a_terminal(
    args: Sequence[str], env: Mapping[str, str], *, columns: int = 200, rows: int = 60, timeout: float = 300.0
) -> tuple[int, str]:
    """Run ``progressive ARGS`` on a terminal; its exit code and the final screen (lines right-stripped)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    child_env = {key: value for key, value in env.items() if key not in {"COLUMNS", "LINES"}}
    child_env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "progressive.cli", *args],
        cwd=REPO,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            stream.feed(chunk)
    finally:
        os.close(leader)
    code = process.wait(timeout=timeout)
    return code, "\n".join(line.rstrip() for line in screen.display)
