"""The headline tables, written from the results files: the README's (test split) and docs/benchmark.md's
(validation split).

    python -m benchmarks.headline_table            # prints both
    python -m benchmarks.headline_table --write    # rewrites the marked blocks of README.md and docs/*.md

* README (`<!-- headline:start -->` ... `<!-- headline:end -->`): from `docs/results/recovery.json`
  (`benchmark_recovery.py --split test`): per model and ratio, the mean zero-shot accuracy after LoRA recovery of
  LLM-Pruner, of the best other baseline and of HyWIA on every test item, and the margin HyWIA − LLM-Pruner with its
  paired 95% interval; the words "established" / "not established" come from the interval. docs/benchmark.md
  (`<!-- recovery:start -->` ... `<!-- recovery:end -->`): the same table with perplexities; docs/method.md's
  block of the same name holds it too; `<!-- recoveries:start -->` ... `<!-- recoveries:end -->`: recoveries of one
  plan compared (none, LoRA, distillation), from the same file.
* docs/benchmark.md (`<!-- criteria:start -->` ... `<!-- criteria:end -->`): from `docs/results/criteria.json` and
  `criteria_gemma3-270m.json` (`benchmark_criteria.py`, validation split: the opening windows of Pride and Prejudice
  and of the Jargon File's held-out slice): per ratio and text, element1 and the best criterion under LLM-Pruner's
  split, element1 and the best single granularity under `cost_aware`, element1 under HyWIA's allocation, HyWIA, and
  HyWIA's ratio to three of them; means ± sd over the calibration seeds.
* docs/evaluation.md (`<!-- scoring:start -->` ... `<!-- scoring:end -->`): scoring speed and agreement of the packed
  scorer and lm-eval's path, from `docs/results/scoring.json` (`benchmark_scoring.py`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from benchmarks.common import SINGLE_GRANULARITY, is_hywia  # noqa: E402
from benchmarks.recovery_report import recovery_lines  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
MODELS = {"SmolLM2-135M": ("criteria.json", "builtin:smollm2-135m"),
          "Gemma 3 270M": ("criteria_gemma3-270m.json", "builtin:gemma3-270m")}
RECOVERY = "recovery.json"
README = RESULTS.parent.parent / "README.md"
BENCHMARK = RESULTS.parent / "benchmark.md"
EVALUATION = RESULTS.parent / "evaluation.md"
METHOD = RESULTS.parent / "method.md"
SCORING = "scoring.json"
TEXTS = {"in_domain": "Pride and Prejudice", "out_of_domain": "Jargon File (out of domain)"}
HEADER = ("| ratio | validation text | element1, LLM-Pruner's split | best criterion, LLM-Pruner's split | element1, "
          "`cost_aware` | best single granularity, `cost_aware` | element1, HyWIA's allocation | **HyWIA (defaults)** | "
          "HyWIA ÷ best split / ÷ element1 `cost_aware` / ÷ best `cost_aware` |\n" + "|---" * 9 + "|")
MODEL_NAMES = {model_id: name for name, (_, model_id) in MODELS.items()}
BASELINES = ("flap", "element1_cost_aware")


def _cell(entry: dict, text: str, label: str = "") -> str:
    mean, sd = entry[text]
    return f"{mean:.2f} ± {sd:.2f}" + (f" ({label})" if label else "")


def _best(entries: list[dict], text: str) -> dict:
    return min(entries, key=lambda entry: entry[text][0])


def rows_for(table: list[dict], ratio: float) -> list[str]:
    """The rows of one ratio, one per validation text."""
    at_ratio = [entry for entry in table if entry["ratio"] == ratio]

    def find(criterion: str, allocation: str) -> dict:
        return next(e for e in at_ratio if e["criterion"] == criterion and e["allocation"] == allocation)

    split = [e for e in at_ratio if e["allocation"] == "llm_pruner" and not is_hywia(e["criterion"])]
    single = [e for e in at_ratio if e["allocation"] == "cost_aware" and e["criterion"] in SINGLE_GRANULARITY]
    hywia, element1_split = find("hywia", "learned"), find("element1", "llm_pruner")
    element1_cost, element1_own = find("element1", "cost_aware"), find("element1", "hywia_allocation")
    lines = []
    for text, name in TEXTS.items():
        best_split, best_single = _best(split, text), _best(single, text)
        ratios = " / ".join(f"{hywia[text][0] / other[text][0]:.2f}×"
                            for other in (best_split, element1_cost, best_single))
        lines.append(
            f"| {ratio} ({hywia['kept_fraction']:.1%} params kept) | {name} | {_cell(element1_split, text)} | "
            f"{_cell(best_split, text, best_split['criterion'])} | {_cell(element1_cost, text)} | "
            f"{_cell(best_single, text, best_single['criterion'])} | {_cell(element1_own, text)} | "
            f"**{_cell(hywia, text)}** | {ratios} |")
    return lines


def criteria_table(path: Path) -> str:
    """One model's validation-split criteria table, with its dense perplexities from the results' note."""
    results = json.loads(path.read_text())
    dense = re.search(r"dense: in (\d+\.\d+), out (\d+\.\d+)", results["note"])
    ratios = sorted({entry["ratio"] for entry in results["table"]})
    body = [line for ratio in ratios for line in rows_for(results["table"], ratio)]
    caption = f"([results/{path.stem}.md](results/{path.stem}.md); dense {dense[1]} / {dense[2]})"
    return "\n".join([caption, "", HEADER, *body])


def _seeds_note(entry: dict) -> str:
    seeds = entry["after"]["mean_acc"]["n_seeds"]
    return "" if seeds == 3 else f"{seeds} seed" + ("s" if seeds > 1 else "")


def _summary_cell(entry: dict | None, with_perplexity: bool) -> str:
    if entry is None:
        return "not run"
    after, note = entry["after"], _seeds_note(entry)
    accuracy = f"{100 * after['mean_acc']['mean']:.2f}%"
    if not with_perplexity:
        return accuracy + (f" ({note})" if note else "")
    return f"{accuracy} ({after['ppl_in']['mean']:.1f} / {after['ppl_out']['mean']:.1f}{'; ' + note if note else ''})"


def _margin_cell(margin: dict | None, with_words: bool) -> str:
    if margin is None:
        return "not run"
    if with_words:
        return f"{margin['words']} (seeds {', '.join(map(str, margin['seeds']))})"
    points = margin["accuracy_points"]
    low, high = points["ci95"]
    verdict = "established" if points["established"] else "not established"
    return f"{points['mean']:+.2f} [{low:+.2f}, {high:+.2f}], {verdict}; wins {100 * points['p_win']:.0f}%"


def recovery_table(recovery: dict, full: bool = False) -> str:
    """Test split, after LoRA recovery, with HyWIA − LLM-Pruner and its interval: the README's compact table
    (accuracy only), or with `full` docs/benchmark.md's (perplexities and the margin's words too)."""
    summary = {(e["model"], e["ratio"], e["method"]): e for e in recovery["summary"]}
    margins = {(m["model"], m["ratio"]): m for m in recovery["margins"] if (m["a"], m["b"]) == ("hywia", "llm_pruner")}
    margin_header = "HyWIA − LLM-Pruner, points [95% interval]" if full else "HyWIA − LLM-Pruner [95%]"
    lines = [f"| model | ratio | LLM-Pruner | best other | **HyWIA** | {margin_header} |", "|---|---|---|---|---|---|"]
    for model, ratio in sorted({(m, r) for m, r, method in summary if method != "dense"}):
        others = [summary[(model, ratio, b)] for b in BASELINES if (model, ratio, b) in summary]
        best = max(others, key=lambda e: e["after"]["mean_acc"]["mean"], default=None)
        best_cell = f"{_summary_cell(best, full)}, {best['method']}" if best else "not run"
        lines.append(f"| {MODEL_NAMES.get(model, model)} | {ratio:g} | "
                     f"{_summary_cell(summary.get((model, ratio, 'llm_pruner')), full)} | {best_cell} | "
                     f"**{_summary_cell(summary.get((model, ratio, 'hywia')), full)}** | "
                     f"{_margin_cell(margins.get((model, ratio)), full)} |")
    dense = [f"{MODEL_NAMES.get(m, m)} {100 * e['after']['mean_acc']['mean']:.2f}%"
             + (f" ({e['after']['ppl_in']['mean']:.1f} / {e['after']['ppl_out']['mean']:.1f})" if full else "")
             for (m, r, method), e in sorted(summary.items()) if method == "dense"]
    items = {sum(e["items_per_task"].values()) for e in summary.values()}
    perplexity = (", perplexity in domain / out of domain (Mansfield Park / the Jargon File's test slice) in brackets"
                  if full else "")
    source = ("[results/recovery.md](results/recovery.md)" if full else
              "[docs/results/recovery.md](docs/results/recovery.md); with perplexities in "
              "[docs/benchmark.md](docs/benchmark.md#after-recovery-test-split)")
    caption = (f"Mean zero-shot accuracy after LoRA recovery on the **test split** ({', '.join(map(str, items))} "
               f"items, six tasks; chance 29.17%){perplexity}; mean over calibration seeds 0–2 unless marked. Dense: "
               f"{'; '.join(dense) or 'not run'}. Margins from a paired bootstrap over items and seeds (with one seed the "
               "interval holds the item noise only), with the share of resamples HyWIA wins; \"established\" only "
               f"when the interval excludes 0. From {source}, written by `python -m benchmarks.headline_table --write`.")
    return "\n".join([*textwrap.wrap(caption, 118, break_on_hyphens=False), "", *lines])


def scoring_table(scoring: dict) -> str:
    """docs/evaluation.md's speed table, from `scoring.json` (`benchmark_scoring.py`)."""
    lines = ["| model | backend | precision | items | wall s | items/s | mean accuracy |", "|---|---|---|---|---|---|---|"]
    for row in scoring["rows"]:
        for run in row["runs"].values():
            mean = sum(run["accuracy"].values()) / len(run["accuracy"])
            lines.append(f"| {MODEL_NAMES.get(row['model'], row['model'])} | {run['backend']} | {run['precision']} | "
                         f"{run['items']} | {run['wall_s']:.0f} | {run['items_per_s']:.1f} | {100 * mean:.2f}% |")
    for row in scoring["rows"]:
        agreement = row["agreement"]
        if agreement:
            acc = agreement["mean_accuracy_on_common_items"]
            lines.append(f"\n{MODEL_NAMES.get(row['model'], row['model'])}: on the {agreement['items']} items both "
                         f"paths scored they answer {agreement['items_equal']} alike (mean accuracy "
                         f"{100 * acc['packed']:.2f}% packed, {100 * acc['lm_eval']:.2f}% lm-eval; largest "
                         f"log-likelihood difference {agreement['max_abs_loglikelihood_difference']:.3g} nats); the "
                         f"packed scorer does {agreement['speedup_items_per_s']:.1f}x the items per second.")
    return "\n".join(lines)


def recoveries_table(recovery: dict) -> str:
    """docs/benchmark.md's comparison of recoveries (none, LoRA, distillation) of one plan, from the test-split rows."""
    lines = recovery_lines(recovery["rows"])
    if not lines:
        return "Only LoRA has run so far (`benchmark_recovery.py --recoveries none lora distill_lora distill_full`)."
    budget = recovery["recovery_budget"]
    return "\n".join([*textwrap.wrap(
        f"Test split, HyWIA's plan, the same budget for every recovery ({budget['steps']} steps × "
        f"{budget['batch_size']} × {budget['seq_len']} tokens); seeds as listed (a row with fewer seeds than another "
        "is not yet a comparison over the same seeds). From [results/recovery.md](results/recovery.md), written by "
        "`python -m benchmarks.headline_table --write`.", 118, break_on_hyphens=False), *lines])


def replace_block(path: Path, name: str, body: str) -> None:
    """Put `body` between the `<!-- name:start -->` and `<!-- name:end -->` lines of `path`."""
    text = path.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    path.write_text(f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in README.md and docs/benchmark.md")
    options = parser.parse_args()
    recovery_path = options.results_dir / RECOVERY
    recovery = json.loads(recovery_path.read_text()) if recovery_path.exists() else None
    not_run = "The test-split grid has not been run yet (`benchmarks/benchmark_recovery.py --split test`)."
    readme = recovery_table(recovery) if recovery else not_run
    recovery_full = recovery_table(recovery, full=True) if recovery else not_run
    criteria = "\n\n".join(f"{model} " + criteria_table(options.results_dir / name)
                            for model, (name, _) in MODELS.items())
    scoring_path = options.results_dir / SCORING
    scoring = (scoring_table(json.loads(scoring_path.read_text())) if scoring_path.exists() else
               "Not measured yet (`benchmarks/benchmark_scoring.py`).")
    if options.write:
        replace_block(README, "headline", readme)
        replace_block(BENCHMARK, "criteria", criteria)
        replace_block(BENCHMARK, "recovery", recovery_full)
        replace_block(BENCHMARK, "recoveries", recoveries_table(recovery) if recovery else not_run)
        replace_block(METHOD, "recovery", recovery_full)
        replace_block(EVALUATION, "scoring", scoring)
    else:
        print(readme, recovery_full, criteria, scoring, sep="\n\n")


if __name__ == "__main__":
    main()
