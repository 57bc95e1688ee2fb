"""What deployability costs: the `uniform` allocation (plain architecture, runs in every engine) against HyWIA's
learned non-uniform allocation, from the same HyWIA scores, at equal parameter budgets.

Both prune every layer (skip_first_layers=0, skip_last_layers=0: a uniform model only saves as the plain architecture
when no layer keeps its full width). For each seed and ratio one scoring context is built and scored once; both
allocations are applied to it. Perplexity in domain (Pride and Prejudice) and out of domain (the Jargon File, held-out).

    python -m benchmarks.benchmark_uniform                      # ratios 0.2 and 0.5, seeds 0 1 2
    python -m benchmarks.benchmark_uniform --seeds 0 --ratios 0.5
    # minutes instead of hours: data-free magnitude scores, uniform against the non-uniform `cost_aware` budget
    python -m benchmarks.benchmark_uniform --importance magnitude_l1 --allocations cost_aware uniform --seeds 0 \
        --name uniform_vs_cost_aware_magnitude
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

from benchmarks.common import add_grid_arguments, add_split_argument, command_line, machine_info, mean_and_spread, write_results
from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.data import load_calibration_data, load_model_and_tokenizer, load_text, tokenize_text
from optimum_hywia.evaluation import perplexity
from optimum_hywia.importance import ScoringContext, get_importance

ALLOCATIONS = ("learned", "uniform")
EVAL_TEXTS = ("builtin:prideprejudice", "builtin:jargon")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser)
    add_split_argument(parser, "study")  # its texts are the validation split's
    parser.add_argument("--importance", default="hywia", help="criterion whose scores both allocations use")
    parser.add_argument("--allocations", nargs=2, default=list(ALLOCATIONS), metavar=("NON_UNIFORM", "UNIFORM"),
                        help="the two allocations compared (a non-uniform one, then `uniform`)")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="uniform_vs_learned", help="file stem of the results")
    return parser.parse_args()


def seed_config(ratio: float, seed: int, args) -> HyWIAConfig:
    return HyWIAConfig(pruning_ratio=ratio, seed=seed, importance=args.importance, skip_first_layers=0,
                       skip_last_layers=0)


def seed_context(dense, calibration, tokenizer, seed: int, args) -> ScoringContext:
    """One scoring context per seed: the gradient statistics do not depend on the ratio; hywia's selection windows
    (another text) as `HyWIAPruner.prune` would draw them."""
    pruner = HyWIAPruner(seed_config(args.ratios[0], seed, args))
    context = pruner.scoring_context(dense, calibration, None)
    context.selection = pruner.selection_windows(tokenizer)
    return context


def run_one(dense, shared: ScoringContext, eval_ids: dict, ratio: float, seed: int, args) -> list[dict]:
    config = seed_config(ratio, seed, args)
    pruner = HyWIAPruner(config)
    context = shared.sharing_statistics(config)
    result = get_importance(config.importance).run(context)
    rows = []
    for allocation in args.allocations:
        pruner.config = dataclasses.replace(config, allocation=allocation)
        model = pruner.apply(copy.deepcopy(dense), context.sharing_statistics(pruner.config), result)
        widths = pruner.summary.widths_after
        row = {"allocation": allocation, "ratio": ratio, "seed": seed, "kept_fraction": pruner.summary.kept_fraction,
               "uniform_widths": all(w == widths[0] for w in widths), "widths": widths,
               **{name: perplexity(model, token_ids=ids, max_windows=args.eval_windows, show_progress=False)
                  for name, ids in eval_ids.items()}}
        print({k: v for k, v in row.items() if k != "widths"}, flush=True)
        rows.append(row)
    return rows


def aggregate(rows: list[dict], allocations: list[str]) -> list[dict]:
    table = []
    for ratio in sorted({r["ratio"] for r in rows}):
        for allocation in allocations:
            group = [r for r in rows if (r["ratio"], r["allocation"]) == (ratio, allocation)]
            entry = {"ratio": ratio, "allocation": allocation, "seeds": len(group),
                     "kept_fraction": mean_and_spread([r["kept_fraction"] for r in group])[0],
                     "plain_architecture": all(r["uniform_widths"] for r in group)}
            entry.update({name: mean_and_spread([r[name] for r in group]) for name in EVAL_TEXTS})
            table.append(entry)
    return table


def markdown(table: list[dict], header: str) -> str:
    lines = [header, "", "| ratio | allocation | seeds | params kept | plain architecture | ppl Pride and Prejudice "
             "(in domain) | ppl Jargon File (out of domain) |", "|---|---|---|---|---|---|---|"]
    for e in table:
        cells = " | ".join(f"{e[n][0]:.2f} ± {e[n][1]:.2f}" for n in EVAL_TEXTS)
        lines.append(f"| {e['ratio']} | {e['allocation']} | {e['seeds']} | {100 * e['kept_fraction']:.1f}% | "
                     f"{'yes' if e['plain_architecture'] else 'no'} | {cells} |")
    return "\n".join(lines)


def report(rows: list[dict], args: argparse.Namespace) -> tuple[list[dict], str]:
    table = aggregate(rows, args.allocations)
    seeds = sorted({r["seed"] for r in rows})
    header = (f"# Uniform (deployable) vs {args.allocations[0]} allocation\n\n`{command_line()}` · model {args.model} · "
              f"scores: {args.importance} · seeds "
              f"{seeds} · {args.eval_windows} windows of 128 tokens per text · mean ± sd over seeds · every layer "
              "pruned, both allocations from the same scores per seed and ratio.")
    write_results(args.output_dir, args.name,
                  {"command": command_line(), "machine": machine_info(), "table": table, "rows": rows},
                  markdown(table, header))
    return table, header


def main() -> None:
    args = parse_args()
    dense, tokenizer = load_model_and_tokenizer(args.model)
    eval_ids = {name: tokenize_text(load_text(name), tokenizer, max_tokens=args.eval_windows * 128 + 1,
                                    show_progress=False) for name in EVAL_TEXTS}
    rows = []
    for seed in args.seeds:
        calibration = load_calibration_data(HyWIAConfig().calibration.data, tokenizer, 16, 128, seed)
        shared = seed_context(dense, calibration, tokenizer, seed, args)
        for ratio in args.ratios:
            rows.extend(run_one(dense, shared, eval_ids, ratio, seed, args))
        table, header = report(rows, args)  # after every seed: a stopped run keeps what it measured
    print(markdown(table, header))


if __name__ == "__main__":
    main()
