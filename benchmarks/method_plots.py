"""What HyWIA's fusion learns, against the closed-form plan it competes with: kept widths per layer of `hywia`
(learned allocation) and of `element1` under `cost_aware`, and the learned fine-grained weight α per layer.

Reads the validation-split rows of `benchmark_criteria.py` (no model is run): SmolLM2-135M
(`criteria_hywia_rows.jsonl`, `criteria_others_rows.jsonl`) and Gemma 3 270M (`criteria_gemma3-270m_*`), seeds 0-2,
ratios 0.2 and 0.5. Writes `method_allocation.{png,json,md}`: per model and ratio, the mean over layers of the
kept fraction of MLP channels and of attention heads for both plans, their mean absolute difference per layer, the
mean α (fine) per kind, and the plans the pick shipped.

    python -m benchmarks.method_plots --output-dir docs/results
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.common import command_line, pyplot, write_results

MODELS = {
    "SmolLM2-135M": ("criteria_hywia_rows.jsonl", "criteria_others_rows.jsonl"),
    "Gemma 3 270M": ("criteria_gemma3-270m_hywia_rows.jsonl", "criteria_gemma3-270m_others_rows.jsonl"),
}
PLANS = {"hywia (learned)": ("hywia", "learned"), "element1 (cost_aware)": ("element1", "cost_aware")}
KINDS = {"mlp": "intermediate_size", "attention": "num_attention_heads"}
RATIOS = (0.2, 0.5)


def read_rows(results: Path, names: tuple[str, ...]) -> list[dict]:
    return [json.loads(line) for name in names for line in (results / name).read_text().splitlines() if line]


def kept_fractions(row: dict, kind: str) -> list[float]:
    """Each layer's kept share of `kind` (the widest layer of the row stands for the dense width)."""
    widths = [w[KINDS[kind]] for w in row["widths"]]
    return [w / max(widths) for w in widths]


def per_layer_mean(rows: list[dict], values) -> list[float]:
    return [statistics.fmean(column) for column in zip(*(values(row) for row in rows))]


def fine_weights(row: dict, kind: str) -> list[tuple[int, float]]:
    blend = row.get("blend") or {}
    return sorted((int(key.split(".")[0]), value["fine"]) for key, value in blend.items() if key.endswith(kind))


def summarise(rows: list[dict]) -> dict:
    """Per (model, ratio): per-layer means over seeds of both plans, their distance, α, the shipped plans."""
    cells = {}
    for model in MODELS:
        for ratio in RATIOS:
            chosen = {label: [r for r in rows if r["model"] == model and r["ratio"] == ratio
                              and (r["criterion"], r["allocation"]) == pick] for label, pick in PLANS.items()}
            hywia, closed = chosen.values()
            if not hywia or not closed:
                continue
            cell = {"seeds": sorted(r["seed"] for r in hywia), "kept": {}, "mean_abs_difference": {}, "alpha_fine": {}}
            for kind in KINDS:
                means = {label: per_layer_mean(group, lambda r: kept_fractions(r, kind))
                         for label, group in chosen.items()}
                cell["kept"][kind] = means
                cell["mean_abs_difference"][kind] = statistics.fmean(
                    abs(a - b) for a, b in zip(*means.values()))
                alphas = [[value for _, value in fine_weights(r, kind)] for r in hywia]
                cell["alpha_fine"][kind] = statistics.fmean(v for row in alphas for v in row) if alphas[0] else None
            cell["alpha_layers"] = {kind: [layer for layer, _ in fine_weights(hywia[0], kind)] for kind in KINDS}
            cell["alpha_per_layer"] = {kind: per_layer_mean(hywia, lambda r: [v for _, v in fine_weights(r, kind)])
                                       for kind in KINDS}
            cell["shipped"] = [f"{r['plan']['allocation']} / {r['plan']['selection']}" for r in hywia]
            cells[f"{model} {ratio}"] = cell
    return cells


def plot(cells: dict, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(len(cells), 3, figsize=(16, 3.2 * len(cells)), squeeze=False)
    for row_axes, (name, cell) in zip(axes, cells.items()):
        for axis, kind in zip(row_axes, KINDS):
            for label, values in cell["kept"][kind].items():
                axis.plot(values, marker=".", label=label)
            axis.set(title=f"{name}: {kind} kept (share of dense)", xlabel="layer", ylim=(0, 1.05))
            axis.legend(fontsize=7)
        for kind, style in (("mlp", "-"), ("attention", "--")):
            row_axes[2].plot(cell["alpha_layers"][kind], cell["alpha_per_layer"][kind], style, label=f"α fine ({kind})")
        row_axes[2].set(title=f"{name}: learned α (fine-grained weight)", xlabel="layer", ylim=(0, 1))
        row_axes[2].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def markdown(cells: dict, command: str) -> str:
    lines = ["Validation split (the texts behind the defaults): HyWIA's learned allocation against element-wise "
             "Taylor under `cost_aware`, mean over seeds; kept shares are per layer, averaged over layers.", "",
             "| model, ratio | MLP kept: hywia / element1 cost_aware | attention kept: hywia / element1 cost_aware "
             "| mean abs. per-layer difference (MLP, attention) | mean α fine (MLP, attention) | shipped plans |",
             "|---|---|---|---|---|---|"]
    for name, cell in cells.items():
        kept = {kind: " / ".join(f"{statistics.fmean(v):.3f}" for v in cell["kept"][kind].values()) for kind in KINDS}
        diff = ", ".join(f"{cell['mean_abs_difference'][k]:.3f}" for k in KINDS)
        alpha = ", ".join(f"{cell['alpha_fine'][k]:.2f}" for k in KINDS)
        lines.append(f"| {name} | {kept['mlp']} | {kept['attention']} | {diff} | {alpha} | "
                     f"{'; '.join(cell['shipped'])} |")
    return "\n".join(lines + ["", f"Command: `{command}`"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    options = parser.parse_args()
    rows = [{**row, "model": model} for model, names in MODELS.items()
            for row in read_rows(options.output_dir, names)]
    cells = summarise(rows)
    plot(cells, options.output_dir / "method_allocation.png")
    table = markdown(cells, command_line())
    write_results(options.output_dir, "method_allocation", {"command": command_line(), "split": "validation",
                                                            "cells": cells}, table)
    print(table)


if __name__ == "__main__":
    main()
