"""Tables, margins and plot of `benchmark_recovery.py`: rows (one per model, ratio, method, seed) to <name>.{md,json,png}.

Each margin A − B pairs the seeds both methods finished and the items both scored, with a 95% interval from a paired
bootstrap over items and seeds (`optimum_hywia.evaluation.paired`); the words "established" / "not established" are
written from the interval, never by hand.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

from benchmarks.common import mean_and_spread, pyplot
from optimum_hywia.evaluation import OFFLINE_CHANCE
from optimum_hywia.evaluation.paired import paired_margin

PPL_COLUMNS = (("ppl_in", "ppl in domain"), ("ppl_out", "ppl out of domain"))
# (A, B): the margins reported, A − B; HyWIA against each baseline, and distillation against LoRA
PAIRS = (("hywia", "llm_pruner"), ("hywia", "hywia + none"), ("hywia", "flap"), ("hywia", "element1_cost_aware"),
         ("hywia + distill_full", "hywia"), ("hywia + distill_lora", "hywia"),
         ("hywia + distill_full", "llm_pruner + distill_full"), ("hywia + distill_lora", "llm_pruner + distill_lora"))
CHANCE = statistics.fmean(OFFLINE_CHANCE.values())


def label(row: dict) -> str:
    """A row's method, with its recovery when that is not the default LoRA (`hywia + distill_full`)."""
    recovery = _recovery(row)
    return row["method"] if recovery == "lora" or row["method"] == "dense" else f"{row['method']} + {recovery}"


def _recovery(row: dict) -> str:
    """How the row was recovered: rows written before recoveries were named are LoRA; the dense model, none."""
    return "none" if row["method"] == "dense" else row.get("recovery", "lora")


def _group(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["ratio"], label(row))].append(row)
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


def items_per_task(group: list[dict]) -> dict[str, int]:
    tasks = group[0]["after"]["tasks"]
    return {task: entry["n"] for task, entry in tasks.items()}


def summary(rows: list[dict]) -> list[dict]:
    """One entry per (model, ratio, method): seeds, items per task, mean and spread over seeds of every score."""
    out = []
    for (model, ratio, method), group in sorted(_group(rows).items()):
        after = {key: _stats(values) for key in ("mean_acc", "ppl_in", "ppl_out")
                 if (values := _stage(group, "after", key))}
        after["tasks"] = {t: _stats([r["after"]["tasks"][t]["value"] for r in group])
                          for t in group[0]["after"]["tasks"]}
        before = {key: _stats(values) for key in ("ppl_in", "ppl_out") if (values := _stage(group, "before", key))}
        out.append({"model": model, "ratio": ratio, "method": method, "seeds": sorted(r["seed"] for r in group),
                    "items_per_task": items_per_task(group), "before": before, "after": after})
    return out


def _item_scores(group: list[dict]) -> dict[int, dict[str, list[int]]]:
    return {r["seed"]: {t: [int(c) for c in entry["correct"]] for t, entry in r["after"]["tasks"].items()}
            for r in group}


def margins(rows: list[dict]) -> list[dict]:
    """Every pair of :data:`PAIRS` that both ran at a (model, ratio): accuracy margin with its interval, both
    perplexities after recovery over the same seeds."""
    groups = _group(rows)
    out = []
    for model, ratio in sorted({(r["model"], r["ratio"]) for r in rows if r["method"] != "dense"}):
        for a, b in PAIRS:
            left, right = groups.get((model, ratio, a)), groups.get((model, ratio, b))
            seeds = sorted({r["seed"] for r in left or []} & {r["seed"] for r in right or []})
            if not seeds:
                continue
            pick = {name: [r for r in g if r["seed"] in seeds] for name, g in ((a, left), (b, right))}
            margin = paired_margin(_item_scores(pick[a]), _item_scores(pick[b]))
            ppl = {f"{key}_after": {name: statistics.fmean(r["after"][key] for r in g) for name, g in pick.items()}
                   for key, _ in PPL_COLUMNS}
            out.append({"model": model, "ratio": ratio, "a": a, "b": b, "seeds": seeds,
                        "items_per_task": items_per_task(pick[a]), "accuracy_points": margin.to_dict(scale=100),
                        "words": margin.words(), **ppl})
    return out


def floor_lines(rows: list[dict]) -> list[str]:
    """Where accuracy stops separating methods: each (model, ratio)'s best and worst mean accuracy against chance."""
    groups = _group(rows)
    lines = []
    for model, ratio in sorted({(r["model"], r["ratio"]) for r in rows if r["method"] != "dense"}):
        means = {m: statistics.fmean(_stage(g, "after", "mean_acc")) for (mo, ra, m), g in groups.items()
                 if mo == model and ra == ratio}
        dense = _stage(groups.get((model, 0.0, "dense"), []), "after", "mean_acc")
        best, worst = max(means.values()), min(means.values())
        dense_text = f", dense {100 * dense[0]:.2f}%" if dense else ""
        lines.append(f"- {model}, ratio {ratio:g}: mean accuracy {100 * worst:.2f}–{100 * best:.2f}% across methods, "
                     f"{100 * (worst - CHANCE):+.2f} to {100 * (best - CHANCE):+.2f} points over chance "
                     f"({100 * CHANCE:.2f}%){dense_text}.")
    return lines


def _log_gap(ppl: float, dense: float) -> float:
    return math.log(ppl) - math.log(dense)


def _phase(group: list[dict], table: str, phase: str) -> str:
    values = [r[table][phase] for r in group if (r.get(table) or {}).get(phase) is not None]
    return f"{statistics.fmean(values):.0f}" if values else "–"


def recovery_comparison(rows: list[dict]) -> list[dict]:
    """Per (model, ratio, method) that ran more than one recovery, one entry per recovery: scores after it, the share
    of the dense gap in log-perplexity it closed (from the same rows' scores right after pruning), the gap it leaves
    against LoRA's, wall time and peak RSS of the recovery phase."""
    by_recovery: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        by_recovery[(row["model"], row["ratio"], row["method"], _recovery(row))].append(row)
    out = []
    for model, ratio, method in sorted({key[:3] for key in by_recovery if key[2] != "dense"}):
        recoveries = sorted(c for (mo, ra, me, c) in by_recovery if (mo, ra, me) == (model, ratio, method))
        dense = by_recovery.get((model, 0.0, "dense", "none"))
        if len(recoveries) < 2 or not dense:
            continue
        lora = by_recovery.get((model, ratio, method, "lora"))
        for recovery in recoveries:
            group = by_recovery[(model, ratio, method, recovery)]
            entry = {"model": model, "ratio": ratio, "method": method, "recovery": recovery,
                     "seeds": sorted(r["seed"] for r in group),
                     "mean_acc": statistics.fmean(_stage(group, "after", "mean_acc")),
                     "wall_s_recover": _phase(group, "wall_s", "recover") if recovery != "none" else "0",
                     "peak_rss_mb_recover": _phase(group, "peak_rss_mb", "recover") if recovery != "none" else "–"}
            same_seeds = [r for r in lora or [] if r["seed"] in entry["seeds"]]
            for key, _ in PPL_COLUMNS:
                reference = dense[0]["after"][key]
                after = statistics.fmean(_stage(group, "after", key))
                before = statistics.fmean(_stage(group, "before", key))
                entry[key] = after
                entry[f"{key}_gap_closed"] = 1 - _log_gap(after, reference) / _log_gap(before, reference)
                if same_seeds:
                    entry[f"{key}_gap_vs_lora"] = (_log_gap(after, reference) /
                                                   _log_gap(statistics.fmean(_stage(same_seeds, "after", key)),
                                                            reference))
            out.append(entry)
    return out


def recovery_lines(rows: list[dict]) -> list[str]:
    """The recovery comparison as a markdown table (empty when no method ran more than one recovery)."""
    entries = recovery_comparison(rows)
    if not entries:
        return []
    lines = ["", "Recoveries compared (means over seeds). *closed*: share of the gap to dense in log-perplexity that "
             "recovery closed, from the same rows' perplexity right after pruning; *vs LoRA*: the gap left, as a share "
             "of the gap LoRA leaves on the same seeds (≤ 0.5 means at most half of it); wall time and peak RSS of "
             "the recovery phase alone (the process holds the dense model throughout).", "",
             "| model | ratio | method | recovery | seeds | mean acc | ppl in | closed | vs LoRA | ppl out | closed | "
             "vs LoRA | recover s | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        cells = [f"{100 * e['mean_acc']:.2f}"]
        for key, _ in PPL_COLUMNS:
            vs_lora = e.get(f"{key}_gap_vs_lora")
            cells += [f"{e[key]:.2f}", f"{e[f'{key}_gap_closed']:.2f}", "–" if vs_lora is None else f"{vs_lora:.2f}"]
        lines.append(f"| {e['model']} | {e['ratio']:g} | {e['method']} | {e['recovery']} | "
                     f"{', '.join(map(str, e['seeds']))} | " + " | ".join(cells) +
                     f" | {e['wall_s_recover']} | {e['peak_rss_mb_recover']} |")
    return lines


def markdown(rows: list[dict], header: str, found: list[dict]) -> str:
    """The results as markdown: scores per (model, ratio, method), accuracy per task, the paired margins and the
    distance of each ratio from chance."""
    lines = [header, "", "Mean zero-shot accuracy (%, mean of the six offline tasks) after recovery and perplexity "
             "right after pruning (`before`) and after recovery (`after`): mean ± spread over calibration seeds.", "",
             "| model | ratio | method | seeds | items | mean acc after | " + " | ".join(
                 f"{name} before | {name} after" for _, name in PPL_COLUMNS) + " |",
             "|---|---|---|---|---|---|" + "---|---|" * len(PPL_COLUMNS)]
    groups = _group(rows)
    for (model, ratio, method), group in sorted(groups.items()):
        cells = [_fmt(_stage(group, "after", "mean_acc"), 100)]
        for key, _ in PPL_COLUMNS:
            cells += [_fmt(_stage(group, "before", key)), _fmt(_stage(group, "after", key))]
        items = sum(items_per_task(group).values())
        lines.append(f"| {model} | {ratio:g} | {method} | {len(group)} | {items} | " + " | ".join(cells) + " |")
    tasks = list(rows[0]["after"]["tasks"])
    lines += ["", "Accuracy per task after recovery (%, mean over seeds; chance " +
              ", ".join(f"{t} {100 * OFFLINE_CHANCE[t]:.0f}%" for t in tasks) + "):", "",
              "| model | ratio | method | " + " | ".join(tasks) + " |", "|---|---|---|" + "---|" * len(tasks)]
    for (model, ratio, method), group in sorted(groups.items()):
        cells = [f"{100 * statistics.fmean(r['after']['tasks'][t]['value'] for r in group):.2f}" for t in tasks]
        lines.append(f"| {model} | {ratio:g} | {method} | " + " | ".join(cells) + " |")
    if found:
        lines += ["", "Paired margins after recovery, A − B, mean zero-shot accuracy in points with the 95% interval "
                  "of a paired bootstrap over items and seeds (10,000 resamples); *established* only when the "
                  "interval excludes 0. Perplexity (in / out of domain) of A vs B over the same seeds:", ""]
        lines += [f"- {m['model']}, ratio {m['ratio']:g}, {m['a']} − {m['b']} (seeds "
                  f"{', '.join(map(str, m['seeds']))}, {sum(m['items_per_task'].values())} items): {m['words']}; "
                  f"perplexity {m['ppl_in_after'][m['a']]:.2f} / {m['ppl_out_after'][m['a']]:.2f} vs "
                  f"{m['ppl_in_after'][m['b']]:.2f} / {m['ppl_out_after'][m['b']]:.2f}" for m in found]
    lines += recovery_lines(rows)
    lines += ["", "Where accuracy separates methods (chance of the mean: the mean of the tasks' chance levels):", ""]
    lines += floor_lines(rows)
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Mean zero-shot accuracy after recovery per method, one panel per (model, ratio), seeds as points."""
    plt = pyplot()

    panels = sorted({(r["model"], r["ratio"]) for r in rows if r["method"] != "dense"})
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    groups = _group(rows)
    for ax, (model, ratio) in zip(axes[0], panels):
        methods = sorted(m for (mo, ra, m) in groups if mo == model and ra == ratio)
        for i, method in enumerate(methods):
            values = [100 * v for v in _stage(groups[(model, ratio, method)], "after", "mean_acc")]
            ax.bar(i, statistics.fmean(values), 0.6, alpha=0.6)
            ax.plot([i] * len(values), values, "k.", markersize=6)
        dense = _stage(groups.get((model, 0.0, "dense"), []), "after", "mean_acc")
        if dense:
            ax.axhline(100 * dense[0], color="black", linestyle=":", label="dense")
        ax.axhline(100 * CHANCE, color="grey", linestyle="--", label="chance")
        ax.set_xticks(range(len(methods)), methods, rotation=20, fontsize=8)
        ax.set(title=f"{model}, ratio {ratio:g}", ylabel="mean zero-shot accuracy after recovery (%)")
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
