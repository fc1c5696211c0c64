"""The one place the compiler touches the file system: write generated files, or compare them with disk.

Generated trees are owned per top-level folder (``<rollout>/`` under the pipelines folder,
``progressive-<command>/`` under the tasks folder): writing replaces the folder's files and removes files
the compiler no longer generates there, so a hook removed from a rollout does not leave a stale
``hooks.yaml`` behind. Files outside those folders are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["GeneratedFile", "stale_files", "write_files"]


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """One generated file: a path relative to the output folder and its full text."""

    path: PurePosixPath
    content: str

    @property
    def data(self) -> bytes:
        """The bytes written to disk: UTF-8, Unix line ends on every platform."""
        return self.content.encode("utf-8")


def _owned_folders(files: Iterable[GeneratedFile]) -> set[str]:
    return {file.path.parts[0] for file in files if len(file.path.parts) > 1}


def _existing(root: Path, folders: Iterable[str]) -> set[PurePosixPath]:
    found: set[PurePosixPath] = set()
    for folder in folders:
        base = root / folder
        if base.is_dir():
            found.update(PurePosixPath(path.relative_to(root).as_posix()) for path in base.rglob("*") if path.is_file())
    return found


def stale_files(root: Path, files: Sequence[GeneratedFile]) -> list[str]:
    """Paths (relative to ``root``) that differ from, are missing from, or should not be in the generated set."""
    stale: list[str] = []
    wanted = {file.path for file in files}
    for file in files:
        target = root / file.path
        if not target.is_file() or target.read_bytes() != file.data:
            stale.append(str(file.path))
    stale.extend(str(path) for path in sorted(_existing(root, _owned_folders(files)) - wanted))
    return sorted(stale)


def write_files(root: Path, files: Sequence[GeneratedFile]) -> list[str]:
    """Write ``files`` under ``root``; remove other files in the folders they own. Returns what changed."""
    changed = stale_files(root, files)
    wanted = {file.path for file in files}
    for path in _existing(root, _owned_folders(files)) - wanted:
        (root / path).unlink()
    for file in files:
        target = root / file.path
        if target.is_file() and target.read_bytes() == file.data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
    return changed
