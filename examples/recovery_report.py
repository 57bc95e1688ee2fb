"""Tables and plot of `benchmark_recovery.py`: rows (one per model, ratio, method, seed) to recovery.{md,json,png}."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from bench_common import mean_and_spread

PPL_COLUMNS = (("ppl_in", "ppl P&P"), ("ppl_out", "ppl Jargon"))


def _group(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["ratio"], row["method"])].append(row)
    return groups


def _fmt(values: list[float], scale: float = 1.0) -> str:
    if not values:
        return "–"
    mean, spread = mean_and_spread([v * scale for v in values])
    return f"{mean:.2f}" + (f" ± {spread:.2f}" if len(values) > 1 else "")


def _stage(rows: list[dict], stage: str, key: str) -> list[float]:
    return [r[stage][key] for r in rows if r.get(stage) and r[stage].get(key) is not None]


def _stats(values: list[float]) -> dict:
    mean, spread = mean_and_spread(values)
    return {"mean": mean, "seed_spread": spread, "n_seeds": len(values)}


def _scores(group: list[dict], stage: str) -> dict:
    scores = {key: _stats(values) for key in ("mean_acc", "ppl_in", "ppl_out") if (values := _stage(group, stage, key))}
    tasks = sorted({t for r in group for t in (r.get(stage) or {}).get("tasks", {})})
    scores["tasks"] = {t: _stats([r[stage]["tasks"][t]["value"] for r in group if t in r[stage]["tasks"]])
                       for t in tasks}
    return scores


def summary(rows: list[dict]) -> list[dict]:
    """One entry per (model, ratio, method): mean and spread over seeds of every score, before and after recovery."""
    return [{"model": model, "ratio": ratio, "method": method, "seeds": sorted(r["seed"] for r in group),
             "before": _scores(group, "before"), "after": _scores(group, "after")}
            for (model, ratio, method), group in sorted(_group(rows).items())]


def margins(rows: list[dict]) -> list[dict]:
    """HyWIA − LLM-Pruner after recovery per model and ratio, over the seeds both finished (paired).

    Mean zero-shot accuracy (points) and both perplexities of each method, so the margin never compares
    means over different seeds.
    """
    groups = _group(rows)
    out = []
    for (model, ratio, method), group in sorted(groups.items()):
        if method != "hywia":
            continue
        hywia = {r["seed"]: r["after"] for r in group if r.get("after")}
        other = {r["seed"]: r["after"] for r in groups.get((model, ratio, "llm_pruner"), []) if r.get("after")}
        seeds = sorted(hywia.keys() & other.keys())
        if not seeds:
            continue
        points = 100 * statistics.fmean(hywia[s]["mean_acc"] - other[s]["mean_acc"] for s in seeds)
        ppl = {f"{key}_after": {name: statistics.fmean(scores[s][key] for s in seeds)
                                for name, scores in (("hywia", hywia), ("llm_pruner", other))}
               for key, _ in PPL_COLUMNS}
        out.append({"model": model, "ratio": ratio, "seeds": seeds, "hywia_minus_llm_pruner_points": points, **ppl})
    return out


def markdown(rows: list[dict], header: str, found: list[dict]) -> str:
    """The results as markdown: one line per (model, ratio, method), accuracy per task after recovery, then `found`
    (the paired margins of `margins`)."""
    lines = [header, "", "Mean zero-shot accuracy (%, mean of the offline tasks) and perplexity, mean ± spread over "
             "calibration seeds; `before` = right after pruning, `after` = after LoRA recovery.", "",
             "| model | ratio | method | seeds | acc before | acc after | " + " | ".join(
                 f"{name} before | {name} after" for _, name in PPL_COLUMNS) + " |",
             "|---|---|---|---|---|---|" + "---|---|" * len(PPL_COLUMNS)]
    groups = _group(rows)
    for (model, ratio, method), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        cells = [_fmt(_stage(group, "before", "mean_acc"), 100), _fmt(_stage(group, "after", "mean_acc"), 100)]
        for key, _ in PPL_COLUMNS:
            cells += [_fmt(_stage(group, "before", key)), _fmt(_stage(group, "after", key))]
        lines.append(f"| {model} | {ratio:g} | {method} | {len(group)} | " + " | ".join(cells) + " |")
    lines += ["", "Accuracy per task after recovery (%, mean over seeds; ± lm-eval's stderr of one seed's score):", ""]
    tasks = sorted({t for r in rows for t in (r.get("after") or r.get("before") or {}).get("tasks", {})})
    lines += ["| model | ratio | method | " + " | ".join(tasks) + " |", "|---|---|---|" + "---|" * len(tasks)]
    for (model, ratio, method), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        stage = "after" if group[0].get("after") else "before"
        cells = []
        for task in tasks:
            scores = [r[stage]["tasks"][task] for r in group if task in r[stage].get("tasks", {})]
            cells.append("–" if not scores else f"{100 * statistics.fmean(s['value'] for s in scores):.2f} ± "
                                                f"{100 * statistics.fmean(s['stderr'] or 0 for s in scores):.2f}")
        lines.append(f"| {model} | {ratio:g} | {method} | " + " | ".join(cells) + " |")
    if found:
        lines += ["", "After recovery, HyWIA − LLM-Pruner over the seeds both finished: mean zero-shot accuracy "
                  "(points); perplexity P&P / Jargon, HyWIA vs LLM-Pruner:", ""]
        lines += [f"- {m['model']}, ratio {m['ratio']:g}, seeds {', '.join(map(str, m['seeds']))}: "
                  f"{m['hywia_minus_llm_pruner_points']:+.2f}; "
                  f"{m['ppl_in_after']['hywia']:.2f} / {m['ppl_out_after']['hywia']:.2f} vs "
                  f"{m['ppl_in_after']['llm_pruner']:.2f} / {m['ppl_out_after']['llm_pruner']:.2f}" for m in found]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Mean zero-shot accuracy before and after recovery per method, one panel per (model, ratio)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["model"], r["ratio"]) for r in rows if r["method"] != "dense"})
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    groups = _group(rows)
    for ax, (model, ratio) in zip(axes[0], panels):
        methods = sorted(m for (mo, ra, m) in groups if mo == model and ra == ratio)
        for offset, stage in ((-0.2, "before"), (0.2, "after")):
            means, spreads = [], []
            for method in methods:
                values = _stage(groups[(model, ratio, method)], stage, "mean_acc") or [float("nan")]
                mean, spread = mean_and_spread([100 * v for v in values])
                means.append(mean)
                spreads.append(spread)
            ax.bar([i + offset for i in range(len(methods))], means, 0.4, yerr=spreads, label=f"{stage} recovery")
        dense = _stage(groups.get((model, 0.0, "dense"), []), "before", "mean_acc")
        if dense:
            ax.axhline(100 * dense[0], color="black", linestyle=":", label="dense")
        ax.set_xticks(range(len(methods)), methods)
        ax.set(title=f"{model}, ratio {ratio:g}", ylabel="mean zero-shot accuracy (%)")
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
