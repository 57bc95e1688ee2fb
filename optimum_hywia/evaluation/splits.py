"""Three roles for every shipped text and task item: calibration, validation, test.

* **calibration**: the text that pruning scores on and recovery trains on (``builtin:austen``, ``builtin:mixed``).
* **validation**: everything a choice is made on: HyWIA's plan pick (``builtin:validation``), defaults, studies,
  sweeps. Texts and items that any earlier result was read from are validation too: the opening windows of Pride
  and Prejudice and of the Jargon File's held-out slice (perplexity), and the first :data:`LOOKED_AT_ITEMS` items of
  each of the first four offline tasks (scored in earlier recovery tables).
* **test**: the final tables only. Nothing here was looked at while choosing: Mansfield Park and the Jargon File's
  test slice for perplexity, and every other task item drawn from a test text.

The rule is fixed and seed-free (an item's role follows from its task, its position in the shipped file and the text
it was drawn from), so a rebuild of the task files gives the same splits byte for byte.

Example:
    >>> item_split("austen_lastword", 3, {"book": "prideprejudice"})
    'validation'
    >>> item_split("austen_lastword", 300, {"book": "prideprejudice"})
    'test'
    >>> check_split("test", purpose="final table")
    'test'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CALIBRATION = "calibration"
VALIDATION = "validation"
TEST = "test"
SPLITS = (VALIDATION, TEST)

# the texts tasks are drawn from -> the role of every item drawn from them
SOURCE_SPLITS: dict[str, str] = {
    "prideprejudice": TEST,
    "mansfieldpark": TEST,
    "northangerabbey": TEST,
    "jargon_heldout": TEST,
    "jargon_test": TEST,
    "sensesensibility": VALIDATION,
    "jargon_validation": VALIDATION,
}
# the tasks shipped before the splits existed: their first items were scored in earlier tables
LOOKED_AT_TASKS = ("austen_lastword", "austen_nextsentence", "austen_names", "jargon_nextsentence")
LOOKED_AT_ITEMS = 20

# perplexity texts of each split: (in domain, out of domain)
PPL_SOURCES: dict[str, dict[str, str]] = {
    VALIDATION: {"in_domain": "builtin:prideprejudice", "out_of_domain": "builtin:jargon"},
    TEST: {"in_domain": "builtin:mansfieldpark", "out_of_domain": "builtin:jargon_test"},
}
# what runs on which split: a choice (study, sweep, default, pick) never sees the test split
PURPOSES: dict[str, tuple[str, ...]] = {
    "study": (VALIDATION,),
    "sweep": (VALIDATION,),
    "default": (VALIDATION,),
    "final table": (VALIDATION, TEST),
}


def check_split(split: str, purpose: str = "final table") -> str:
    """Return ``split`` if ``purpose`` may run on it, else raise one ``ValueError`` naming both.

    Example:
        >>> check_split("validation", purpose="sweep")
        'validation'
    """
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown purpose {purpose!r}; allowed: {', '.join(PURPOSES)}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; allowed: {', '.join(SPLITS)}.")
    allowed = PURPOSES[purpose]
    if split not in allowed:
        raise ValueError(
            f"A {purpose} chooses something, so it runs on the validation split only; got split={split!r}. The test "
            "split is for the final tables (benchmark_recovery.py --split test)."
        )
    return split


def item_split(task: str, position: int, item: Mapping[str, Any]) -> str:
    """The split of one task item: the role of the text it was drawn from, except for the looked-at items."""
    if task in LOOKED_AT_TASKS and position < LOOKED_AT_ITEMS:
        return VALIDATION
    source = item.get("book")
    if source not in SOURCE_SPLITS:
        raise ValueError(f"Item {item.get('id')!r} of task {task!r} names no known source text ({source!r}).")
    return SOURCE_SPLITS[source]


def split_items(task: str, items: Iterable[Mapping[str, Any]], split: str) -> list[Mapping[str, Any]]:
    """The items of ``task`` in ``split``, in their shipped order."""
    check_split(split)
    return [item for position, item in enumerate(items) if item_split(task, position, item) == split]


def ppl_sources(split: str) -> dict[str, str]:
    """The perplexity texts of a split: ``{"in_domain": ..., "out_of_domain": ...}``."""
    return dict(PPL_SOURCES[check_split(split)])
