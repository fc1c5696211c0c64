"""Load the Rollouts (and Apps) a user's Python file declares (for ``compile``, ``plan`` and ``run``).

The file is imported as a module with a unique name, with its own folder importable (so it can import
its neighbours), and every module-level ``Rollout`` is collected, also inside module-level lists and
tuples, in definition order; ``compile`` also collects every ``App`` (several versions live at once).
Whatever goes wrong becomes one :class:`ConfigError` line that names the file (and the line, when the
error happened in it): a model error, an exception in the user's code, nothing to compile, or two
different declarations with the same name.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from progressive.errors import ConfigError
from progressive.model import ModelError, Rollout
from progressive.model.versions import App

__all__ = ["Declarations", "LoadedApp", "LoadedRollout", "load_declarations", "load_rollouts"]


@dataclass(frozen=True, slots=True)
class LoadedRollout:
    """A Rollout and the file that declared it."""

    rollout: Rollout
    path: Path

    @property
    def source(self) -> str:
        """The file's name, as generated files quote it (stable wherever the command runs)."""
        return self.path.name


@dataclass(frozen=True, slots=True)
class LoadedApp:
    """An App and the file that declared it."""

    app: App
    path: Path

    @property
    def source(self) -> str:
        """The file's name, as generated files quote it."""
        return self.path.name


@dataclass(frozen=True, slots=True)
class Declarations:
    """What the files declare, in file and definition order."""

    rollouts: list[LoadedRollout]
    apps: list[LoadedApp]


def _where(path: Path, exc: BaseException) -> str:
    """``FILE:LINE`` of the deepest frame inside the user's file, else ``FILE``."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None and exc.filename == str(path):
        return f"{path}:{exc.lineno}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    return f"{path}:{line}" if line is not None else str(path)


def _failing_call(path: Path, exc: BaseException) -> tuple[int, int] | None:
    """``(line, column)`` of the expression in the user's file that raised, deepest frame first."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == path and frame.lineno is not None and frame.colno is not None:
            found = (frame.lineno, frame.colno)
    return found


def _called(node: ast.AST) -> str | None:
    """``Name`` of ``Name(...)`` or ``module.Name(...)``."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


_ENCLOSING = ("Rollout", "App")
"""The declarations a failing part is looked up in."""


def _path_in_rollout(path: Path, exc: ModelError) -> tuple[str, str] | None:
    """Where the failing model sits in the ``Rollout(...)`` (or ``App(...)``) around it, e.g. ``steps[3]``.

    A part (``SetWeight(weight=120)``) is validated when it is built, before the Rollout exists, so
    its error only knows its own fields. The source knows the rest: walk up from the failing call
    through keyword arguments and list items to the enclosing ``Rollout(...)``, also through one
    module-level name (``steps=_STEPS``). Returns (the declaration's kind, the path); ``None`` when the part is
    not written inside one.
    """
    where = _failing_call(path, exc)
    if where is None or exc.model in _ENCLOSING:
        return None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    start = next(
        (
            node
            for node in ast.walk(tree)
            if _called(node) == exc.model and (node.lineno, node.col_offset) == where  # type: ignore[attr-defined]
        ),
        None,
    )
    node: ast.AST | None = start
    parts: list[str] = []
    followed = False
    while node is not None:
        parent = parents.get(node)
        if isinstance(parent, ast.keyword) and parent.arg is not None:
            parts.append(parent.arg)
            call = parents.get(parent)
            kind = _called(call) if call is not None else None
            if kind in _ENCLOSING:
                return str(kind), _join(reversed(parts))
            node = call
        elif isinstance(parent, ast.List | ast.Tuple) and node in parent.elts:
            parts.append(f"[{parent.elts.index(node)}]")
            node = parent
        elif isinstance(parent, ast.Assign) and not followed and len(parent.targets) == 1:
            target = parent.targets[0]
            if not isinstance(target, ast.Name) or parents.get(parent) is not tree:
                return None
            node = _use_of(tree, target.id)
            followed = True
        else:
            return None
    return None


def _use_of(tree: ast.Module, name: str) -> ast.AST | None:
    """The first ``field=NAME`` keyword value inside a ``Rollout(...)`` or ``App(...)`` call."""
    for node in ast.walk(tree):
        if _called(node) in _ENCLOSING:
            for keyword in node.keywords:  # type: ignore[attr-defined]
                if isinstance(keyword.value, ast.Name) and keyword.value.id == name:
                    return keyword.value
    return None


def _join(parts: Iterable[str]) -> str:
    """Path parts as one path: ``steps``, ``[3]``, ``weight`` -> ``steps[3].weight``."""
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else f".{part}"
    return text


def _model_error_text(path: Path, exc: ModelError) -> str:
    """``FILE:LINE: invalid Rollout: steps[3].weight: 120 is above 100``, or the part's own name."""
    model, lines = exc.model, exc.lines
    inside = _path_in_rollout(path, exc)
    if inside is not None:
        model, at = inside
        lines = [f"{_join([at, field] if field else [at])}: {text}" for field, text in exc.problems]
    count = f" ({len(lines)} problems)" if len(lines) > 1 else ""
    return f"{_where(path, exc)}: invalid {model}{count}: {'; '.join(lines)}"


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
        raise ConfigError(_model_error_text(path, exc)) from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"{_where(path, exc)}: {type(exc).__name__}: {_one_line(str(exc))}") from None
    finally:
        sys.path.remove(folder)
    return module


def _declared(module: ModuleType) -> Iterator[Rollout | App]:
    for value in vars(module).values():
        if isinstance(value, Rollout | App):
            yield value
        elif isinstance(value, list | tuple):
            yield from (item for item in value if isinstance(item, Rollout | App))


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOU" else "a"


def load_declarations(paths: Sequence[str | Path], *, apps: bool = True) -> Declarations:
    """Every distinct Rollout (and, with ``apps``, App) of every file; names unique across files and kinds.

    A Rollout and an App may not share a name either: each name becomes an output folder.
    """
    found = Declarations([], [])
    by_name: dict[str, tuple[Rollout | App, str]] = {}
    wanted = "Rollout or App" if apps else "Rollout"
    for given in paths:
        path = Path(given).resolve()
        if not path.is_file():
            raise ConfigError(f"{given}: no such file")
        if path.suffix != ".py":
            raise ConfigError(f"{given}: not a Python file (.py)")
        count = 0
        for declared in _declared(_import(path)):
            if isinstance(declared, App) and not apps:
                continue
            count += 1
            kind = type(declared).__name__
            seen = by_name.get(declared.name)
            if seen is not None:
                if seen[0] == declared:
                    continue  # the same declaration listed twice (e.g. by name and in a list)
                other = type(seen[0]).__name__
                raise ConfigError(
                    f"{given}: {_article(kind)} {kind} and {_article(other)} {other} are both named {declared.name!r} "
                    f"(the other is in {seen[1]}); "
                    "names must be unique: each becomes an output folder"
                    if kind != other
                    else f"{given}: two different {kind}s are named {declared.name!r} (the other is in {seen[1]}); "
                    "names must be unique: each becomes a Pipeline"
                )
            by_name[declared.name] = (declared, path.name)
            if isinstance(declared, Rollout):
                found.rollouts.append(LoadedRollout(declared, path))
            else:
                found.apps.append(LoadedApp(declared, path))
        if not count:
            raise ConfigError(
                f"{given}: defines no {wanted} at module level (assign one to a variable, or list them in a list)"
            )
    return found


def load_rollouts(paths: Sequence[str | Path]) -> list[LoadedRollout]:
    """Every distinct Rollout of every file, in file and definition order; names unique across files."""
    return load_declarations(paths, apps=False).rollouts
