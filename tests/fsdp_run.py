"""HyWIAPruner on a tiny model sharded with FSDP2, for the multi-process test (also runs in one process).

    torchrun --nproc_per_node 2 tests/fsdp_run.py OUT      # sharded over two gloo processes
    python tests/fsdp_run.py OUT --single                  # the same pruning in one process, unsharded

For each scenario (element1 under llm_pruner with the streamed and with the buffered statistics pass, HyWIA's
defaults, FLAP) the pruned model is saved by rank 0 to
OUT/<scenario>, and each rank writes OUT/<scenario>-rank<r>.json: the world size, the layer widths it got (None on
the ranks that get no model) and its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tiny_models import VOCAB, tiny_model  # noqa: E402

from optimum_hywia import HyWIAConfig, HyWIAPruner  # noqa: E402
from optimum_hywia.training.distributed import rank, world_size  # noqa: E402
from optimum_hywia.fsdp import init_distributed, shard_model  # noqa: E402

BASE = dict(pruning_ratio=0.5, skip_first_layers=0, skip_last_layers=0, fusion_steps=4, fusion_eval_every=2,
            fusion_holdout_samples=2)
SCENARIOS = {"llm_pruner": dict(importance="element1", allocation="llm_pruner"),
             "llm_pruner_buffered": dict(importance="element1", allocation="llm_pruner", statistics_pass="buffered"),
             "hywia": dict(),
             "flap": dict(importance="flap", allocation="params_global")}


def calibration() -> torch.Tensor:
    """Ten windows: three batches of 4, 4, 2, so with two ranks the buffered pass gives one rank a batch fewer (a
    zero-weighted pass) and the streamed one gives each rank five windows of unequal weights."""
    return torch.randint(0, VOCAB, (10, 16), generator=torch.Generator().manual_seed(5))


def run(out: Path, scenario: str, sharded: bool) -> dict:
    torch.set_num_threads(1)
    model = tiny_model("llama_gqa")
    if sharded:
        shard_model(model)
    pruner = HyWIAPruner(HyWIAConfig(**BASE, **SCENARIOS[scenario]))
    pruned = pruner.prune(model, calibration())
    folder = out / scenario
    out.mkdir(parents=True, exist_ok=True)
    if pruned is not None:
        pruner.save_pretrained(pruned, folder, overwrite=True)
    result = {"world_size": world_size(), "layer_widths": None if pruned is None else pruned.config.layer_widths,
              "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    (out / f"{scenario}-rank{rank()}.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--single", action="store_true", help="one process, the model not sharded")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    options = parser.parse_args()
    if not options.single:
        init_distributed()
    for name in options.scenarios:
        run(options.out, name, sharded=not options.single)
    if not options.single:
        torch.distributed.destroy_process_group()
