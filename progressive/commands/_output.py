"""Write generated files, or with ``--check`` compare them: shared by ``progressive compile`` and ``tasks``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from progressive.compile import GeneratedFile, stale_files, write_files

__all__ = ["write_or_check"]


def write_or_check(command: str, root: Path, files: Sequence[GeneratedFile], *, check: bool, again: str) -> int:
    """``--check``: list the files that differ on stdout, exit 1 if any. Else write them; exit 0.

    ``again`` is the command line that regenerates the files, quoted in the message.
    """
    if check:
        stale = stale_files(root, files)
        for path in stale:
            print(root / path)
        if stale:
            print(f"progressive {command}: {len(stale)} file(s) under {root} differ; run: {again}", file=sys.stderr)
            return 1
        return 0
    changed = write_files(root, files)
    print(f"{len(files)} files under {root}/ ({len(changed)} changed)", file=sys.stderr)
    return 0
