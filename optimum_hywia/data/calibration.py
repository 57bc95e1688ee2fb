"""Calibration and evaluation text: shipped texts, local files, saved datasets, Hub datasets.

Sources accepted by :func:`load_text` (and everything built on it):

* ``builtin:<name>`` -- a text shipped with the package (see :data:`BUILTIN_TEXTS`);
* a path to a text file (read as UTF-8);
* a folder written by ``datasets.Dataset.save_to_disk`` (its ``text`` column, rows joined by a blank line);
* ``hub:<dataset>[:<config>[:<split>]]`` -- a Hub dataset through ``datasets.load_dataset`` (split defaults to
  ``train``), e.g. ``hub:wikitext:wikitext-2-raw-v1:test``. The ``hub:`` prefix may be left out when the source
  does not look like a path.
"""

from __future__ import annotations

import functools
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import CalibrationDataError, DataUnavailableError
from ..text_sources import BUILTIN_TEXTS, check_builtin_name, check_text_source

DEFAULT_CALIBRATION = "builtin:austen"
_SEPARATOR = "\n\n"
_PATH_SUFFIXES = (".txt", ".text", ".md", ".json", ".jsonl", ".csv", ".parquet", ".arrow")


class HubDatasetUnavailableError(DataUnavailableError):
    """A Hub dataset could not be fetched (offline, unknown name, network error)."""


@functools.lru_cache(maxsize=None)
def _read_shipped(filename: str) -> str:
    return (files("optimum_hywia.data") / "texts" / filename).read_text(encoding="utf-8")


def builtin_domains(name: str) -> list[str]:
    """Return the texts of each domain of a builtin set (one string per domain).

    Example:
        >>> [len(t) > 0 for t in builtin_domains("mixed")]
        [True, True]
    """
    check_builtin_name(name)
    return [_SEPARATOR.join(_read_shipped(f) for f in domain) for domain in BUILTIN_TEXTS[name]]


def builtin_text(name: str) -> str:
    """Return a shipped text set as one string.

    Names: ``austen`` (Emma + Persuasion, default calibration), ``mixed`` (austen + Jargon File calibration slice),
    ``prideprejudice``, ``sensesensibility`` and ``jargon`` (held-out Jargon File slice), ``jargon_validation`` and
    ``validation`` (Sense and Sensibility + the Jargon File validation slice: HyWIA's plan pick, `selection_data`).

    Example:
        >>> builtin_text("prideprejudice")[:9]
        'PRIDE AND'
    """
    return _SEPARATOR.join(builtin_domains(name))


def _looks_like_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~", ".\\")) or source.lower().endswith(_PATH_SUFFIXES)


def _text_from_dataset(dataset: Any, where: str) -> str:
    columns = list(dataset.column_names)
    if "text" not in columns:
        raise ValueError(f"Dataset {where} has no 'text' column; columns present: {columns}.")
    return _SEPARATOR.join(str(t) for t in dataset["text"] if t is not None)


def _load_saved_dataset(path: Path) -> str:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded.keys())
        if len(splits) != 1:
            raise ValueError(
                f"Saved DatasetDict {str(path)!r} has splits {splits}; save a single split instead, "
                f"e.g. dataset_dict['{splits[0]}'].save_to_disk(...)."
            )
        loaded = loaded[splits[0]]
    return _text_from_dataset(loaded, repr(str(path)))


def _load_hub_text(spec: str) -> str:
    import datasets

    parts = spec.split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"Bad Hub dataset spec {spec!r}; expected '<dataset>[:<config>[:<split>]]'.")
    name, config, split = (parts + [None, None])[:3]
    split = split or "train"
    try:
        dataset = datasets.load_dataset(name, config or None, split=split)
    except OSError as err:  # offline, connection errors, DatasetNotFoundError, HfHubHTTPError are all OSErrors
        raise HubDatasetUnavailableError(
            f"Could not fetch dataset {name!r} (config={config!r}, split={split!r}) from the Hugging Face Hub "
            f"({type(err).__name__}: {err}). Use a local text file, a folder saved with save_to_disk, "
            f"or a shipped text such as {DEFAULT_CALIBRATION!r}."
        ) from err
    return _text_from_dataset(dataset, repr(spec))


def load_text(source: str | os.PathLike) -> str:
    """Load a text from a builtin name, a file, a saved dataset folder or a Hub dataset.

    Example:
        >>> text = load_text("builtin:austen")
        >>> text = load_text("notes.txt")                               # doctest: +SKIP
        >>> text = load_text("hub:wikitext:wikitext-2-raw-v1:test")     # doctest: +SKIP
    """
    raw = os.fspath(source)
    check_text_source(raw)
    if raw.startswith("builtin:"):
        return builtin_text(raw[len("builtin:"):])
    path = Path(raw).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if path.is_dir():
        return _load_saved_dataset(path)
    if raw.startswith("hub:"):
        return _load_hub_text(raw[len("hub:"):])
    if _looks_like_path(raw):
        raise FileNotFoundError(
            f"Text source {raw!r} does not exist. Use a file, a saved dataset folder, 'hub:<dataset>[:<config>"
            f"[:<split>]]' or one of: {', '.join('builtin:' + n for n in sorted(BUILTIN_TEXTS))}."
        )
    return _load_hub_text(raw)


def _split_text(text: str, chunk_chars: int) -> list[str]:
    """Cut ``text`` into pieces of about ``chunk_chars`` characters, at the start of a non-blank line."""
    line_start = re.compile(r"\n(?=\S)")
    chunks, start = [], 0
    while len(text) - start > chunk_chars:
        cut = None
        for cut in line_start.finditer(text, start + 1, start + chunk_chars):
            pass
        end = cut.end() if cut else start + chunk_chars
        chunks.append(text[start:end])
        start = end
    chunks.append(text[start:])
    return chunks


def tokenize_text(
    text: str,
    tokenizer: Any,
    max_tokens: int | None = None,
    chunk_chars: int = 16384,
    show_progress: bool = True,
) -> torch.LongTensor:
    """Tokenise a long text into one 1-D tensor, chunk by chunk, without special tokens.

    The text is cut at line starts into chunks of about ``chunk_chars`` characters, so the result is deterministic
    and a long text does not hit the tokenizer's length limit. With ``max_tokens`` only the chunks needed to reach
    that many tokens are tokenised (the result is then a prefix of the full tokenisation, at least ``max_tokens``
    long when the text allows).

    Example:
        >>> ids = tokenize_text(builtin_text("prideprejudice"), tokenizer)  # doctest: +SKIP
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer or None, got {max_tokens!r}.")
    chunks = _split_text(text, chunk_chars)
    batch = 16
    ids: list[int] = []
    bar = tqdm(total=len(chunks), desc="Tokenising", unit="chunk", disable=not show_progress or len(chunks) <= 64)
    for i in range(0, len(chunks), batch):
        for row in tokenizer(chunks[i : i + batch], add_special_tokens=False)["input_ids"]:
            ids.extend(row)
        bar.update(len(chunks[i : i + batch]))
        if max_tokens is not None and len(ids) >= max_tokens:
            break
    bar.close()
    return torch.tensor(ids, dtype=torch.long)


def text_start_tokens(tokenizer: Any) -> list[int]:
    """The token a text starts with when this tokenizer encodes it on its own: `[bos]` for tokenizers that add one
    (Gemma, Llama-2), `[]` otherwise (SmolLM2, Qwen). Windows cut from the middle of a long text start with it too:
    a model trained with a BOS at every sequence start (Gemma: perplexity ~9x worse without) expects it.

    Example:
        >>> text_start_tokens(tokenizer)  # doctest: +SKIP
        [2]
    """
    bos = getattr(tokenizer, "bos_token_id", None)
    first = tokenizer("a", add_special_tokens=True)["input_ids"][:1]
    return [bos] if bos is not None and first == [bos] else []


def with_start_tokens(windows: torch.Tensor, start: list[int]) -> torch.LongTensor:
    """`windows` [n, seq_len - len(start)] with `start` put in front of every row."""
    return torch.cat([torch.tensor(start, dtype=torch.long).expand(windows.shape[0], -1), windows.long()], dim=1)


def sample_windows(token_ids: torch.Tensor, num_samples: int, seq_len: int, seed: int) -> torch.LongTensor:
    """Draw ``num_samples`` non-overlapping windows of ``seq_len`` consecutive tokens, deterministically for a ``seed``.

    The text is cut into ``len // seq_len`` consecutive slots (from a seeded offset below ``seq_len``, when the text
    leaves room for one); the windows are distinct slots drawn without replacement, so no token is in two windows.

    Example:
        >>> sample_windows(torch.arange(1000), num_samples=4, seq_len=16, seed=0).shape
        torch.Size([4, 16])
    """
    if not isinstance(token_ids, torch.Tensor) or token_ids.dim() != 1:
        shape = tuple(token_ids.shape) if isinstance(token_ids, torch.Tensor) else type(token_ids).__name__
        raise ValueError(f"token_ids must be a 1-D tensor, got {shape}.")
    if num_samples < 1 or seq_len < 1:
        raise ValueError(f"num_samples and seq_len must be >= 1, got num_samples={num_samples}, seq_len={seq_len}.")
    n_tokens = token_ids.numel()
    slots = n_tokens // seq_len
    if slots < num_samples:
        raise CalibrationDataError(
            f"Text too short: {n_tokens} tokens hold {slots} non-overlapping windows of seq_len={seq_len} tokens, but "
            f"{num_samples} were asked. Use a longer text, fewer samples or a shorter `calibration_seq_len`."
        )
    generator = torch.Generator().manual_seed(int(seed))
    spare = n_tokens - slots * seq_len
    offset = int(torch.randint(0, spare + 1, (1,), generator=generator)) if spare else 0
    starts = offset + seq_len * torch.randperm(slots, generator=generator)[:num_samples]
    offsets = torch.arange(seq_len)
    return token_ids.long()[starts[:, None] + offsets[None, :]]


def _source_domains(source: str | os.PathLike) -> list[str]:
    raw = os.fspath(source)
    if raw.startswith("builtin:"):
        return builtin_domains(raw[len("builtin:"):])
    return [load_text(raw)]


def load_calibration_data(
    source: str | os.PathLike,
    tokenizer: Any,
    num_samples: int = 16,
    seq_len: int = 128,
    seed: int = 0,
) -> torch.LongTensor:
    """Tokenise a calibration source and sample ``num_samples`` windows of ``seq_len`` tokens.

    For a builtin set with several domains (``builtin:mixed``: Austen and the Jargon File), the samples are split
    equally between the domains (the first domains get one more when ``num_samples`` does not divide evenly), so the
    mix does not depend on how long each text is; the rows are then shuffled with the same seeded generator. Each
    window starts with the tokenizer's BOS when it adds one to a text (:func:`text_start_tokens`).

    Example:
        >>> batch = load_calibration_data("builtin:austen", tokenizer, num_samples=16, seq_len=128)  # doctest: +SKIP
        >>> batch.shape                                                                             # doctest: +SKIP
        torch.Size([16, 128])
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    domains = _source_domains(source)
    n_dom = len(domains)
    counts = [num_samples // n_dom + (i < num_samples % n_dom) for i in range(n_dom)]
    parts, start = [], text_start_tokens(tokenizer)
    for i, (text, count) in enumerate(zip(domains, counts)):
        if count:
            ids = tokenize_text(text, tokenizer)
            parts.append(sample_windows(ids, count, seq_len - len(start), seed=seed + 1000003 * i))
    samples = with_start_tokens(torch.cat(parts, dim=0), start)
    if n_dom > 1:
        order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(int(seed)))
        samples = samples[order]
    return samples
