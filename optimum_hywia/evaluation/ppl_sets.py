"""Named perplexity sets: the paper's WikiText2 / PTB, and the held-out texts shipped with the package.

A perplexity source is anything :func:`optimum_hywia.data.load_text` accepts (``builtin:<name>``, a text file, a
folder saved with ``save_to_disk``, ``hub:<dataset>[:<config>[:<split>]]``) or one of the short names in
:data:`PPL_SETS`. WikiText2 goes through ``load_text``'s Hub syntax; PTB needs its own reader because its rows live
in a ``sentence`` column and LLM-Pruner joins them with a space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..data.calibration import HubDatasetUnavailableError, load_text

DEFAULT_PPL_SOURCE = "builtin:prideprejudice"


@dataclass(frozen=True)
class HubTextSet:
    """A Hub dataset split read as one text: rows of ``column`` joined by ``separator``.

    Example:
        >>> HubTextSet("ptb_text_only", "penn_treebank", "validation", column="sentence", separator=" ").describe()
        'ptb_text_only penn_treebank validation'
    """

    path: str
    config: str | None
    split: str
    column: str
    separator: str
    revision: str | None = None

    def describe(self) -> str:
        return f"{self.path} {self.config or ''} {self.split}".replace("  ", " ")


# short name -> where it comes from (LLM-Pruner: wikitext-2-raw-v1 test joined by "\n\n"; PTB validation by " ")
PPL_SETS: dict[str, str | HubTextSet] = {
    "wikitext2": "hub:Salesforce/wikitext:wikitext-2-raw-v1:test",
    # `ptb_text_only` is a script dataset; datasets>=4 reads the Hub's automatic parquet conversion instead
    "ptb": HubTextSet("ptb_text_only", "penn_treebank", "validation", "sentence", " ", "refs/convert/parquet"),
    "prideprejudice": "builtin:prideprejudice",  # held-out, in domain (Austen, like the calibration text)
    "jargon": "builtin:jargon",  # held-out, out of domain (the Jargon File)
}


_OFFLINE_HINT = (
    f"Offline, measure perplexity on a held-out text shipped with the package ({DEFAULT_PPL_SOURCE!r} in domain, "
    f"'builtin:jargon' out of domain) or on a local text file."
)


def _load_hub_set(spec: HubTextSet) -> str:
    import datasets

    try:
        rows = datasets.load_dataset(spec.path, spec.config, split=spec.split, revision=spec.revision)
    except OSError as err:  # offline, connection errors, DatasetNotFoundError are all OSErrors
        raise HubDatasetUnavailableError(
            f"Could not fetch dataset {spec.describe()!r} from the Hugging Face Hub ({type(err).__name__}: {err}). "
            f"{_OFFLINE_HINT}"
        ) from err
    if spec.column not in rows.column_names:
        raise ValueError(f"Dataset {spec.describe()!r} has no {spec.column!r} column; columns: {rows.column_names}.")
    return spec.separator.join(str(t) for t in rows[spec.column] if t is not None)


def describe_ppl_source(source: str | os.PathLike | None) -> str:
    """The dataset a source stands for, spelled out for reports (``"ptb"`` -> ``"ptb_text_only penn_treebank ..."``).

    Example:
        >>> describe_ppl_source("wikitext2")
        'hub:Salesforce/wikitext:wikitext-2-raw-v1:test'
    """
    raw = DEFAULT_PPL_SOURCE if source is None else os.fspath(source)
    target = PPL_SETS.get(raw, raw)
    return target.describe() if isinstance(target, HubTextSet) else target


def load_ppl_text(source: str | os.PathLike | None = None) -> str:
    """The text of a perplexity source: a name of :data:`PPL_SETS` or anything ``load_text`` accepts.

    Offline, Hub sets raise :class:`optimum_hywia.data.HubDatasetUnavailableError` with a message that says so.

    Example:
        >>> text = load_ppl_text("jargon")
        >>> text = load_ppl_text("wikitext2")  # doctest: +SKIP
    """
    raw = DEFAULT_PPL_SOURCE if source is None else os.fspath(source)
    target = PPL_SETS.get(raw, raw)
    if isinstance(target, HubTextSet):
        return _load_hub_set(target)
    try:
        return load_text(target)
    except HubDatasetUnavailableError as err:  # its advice is about calibration text: give the evaluation one
        raise HubDatasetUnavailableError(f"{str(err).split(' Use a local')[0]} {_OFFLINE_HINT}") from err
