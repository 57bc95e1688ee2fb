"""Names of the shipped texts and the checks on a text source that need no reading: the bottom of the data layer.

The configuration validates `calibration_data` with `check_text_source` without importing the data loaders.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CalibrationDataError

# name -> domains; each domain is a tuple of files (under data/texts/) joined into one text.
BUILTIN_TEXTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "austen": (("emma.txt", "persuasion.txt"),),
    "mixed": (("emma.txt", "persuasion.txt"), ("jargon_calibration.txt",)),
    "prideprejudice": (("prideprejudice.txt",),),
    "sensesensibility": (("sensesensibility.txt",),),
    "mansfieldpark": (("mansfieldpark.txt",),),
    "northangerabbey": (("northangerabbey.txt",),),
    "jargon": (("jargon_heldout.txt",),),
    "jargon_test": (("jargon_test.txt",),),
    "jargon_validation": (("jargon_validation.txt",),),
    "validation": (("sensesensibility.txt",), ("jargon_validation.txt",)),  # HyWIA's plan pick (`selection_data`)
}


def shared_builtin_files(first: str, second: str) -> set[str]:
    """The shipped files two `builtin:` sources both read (empty when either is not a builtin)."""
    def files_of(source: str) -> set[str]:
        if not source.startswith("builtin:") or source[len("builtin:"):] not in BUILTIN_TEXTS:
            return set()
        return {name for domain in BUILTIN_TEXTS[source[len("builtin:"):]] for name in domain}

    return files_of(first) & files_of(second)


def check_builtin_name(name: str) -> None:
    if name not in BUILTIN_TEXTS:
        raise CalibrationDataError(f"Unknown builtin text {name!r}; allowed names: {', '.join(sorted(BUILTIN_TEXTS))}.")


def check_text_source(source: str | os.PathLike) -> None:
    """Raise `CalibrationDataError` for a source that is surely a mistake (checked without reading anything):
    raw text passed where a source is expected, or a builtin name without its `builtin:` prefix."""
    raw = os.fspath(source)
    looks_like_text = "\n" in raw or len(raw) >= 256
    if not looks_like_text and Path(raw).expanduser().exists():
        return
    if raw.startswith("builtin:"):
        check_builtin_name(raw[len("builtin:"):])
    elif looks_like_text or any(char.isspace() for char in raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise CalibrationDataError(
            f"{shown!r} is neither an existing file or folder nor a `builtin:<name>` / `hub:<dataset>` source. To "
            "use this string itself as the text, pass it as `text=...`."
        )
    elif raw in BUILTIN_TEXTS:
        raise CalibrationDataError(
            f"{raw!r} is not a file or folder; the shipped text of that name is {'builtin:' + raw!r}. Write "
            f"`builtin:{raw}` (or `hub:{raw}` for a Hub dataset of that name)."
        )
