"""Zero-shot scoring speed and agreement: the packed scorer against lm-eval's own path, on the same items.

For each model: every item of the offline tasks in one split, scored by `PackedHFLM` (each context once for all its
endings, several items per pass, bfloat16 where the hardware has it) and by lm-eval's `HFLM` at the same precision;
items per second of each, accuracy per task of each, and the share of items on which the two agree.

    python -m benchmarks.benchmark_scoring --models builtin:smollm2-135m builtin:gemma3-270m --output-dir docs/results
    python -m benchmarks.benchmark_scoring --models builtin:smollm2-135m --limit 20 --output-dir /tmp/scoring-smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import command_line, machine_info, write_results  # noqa: E402
from optimum_hywia.data import load_model_and_tokenizer  # noqa: E402
from optimum_hywia.evaluation import OFFLINE_CHANCE, OFFLINE_TASKS, zero_shot  # noqa: E402
from optimum_hywia.evaluation.splits import SPLITS, TEST  # noqa: E402

BACKENDS = ("packed", "lm_eval")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["builtin:smollm2-135m", "builtin:gemma3-270m"])
    parser.add_argument("--split", default=TEST, choices=SPLITS)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument("--lm-eval-limit", type=int, default=None,
                        help="items per task for lm-eval's path (default: --limit); agreement is measured on the "
                             "items both scored (the first ones of each task)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="scoring")
    return parser.parse_args()


def score(model, tokenizer, backend: str, args) -> dict:
    limit = args.lm_eval_limit if backend == "lm_eval" and args.lm_eval_limit is not None else args.limit
    start = time.perf_counter()
    results = zero_shot(model, tokenizer, list(OFFLINE_TASKS), limit=limit, split=args.split, backend=backend,
                        precision=args.precision, log_samples=True, bootstrap_iters=0)
    wall = time.perf_counter() - start
    items = sum(r["n_samples"] for r in results.values())
    return {"backend": backend, "wall_s": wall, "items": items, "items_per_s": items / wall,
            "precision": next(iter(results.values()))["precision"],
            "accuracy": {t: r["value"] for t, r in results.items()},
            "correct": {t: [s["correct"] for s in r["samples"]] for t, r in results.items()},
            "loglikelihoods": {t: [s["loglikelihoods"] for s in r["samples"]] for t, r in results.items()}}


def agreement(runs: dict) -> dict | None:
    if set(runs) != set(BACKENDS):
        return None
    packed, plain = runs["packed"], runs["lm_eval"]
    pairs = [(a, b) for t in OFFLINE_TASKS for a, b in zip(packed["correct"][t], plain["correct"][t])]
    largest = max(abs(x - y) for t in OFFLINE_TASKS
                  for a, b in zip(packed["loglikelihoods"][t], plain["loglikelihoods"][t]) for x, y in zip(a, b))
    accuracy = {name: statistics.fmean(statistics.fmean(run["correct"][t][:len(plain["correct"][t])])
                                       for t in OFFLINE_TASKS) for name, run in runs.items()}
    return {"items_equal": sum(a == b for a, b in pairs), "items": len(pairs),
            "mean_accuracy_on_common_items": accuracy, "max_abs_loglikelihood_difference": largest,
            "speedup_items_per_s": packed["items_per_s"] / plain["items_per_s"]}


def markdown(rows: list[dict], args) -> str:
    commands = list(dict.fromkeys(row["command"] for row in rows))
    lines = [f"# Zero-shot scoring: packed scorer vs lm-eval's path ({args.split} split)", "",
             f"Made by {' then '.join(f'`{c}`' for c in commands)} (one row per model, each naming its command).  ",
             f"Machine: {json.dumps(machine_info())}.  ",
             f"Tasks: {', '.join(f'{t} (chance {100 * c:.0f}%)' for t, c in OFFLINE_CHANCE.items())}; "
             "the packed scorer on every item of the split unless a row says otherwise; lm-eval's path on the first "
             "`--lm-eval-limit` items of each task.", "",
             "| model | backend | precision | items | wall s | items/s | " + " | ".join(OFFLINE_TASKS) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(OFFLINE_TASKS)]
    for row in rows:
        for run in row["runs"].values():
            accs = " | ".join(f"{100 * run['accuracy'][t]:.2f}" for t in OFFLINE_TASKS)
            lines.append(f"| {row['model']} | {run['backend']} | {run['precision']} | {run['items']} | "
                         f"{run['wall_s']:.0f} | {run['items_per_s']:.1f} | {accs} |")
    lines.append("")
    for row in rows:
        if row["agreement"]:
            a = row["agreement"]
            acc = a["mean_accuracy_on_common_items"]
            lines.append(f"- {row['model']}: on the {a['items']} items both scored, the two paths answer "
                         f"{a['items_equal']} alike (mean accuracy {100 * acc['packed']:.2f}% packed, "
                         f"{100 * acc['lm_eval']:.2f}% lm-eval); largest log-likelihood difference "
                         f"{a['max_abs_loglikelihood_difference']:.3g} nats; packed {a['speedup_items_per_s']:.1f}x "
                         "the items per second.")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    path = args.output_dir / f"{args.name}.json"
    earlier = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [row for row in earlier if row["model"] not in args.models]  # other models' rows are kept
    for name in args.models:
        model, tokenizer = load_model_and_tokenizer(name)
        runs = {backend: score(model, tokenizer, backend, args) for backend in args.backends}
        for run in runs.values():
            print(f"{name} {run['backend']}: {run['items']} items in {run['wall_s']:.0f} s "
                  f"({run['items_per_s']:.1f} items/s)", flush=True)
        rows.append({"model": name, "command": command_line(), "machine": machine_info(), "agreement": agreement(runs),
                     "runs": {b: {k: v for k, v in run.items() if k not in ("correct", "loglikelihoods")}
                              for b, run in runs.items()}})
        write_results(args.output_dir, args.name, {"split": args.split, "rows": rows}, markdown(rows, args))


if __name__ == "__main__":
    main()
