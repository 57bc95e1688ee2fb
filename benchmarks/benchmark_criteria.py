"""Side-by-side quality of every importance criterion under every allocation, at equal parameter counts.

For each calibration seed and pruning ratio: parameters kept, perplexity in domain (Pride and Prejudice) and out of
domain (the Jargon File, held-out slice), wall time and peak RSS of scoring. `--validation` evaluates on the
validation texts instead (Sense and Sensibility, and a disjoint Jargon slice): that is the mode for choosing
defaults; the held-out texts are never used to choose anything.

    python -m benchmarks.benchmark_criteria            # the full grid (about an hour on 2 CPU cores)
    python -m benchmarks.benchmark_criteria --quick    # one seed, ratio 0.5, a few runs
    python -m benchmarks.benchmark_criteria --model builtin:gemma3-270m   # Gemma 3 270M (the `gemma` extra)

Windows start with the BOS token when the model's tokenizer puts one before every text (Gemma).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import torch

from benchmarks.common import (SINGLE_GRANULARITY, add_grid_arguments, add_split_argument, command_line, is_hywia,
                               machine_info, mean_and_spread, measured, pyplot, write_results)
from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.data import load_calibration_data, load_model_and_tokenizer, load_text, tokenize_text
from optimum_hywia.evaluation import perplexity
from optimum_hywia.evaluation.splits import ppl_sources
from optimum_hywia.hywia import ALLOCATION_VIEWS
from optimum_hywia.importance import ImportanceResult, get_importance

# (criterion, HyWIAConfig overrides, allocations it runs under)
RUNS = [
    ("element1", {}, ["llm_pruner", "cost_aware", "fine_implied"]),
    ("element2", {}, ["llm_pruner"]),
    ("vector", {}, ["llm_pruner", "cost_aware", "fine_implied"]),
    ("groupvec", {}, ["llm_pruner", "cost_aware", "fine_implied"]),
    ("wanda_sp", {}, ["llm_pruner", "cost_aware"]),
    ("flap", {}, ["llm_pruner", "params_global"]),
    ("random", {}, ["llm_pruner"]),
    ("magnitude_l2", {}, ["llm_pruner"]),
    ("hywia_fixed_0.5", {"fusion": "fixed", "fusion_alpha": 0.5}, ["llm_pruner"]),
    ("hywia", {}, ["learned", "llm_pruner"]),
    # configured with LLM-Pruner's split: the pick chooses the selection for that split (selection alone)
    ("hywia_split", {"allocation": "llm_pruner"}, ["llm_pruner"]),
]
QUICK_RUNS = [
    ("element1", {}, ["llm_pruner", "cost_aware", "fine_implied"]),
    ("vector", {}, ["llm_pruner"]),
    ("hywia", {}, ["learned", "llm_pruner"]),
]
DEFAULT_MODEL = "builtin:smollm2-135m"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser)
    parser.add_argument("--calibration-data", default=None, help="default: HyWIAConfig's")
    parser.add_argument("--only", nargs="*", default=None, help="criteria to run (names from the grid)")
    add_split_argument(parser, "final table")
    parser.add_argument("--quick", action="store_true", help="one seed, ratio 0.5, a few runs")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="HyWIAConfig overrides for every run, e.g. fusion_steps=20")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default=None, help="file stem (default: criteria[_quick|_validation])")
    parser.add_argument("--from-rows", type=Path, nargs="+", default=None,
                        help="only aggregate the rows of earlier runs (their *_rows.jsonl) into tables and plots")
    parser.add_argument("--note", default="", help="with --from-rows: text for the header (how the rows were made)")
    args = parser.parse_args()
    if args.quick:
        args.ratios, args.seeds = [0.5], args.seeds[:1]
    return args


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        field, _, value = pair.partition("=")
        if field not in HyWIAConfig.field_names():
            raise SystemExit(f"--set: unknown HyWIAConfig field {field!r}")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value
    return overrides


def criterion_config(name: str, overrides: dict, ratio: float, seed: int, common: dict) -> HyWIAConfig:
    importance = "hywia" if is_hywia(name) else name
    return HyWIAConfig(**{**common, **overrides, "importance": importance, "pruning_ratio": ratio, "seed": seed})


def evaluate(model, tokenizer, eval_ids: dict, windows: int) -> dict:
    # the tokenizer only tells whether every window starts with a BOS
    return {name: perplexity(model, tokenizer, token_ids=ids, max_windows=windows, show_progress=False)
            for name, ids in eval_ids.items()}


HYWIA_ALLOCATION = "hywia_allocation"  # the allocation hywia shipped, under another criterion's ranking


def _allocation_name(allocation: str) -> str:
    return "learned" if allocation == HYWIA_ALLOCATION else allocation


def run_seed(dense, tokenizer, seed, args, runs, eval_ids, common, log: Path) -> list[dict]:
    calibration = load_calibration_data(
        args.calibration_data or HyWIAConfig().calibration.data, tokenizer, 16, 128, seed
    )
    # statistics do not depend on the ratio or the criterion: every run reads those of one context
    shared = HyWIAPruner(criterion_config("element1", {}, args.ratios[0], seed, common))
    shared = shared.scoring_context(dense, calibration, None)
    # hywia picks its fusion step and plan on windows of `selection_data`, a text apart from calibration and
    # held-out texts (with --validation the evaluation texts are that text's sources: those numbers are not held out)
    hywia_config = criterion_config("hywia", {}, args.ratios[0], seed, common)
    shared.selection = HyWIAPruner(hywia_config).selection_windows(tokenizer)
    rows = []
    for ratio in args.ratios:
        for name, overrides, allocations in runs:
            config = criterion_config(name, overrides, ratio, seed, common)
            pruner = HyWIAPruner(config)
            context = shared.sharing_statistics(config)
            with measured() as cost:
                result = get_importance(config.importance).run(context)
            plans = [(name, allocation, result) for allocation in allocations]
            if name == "hywia" and result.removal is not None:
                # selection alone: element1's ranking under the allocation hywia shipped (the same unit counts)
                element1 = get_importance("element1").run(context)
                plans.append(("element1", HYWIA_ALLOCATION, ImportanceResult(element1.scores, result.removal)))
            for criterion, allocation, plan in plans:
                pruner.config = dataclasses.replace(config, allocation=_allocation_name(allocation))
                with measured() as applied:
                    model = pruner.apply(copy.deepcopy(dense), context.sharing_statistics(pruner.config), plan)
                row = {"criterion": criterion, "allocation": allocation, "ratio": ratio, "seed": seed,
                       "kept_fraction": pruner.summary.kept_fraction, "score_wall_s": cost.wall_s,
                       "apply_wall_s": applied.wall_s,
                       "score_peak_rss_mb": cost.peak_rss_bytes / 2**20, **evaluate(model, tokenizer, eval_ids, args.eval_windows),
                       "widths": pruner.summary.widths_after, "blend": pruner.summary.extras.get("learned_blend"),
                       "plan": (pruner.summary.extras.get("plan_choice") or {}).get("chosen"),
                       "plan_candidates": (pruner.summary.extras.get("plan_choice") or {}).get("candidates"),
                       "fusion_start": pruner.summary.extras.get("fusion_start"),
                       "fusion_autocast": pruner.summary.extras.get("fusion_autocast")}
                hidden = ("widths", "blend", "plan", "plan_candidates", "fusion_start")
                print({k: v for k, v in row.items() if k not in hidden}, flush=True)
                with log.open("a") as stream:  # every row lands on disk at once: a stopped run keeps what it measured
                    stream.write(json.dumps(row) + "\n")
                rows.append(row)
                del model
    return rows


def aggregate(rows: list[dict], eval_names: list[str]) -> list[dict]:
    keys = sorted({(r["ratio"], r["criterion"], r["allocation"]) for r in rows})
    table = []
    for ratio, criterion, allocation in keys:
        group = [r for r in rows if (r["ratio"], r["criterion"], r["allocation"]) == (ratio, criterion, allocation)]
        entry = {"ratio": ratio, "criterion": criterion, "allocation": allocation, "seeds": len(group),
                 "kept_fraction": mean_and_spread([r["kept_fraction"] for r in group])[0],
                 "score_wall_s": mean_and_spread([r["score_wall_s"] for r in group])[0],
                 "score_peak_rss_mb": max(r["score_peak_rss_mb"] for r in group)}
        for name in eval_names:
            entry[name] = mean_and_spread([r[name] for r in group])
        table.append(entry)
    return table


def markdown(table: list[dict], eval_names: list[str], header: str) -> str:
    columns = " | ".join(f"ppl {name} (mean ± sd)" for name in eval_names)
    lines = [header, "", f"| ratio | criterion | allocation | params kept | {columns} | score wall s | peak RSS MB |",
             "|---|---|---|---|" + "---|" * len(eval_names) + "---|---|"]
    for e in sorted(table, key=lambda e: (e["ratio"], e[eval_names[0]][0])):
        cells = " | ".join(f"{e[n][0]:.2f} ± {e[n][1]:.2f}" for n in eval_names)
        lines.append(f"| {e['ratio']} | {e['criterion']} | {e['allocation']} | {100 * e['kept_fraction']:.1f}% | "
                     f"{cells} | {e['score_wall_s']:.1f} | {e['score_peak_rss_mb']:.0f} |")
    return "\n".join(lines)



def bar_check(table: list[dict], eval_names: list[str]) -> str:
    """The headline comparison: hywia (learned) against every other criterion under LLM-Pruner's split, and against
    the best single-granularity criterion under any allocation, per ratio and evaluation text."""
    lines = ["| ratio | text | hywia (learned) | best other, LLM-Pruner split | hywia vs it | best single-granularity, "
             "any allocation | hywia vs it |", "|---|---|---|---|---|---|---|"]
    for ratio in sorted({e["ratio"] for e in table}):
        at = [e for e in table if e["ratio"] == ratio]
        ours = next((e for e in at if (e["criterion"], e["allocation"]) == ("hywia", "learned")), None)
        if ours is None:
            continue
        splits = [e for e in at if e["allocation"] == "llm_pruner" and not is_hywia(e["criterion"])]
        singles = [e for e in at if e["criterion"] in SINGLE_GRANULARITY]
        if not (splits and singles):  # a run of hywia alone has nothing to compare with
            continue
        for name in eval_names:
            split = min(splits, key=lambda e: e[name][0])
            single = min(singles, key=lambda e: e[name][0])
            value = ours[name][0]
            lines.append(
                f"| {ratio} | {name} | {value:.2f} | {split['criterion']}: {split[name][0]:.2f} | "
                f"{100 * (value / split[name][0] - 1):+.1f}% | {single['criterion']}/{single['allocation']}: "
                f"{single[name][0]:.2f} | {100 * (value / single[name][0] - 1):+.1f}% |"
            )
    return "\n".join(lines)


def plot_widths(rows: list[dict], path: Path) -> None:
    """Kept widths per layer (MLP channels, KV groups) for element1, vector, fine-implied and hywia; and the blend."""
    plt = pyplot()

    picks = [("element1", "llm_pruner"), ("vector", "llm_pruner"), ("element1", "fine_implied"),
             ("hywia", "learned")]
    ratio = max(r["ratio"] for r in rows)
    seed = min(r["seed"] for r in rows)
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for criterion, allocation in picks:
        match = [r for r in rows if (r["criterion"], r["allocation"], r["ratio"], r["seed"]) ==
                 (criterion, allocation, ratio, seed)]
        if not match:
            continue
        widths = match[0]["widths"]
        label = f"{criterion} / {allocation}"
        axes[0].plot([w["intermediate_size"] for w in widths], marker=".", label=label)
        axes[1].plot([w["num_key_value_heads"] for w in widths], marker=".", label=label)
        blend = match[0]["blend"]
        if blend:
            layers = sorted({int(k.split(".")[0]) for k in blend})
            for kind, style in (("mlp", "-"), ("attention", "--")):
                axes[2].plot(layers, [blend[f"{l}.{kind}"]["fine"] for l in layers], style, label=f"α fine ({kind})")
                for view in ALLOCATION_VIEWS:
                    axes[2].plot(layers, [blend[f"{l}.{kind}"][f"allocation_{view}"] for l in layers], style,
                                 alpha=0.6, label=f"β {view} ({kind})")
    axes[0].set(title=f"MLP channels kept (ratio {ratio}, seed {seed})", xlabel="layer")
    axes[1].set(title="KV groups kept", xlabel="layer")
    axes[2].set(title="learned blend (hywia)", xlabel="layer", ylim=(0, 1))
    for axis in axes:
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(rows: list[dict], eval_names: list[str], header: str, output_dir: Path, stem: str, payload: dict) -> None:
    table = aggregate(rows, eval_names)
    text = markdown(table, eval_names, header)
    comparison = bar_check(table, eval_names)
    if len(comparison.splitlines()) > 2:  # a header and its rule alone: nothing to compare HyWIA with
        text += "\n\n## HyWIA against the others\n\n" + comparison
    write_results(output_dir, stem, {**payload, "rows": rows, "table": table}, text)
    plot_widths(rows, output_dir / f"{stem}_widths.png")
    print(text)


def main() -> None:
    args = parse_args()
    eval_names = ["in_domain", "out_of_domain"]
    if args.from_rows:
        rows = [json.loads(line) for path in args.from_rows for line in path.read_text().splitlines() if line.strip()]
        stem = args.name or args.from_rows[0].name.removesuffix("_rows.jsonl")
        names = ", ".join(path.name for path in args.from_rows)
        header = f"# Criteria × allocations (aggregated from {names}: {len(rows)} runs)\n\n{args.note}".rstrip()
        report(rows, eval_names, header, args.output_dir, stem,
               {"rows_files": [path.name for path in args.from_rows], "note": args.note})
        return
    torch.manual_seed(0)
    runs = QUICK_RUNS if args.quick else RUNS
    if args.only:
        runs = [run for run in runs if run[0] in args.only]
    common = parse_overrides(args.set)
    dense, tokenizer = load_model_and_tokenizer(args.model)
    texts = tuple(ppl_sources(args.split).values())
    windows_tokens = args.eval_windows * 128
    eval_ids = {name: tokenize_text(load_text(source), tokenizer, max_tokens=windows_tokens + 1, show_progress=False)
                for name, source in zip(eval_names, texts)}
    dense_ppl = evaluate(dense, tokenizer, eval_ids, args.eval_windows)
    print("dense", dense_ppl, flush=True)
    model_tag = "" if args.model == DEFAULT_MODEL else "_" + Path(args.model.removeprefix("builtin:")).name
    stem = args.name or ("criteria" + model_tag + ("_quick" if args.quick else "")
                         + ("_test" if args.split == "test" else ""))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    log = args.output_dir / f"{stem}_rows.jsonl"
    log.write_text("")
    rows = [row for seed in args.seeds for row in run_seed(dense, tokenizer, seed, args, runs, eval_ids, common, log)]
    header = (f"# Criteria × allocations on {args.model}\n\nCommand: `{command_line()}`  \n"
              f"Split: {args.split}. Eval texts: {texts[0]} (in domain), {texts[1]} (out of domain), first "
              f"{args.eval_windows} "
              f"windows of 128 tokens. Dense: in {dense_ppl['in_domain']:.2f}, out {dense_ppl['out_of_domain']:.2f}."
              f"  \nScore wall time and peak RSS: the criterion given the statistics that earlier criteria of the same "
              f"seed already cached (cold costs: benchmarks/benchmark_cost.py).  \nSeeds: {args.seeds}. Overrides: {common or 'none'}. Machine: {machine_info()}")
    report(rows, eval_names, header, args.output_dir, stem,
           {"command": command_line(), "machine": machine_info(), "texts": texts, "dense": dense_ppl})


if __name__ == "__main__":
    main()
