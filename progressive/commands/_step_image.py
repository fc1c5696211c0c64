"""``--image REF``: the step image the generated Tasks run, for ``progressive compile`` and ``progressive tasks``.

The default (:data:`~progressive.model.DEFAULT_STEP_IMAGE`) is the name ``scripts/image build`` gives the image it
builds; after ``scripts/image push REF`` the user passes what that printed, ``REF@sha256:...``, so every Task runs
exactly the image that was pushed.
"""

from __future__ import annotations

import argparse

from progressive.errors import ConfigError
from progressive.model import DEFAULT_STEP_IMAGE, check_image

__all__ = ["add_image_argument", "checked_image"]


def add_image_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--image REF`` on ``parser``; ``what`` says what it replaces."""
    parser.add_argument(
        "--image",
        metavar="REF",
        help=f"Step image for {what}, pinned by digest: the REF@sha256:... that `scripts/image push` printed "
        f"(default: {DEFAULT_STEP_IMAGE}, what `scripts/image build` names its image).",
    )


def checked_image(value: str | None) -> str | None:
    """The ``--image`` value if it is a pinned reference; a :class:`ConfigError` naming the flag otherwise."""
    if value is None:
        return None
    try:
        return check_image(value)
    except ValueError as exc:
        raise ConfigError(f"--image: {exc}") from None
