"""Task texts cut into sentences for the offline tasks: Austen's novels by chapter, the Jargon File by entry.

Plain Python and regular expressions only (no tokenizer), so the task files rebuild byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

# The texts the offline tasks draw from: test texts (never used to calibrate, choose or recover) and validation texts
# (Sense and Sensibility, the Jargon validation slice: the validation items of each task). Never a calibration text
# (Emma, Persuasion, the Jargon calibration slice), which is also the recovery text.
AUSTEN_BOOKS = ("prideprejudice", "mansfieldpark", "northangerabbey")
JARGON_TEXT = "jargon_heldout"
JARGON_TEST_TEXTS = (JARGON_TEXT, "jargon_test")
HELD_OUT_TEXTS = (*AUSTEN_BOOKS, *JARGON_TEST_TEXTS)
AUSTEN_VALIDATION = "sensesensibility"
JARGON_VALIDATION = "jargon_validation"
TASK_SOURCES = (*HELD_OUT_TEXTS, AUSTEN_VALIDATION, JARGON_VALIDATION)

STOPWORDS = frozenset(
    """
    about above after again against all also and any are aren because been before being below between both but can
    cannot could did does doing don down during each else ever every few for from further had has have having her
    here hers herself him himself his how however indeed into its itself just least less let like made make many may
    might mine more most much must myself never nor not now off once one only other ought our ours ourselves out over
    own quite rather said same say says shall she should since some still such than that the their theirs them
    themselves then there these they this those though through thus too under until upon very was were what when
    where which while who whom whose why will with without would yet you your yours yourself yourselves
    """.split()
)
_ABBREVIATIONS = ("Mr", "Mrs", "Dr", "St", "Col", "Messrs", "Esq", "e.g", "i.e", "etc", "vs")
_SENTENCE_END = re.compile(r"""(?<=[.!?])["')\]”’]*\s+(?=["'(\[“‘]?[A-Z])""")
_HEADING = re.compile(r"^(chapter|volume|book)\b|^[^a-z]*$", re.IGNORECASE)
_JARGON_ENTRY = re.compile(r"^:[^:]+:")


@dataclass(frozen=True)
class Sentence:
    text: str
    paragraph: int  # index of the paragraph it belongs to
    section: int  # index of the chapter (or dictionary entry) it belongs to: contexts never cross one
    n_words: int


def task_source_text(name: str) -> str:
    """The shipped text of a task source (one of :data:`TASK_SOURCES`).

    Example:
        >>> task_source_text("prideprejudice")[:9]
        'PRIDE AND'
    """
    if name not in TASK_SOURCES:
        raise ValueError(f"Unknown text {name!r}; allowed: {', '.join(TASK_SOURCES)} (test and validation texts).")
    return (files("optimum_hywia.data") / "texts" / f"{name}.txt").read_text(encoding="utf-8")


def split_sentences(paragraph: str) -> list[str]:
    """Split one normalised paragraph into sentences, not after titles such as ``Mr.``.

    Example:
        >>> split_sentences('Mr. Bennet came. "Is he married?" She left.')
        ['Mr. Bennet came.', '"Is he married?"', 'She left.']
    """
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        head = paragraph[start : match.start()]
        if re.search(r"\b(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")\.$", head):
            continue
        pieces.append(paragraph[start : match.end()].strip())
        start = match.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def _paragraphs(text: str) -> list[tuple[int, str]]:
    """Blank-line separated blocks, whitespace collapsed and ``_italics_`` marks dropped, with their index."""
    blocks = ((index, " ".join(block.replace("_", "").split())) for index, block in enumerate(re.split(r"\n\s*\n", text)))
    return [(index, paragraph) for index, paragraph in blocks if paragraph]


def sentences_of(text: str) -> list[Sentence]:
    """A novel cut into sentences; chapter headings (and short unpunctuated lines) start a new section."""
    out: list[Sentence] = []
    section = 0
    for index, paragraph in _paragraphs(text):
        if _HEADING.match(paragraph) or len(paragraph.split()) < 4 and not paragraph[-1:] in ".!?\"'":
            section += 1
            continue
        out.extend(Sentence(s, index, section, len(s.split())) for s in split_sentences(paragraph))
    return out


def jargon_sentences_of(text: str) -> list[Sentence]:
    """The Jargon File cut into sentences; each entry (a ``:headword:`` line) is a section, its heading dropped.

    Etymology blocks in square brackets (``[from ...]``) are dropped too: they are notes, not running prose.
    """
    out: list[Sentence] = []
    section = 0
    for index, paragraph in _paragraphs(text):
        if _JARGON_ENTRY.match(paragraph):
            section += 1
            continue
        if paragraph.startswith("[") or section == 0:  # section 0: the tail of an entry cut by the slice
            continue
        out.extend(Sentence(s, index, section, len(s.split())) for s in split_sentences(paragraph))
    return out


def sentences_of_source(name: str) -> list[Sentence]:
    """The sentences of a task source, cut the way its kind of text needs."""
    text = task_source_text(name)
    return jargon_sentences_of(text) if name.startswith("jargon") else sentences_of(text)


def join_sentences(sentences: list[Sentence]) -> str:
    """Sentences of one paragraph joined by a space, paragraphs by a newline."""
    text = sentences[0].text
    for prev, cur in zip(sentences, sentences[1:]):
        text += (" " if cur.paragraph == prev.paragraph else "\n") + cur.text
    return text
