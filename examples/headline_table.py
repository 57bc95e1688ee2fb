"""The README's headline tables, from the aggregated criteria results of each real model.

    python examples/headline_table.py                 # prints both tables (Markdown)

Reads `docs/results/criteria.json` (SmolLM2-135M) and `docs/results/criteria_gemma3-270m.json` (Gemma 3 270M), made by
`benchmark_criteria.py --from-rows ...`, and `docs/results/recovery.json` (`benchmark_recovery.py`). Per ratio and
held-out text: element1 and the best criterion under LLM-Pruner's split, element1 and the best single granularity
under `cost_aware`, element1 under the allocation HyWIA shipped, and HyWIA; then HyWIA's ratio to three of them.
Every number is a mean ± sd over the calibration seeds of the rows. The last column is the mean zero-shot accuracy
after LoRA recovery, HyWIA − LLM-Pruner, over the seeds both finished.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench_common import SINGLE_GRANULARITY, is_hywia

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
MODELS = {"SmolLM2-135M": ("criteria.json", "builtin:smollm2-135m"),
          "Gemma 3 270M": ("criteria_gemma3-270m.json", "builtin:gemma3-270m")}
RECOVERY = "recovery.json"
TEXTS = {"in_domain": "Pride and Prejudice", "out_of_domain": "Jargon File (out of domain)"}
HEADER = ("| ratio | held-out text | element1, LLM-Pruner's split | best criterion, LLM-Pruner's split | element1, "
          "`cost_aware` | best single granularity, `cost_aware` | element1, HyWIA's allocation | **HyWIA (defaults)** | "
          "HyWIA ÷ best split / ÷ element1 `cost_aware` / ÷ best `cost_aware` | mean zero-shot accuracy after LoRA "
          "recovery, HyWIA − LLM-Pruner |\n" + "|---" * 10 + "|")


def _cell(entry: dict, text: str, label: str = "") -> str:
    mean, sd = entry[text]
    return f"{mean:.2f} ± {sd:.2f}" + (f" ({label})" if label else "")


def _best(entries: list[dict], text: str) -> dict:
    return min(entries, key=lambda entry: entry[text][0])


def recovery_cell(margins: list[dict], model_id: str, ratio: float) -> str:
    """The accuracy margin after recovery at `ratio`, with its seeds, or why there is none."""
    found = next((m for m in margins if m["model"] == model_id and m["ratio"] == ratio), None)
    if found is None:
        return "not run"
    return f"{found['hywia_minus_llm_pruner_points']:+.2f} points (seeds {', '.join(map(str, found['seeds']))})"


def rows_for(table: list[dict], ratio: float, recovery: str) -> list[str]:
    """The headline rows of one ratio, one per held-out text; `recovery` is the last column's cell."""
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
            f"**{_cell(hywia, text)}** | {ratios} | {recovery} |")
    return lines


def headline(path: Path, model_id: str, margins: list[dict]) -> str:
    """One model's table, with its dense perplexities from the results' note and its recovery margins."""
    results = json.loads(path.read_text())
    dense = re.search(r"dense: in (\d+\.\d+), out (\d+\.\d+)", results["note"])
    ratios = sorted({entry["ratio"] for entry in results["table"]})
    body = [line for ratio in ratios
            for line in rows_for(results["table"], ratio, recovery_cell(margins, model_id, ratio))]
    caption = f"([docs/results/{path.stem}.md](docs/results/{path.stem}.md); dense {dense[1]} / {dense[2]})"
    return "\n".join([caption, "", HEADER, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    options = parser.parse_args()
    margins = json.loads((options.results_dir / RECOVERY).read_text())["margins"]
    for model, (name, model_id) in MODELS.items():
        print(f"{model} " + headline(options.results_dir / name, model_id, margins), end="\n\n")


if __name__ == "__main__":
    main()
