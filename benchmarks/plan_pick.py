"""Wall time of default `hywia` against `element1` (cost-aware allocation) on one model, back to back in one process,
with the plan HyWIA picked on its held-out windows and the fusion's pick-window loss before and after training.

    python -m benchmarks.plan_pick --ratio 0.5 --seed 0 --eval-windows 24 --threads 1

Writes docs/results/plan_pick.{json,md} (`--name` for another stem). The ratio of wall times is the result;
absolute times depend on the load of the machine. Perplexity: the first `--eval-windows` non-overlapping 128-token windows of Pride and Prejudice (in
domain) and of the held-out Jargon File slice (out of domain).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from benchmarks.common import SMOLLM2, add_split_argument, command_line, load_benchmark_model, machine_info, write_results
from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.evaluation import perplexity

EVAL_TEXTS = {"in_domain": "builtin:prideprejudice", "out_of_domain": "builtin:jargon"}


def run(name: str, config: HyWIAConfig, base, tokenizer, eval_windows: int) -> dict:
    model = copy.deepcopy(base)
    pruner = HyWIAPruner(config)
    start = time.perf_counter()
    pruner.prune(model, tokenizer=tokenizer)
    row = {"run": name, "wall_s": time.perf_counter() - start, "kept_fraction": pruner.summary.kept_fraction}
    history = pruner.summary.extras.get("fusion_history", [])
    judged = [entry for entry in history if "holdout_loss" in entry]
    if judged:
        row["fusion_pick_losses"] = judged
        row["best_step"] = next(entry["best_step"] for entry in history if "best_step" in entry)
    if "plan_choice" in pruner.summary.extras:
        row["plan_choice"] = pruner.summary.extras["plan_choice"]
    for label, source in EVAL_TEXTS.items():
        row[label] = perplexity(model, tokenizer, source, max_windows=eval_windows, show_progress=False)
    return row


def table(rows: list[dict], ratio: float) -> str:
    element1, hywia = rows
    lines = [f"| run | wall time ÷ element1 | kept | ppl in domain | ppl out of domain |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['run']} | {row['wall_s'] / element1['wall_s']:.2f} | {row['kept_fraction']:.3f} | "
                     f"{row['in_domain']:.2f} | {row['out_of_domain']:.2f} |")
    choice = hywia.get("plan_choice")
    if choice:
        lines += ["", f"Plan picked at ratio {ratio} on {choice['windows']} windows: "
                  f"{choice['chosen']['allocation']} × {choice['chosen']['selection']}.", "",
                  "| allocation | selection | pick-window loss |", "|---|---|---|"]
        lines += [f"| {c['allocation']} | {c['selection']} | {c['loss']:.4f} |" for c in choice["candidates"]]
    if "fusion_pick_losses" in hywia:
        steps = ", ".join(f"step {e['step']}: {e['holdout_loss']:.4f}" for e in hywia["fusion_pick_losses"])
        lines += ["", f"Fusion, learned plan's pick-window loss: {steps} (kept step {hywia['best_step']})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=SMOLLM2)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-windows", type=int, default=24)
    add_split_argument(parser, "study")  # its texts are the validation split's
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent.parent / "docs" / "results")
    parser.add_argument("--name", default="plan_pick", help="file stem of the results")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    base, tokenizer = load_benchmark_model(options.model)
    configs = {
        "element1, cost_aware": HyWIAConfig(pruning_ratio=options.ratio, seed=options.seed, importance="element1",
                                            allocation="cost_aware"),
        "hywia (defaults)": HyWIAConfig(pruning_ratio=options.ratio, seed=options.seed),
    }
    rows = []
    for name, config in configs.items():
        rows.append(run(name, config, base, tokenizer, options.eval_windows))
        print(rows[-1]["run"], f"{rows[-1]['wall_s']:.1f}s", flush=True)
    rendered = table(rows, options.ratio)
    print(rendered)
    payload = {"command": command_line(), "model": options.model, "ratio": options.ratio, "seed": options.seed,
               "eval_windows": options.eval_windows, "machine": machine_info(),
               "wall_time_ratio": rows[1]["wall_s"] / rows[0]["wall_s"], "rows": rows}
    write_results(options.output_dir, options.name, payload, f"Command: `{command_line()}`\n\n" + rendered)


if __name__ == "__main__":
    main()
