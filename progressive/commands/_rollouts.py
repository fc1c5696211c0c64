"""Load the Rollouts a user's Python file declares (for ``compile``, ``plan`` and ``run``).

The file is imported as a module with a unique name, with its own folder importable (so it can import
its neighbours), and every module-level ``Rollout`` is collected, also inside module-level lists and
tuples, in definition order. Whatever goes wrong becomes one :class:`ConfigError` line that names the
file (and the line, when the error happened in it): a model error, an exception in the user's code, no
Rollout at all, or two different Rollouts with the same name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from progressive.errors import ConfigError
from progressive.model import ModelError, Rollout

__all__ = ["LoadedRollout", "load_rollouts"]


@dataclass(frozen=True, slots=True)
class LoadedRollout:
    """A Rollout and the file that declared it."""

    rollout: Rollout
    path: Path

    @property
    def source(self) -> str:
        """The file's name, as generated files quote it (stable wherever the command runs)."""
        return self.path.name


def _where(path: Path, exc: BaseException) -> str:
    """``FILE:LINE`` of the deepest frame inside the user's file, else ``FILE``."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None and exc.filename == str(path):
        return f"{path}:{exc.lineno}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    return f"{path}:{line}" if line is not None else str(path)


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"_progressive_rollouts_{path.stem.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ModelError as exc:
        sys.modules.pop(name, None)
        count = f" ({len(exc.lines)} problems)" if len(exc.lines) > 1 else ""
        raise ConfigError(f"{_where(path, exc)}: invalid {exc.model}{count}: {'; '.join(exc.lines)}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"{_where(path, exc)}: {type(exc).__name__}: {_one_line(str(exc))}") from None
    finally:
        sys.path.remove(folder)
    return module


def _rollouts_in(module: ModuleType) -> Iterator[Rollout]:
    for value in vars(module).values():
        if isinstance(value, Rollout):
            yield value
        elif isinstance(value, list | tuple):
            yield from (item for item in value if isinstance(item, Rollout))


def load_rollouts(paths: Sequence[str | Path]) -> list[LoadedRollout]:
    """Every distinct Rollout of every file, in file and definition order; names unique across files."""
    loaded: list[LoadedRollout] = []
    by_name: dict[str, LoadedRollout] = {}
    for given in paths:
        path = Path(given).resolve()
        if not path.is_file():
            raise ConfigError(f"{given}: no such file")
        if path.suffix != ".py":
            raise ConfigError(f"{given}: not a Python file (.py)")
        found = 0
        for rollout in _rollouts_in(_import(path)):
            found += 1
            seen = by_name.get(rollout.name)
            if seen is not None:
                if seen.rollout == rollout:
                    continue  # the same rollout listed twice (e.g. by name and in a list)
                raise ConfigError(
                    f"{given}: two different Rollouts are named {rollout.name!r} (the other is in {seen.source}); "
                    "names must be unique: each becomes a Pipeline"
                )
            entry = LoadedRollout(rollout, path)
            by_name[rollout.name] = entry
            loaded.append(entry)
        if not found:
            raise ConfigError(
                f"{given}: defines no Rollout at module level (assign one to a variable, or list them in a list)"
            )
    return loaded
