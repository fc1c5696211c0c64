"""A view that is redrawn in place on a terminal and printed only when it changes anywhere else.

``progressive status --watch`` shows its table through it, and ``progressive start --follow`` the rollout's
status under the lines of the run's progress. On a terminal the view is a ``rich`` Live display (lines go
above it); in a log or a pipe, or without ``rich``, each changed view is printed in full, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live

__all__ = ["Watch"]


@dataclass
class Watch:
    """Show successive versions of a text; ``live`` asks for in-place updates (a terminal)."""

    out: IO[str]
    live: bool
    _shown: str | None = None
    _live: Live | None = field(default=None)

    def __enter__(self) -> Watch:
        if self.live:
            try:
                from rich.console import Console  # noqa: PLC0415
                from rich.live import Live  # noqa: PLC0415
            except ImportError:  # rich is left out of the step image
                self.live = False
                return self
            console = Console(file=self.out, force_terminal=True, highlight=False)
            self._live = Live("", console=console, auto_refresh=False)
            self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show(self, text: str, *, changed: str | None = None) -> None:
        """The view now; ``changed`` is what tells two views apart (default: the text itself)."""
        key = text if changed is None else changed
        if self._live is not None:
            from rich.text import Text  # noqa: PLC0415

            self._live.update(Text(text), refresh=True)
        elif key != self._shown:
            print(text, file=self.out, flush=True)
            if "\n" in text:
                print(file=self.out, flush=True)
        self._shown = key

    def line(self, text: str) -> None:
        """A permanent line (above the view on a terminal)."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.out, flush=True)
