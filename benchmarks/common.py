"""Shared pieces of the benchmark scripts: machine description, peak-RSS sampling, timing, result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import shlex
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


# LLM-Pruner's single-granularity criteria (element-wise 1st/2nd order, vector-wise, group-vector): HyWIA's bar
SINGLE_GRANULARITY = ("element1", "element2", "vector", "groupvec")


def is_hywia(criterion: str) -> bool:
    """Whether a results row is HyWIA's own (`hywia`, `hywia_split`, `hywia_fixed_0.5`, ...), not a baseline."""
    return criterion.startswith("hywia")


def machine_info() -> dict:
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
    }


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Measurement:
    wall_s: float = 0.0
    peak_rss_bytes: int = 0


@contextmanager
def measured(interval_s: float = 0.02) -> Iterator[Measurement]:
    """Wall time and peak resident memory of the block (RSS sampled by a background thread)."""
    result, stop = Measurement(), threading.Event()
    result.peak_rss_bytes = current_rss_bytes()

    def sample() -> None:
        while not stop.is_set():
            result.peak_rss_bytes = max(result.peak_rss_bytes, current_rss_bytes())
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.wall_s = time.perf_counter() - start
        stop.set()
        sampler.join()
        result.peak_rss_bytes = max(result.peak_rss_bytes, current_rss_bytes())


def mean_and_spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (benchmarks run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_results(output_dir: Path, stem: str, payload: dict, table: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (output_dir / f"{stem}.md").write_text(table + "\n")


def add_split_argument(parser, purpose: str) -> None:
    """`--split validation|test` (default validation), refused at parse time where `purpose` may not see the test
    split (a study, a sweep or a default is a choice: validation only; a final table takes either)."""
    from optimum_hywia.evaluation.splits import VALIDATION, check_split

    def checked(value: str) -> str:
        try:
            return check_split(value, purpose)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    parser.add_argument("--split", type=checked, default=VALIDATION,
                        help=f"evaluation texts: validation or test (a {purpose}: "
                             f"{'either' if purpose == 'final table' else 'validation only'})")


def add_grid_arguments(parser) -> None:
    """The options every quality grid takes: model, ratios, seeds, perplexity windows."""
    parser.add_argument("--model", default="builtin:smollm2-135m",
                        help="a builtin (builtin:smollm2-135m, builtin:gemma3-270m), Hub id or local folder")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-windows", type=int, default=24, help="128-token windows per perplexity text")


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root (`python -m benchmarks.x`)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = ["-m", spec.name] if spec is not None and spec.name else sys.argv[:1]
    return "python " + shlex.join(program + sys.argv[1:])  # quoted: an empty argument stays visible


# Random-init Llama shapes for scaling runs; they use SmolLM2's tokenizer (vocab 49152), so every model sees the same
# calibration tokens. Grouped-query attention with head_dim 64, tied embeddings, as in SmolLM2.
RANDOM_LLAMA_SHAPES = {
    "random:llama-50m": dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                             num_key_value_heads=4),
    "random:llama-350m": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=26, num_attention_heads=16,
                              num_key_value_heads=4),
    "random:llama-1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                            num_key_value_heads=4),
}
SMOLLM2 = "builtin:smollm2-135m"


def load_benchmark_model(name: str, seed: int = 0):
    """(model, tokenizer) for a builtin (`builtin:smollm2-135m`, `builtin:gemma3-270m`) or one of
    `RANDOM_LLAMA_SHAPES` (random init, SmolLM2's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from optimum_hywia.data import load_model_and_tokenizer, resolve_model_path

    if name.startswith("builtin:"):
        return load_model_and_tokenizer(name)
    if name not in RANDOM_LLAMA_SHAPES:
        raise ValueError(f"Unknown benchmark model {name!r}; choose a builtin ({SMOLLM2}, builtin:gemma3-270m) or "
                         f"one of {list(RANDOM_LLAMA_SHAPES)}.")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(SMOLLM2))
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True, max_position_embeddings=2048,
                         **RANDOM_LLAMA_SHAPES[name])
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval(), tokenizer


def weight_bytes(model) -> int:
    """Bytes of the model's parameters (tied weights once)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())
