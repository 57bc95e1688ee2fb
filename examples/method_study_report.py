"""Tables of `method_study.py`: selection under frozen allocations, picks by held-out loss, cost, calibration text.

A *pick set* is a choice of pick windows (`ss4`: the first 4 Sense and Sensibility windows, `jv4`: the first 4 Jargon
validation windows, `mix4`: 2 + 2, `mix8`: 4 + 4, ...); a *candidate set* is a list of (allocation, selection)
plans. The pick is the plan of the set with the lowest mean window loss on the pick set.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

EVALS = ("in_domain", "out_of_domain")
NO_FUSION_VIEWS = ("llm_pruner", "ca_fine", "ca_coarse", "fine_implied")
GRANULARITIES = ("fine", "coarse", "attn_coarse", "attn_fine")
PICK_SETS = {"ss4": {"ss": 4}, "jv4": {"jv": 4}, "mix4": {"ss": 2, "jv": 2}, "mix8": {"ss": 4, "jv": 4},
             "ss8": {"ss": 8}, "mix16": {"ss": 8, "jv": 8}}
BASELINES = {"element1 / llm_pruner": ("llm_pruner", "fine"), "element1 / cost_aware": ("ca_fine", "fine"),
             "hywia default (learned / blend)": ("learned", "blend"),
             "short fusion (short / blend_short)": ("short", "blend_short")}


def candidate_sets(plans: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """The candidate sets compared (P2 needs the full grid of a run without `--lean`)."""
    allocations = {p["allocation"] for p in plans}
    mixtures = sorted({(p["allocation"], p["selection"]) for p in plans if p["family"] == "mixture"})
    views = [(a, "fine") for a in NO_FUSION_VIEWS]
    per_kind = views + [(a, "attn_coarse") for a in NO_FUSION_VIEWS]
    sets = {"P0: 4 allocation views, element1 selection": views,
            "P1: 4 views × {fine, attention-coarse}": per_kind}
    if mixtures:
        sets["P2: 4 views × 4 granularity choices + mixtures (full grid)"] = [
            (a, s) for a in NO_FUSION_VIEWS for s in GRANULARITIES] + mixtures
    if "short" in allocations:
        sets["P3: P1 + short fusion's allocation × {fine, attn_coarse, its blend}"] = per_kind + [
            ("short", s) for s in ("fine", "attn_coarse", "blend_short")]
    if "learned" in allocations:
        sets["P4: P1 + default fusion's allocation × {fine, attn_coarse, its blend}"] = per_kind + [
            ("learned", s) for s in ("fine", "attn_coarse", "blend")]
    return sets


def pick_loss(plan: dict, pick_set: str) -> float:
    values = [v for text, n in PICK_SETS[pick_set].items() for v in plan["pick"][text][:n]]
    return statistics.fmean(values)


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {sd:.2f}"


def by_run(plans: list[dict]) -> dict[tuple, dict[tuple[str, str], dict]]:
    runs: dict[tuple, dict] = {}
    for plan in plans:  # a plan's pick row first, its evaluated row (same pick windows) after it
        run = runs.setdefault((plan["calibration"], plan["ratio"], plan["seed"]), {})
        run[(plan["allocation"], plan["selection"])] = {**run.get((plan["allocation"], plan["selection"]), {}), **plan}
    return runs


def picked(run: dict, candidates: list[tuple[str, str]], pick_set: str) -> dict | None:
    present = [run[c] for c in candidates if c in run]
    return min(present, key=lambda p: pick_loss(p, pick_set)) if present else None


def evaluated_best(run: dict, candidates: list[tuple[str, str]], evaluation: str) -> dict:
    """The candidate with the lowest perplexity on `evaluation` among those evaluated (the oracle)."""
    return min((run[c] for c in candidates if evaluation in run.get(c, {})), key=lambda p: p[evaluation])


def selection_table(runs: dict) -> list[str]:
    lines = ["## A. Selection alone (allocation frozen, ranking swapped)", "",
             "`attn_coarse`: attention by the coarse score, MLP by the fine; `attn_fine`: the reverse. "
             "`picked per kind`: the best of {fine, coarse, attn_coarse, attn_fine} on the mix8 pick windows.", "",
             "| calibration | ratio | allocation | selection | in domain | out of domain |", "|---|---|---|---|---|---|"]
    keys = sorted({(c, r) for c, r, _ in runs})
    for calibration, ratio in keys:
        seeds = [run for (c, r, _), run in runs.items() if (c, r) == (calibration, ratio)]
        allocations = [a for a in ("llm_pruner", "ca_fine", "learned", "short") if any((a, "fine") in s for s in seeds)]
        for allocation in allocations:
            selections = [s for s in ("fine", "coarse", "vector", "attn_coarse", "attn_fine", "blend", "blend_short")
                          if any((allocation, s) in run for run in seeds)]
            for selection in selections:
                cells = [spread([run[(allocation, selection)][e] for run in seeds
                                 if e in run.get((allocation, selection), {})]) for e in EVALS]
                lines.append(f"| {calibration} | {ratio} | {allocation} | {selection} | {' | '.join(cells)} |")
            chosen = [picked(run, [(allocation, s) for s in GRANULARITIES], "mix8") for run in seeds]
            names = ",".join(p["selection"] for p in chosen if p)
            cells = [spread([p[e] for p in chosen if p and e in p]) for e in EVALS]
            lines.append(f"| {calibration} | {ratio} | {allocation} | picked per kind ({names}) | {' | '.join(cells)} |")
    return lines


def pick_table(runs: dict, pick_set: str) -> list[str]:
    lines = [f"| calibration | ratio | candidate set | picks (seed order) | in domain | out of domain | vs e1/llm_pruner "
             f"(in, out) | vs e1/cost_aware (in, out) | vs hywia default (in, out) | pick = oracle (in, out) | "
             f"regret vs oracle (in, out) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for calibration, ratio in sorted({(c, r) for c, r, _ in runs}):
        all_seeds = [run for (c, r, _), run in sorted(runs.items()) if (c, r) == (calibration, ratio)]
        plans = [p for run in all_seeds for p in run.values()]
        for name, candidates in candidate_sets(plans).items():
            seeds = [run for run in all_seeds if all(c in run for c in candidates)
                     and "in_domain" in picked(run, candidates, pick_set)]
            if not seeds:
                continue
            chosen = [picked(run, candidates, pick_set) for run in seeds]
            cells = [spread([p[e] for p in chosen]) for e in EVALS]
            ratios = []
            for base in ("element1 / llm_pruner", "element1 / cost_aware", "hywia default (learned / blend)"):
                key = BASELINES[base]
                pairs = [(p, run[key]) for p, run in zip(chosen, seeds) if "in_domain" in run.get(key, {})]
                if not pairs:
                    ratios.append("–")
                    continue
                note = "" if len(pairs) == len(seeds) else f" ({len(pairs)} seed)"
                ratios.append(", ".join(f"{statistics.fmean(p[e] / b[e] for p, b in pairs):.3f}" for e in EVALS) + note)
            oracle_hits, regrets = [], []
            for e in EVALS:
                oracles = [evaluated_best(run, candidates, e) for run in seeds]
                oracle_hits.append(f"{sum(p is o for p, o in zip(chosen, oracles))}/{len(seeds)}")
                regrets.append(f"{statistics.fmean(p[e] / o[e] for p, o in zip(chosen, oracles)):.3f}")
            label = "; ".join(f"{p['allocation']}/{p['selection']}" for p in chosen)
            lines.append(f"| {calibration} | {ratio} | {name} ({len(seeds)} seeds) | {label} | {' | '.join(cells)} | {' | '.join(ratios)} | "
                         f"{', '.join(oracle_hits)} | {', '.join(regrets)} |")
    return lines


def baseline_table(runs: dict) -> list[str]:
    lines = ["| calibration | ratio | plan | params kept | in domain | out of domain |", "|---|---|---|---|---|---|"]
    for calibration, ratio in sorted({(c, r) for c, r, _ in runs}):
        seeds = [run for (c, r, _), run in runs.items() if (c, r) == (calibration, ratio)]
        for name, key in BASELINES.items():
            present = [run[key] for run in seeds if "in_domain" in run.get(key, {})]
            if present:
                kept = statistics.fmean(p["kept_fraction"] for p in present)
                cells = [spread([p[e] for p in present]) for e in EVALS]
                lines.append(f"| {calibration} | {ratio} | {name} | {100 * kept:.1f}% | {' | '.join(cells)} |")
    return lines


def pick_set_sensitivity(runs: dict) -> list[str]:
    lines = ["| calibration | ratio | candidate set | pick set | in domain | out of domain | pick = oracle (in, out) |",
             "|---|---|---|---|---|---|---|"]
    for calibration, ratio in sorted({(c, r) for c, r, _ in runs}):
        all_seeds = [run for (c, r, _), run in sorted(runs.items()) if (c, r) == (calibration, ratio)]
        plans = [p for run in all_seeds for p in run.values()]
        for name, candidates in candidate_sets(plans).items():
            complete = [run for run in all_seeds if all(c in run for c in candidates)]
            if not name.startswith(("P1", "P3", "P4")) or not complete:
                continue
            available = {text: len(v) for text, v in next(iter(complete[0].values()))["pick"].items()}
            for pick_set, need in PICK_SETS.items():
                if any(n > available.get(text, 0) for text, n in need.items()):
                    continue
                seeds = [run for run in complete if "in_domain" in picked(run, candidates, pick_set)]
                if not seeds:
                    continue
                chosen = [picked(run, candidates, pick_set) for run in seeds]
                cells = [spread([p[e] for p in chosen]) for e in EVALS]
                hits = []
                for e in EVALS:
                    oracles = [evaluated_best(run, candidates, e) for run in seeds]
                    hits.append(f"{sum(p is o for p, o in zip(chosen, oracles))}/{len(seeds)}")
                lines.append(f"| {calibration} | {ratio} | {name[:2]} | {pick_set} | {' | '.join(cells)} | "
                             f"{', '.join(hits)} |")
    return lines


def cost_table(timings: list[dict], plans: list[dict]) -> list[str]:
    """Wall-time ratios to element1 (its gradient pass + surgery) per seed, from the timings of its first ratio; a
    pick costs one masked forward of 8 windows (mix8) per candidate."""
    lines = ["| calibration | seed | element1 s (grad pass + surgery) | P0 (4 candidates) | P1 (8) | "
             "P3: P1 + short fusion (11) | default hywia | P4: P1 + default fusion (11) |",
             "|---|---|---|---|---|---|---|---|"]
    per_window = statistics.fmean(p["pick_s"] / sum(len(v) for v in p["pick"].values()) for p in plans)
    for timing in timings:
        if timing["stats_s"] < 1.0:  # the second ratio of a seed reuses the statistics
            continue
        element1 = timing["stats_s"] + timing["surgery_s"]

        def ratio(candidates: int, fusion: float = 0.0) -> str:
            return f"{(element1 + timing['views_s'] + candidates * 8 * per_window + fusion) / element1:.2f}×"

        cells = [f"{element1:.1f}", ratio(4), ratio(8)]
        cells.append(ratio(11, timing["fusion_short_s"]) if "fusion_short_s" in timing else "–")
        if "fusion_default_s" in timing:
            cells += [f"{(element1 + timing['fusion_default_s']) / element1:.2f}×", ratio(11, timing["fusion_default_s"])]
        else:
            cells += ["–", "–"]
        lines.append(f"| {timing['calibration']} | {timing['seed']} | {' | '.join(cells)} |")
    lines.append("")
    lines.append(f"One pick window (128 tokens, forward under masks) cost {per_window:.3f} s on average in these runs.")
    return lines


def report(rows: list[dict], output_dir: Path, name: str, payload: dict) -> None:
    headers = [r for r in rows if r.get("type") == "header"]
    plans = [r for r in rows if r.get("type") == "plan"]
    timings = [r for r in rows if r.get("type") == "timing"]
    runs = by_run(plans)
    lines = ["# Method study: hybrid selection, picks by held-out loss, cost", ""]
    for header in headers:
        lines.append(f"Command: `{header['command']}` — seeds {header['seeds']}, ratios {header['ratios']}, "
                     f"calibration {header['calibration']}, eval {header['eval_texts']} ({header['eval_windows']} "
                     f"windows), pick texts {header['pick_texts']} ({header['pick_windows']} windows each, disjoint "
                     f"from calibration and evaluation). Dense: {json.dumps(header['dense'])}.  ")
    if headers:
        lines.append(f"Machine: {headers[0]['machine']}")
    lines += ["", "Perplexity: mean ± sd over calibration seeds. Plans are applied as unit output masks on the dense "
              "model (checked against surgery, see `surgery_check_in_domain` in the rows).", "",
              "## Baselines", "", *baseline_table(runs), "", *selection_table(runs), "",
              "## B. Pick by held-out loss (pick set mix8: 4 Sense and Sensibility + 4 Jargon validation windows)", "",
              "Ratios are means over seeds of per-seed ratios. `regret`: picked / best candidate of the set on the "
              "evaluation text.", "", *pick_table(runs, "mix8"), "",
              "### Which pick windows", "", *pick_set_sensitivity(runs), "",
              "## C. Wall time relative to element1", "", *cost_table(timings, plans)]
    notes = output_dir / f"{name}_notes.md"  # hand-written reading of these tables, kept beside them
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    text = "\n".join(lines) + "\n"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.md").write_text(text)
    (output_dir / f"{name}.json").write_text(json.dumps({**payload, "headers": headers, "timings": timings,
                                                         "plans": plans}, indent=1) + "\n")
    print(text)
