"""The paper's motivating observation, measured: fine- and coarse-grained importance disagree, and imply different
per-layer sparsity.

Per pruned layer and unit kind (attention KV group / MLP channel), from one first-order Taylor pass:
- Spearman rank correlation between fine1 (Σ|w·g| per unit), group1 (|Σ w·g| over the unit) and vector1
  (LLM-Pruner's vector-wise reading);
- overlap of the units each score would prune inside the layer at `--ratio` (the lowest round(ratio·n) units):
  Jaccard, and the fraction of fine's pruned set that coarse also prunes;
- the per-layer sparsity each granularity implies under a global criterion: fine = 1 − the density a global ranking
  of individual weights by |w·g| keeps; coarse = the removal fraction of a global cost-aware ranking of group1 per
  parameter over all pruned layers and both kinds (same parameter budget); `fine_units` = the same cost-aware
  ranking of fine1 per parameter (a control: fine score, unit-level ranking).

    python -m benchmarks.granularity_observation --model builtin:smollm2-135m --ratio 0.2 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from optimum_hywia import HyWIAConfig, HyWIAPruner  # noqa: E402
from optimum_hywia.allocation.strategies import allocate  # noqa: E402
from optimum_hywia.data import DEFAULT_CALIBRATION, load_calibration_data, load_model_and_tokenizer  # noqa: E402
from optimum_hywia.importance import fine_grained_densities  # noqa: E402

KINDS = ("mlp", "attention")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--ratio", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="docs/results")
    parser.add_argument("--calibration", default=DEFAULT_CALIBRATION)
    parser.add_argument("--num-samples", type=int, default=16, help="calibration windows")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per calibration window")
    return parser.parse_args()


def ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n, ties given their average rank."""
    x = x.double()
    order = torch.argsort(x, stable=True)
    r = torch.empty_like(x)
    r[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    ordered = x[order]
    for value in torch.unique(ordered[1:][ordered[1:] == ordered[:-1]]):
        tied = x == value
        r[tied] = r[tied].mean()
    return r


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / denominator if denominator > 0 else float("nan")


def lowest(scores: torch.Tensor, count: int) -> set[int]:
    return set(torch.argsort(scores.double(), stable=True)[:count].tolist())


def overlap(fine: torch.Tensor, coarse: torch.Tensor, ratio: float) -> dict[str, float | int]:
    count = round(ratio * len(fine))
    f, c = lowest(fine, count), lowest(coarse, count)
    union = f | c
    return {
        "num_pruned": count,
        "jaccard": len(f & c) / len(union) if union else float("nan"),
        "fine_in_coarse": len(f & c) / len(f) if f else float("nan"),
    }


def spread(scores: torch.Tensor) -> float:
    """Coefficient of variation: std / mean."""
    scores = scores.double()
    return float(scores.std() / scores.mean()) if scores.mean() > 0 else float("nan")


def score(args: argparse.Namespace):
    model, tokenizer = load_model_and_tokenizer(args.model)
    calibration = load_calibration_data(args.calibration, tokenizer, args.num_samples, args.seq_len, args.seed)
    config = HyWIAConfig(importance="element1", pruning_ratio=args.ratio, seed=args.seed, allocation="cost_aware")
    context = HyWIAPruner(config).scoring_context(model, calibration, None)
    return context, context.statistics.taylor()


def measure(context, stats, ratio: float) -> list[dict]:
    fine_sparsity = {key: 1.0 - d for key, d in fine_grained_densities(stats, ratio).items()}
    coarse_counts = allocate("cost_aware", context, {key: s.group1 for key, s in stats.items()})
    fine_counts = allocate("cost_aware", context, {key: s.fine1 for key, s in stats.items()})
    rows = []
    for group in context.groups:
        s = stats[group.key]
        fine, coarse, vector = s.fine1, s.group1, s.vector1
        rows.append({
            "layer": group.layer,
            "kind": group.kind,
            "num_units": group.num_units,
            "params_per_unit": group.params_per_unit,
            "spearman_fine_group": spearman(fine, coarse),
            "spearman_fine_vector": spearman(fine, vector),
            "spearman_group_vector": spearman(coarse, vector),
            "overlap_fine_group": overlap(fine, coarse, ratio),
            "overlap_fine_vector": overlap(fine, vector, ratio),
            "spread_fine": spread(fine),
            "spread_group": spread(coarse),
            "sparsity_fine": fine_sparsity[group.key],
            "sparsity_coarse": coarse_counts[group.key] / group.num_units,
            "sparsity_fine_units": fine_counts[group.key] / group.num_units,
        })
    return rows


def pooled_spearman(context, stats, kind: str, coarse: str) -> float:
    """One Spearman over every unit of `kind` in all pruned layers, each score divided by its layer's mean."""
    keys = [g.key for g in context.groups if g.kind == kind]
    norm = lambda t: t.double() / t.double().mean()  # noqa: E731
    return spearman(torch.cat([norm(stats[k].fine1) for k in keys]), torch.cat([norm(getattr(stats[k], coarse)) for k in keys]))


def mean(values) -> float:
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float("nan")


def summarise(context, stats, rows: list[dict], ratio: float) -> dict:
    summary = {}
    total_params = sum(g.num_units * g.params_per_unit for g in context.groups)
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        weights = [r["num_units"] * r["params_per_unit"] / total_params for r in mine]
        summary[kind] = {
            **{f"mean_{k}": mean(r[k] for r in mine) for k in (
                "spearman_fine_group", "spearman_fine_vector", "spearman_group_vector",
                "sparsity_fine", "sparsity_coarse", "sparsity_fine_units")},
            "mean_jaccard_fine_group": mean(r["overlap_fine_group"]["jaccard"] for r in mine),
            "mean_fine_in_coarse": mean(r["overlap_fine_group"]["fine_in_coarse"] for r in mine),
            "mean_fine_in_vector": mean(r["overlap_fine_vector"]["fine_in_coarse"] for r in mine),
            "mean_spread_ratio_group_over_fine": mean(r["spread_group"] / r["spread_fine"] for r in mine),
            "pooled_spearman_fine_group": pooled_spearman(context, stats, kind, "group1"),
            "pooled_spearman_fine_vector": pooled_spearman(context, stats, kind, "vector1"),
            "share_of_prunable_params": sum(weights),
            **{f"removed_param_share_{g}": sum(w * r[f"sparsity_{g}"] for w, r in zip(weights, mine))
               for g in ("fine", "coarse", "fine_units")},
        }
    summary["uniform_sparsity"] = ratio
    return summary


def print_table(rows: list[dict]) -> None:
    header = ("layer", "kind", "ρ(fine,group)", "ρ(fine,vector)", "ρ(group,vector)", "Jaccard", "fine∩coarse/fine",
              "sparsity fine", "sparsity coarse", "sparsity fine-units")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in sorted(rows, key=lambda r: (r["kind"], r["layer"])):
        o = r["overlap_fine_group"]
        cells = (r["spearman_fine_group"], r["spearman_fine_vector"], r["spearman_group_vector"], o["jaccard"],
                 o["fine_in_coarse"], r["sparsity_fine"], r["sparsity_coarse"], r["sparsity_fine_units"])
        print(f"| {r['layer']} | {r['kind']} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


def plot(rows: list[dict], ratio: float, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(18, 6.2))
    for kind in KINDS:
        mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["layer"])
        layers = [r["layer"] for r in mine]
        # MLP: lines; attention (3 KV groups, discrete values): markers only
        kw = dict(marker="o", markersize=4) if kind == "mlp" else dict(marker="s", markersize=6, linestyle="none")
        shift = 0.0 if kind == "mlp" else 0.2  # attention: side by side, not on top of each other
        axes[0].plot([x - shift for x in layers], [r["spearman_fine_group"] for r in mine], color="C0",
                     label=f"{kind}: fine vs group", **kw)
        axes[0].plot([x + shift for x in layers], [r["spearman_fine_vector"] for r in mine], color="C1",
                     label=f"{kind}: fine vs vector", **kw)
        axes[1].plot(layers, [r["overlap_fine_group"]["fine_in_coarse"] for r in mine], color="C0",
                     label=f"{kind}: |fine ∩ group| / |fine|", **kw)
        if kind == "mlp":  # attention prunes 1 of 3 at r=0.2: Jaccard equals the fraction above
            axes[1].plot(layers, [r["overlap_fine_group"]["jaccard"] for r in mine], color="C2",
                         label="mlp: Jaccard(fine, group)", **kw)
        kw = dict(marker="o" if kind == "mlp" else "s", markersize=4, linestyle="-" if kind == "mlp" else "--")
        axes[2].plot(layers, [r["sparsity_fine"] for r in mine], color="C3", label=f"{kind}: fine (weights)", **kw)
        axes[2].plot(layers, [r["sparsity_coarse"] for r in mine], color="C4", label=f"{kind}: coarse (group1/param)",
                     **kw)
        axes[2].plot(layers, [r["sparsity_fine_units"] for r in mine], color="C7", alpha=0.6, linewidth=1,
                     label=f"{kind}: control, fine1/param units", **{**kw, "markersize": 2})
    axes[2].axhline(ratio, color="black", linestyle=":", label=f"uniform ({ratio:g})")
    titles = ("Spearman ρ between unit scores, per layer", f"Overlap of units pruned in-layer at r={ratio:g}",
              f"Per-layer sparsity a global criterion implies, r={ratio:g}")
    ylabels = ("Spearman ρ", "fraction of units", "removed fraction")
    for ax, title, ylabel in zip(axes, titles, ylabels):
        ax.set(title=title, xlabel="layer", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    axes[0].set_ylim(-1.1, 1.1)
    axes[1].set_ylim(-0.05, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine(seconds: float) -> dict:
    return {"cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "threads": torch.get_num_threads(), "seconds": round(seconds, 1)}


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    start = time.time()
    context, stats = score(args)
    rows = measure(context, stats, args.ratio)
    summary = summarise(context, stats, rows, args.ratio)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    print_table(rows)
    print(json.dumps(summary, indent=2))
    result = {"args": vars(args), "pruned_layers": sorted({g.layer for g in context.groups}),
              "machine": machine(time.time() - start), "summary": summary, "per_layer": rows}
    (out / "granularity_observation.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.ratio, out / "granularity_observation.png")
    print(f"wrote {out / 'granularity_observation.json'} and {out / 'granularity_observation.png'}")


if __name__ == "__main__":
    main()
