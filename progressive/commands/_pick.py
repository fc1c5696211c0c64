"""Pick the one Rollout a command works on from a Python file (``progressive apply`` and ``progressive run``).

A file may declare several Rollouts; ``--rollout NAME`` chooses. Without it the file must declare exactly
one, so a command that changes a cluster never guesses which release the user meant.
"""

from __future__ import annotations

from progressive.commands._rollouts import LoadedRollout, load_rollouts
from progressive.errors import ConfigError

__all__ = ["pick_rollout"]


def pick_rollout(path: str, name: str) -> LoadedRollout:
    """The Rollout called ``name`` in ``path`` (any name when the file has only one and ``name`` is empty)."""
    loaded = load_rollouts([path])
    names = ", ".join(entry.rollout.name for entry in loaded)
    if name:
        for entry in loaded:
            if entry.rollout.name == name:
                return entry
        raise ConfigError(f"--rollout: {path} has no Rollout named {name!r} (it has: {names})")
    if len(loaded) > 1:
        raise ConfigError(f"{path} defines {len(loaded)} Rollouts ({names}); choose one with --rollout NAME")
    return loaded[0]
