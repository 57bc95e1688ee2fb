"""Study: does HyWIA's hybrid *selection* earn its place, and can a cheap pick among allocation/selection candidates
by held-out loss replace (or shorten) the learned fusion?

For each calibration seed, one scoring context (gradient statistics computed once) serves every ratio. A plan =
allocation (units removed per layer and kind) × selection (which units go inside each group); it is applied through
unit output masks on the dense model (the same function as the pruned model: a masked unit contributes nothing;
checked against surgery once per seed). Each candidate is scored by its per-window LM loss on *pick* windows from
texts that are neither calibration nor evaluation text (Sense and Sensibility and the Jargon File validation slice;
distinct non-overlapping windows, seeded), then measured by perplexity on the held-out evaluation texts (Pride and
Prejudice in domain, the Jargon File held-out slice out of domain, first 24 windows of 128 tokens, as
`benchmark_criteria.py`), most important plans first, within `--eval-minutes` per seed and ratio.

Allocations: `llm_pruner` (LLM-Pruner's split, attention ranked by element1), `ca_fine` (cost_aware by element1),
`ca_coarse` (cost_aware by the whole-unit coarse score), `fine_implied`, `learned` (today's default fusion,
30 steps × 4×128) and `short` (8 steps × 2×128, β started on the cost-aware view through `CostAwareStart`).
Selections: `fine` (element1), `coarse` (|Σ w·g| over the unit), `vector`, per kind `attn_coarse` / `attn_fine`
(attention by one granularity, MLP by the other), and the blends the two fusions learned (`blend`, `blend_short`).
Candidate sets and tables: `method_study_report.py`.

    python examples/method_study.py --ratios 0.5 --seeds 0 --lean --threads 1 --eval-minutes 16
    python examples/method_study.py --ratios 0.5 --seeds 1 2 --lean --no-default-fusion --threads 1 --eval-minutes 11 \
        --name method_study_s12
    python examples/method_study.py --from-rows docs/results/method_study_rows.jsonl \
        docs/results/method_study_s12_rows.jsonl     # tables only
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench_common import command_line, load_benchmark_model, machine_info
from method_study_report import candidate_sets, pick_loss, report
from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.allocation import allocate, fractions_to_counts, select_kept_units
from optimum_hywia.architectures import ATTENTION
from optimum_hywia.data import load_calibration_data, load_text, tokenize_text
from optimum_hywia.evaluation import perplexity
from optimum_hywia.fusion import ALLOCATION_VIEWS, GranularityAttention, unit_output_masks
from optimum_hywia.fusion import train as fusion_train
from optimum_hywia.importance import get_importance
from optimum_hywia.importance.gradients import taylor_statistics

EVAL_TEXTS = {"in_domain": "builtin:prideprejudice", "out_of_domain": "builtin:jargon"}
PICK_TEXTS = {"ss": "builtin:sensesensibility", "jv": "builtin:jargon_validation"}
SHORT_FUSION = {"fusion_steps": 8, "fusion_batch_size": 2, "fusion_holdout_samples": 0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--calibration-data", default="builtin:austen")
    parser.add_argument("--eval-windows", type=int, default=24)
    parser.add_argument("--pick-windows", type=int, default=4, help="windows per pick text")
    parser.add_argument("--no-fusion", action="store_true", help="skip both fusions (candidates without them)")
    parser.add_argument("--no-default-fusion", action="store_true", help="skip the default fusion only")
    parser.add_argument("--eval-minutes", type=float, default=1e9,
                        help="per seed and ratio: stop evaluating plans after this long (most important first)")
    parser.add_argument("--lean", action="store_true", help="fewer plans, no mixtures (see Study.wanted)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a crowded machine)")
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--name", default="method_study")
    parser.add_argument("--from-rows", type=Path, nargs="*", default=None)
    return parser.parse_args()


class CostAwareStart(GranularityAttention):
    """The granularity attention with a learnable bias on the allocation logits, started on the `fine_units` view
    (the cost-aware allocation by element1): β ≈ 0.87 on it at step 0. An emulation of a better initialisation."""

    def __init__(self, dim: int = 8, seed: int = 0, bias: float = 3.0):
        super().__init__(dim=dim, seed=seed)
        start = torch.zeros(len(ALLOCATION_VIEWS))
        start[ALLOCATION_VIEWS.index("fine_units")] = bias
        self.view_bias = nn.Parameter(start)

    def allocation_weights(self, query_features, removal_views):
        beta = super().allocation_weights(query_features, removal_views)
        return torch.softmax(torch.log(beta) + self.view_bias, dim=-1)


@contextlib.contextmanager
def attention_class(cls):
    saved = fusion_train.GranularityAttention
    fusion_train.GranularityAttention = cls
    try:
        yield
    finally:
        fusion_train.GranularityAttention = saved


def pick_windows(tokenizer, source: str, count: int, seed: int) -> torch.Tensor:
    """`count` distinct non-overlapping 128-token windows of `source`, chosen by a seeded permutation."""
    ids = tokenize_text(load_text(source), tokenizer, show_progress=False)
    grid = ids[: ids.numel() // 128 * 128].view(-1, 128)
    order = torch.randperm(len(grid), generator=torch.Generator().manual_seed(7919 + seed))
    return grid[order[:count]]


def window_losses(model, windows: torch.Tensor) -> list[float]:
    with torch.no_grad():
        logits = model(input_ids=windows, use_cache=False).logits[:, :-1].float()
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1), reduction="none")
    return nll.view(len(windows), -1).mean(1).tolist()


def masks_for(context, counts, selection_scores) -> dict:
    masks = {}
    for group in context.groups:
        kept = select_kept_units(group, selection_scores[group.key], counts[group.key])
        masks[group.key] = torch.zeros(group.num_units).index_fill_(0, kept, 1.0)
    return masks


def kept_fraction(context, counts, total_params: int) -> float:
    return 1.0 - sum(counts[g.key] * g.params_per_unit for g in context.groups) / total_params


def selections_from_stats(context) -> dict[str, dict]:
    stats = taylor_statistics(context)
    fine = {k: s["fine1"] for k, s in stats.items()}
    coarse = {k: s["group1"] for k, s in stats.items()}
    return {
        "fine": fine,
        "coarse": coarse,
        "vector": {k: s["vector1"] for k, s in stats.items()},
        "attn_coarse": {k: coarse[k] if k[1] == ATTENTION else fine[k] for k in fine},
        "attn_fine": {k: fine[k] if k[1] == ATTENTION else coarse[k] for k in fine},
    }


def run_fusion(context, overrides: dict, cls=GranularityAttention):
    """(fused scores, learned removal counts, fusion seconds, blend) of one fusion run on a fresh cache view."""
    config = dataclasses.replace(context.config, importance="hywia", **overrides)
    local = dataclasses.replace(context, config=config, cache=dict(context.cache))
    start = time.perf_counter()
    with attention_class(cls):
        scores = get_importance("hywia").score(local)
    seconds = time.perf_counter() - start
    counts = fractions_to_counts(local, local.cache["learned_removal"])
    return scores, counts, seconds, local.cache["learned_blend"]


class Study:
    def __init__(self, args, dense, tokenizer, eval_ids, log: Path):
        self.args, self.dense, self.tokenizer, self.eval_ids, self.log = args, dense, tokenizer, eval_ids, log
        self.total_params = sum(p.numel() for p in dense.parameters())

    def write(self, row: dict) -> None:
        with self.log.open("a") as stream:  # every row lands on disk at once: a stopped run keeps what it measured
            stream.write(json.dumps(row) + "\n")

    def measure(self, context, counts, selection_scores, picks: dict, evaluate: bool = True) -> dict:
        masks = masks_for(context, counts, selection_scores)
        out = {"kept_fraction": kept_fraction(context, counts, self.total_params)}
        with unit_output_masks(context, masks):
            start = time.perf_counter()
            out["pick"] = {name: window_losses(self.dense, windows) for name, windows in picks.items()}
            out["pick_s"] = time.perf_counter() - start
            if evaluate:
                for name, ids in self.eval_ids.items():
                    out[name] = perplexity(self.dense, token_ids=ids, max_windows=self.args.eval_windows,
                                           show_progress=False)
        return out

    def element1_cost(self, context, counts, scores) -> float:
        """Seconds of the surgery that every variant pays once (deep copy excluded)."""
        pruner = HyWIAPruner(dataclasses.replace(context.config, importance="element1", allocation="llm_pruner"))
        model = copy.deepcopy(self.dense)
        start = time.perf_counter()
        pruner.cut(model, context.groups, {g.key: select_kept_units(g, scores[g.key], counts[g.key])
                                           for g in context.groups})
        seconds = time.perf_counter() - start
        check = perplexity(model, token_ids=self.eval_ids["in_domain"], max_windows=self.args.eval_windows,
                           show_progress=False)
        return seconds, check

    def run_seed(self, seed: int) -> None:
        args = self.args
        calibration = load_calibration_data(args.calibration_data, self.tokenizer, 16, 128, seed)
        picks = {name: pick_windows(self.tokenizer, source, args.pick_windows, seed)
                 for name, source in PICK_TEXTS.items()}
        shared_cache: dict = {}
        for ratio in args.ratios:
            config = HyWIAConfig(importance="element1", pruning_ratio=ratio, seed=seed,
                                 calibration_data=args.calibration_data)
            context = HyWIAPruner(config).scoring_context(self.dense, calibration, None)
            context.cache = shared_cache
            start = time.perf_counter()
            selections = selections_from_stats(context)
            stats_s = time.perf_counter() - start  # cold at the first ratio: element1's gradient pass
            fine = selections["fine"]
            start = time.perf_counter()
            allocations = {
                "llm_pruner": allocate("llm_pruner", context, fine),
                "ca_fine": allocate("cost_aware", context, fine),
                "ca_coarse": allocate("cost_aware", context, selections["coarse"]),
                "fine_implied": allocate("fine_implied", context, fine),
            }
            views_s = time.perf_counter() - start
            timing = {"type": "timing", "seed": seed, "ratio": ratio, "calibration": args.calibration_data,
                      "stats_s": stats_s, "views_s": views_s}
            if not args.no_fusion:
                if not args.no_default_fusion:
                    scores, counts, seconds, blend = run_fusion(context, {})
                    selections["blend"], allocations["learned"], timing["fusion_default_s"] = scores, counts, seconds
                    timing["blend_default"] = {f"{l}.{k}": b for (l, k), b in blend.items()}
                scores, counts, seconds, _ = run_fusion(context, SHORT_FUSION, CostAwareStart)
                selections["blend_short"], allocations["short"], timing["fusion_short_s"] = scores, counts, seconds
            timing["surgery_s"], timing["surgery_check_in_domain"] = self.element1_cost(
                context, allocations["llm_pruner"], fine)
            self.write(timing)
            print({k: v for k, v in timing.items() if k != "blend_default"}, flush=True)
            self.pick_then_evaluate(context, seed, ratio, allocations, selections, picks)

    def pick_then_evaluate(self, context, seed, ratio, allocations, selections, picks) -> None:
        """Pick losses of every candidate of the candidate sets first (cheap), then perplexity on the evaluation
        texts in order of importance (baselines, each set's pick, part A's rankings, the rest) until the time
        budget of the seed runs out: a stopped or budget-limited run still answers the design question."""
        plans = [(a, s) for a in allocations for s in selections if self.wanted(a, s)]
        candidates = {c for group in candidate_sets([{"allocation": a, "selection": s, "family": "base"}
                                                     for a, s in plans]).values() for c in group}
        rows = {}
        for allocation, selection in sorted(candidates, key=plans.index):
            measured = self.measure(context, allocations[allocation], selections[selection], picks, evaluate=False)
            rows[(allocation, selection)] = self.plan_row(seed, ratio, allocation, selection, "pick", measured)
        sets = candidate_sets(list(rows.values()))
        chosen = [min(group, key=lambda c: pick_loss(rows[c], "mix8")) for group in sets.values()]
        order = [("llm_pruner", "fine"), ("ca_fine", "fine"), ("learned", "blend"), *chosen[1:],
                 ("short", "blend_short"), chosen[0], ("learned", "fine"), ("llm_pruner", "attn_coarse"),
                 ("llm_pruner", "coarse"), ("llm_pruner", "attn_fine"), ("ca_fine", "attn_coarse"), *plans]
        started, done = time.perf_counter(), set()
        for allocation, selection in order:
            if (allocation, selection) in done or (allocation, selection) not in plans:
                continue
            if time.perf_counter() - started > 60 * self.args.eval_minutes:
                print(f"seed {seed}: evaluation budget spent, {len(done)} plans evaluated", flush=True)
                return
            done.add((allocation, selection))
            self.plan_row(seed, ratio, allocation, selection, "base",
                          self.measure(context, allocations[allocation], selections[selection], picks))

    def wanted(self, allocation: str, selection: str) -> bool:
        """Full grid: every plan but `vector` outside part A's frozen allocations. Lean: part A's rankings under
        LLM-Pruner's split and cost_aware, and fine / attn_coarse (+ its own blend) under the other allocations."""
        if selection == "vector":
            return allocation in ("llm_pruner", "ca_fine", "learned") and not self.args.lean
        if not self.args.lean or allocation in ("llm_pruner", "ca_fine"):
            return True
        own_blend = {"learned": "blend", "short": "blend_short"}.get(allocation)
        return selection in ("fine", "attn_coarse", own_blend)

    def plan_row(self, seed, ratio, allocation, selection, family, measured: dict) -> dict:
        row = {"type": "plan", "seed": seed, "ratio": ratio, "calibration": self.args.calibration_data,
               "allocation": allocation, "selection": selection, "family": family, **measured}
        self.write(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k != "pick"}, flush=True)
        return row


def main() -> None:
    args = parse_args()
    if args.from_rows:
        rows = [json.loads(line) for path in args.from_rows for line in path.read_text().splitlines() if line.strip()]
        report(rows, args.output_dir, args.name, {"rows_files": [str(p) for p in args.from_rows]})
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dense, tokenizer = load_benchmark_model(args.model)
    dense.eval()
    eval_ids = {name: tokenize_text(load_text(source), tokenizer, max_tokens=args.eval_windows * 128 + 1,
                                    show_progress=False) for name, source in EVAL_TEXTS.items()}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    log = args.output_dir / f"{args.name}_rows.jsonl"
    study = Study(args, dense, tokenizer, eval_ids, log)
    header = {"type": "header", "command": command_line(), "machine": machine_info(), "model": args.model,
              "seeds": args.seeds, "ratios": args.ratios, "calibration": args.calibration_data,
              "eval_texts": EVAL_TEXTS, "pick_texts": PICK_TEXTS, "pick_windows": args.pick_windows,
              "eval_windows": args.eval_windows, "short_fusion": SHORT_FUSION,
              "dense": {name: perplexity(dense, token_ids=ids, max_windows=args.eval_windows, show_progress=False)
                        for name, ids in eval_ids.items()}}
    log.write_text(json.dumps(header) + "\n")
    print(header, flush=True)
    for seed in args.seeds:
        study.run_seed(seed)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    report(rows, args.output_dir, args.name, {})


if __name__ == "__main__":
    main()
