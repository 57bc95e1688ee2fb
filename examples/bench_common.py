"""Shared pieces of the benchmark scripts: machine description, peak-RSS sampling, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


def write_results(output_dir: Path, stem: str, payload: dict, table: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (output_dir / f"{stem}.md").write_text(table + "\n")


def command_line() -> str:
    return "python " + " ".join(sys.argv)
