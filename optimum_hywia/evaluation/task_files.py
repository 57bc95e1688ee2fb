"""Where the offline zero-shot tasks are shipped and how their JSONL is written (`tools/build_tasks.py` builds them)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path


def to_jsonl(items: list[dict]) -> str:
    """One JSON object per line, UTF-8, keys in insertion order, a final newline."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def shipped_dir() -> Path:
    """The folder the offline tasks are shipped in (inside the installed package)."""
    return Path(str(files("optimum_hywia.evaluation") / "tasks"))
