"""The benchmark and study scripts: each prints its table and writes JSON (and Markdown) under `docs/results/`.

Run them from the repository root as modules, e.g. `python -m benchmarks.benchmark_recovery --help`; each one's
docstring gives the commands that made its files in `docs/results/`.
"""
