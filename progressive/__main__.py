"""``python -m progressive``: the same command as the ``progressive`` console script."""

from __future__ import annotations

import sys

from progressive.cli import main

if __name__ == "__main__":
    sys.exit(main())
