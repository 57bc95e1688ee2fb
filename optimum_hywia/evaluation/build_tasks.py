"""Build the offline zero-shot tasks shipped under ``optimum_hywia/evaluation/tasks/`` from held-out Austen text.

Only *Pride and Prejudice* and *Sense and Sensibility* are used (never the calibration texts *Emma*, *Persuasion* or
the Jargon File). Everything is plain Python with a seeded ``random.Random``: no model, no tokenizer, so the JSONL
files are reproduced byte for byte by::

    python -m optimum_hywia.evaluation.build_tasks            # rewrite the shipped files
    python -m optimum_hywia.evaluation.build_tasks --check    # exit 1 if the shipped files differ

* ``austen_lastword`` (LAMBADA-style): a passage of 50-110 words ending a sentence; the model must produce its last
  word. Kept only when that word is a content word (3+ letters, not a stopword) that already occurs in the passage.
* ``austen_nextsentence`` (HellaSwag-style): three consecutive sentences, then four candidate next sentences: the
  true one and three sentences of similar length drawn from far away in the same book.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

BOOKS = ("prideprejudice", "sensesensibility")
SEED = 20250
ITEMS_PER_BOOK = 200
LASTWORD_WORDS = (50, 110)  # passage length range, in words
NEXT_CONTEXT_SENTENCES = 3
NEXT_CONTEXT_WORDS = (20, 120)
NEXT_ENDING_WORDS = (6, 40)
DISTRACTOR_MIN_DISTANCE = 200  # sentences between the context and any distractor
DISTRACTOR_LENGTH_RATIO = 1.35  # distractor word count within [n / r, n * r] of the true ending
TASK_FILES = {"austen_lastword": "austen_lastword.jsonl", "austen_nextsentence": "austen_nextsentence.jsonl"}

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
_ABBREVIATIONS = ("Mr", "Mrs", "Dr", "St", "Col", "Messrs", "Esq")
_SENTENCE_END = re.compile(r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z])""")
_HEADING = re.compile(r"^(chapter|volume|book)\b|^[^a-z]*$", re.IGNORECASE)
_LAST_WORD = re.compile(r"""(?<= )([A-Za-z]+)([.!?;:,"')\]]*)$""")


@dataclass(frozen=True)
class Sentence:
    text: str
    paragraph: int  # index of the paragraph it belongs to
    section: int  # index of the chapter it belongs to (contexts never cross a chapter heading)
    n_words: int


def book_text(book: str) -> str:
    """The shipped held-out text of ``book`` (one of :data:`BOOKS`)."""
    if book not in BOOKS:
        raise ValueError(f"Unknown book {book!r}; allowed: {', '.join(BOOKS)} (held-out texts only).")
    return (files("optimum_hywia.data") / "texts" / f"{book}.txt").read_text(encoding="utf-8")


def split_sentences(paragraph: str) -> list[str]:
    """Split one normalised paragraph into sentences, not after titles such as ``Mr.``.

    Example:
        >>> split_sentences('Mr. Bennet came. "Is he married?" She left.')
        ['Mr. Bennet came.', '"Is he married?"', 'She left.']
    """
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        head = paragraph[start : match.start()]
        if re.search(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.$", head):
            continue
        pieces.append(paragraph[start : match.end()].strip())
        start = match.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def sentences_of(text: str) -> list[Sentence]:
    """Paragraphs (blank-line separated, whitespace collapsed, ``_italics_`` marks dropped) cut into sentences."""
    out: list[Sentence] = []
    section = 0
    for index, block in enumerate(re.split(r"\n\s*\n", text)):
        paragraph = " ".join(block.replace("_", "").split())
        if not paragraph:
            continue
        if _HEADING.match(paragraph) or len(paragraph.split()) < 4 and not paragraph[-1:] in ".!?\"'":
            section += 1
            continue
        out.extend(Sentence(s, index, section, len(s.split())) for s in split_sentences(paragraph))
    return out


def join_sentences(sentences: list[Sentence]) -> str:
    """Sentences of one paragraph joined by a space, paragraphs by a newline."""
    text = sentences[0].text
    for prev, cur in zip(sentences, sentences[1:]):
        text += (" " if cur.paragraph == prev.paragraph else "\n") + cur.text
    return text


def _lastword_item(sentences: list[Sentence], i: int) -> tuple[int, dict] | None:
    match = _LAST_WORD.search(sentences[i].text)
    if match is None or len(match.group(1)) < 3 or match.group(1).lower() in STOPWORDS:
        return None
    start, words = i, sentences[i].n_words
    while start > 0 and sentences[start - 1].section == sentences[i].section:
        if words + sentences[start - 1].n_words > LASTWORD_WORDS[1]:
            break
        start -= 1
        words += sentences[start].n_words
    if words < LASTWORD_WORDS[0]:
        return None
    passage = join_sentences(sentences[start : i + 1])
    word = match.group(1)
    context = passage[: len(passage) - len(match.group(0))].rstrip()
    if not re.search(rf"\b{word}\b", context, re.IGNORECASE):
        return None
    return start, {"context": context, "target": word}


def build_lastword(book: str, sentences: list[Sentence], rng: random.Random, n_items: int) -> list[dict]:
    """Pick ``n_items`` non-overlapping last-word passages of one book, in a seeded random order."""
    candidates = [(i, found) for i in range(len(sentences)) if (found := _lastword_item(sentences, i))]
    rng.shuffle(candidates)
    used: set[int] = set()
    items = []
    for end, (start, item) in candidates:
        span = set(range(start, end + 1))
        if span & used:
            continue
        used |= span
        items.append({"id": f"{book}-{end:05d}", "book": book, **item})
        if len(items) == n_items:
            return items
    raise ValueError(f"Only {len(items)} last-word passages found in {book!r}, {n_items} asked.")


def _next_context_ok(sentences: list[Sentence], i: int) -> bool:
    window = sentences[i - NEXT_CONTEXT_SENTENCES : i + 1]
    if len({s.section for s in window}) != 1:
        return False
    context_words = sum(s.n_words for s in window[:-1])
    lo, hi = NEXT_ENDING_WORDS
    return NEXT_CONTEXT_WORDS[0] <= context_words <= NEXT_CONTEXT_WORDS[1] and lo <= window[-1].n_words <= hi


def _distractors(sentences: list[Sentence], i: int, rng: random.Random) -> list[str] | None:
    n = sentences[i].n_words
    pool = [
        s.text
        for k, s in enumerate(sentences)
        if abs(k - i) >= DISTRACTOR_MIN_DISTANCE
        and n / DISTRACTOR_LENGTH_RATIO <= s.n_words <= n * DISTRACTOR_LENGTH_RATIO
        and s.text != sentences[i].text
        and s.text[:1].isupper()
    ]
    unique = sorted(set(pool))
    return rng.sample(unique, 3) if len(unique) >= 3 else None


def build_nextsentence(book: str, sentences: list[Sentence], rng: random.Random, n_items: int) -> list[dict]:
    """Pick ``n_items`` non-overlapping next-sentence items of one book, with seeded distractors and label."""
    candidates = [i for i in range(NEXT_CONTEXT_SENTENCES, len(sentences)) if _next_context_ok(sentences, i)]
    rng.shuffle(candidates)
    used: set[int] = set()
    items = []
    for i in candidates:
        span = set(range(i - NEXT_CONTEXT_SENTENCES, i + 1))
        distractors = None if span & used else _distractors(sentences, i, rng)
        if distractors is None:
            continue
        used |= span
        label = rng.randrange(4)
        endings = distractors[:label] + [sentences[i].text] + distractors[label:]
        context = join_sentences(sentences[i - NEXT_CONTEXT_SENTENCES : i])
        items.append({"id": f"{book}-{i:05d}", "book": book, "context": context, "endings": endings, "label": label})
        if len(items) == n_items:
            return items
    raise ValueError(f"Only {len(items)} next-sentence items found in {book!r}, {n_items} asked.")


def build_all(seed: int = SEED, items_per_book: int = ITEMS_PER_BOOK) -> dict[str, list[dict]]:
    """Build every offline task; returns ``{task name: items}`` with the books interleaved in a seeded order.

    Example:
        >>> tasks = build_all()                          # doctest: +SKIP
        >>> len(tasks["austen_lastword"])                # doctest: +SKIP
        400
    """
    builders = {"austen_lastword": build_lastword, "austen_nextsentence": build_nextsentence}
    out = {}
    for offset, (task, builder) in enumerate(builders.items()):
        rng = random.Random(seed * 1000 + offset)
        items = []
        for book in BOOKS:
            items += builder(book, sentences_of(book_text(book)), rng, items_per_book)
        rng.shuffle(items)  # so that a `limit` draws from both books
        out[task] = items
    return out


def to_jsonl(items: list[dict]) -> str:
    """One JSON object per line, UTF-8, keys in insertion order, a final newline."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def shipped_dir() -> Path:
    """The folder the offline tasks are shipped in (inside the installed package)."""
    return Path(str(files("optimum_hywia.evaluation") / "tasks"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the offline Austen zero-shot tasks (JSONL).")
    parser.add_argument("--output-dir", type=Path, default=None, help="Where to write (default: the package).")
    parser.add_argument("--seed", type=int, default=SEED, help=f"Random seed (default: {SEED}).")
    parser.add_argument("--check", action="store_true", help="Compare with the files there instead of writing.")
    args = parser.parse_args(argv)
    out_dir = args.output_dir or shipped_dir()
    stale = []
    for task, items in build_all(args.seed).items():
        path = out_dir / TASK_FILES[task]
        text = to_jsonl(items)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{task}: {len(items)} items -> {path}")
    if stale:
        print(f"Out of date (rebuild with `python -m optimum_hywia.evaluation.build_tasks`): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
