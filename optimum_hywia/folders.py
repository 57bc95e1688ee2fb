"""Writing a folder all at once, and refusing to replace a folder optimum-hywia did not write.

A save is written into a staging folder beside its target and moved into place only once complete, so a crash or
a kill leaves the previous save (or nothing) at the target, never half a save. An existing target is replaced only
when it is empty, when it is a previous optimum-hywia save, or when the caller asks for it with `overwrite=True`;
the current directory, its parents and the folder the model was loaded from are never replaced.

Example:
    >>> with atomic_directory("out/pruned") as staging:  # doctest: +SKIP
    ...     (staging / "config.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputFolderError

# files only optimum-hywia writes: a folder holding one of them is a previous save
SAVE_MARKERS = ("hywia_config.json", "hywia_results.json", "hywia_builtin.json")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_staging_folder(target: Path) -> Path:
    """A new empty folder beside `target`, with the permissions a plain `mkdir` would give (not mkdtemp's 0700)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    staging.chmod(0o777 & ~_current_umask())
    return staging


def _config_has_hywia_block(config_file: Path) -> bool:
    try:
        return isinstance(json.loads(config_file.read_text()).get("hywia"), dict)
    except (OSError, ValueError, AttributeError):
        return False


def is_previous_save(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a model saved by optimum-hywia (recognised by the files only it writes)."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in SAVE_MARKERS):
        return True
    return _config_has_hywia_block(folder / "config.json")


def _is_same_or_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_folder(
    target: str | os.PathLike, overwrite: bool = False, protected: Iterable[str | os.PathLike] = ()
) -> Path:
    """Raise `OutputFolderError` unless saving to `target` can replace whatever is there; return it resolved.

    `protected` lists folders that must survive the save (e.g. the one the model was loaded from).
    """
    resolved = Path(target).expanduser().resolve()
    if _is_same_or_inside(Path.cwd().resolve(), resolved):
        raise OutputFolderError(
            f"Refusing to save to {str(target)!r}: it is the current directory or one of its parents. "
            "Pass a new folder, e.g. `--output ./pruned-model`."
        )
    for source in protected:
        source_path = Path(source).expanduser()
        if source_path.is_dir() and _is_same_or_inside(source_path.resolve(), resolved):
            raise OutputFolderError(
                f"Refusing to save to {str(target)!r}: the model being saved was loaded from {str(source)!r}, "
                "which the save would replace. Pass a different output folder."
            )
    if not resolved.exists() and not resolved.is_symlink():
        return resolved
    if not resolved.is_dir():
        raise OutputFolderError(f"Cannot save to {str(target)!r}: it exists and is not a folder. Pass a new folder.")
    if not overwrite and any(resolved.iterdir()) and not is_previous_save(resolved):
        raise OutputFolderError(
            f"Refusing to replace {str(target)!r}: it is not empty and is not a model saved by optimum-hywia, so "
            "saving would delete its contents. Pass a new folder, or `--overwrite` (`overwrite=True`) to replace it."
        )
    return resolved


def _replace_folder(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, retired / target.name)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(
    save_directory: str | os.PathLike, overwrite: bool = False, protected: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a staging folder that replaces `save_directory` only once the block has finished without error.

    The target is checked first (see `check_output_folder`); an interrupted save leaves the previous content of
    `save_directory` (or nothing) in place, never a mix.
    """
    target = check_output_folder(save_directory, overwrite, protected)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_folder(target)
    try:
        yield staging
        _replace_folder(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
