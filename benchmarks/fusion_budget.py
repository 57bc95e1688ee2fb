"""How much fusion training HyWIA needs: quality and cost of the learned fusion at several training budgets.

For each calibration seed the Taylor statistics are computed once (their wall time is the `element1` cost); then the
fusion runs under each budget (steps, windows per step, tokens per window, held-out windows, evaluation interval)
at each ratio, and the pruned model's perplexity is measured on the validation texts (Sense and Sensibility in
domain, a Jargon File slice out of domain). The ratio column is (statistics + fusion) / statistics: hywia's wall
time relative to element1 on the same data.

    python -m benchmarks.fusion_budget                       # 3 seeds, ratios 0.2 and 0.5, the budgets below
    python -m benchmarks.fusion_budget --seeds 0 --ratios 0.5
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

from benchmarks.common import add_split_argument, command_line, machine_info, mean_and_spread, write_results
from benchmarks.benchmark_criteria import evaluate

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.data import load_model_and_tokenizer, load_text, tokenize_text
from optimum_hywia.importance import get_importance

# validation texts of their own: those of HyWIA's plan pick (`builtin:validation`)
EVAL_TEXTS = ("builtin:sensesensibility", "builtin:jargon_validation")
# name -> HyWIAConfig fusion fields
BUDGETS = {
    "untrained (step 0)": {"fusion_steps": 0, "fusion_holdout_samples": 2},
    "30 steps x 4x128": {"fusion_steps": 30, "fusion_batch_size": 4, "fusion_holdout_samples": 4,
                         "fusion_eval_every": 5},
    "20 steps x 1x128": {"fusion_steps": 20, "fusion_batch_size": 1, "fusion_holdout_samples": 2,
                         "fusion_eval_every": 10},
    "20 steps x 1x64": {"fusion_steps": 20, "fusion_batch_size": 1, "fusion_seq_len": 64,
                        "fusion_holdout_samples": 2, "fusion_eval_every": 10},
    "20 steps x 1x64, bf16 autocast": {"fusion_steps": 20, "fusion_batch_size": 1, "fusion_seq_len": 64,
                                       "fusion_holdout_samples": 2, "fusion_eval_every": 10,
                                       "fusion_autocast": "bfloat16"},
    "30 steps x 4x128, bf16 autocast": {"fusion_steps": 30, "fusion_batch_size": 4, "fusion_holdout_samples": 4,
                                        "fusion_eval_every": 5, "fusion_autocast": "bfloat16"},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--eval-windows", type=int, default=24, help="128-token windows per perplexity text")
    add_split_argument(parser, "sweep")  # its texts are validation texts
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="fusion_budget", help="file stem")
    return parser.parse_args()


def run_seed(dense, tokenizer, seed: int, args, eval_ids: dict, log: Path) -> list[dict]:
    context = HyWIAPruner(HyWIAConfig(seed=seed)).scoring_context(dense, None, tokenizer)
    start = time.perf_counter()
    context.statistics.taylor()  # the same windows and statistics for every budget
    statistics_s = time.perf_counter() - start
    rows = []
    for ratio in args.ratios:
        for budget in args.budgets:
            pruner = HyWIAPruner(HyWIAConfig(seed=seed, pruning_ratio=ratio, **BUDGETS[budget]))
            run = context.sharing_statistics(pruner.config)
            start = time.perf_counter()
            result = get_importance("hywia").run(run)
            fusion_s = time.perf_counter() - start
            model = pruner.apply(copy.deepcopy(dense), run, result)
            row = {"budget": budget, "ratio": ratio, "seed": seed, "statistics_s": statistics_s, "fusion_s": fusion_s,
                   "wall_ratio": (statistics_s + fusion_s) / statistics_s,
                   "kept_fraction": pruner.summary.kept_fraction, **evaluate(model, eval_ids, args.eval_windows)}
            print(row, flush=True)
            with log.open("a") as stream:
                stream.write(json.dumps(row) + "\n")
            rows.append(row)
    return rows


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| ratio | fusion budget | ppl in domain | ppl out of domain | fusion s | hywia / element1 "
             "wall |", "|---|---|---|---|---|---|"]
    for ratio in sorted({r["ratio"] for r in rows}):
        for budget in BUDGETS:
            group = [r for r in rows if r["ratio"] == ratio and r["budget"] == budget]
            if not group:
                continue
            cells = [mean_and_spread([r[name] for r in group]) for name in ("in_domain", "out_of_domain")]
            fusion = mean_and_spread([r["fusion_s"] for r in group])[0]
            wall = mean_and_spread([r["wall_ratio"] for r in group])[0]
            lines.append(f"| {ratio} | {budget} | {cells[0][0]:.2f} ± {cells[0][1]:.2f} | "
                         f"{cells[1][0]:.2f} ± {cells[1][1]:.2f} | {fusion:.1f} | {wall:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    dense, tokenizer = load_model_and_tokenizer(args.model)
    names, texts = ["in_domain", "out_of_domain"], EVAL_TEXTS
    eval_ids = {name: tokenize_text(load_text(source), tokenizer, max_tokens=args.eval_windows * 128 + 1,
                                    show_progress=False) for name, source in zip(names, texts)}
    dense_ppl = evaluate(dense, eval_ids, args.eval_windows)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    log = args.output_dir / f"{args.name}_rows.jsonl"
    log.write_text("")
    rows = [row for seed in args.seeds for row in run_seed(dense, tokenizer, seed, args, eval_ids, log)]
    header = (f"# HyWIA fusion budget on {args.model}\n\nCommand: `{command_line()}`  \nValidation texts: {texts[0]} "
              f"(in domain), {texts[1]} (out of domain), {args.eval_windows} windows of 128 tokens. Dense: in "
              f"{dense_ppl['in_domain']:.2f}, out {dense_ppl['out_of_domain']:.2f}. Seeds: {args.seeds}.  \n"
              f"Budgets: {json.dumps({b: BUDGETS[b] for b in args.budgets})}  \nMachine: {machine_info()}")
    text = markdown(rows, header)
    write_results(args.output_dir, args.name, {"command": command_line(), "machine": machine_info(),
                                                     "budgets": BUDGETS, "dense": dense_ppl, "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
