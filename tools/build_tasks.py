"""Build the offline zero-shot tasks shipped under ``optimum_hywia/evaluation/tasks/`` from test and validation text.

Each task file holds its test items first, drawn from the test texts (*Pride and Prejudice*, *Mansfield Park*,
*Northanger Abbey*, the Jargon File's held-out and test slices: :data:`tools.task_text.HELD_OUT_TEXTS`), then its
validation items, drawn from the validation texts (*Sense and Sensibility*, the Jargon validation slice); which item
belongs to which split is decided by :func:`~optimum_hywia.evaluation.splits.item_split`. Never a calibration text
(*Emma*, *Persuasion*, the Jargon calibration slice), which is also the recovery text. Everything is plain Python with
a seeded ``random.Random``: no model, no tokenizer, so the JSONL files are reproduced byte for byte by::

    python -m tools.build_tasks            # rewrite the shipped files
    python -m tools.build_tasks --check    # exit 1 if the shipped files differ

* ``austen_lastword`` (LAMBADA-style): a passage of 50-110 words (or a single longer sentence) ending a sentence;
  the model must produce its last word. Kept only when that word is a content word (3+ letters, not a stopword)
  that already occurs in the passage.
* ``austen_nextsentence`` (HellaSwag-style): three consecutive sentences, then four candidate next sentences: the
  true one and three sentences of similar length drawn from far away in the same book.
* ``austen_names``: a passage of 30-110 words (or the start of a single longer sentence) cut just before a
  character's name that already occurs in it; four names of the book's characters to choose from, preferring names
  that also occur in the passage.
* ``jargon_nextsentence``: the next-sentence choice within one entry of the Jargon File (out of domain).
* ``austen_wordorder`` / ``jargon_wordorder`` (BLiMP-style, two-way): one to four sentences of context, then the true
  next sentence and the same sentence with two neighbouring lower-case words swapped.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optimum_hywia.evaluation.task_files import shipped_dir, to_jsonl
from tools.task_text import (
    AUSTEN_BOOKS,
    AUSTEN_VALIDATION,
    JARGON_TEST_TEXTS,
    JARGON_TEXT,
    JARGON_VALIDATION,
    STOPWORDS,
    Sentence,
    join_sentences,
    sentences_of_source,
    split_sentences,
)

SEED = 20250
ITEMS_PER_BOOK = 150
JARGON_ITEMS = 240
VALIDATION_ITEMS_PER_TASK = 150
JARGON_VALIDATION_ITEMS = 120
ORDER_ITEMS_PER_BOOK = 350
ORDER_VALIDATION_ITEMS = 300
ORDER_JARGON_HELDOUT_ITEMS = 300  # of 306 the held-out slice holds
ORDER_JARGON_TEST_ITEMS = 400
ORDER_JARGON_VALIDATION_ITEMS = 200
ORDER_CONTEXT_WORDS = (15, 90)
ORDER_ENDING_WORDS = (8, 35)
LASTWORD_WORDS = (50, 110)  # passage length range, in words
NAME_CONTEXT_WORDS = (30, 110)
NEXT_CONTEXT_SENTENCES = 3
NEXT_CONTEXT_WORDS = (20, 120)
NEXT_ENDING_WORDS = (6, 40)
DISTRACTOR_MIN_DISTANCE = 200  # sentences between the context and any distractor
DISTRACTOR_LENGTH_RATIO = 1.35  # distractor word count within [n / r, n * r] of the true ending
# Characters of each book (names that never occur in lower case in the book), the choices of `austen_names`.
CHARACTERS = {
    "prideprejudice": ("Bennet", "Bingley", "Catherine", "Charlotte", "Collins", "Darcy", "Elizabeth", "Gardiner",
                       "Jane", "Kitty", "Lucas", "Lydia", "Wickham"),
    "mansfieldpark": ("Bertram", "Crawford", "Edmund", "Fanny", "Henry", "Julia", "Maria", "Mary", "Norris",
                      "Rushworth", "Susan", "Tom", "William", "Yates"),
    "northangerabbey": ("Allen", "Catherine", "Eleanor", "Frederick", "Henry", "Isabella", "James", "John", "Morland",
                        "Thorpe", "Tilney"),
    "sensesensibility": ("Brandon", "Dashwood", "Edward", "Elinor", "Fanny", "Ferrars", "Jennings", "John", "Lucy",
                         "Marianne", "Middleton", "Palmer", "Willoughby"),
}
_LOWER_WORD = re.compile(r"[a-z]+")
_LAST_WORD = re.compile(r"""(?<= )([A-Za-z]+)([.!?;:,"')\]]*)$""")
Builder = Callable[[str, list[Sentence], random.Random, int], list[dict]]

__all__ = ["SEED", "TASK_FILES", "build_all", "main", "shipped_dir", "split_sentences", "to_jsonl"]


def _preceding_start(sentences: list[Sentence], i: int, words: int, max_words: int) -> tuple[int, int]:
    """Extend a context backwards from sentence ``i`` within its section up to ``max_words``; (start, words)."""
    start = i
    while start > 0 and sentences[start - 1].section == sentences[i].section:
        if words + sentences[start - 1].n_words > max_words:
            break
        start -= 1
        words += sentences[start].n_words
    return start, words


def _lastword_item(sentences: list[Sentence], i: int) -> tuple[int, dict] | None:
    match = _LAST_WORD.search(sentences[i].text)
    if match is None or len(match.group(1)) < 3 or match.group(1).lower() in STOPWORDS:
        return None
    start, words = _preceding_start(sentences, i, sentences[i].n_words, LASTWORD_WORDS[1])
    if words < LASTWORD_WORDS[0]:
        return None
    passage = join_sentences(sentences[start : i + 1])
    word = match.group(1)
    context = passage[: len(passage) - len(match.group(0))].rstrip()
    if not re.search(rf"\b{word}\b", context, re.IGNORECASE):
        return None
    return start, {"context": context, "target": word}


def _pick_non_overlapping(book: str, candidates: list, n_items: int, task: str) -> list[dict]:
    """Candidates are ``(end, (start, item))``, already shuffled: keep those whose sentence spans do not overlap."""
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
    raise ValueError(f"Only {len(items)} {task} items found in {book!r}, {n_items} asked.")


def build_lastword(book: str, sentences: list[Sentence], rng: random.Random, n_items: int) -> list[dict]:
    """Pick ``n_items`` non-overlapping last-word passages of one book, in a seeded random order."""
    candidates = [(i, found) for i in range(len(sentences)) if (found := _lastword_item(sentences, i))]
    rng.shuffle(candidates)
    return _pick_non_overlapping(book, candidates, n_items, "last-word")


def _name_item(sentences: list[Sentence], i: int, names: tuple[str, ...], rng: random.Random
               ) -> tuple[int, dict] | None:
    text = sentences[i].text
    found = [m for m in re.finditer(r"(?<=[\w.,;] )(" + "|".join(names) + r")\b", text)]
    if not found:
        return None
    match = found[-1]
    start, words = _preceding_start(sentences, i, len(text[: match.start()].split()), NAME_CONTEXT_WORDS[1])
    if words < NAME_CONTEXT_WORDS[0]:
        return None
    passage = join_sentences(sentences[start : i + 1])
    context = passage[: len(passage) - len(text) + match.start()].rstrip()
    target = match.group(1)
    if not re.search(rf"\b{target}\b", context):
        return None
    in_context = sorted(n for n in names if n != target and re.search(rf"\b{n}\b", context))
    others = sorted(n for n in names if n != target and n not in in_context)
    rng.shuffle(in_context)
    rng.shuffle(others)
    distractors = (in_context + others)[:3]
    label = rng.randrange(4)
    choices = distractors[:label] + [target] + distractors[label:]
    return start, {"context": context, "choices": choices, "label": label}


def build_names(book: str, sentences: list[Sentence], rng: random.Random, n_items: int) -> list[dict]:
    """Pick ``n_items`` non-overlapping character-name cloze items of one book, with seeded choices and label."""
    candidates = [(i, found) for i in range(len(sentences))
                  if (found := _name_item(sentences, i, CHARACTERS[book], rng))]
    rng.shuffle(candidates)
    return _pick_non_overlapping(book, candidates, n_items, "name")


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
    """Pick ``n_items`` non-overlapping next-sentence items of one text, with seeded distractors and label."""
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


def _wordorder_item(sentences: list[Sentence], i: int, rng: random.Random) -> tuple[int, dict] | None:
    sentence = sentences[i]
    if not ORDER_ENDING_WORDS[0] <= sentence.n_words <= ORDER_ENDING_WORDS[1]:
        return None
    start, words = _preceding_start(sentences, i, sentence.n_words, sentence.n_words + ORDER_CONTEXT_WORDS[1])
    if start == i or words - sentence.n_words < ORDER_CONTEXT_WORDS[0]:
        return None
    words_of = sentence.text.split(" ")
    swappable = [j for j in range(1, len(words_of) - 1)
                 if _LOWER_WORD.fullmatch(words_of[j]) and _LOWER_WORD.fullmatch(words_of[j + 1])
                 and words_of[j] != words_of[j + 1]]
    if not swappable:
        return None
    j = rng.choice(swappable)
    swapped = words_of[:j] + [words_of[j + 1], words_of[j]] + words_of[j + 2 :]
    label = rng.randrange(2)
    choices = [" ".join(swapped)]
    choices.insert(label, sentence.text)
    return start, {"context": join_sentences(sentences[start:i]), "choices": choices, "label": label}


def build_wordorder(book: str, sentences: list[Sentence], rng: random.Random, n_items: int) -> list[dict]:
    """Pick ``n_items`` non-overlapping word-order items of one text, with a seeded swap and label."""
    candidates = [(i, found) for i in range(1, len(sentences)) if (found := _wordorder_item(sentences, i, rng))]
    rng.shuffle(candidates)
    return _pick_non_overlapping(book, candidates, n_items, "word-order")


@dataclass(frozen=True)
class Part:
    """Items of one task from some texts: ``per_source`` items from each of ``sources`` (one count for all, or one
    per source), in a seeded order."""

    builder: Builder
    sources: tuple[str, ...]
    per_source: int | tuple[int, ...]

    def counts(self, scale: float) -> list[int]:
        counts = self.per_source if isinstance(self.per_source, tuple) else (self.per_source,) * len(self.sources)
        return [max(1, round(n * scale)) for n in counts]


# task -> its parts, test items first (the tasks' items before the validation part was added are its first part,
# unchanged), then validation items. New tasks go last: a task's seed depends on its position.
TASK_PLAN: dict[str, tuple[Part, ...]] = {
    "austen_lastword": (Part(build_lastword, AUSTEN_BOOKS, ITEMS_PER_BOOK),
                        Part(build_lastword, (AUSTEN_VALIDATION,), VALIDATION_ITEMS_PER_TASK)),
    "austen_nextsentence": (Part(build_nextsentence, AUSTEN_BOOKS, ITEMS_PER_BOOK),
                            Part(build_nextsentence, (AUSTEN_VALIDATION,), VALIDATION_ITEMS_PER_TASK)),
    "austen_names": (Part(build_names, AUSTEN_BOOKS, ITEMS_PER_BOOK),
                     Part(build_names, (AUSTEN_VALIDATION,), VALIDATION_ITEMS_PER_TASK)),
    "jargon_nextsentence": (Part(build_nextsentence, (JARGON_TEXT,), JARGON_ITEMS),
                            Part(build_nextsentence, (JARGON_VALIDATION,), JARGON_VALIDATION_ITEMS)),
    "austen_wordorder": (Part(build_wordorder, AUSTEN_BOOKS, ORDER_ITEMS_PER_BOOK),
                         Part(build_wordorder, (AUSTEN_VALIDATION,), ORDER_VALIDATION_ITEMS)),
    "jargon_wordorder": (Part(build_wordorder, JARGON_TEST_TEXTS, (ORDER_JARGON_HELDOUT_ITEMS, ORDER_JARGON_TEST_ITEMS)),
                         Part(build_wordorder, (JARGON_VALIDATION,), ORDER_JARGON_VALIDATION_ITEMS)),
}
TASK_FILES = {task: f"{task}.jsonl" for task in TASK_PLAN}


def build_all(seed: int = SEED, scale: float = 1.0) -> dict[str, list[dict]]:
    """Build every offline task; returns ``{task name: items}``, each part's sources interleaved in a seeded order.

    ``scale`` multiplies the number of items per source (a smaller build for tests).

    Example:
        >>> tasks = build_all()                          # doctest: +SKIP
        >>> len(tasks["austen_lastword"])                # doctest: +SKIP
        600
    """
    out = {}
    for offset, (task, parts) in enumerate(TASK_PLAN.items()):
        items = []
        for index, part in enumerate(parts):
            rng = random.Random(seed * 1000 + offset + 100 * index)
            part_items = []
            for source, count in zip(part.sources, part.counts(scale)):
                part_items += part.builder(source, sentences_of_source(source), rng, count)
            rng.shuffle(part_items)  # so that a `limit` draws from every text of the part
            items += part_items
        out[task] = items
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the offline zero-shot tasks (JSONL) from held-out text.")
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
        print(f"Out of date (rebuild with `python -m tools.build_tasks`): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
