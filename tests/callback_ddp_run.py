"""One HyWIACallback run on a tiny model, for the multi-process test (also runs in one process).

    accelerate launch --cpu --num_processes 2 tests/callback_ddp_run.py OUT --per-device-batch 2
    python tests/callback_ddp_run.py OUT --per-device-batch 4

Every scenario (hywia on training statistics with windows gathered from the training batches; element1 on
calibration statistics computed on those windows, sharded over ranks and summed) runs in the same processes; each
rank writes OUT/<scenario>/rank<r>.json: the kept units per group, the final layer widths and the world size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tiny_models import VOCAB, tiny_model  # noqa: E402

CONFIG = dict(pruning_ratio=0.5, skip_first_layers=0, skip_last_layers=0, num_calibration_samples=8,
              fusion_steps=4, fusion_eval_every=2, fusion_holdout_samples=2)


def dataset(rows: int = 64, length: int = 16) -> list[dict]:
    ids = torch.randint(0, VOCAB, (rows, length), generator=torch.Generator().manual_seed(3))
    return [{"input_ids": row, "labels": row} for row in ids]


SCENARIOS = {"hywia_training": dict(importance="hywia"),
             "element1_calibration": dict(importance="element1", statistics="calibration")}


def run(out: str, per_device_batch: int, importance: str = "hywia", statistics: str | None = None, max_steps: int = 5,
        prune_steps=(2, 4, 2), save_model: bool = True) -> dict:
    """Train with the callback; return (and write) what this rank pruned."""
    from transformers import Trainer, TrainingArguments

    from optimum_hywia import HyWIAConfig
    from optimum_hywia.training.callback import HyWIACallback

    torch.set_num_threads(1)
    model = tiny_model("llama_gqa").train()
    callback = HyWIACallback(HyWIAConfig(importance=importance, **CONFIG), prune_steps=prune_steps,
                             statistics=statistics)
    args = TrainingArguments(out, max_steps=max_steps, per_device_train_batch_size=per_device_batch, learning_rate=1e-3,
                             train_sampling_strategy="sequential", report_to=[], save_strategy="no", use_cpu=True,
                             disable_tqdm=True, logging_strategy="no", seed=0)
    trainer = Trainer(model, args, train_dataset=dataset(), callbacks=[callback])
    trainer.train()
    if save_model:
        trainer.save_model(str(Path(out) / "final"))
    result = {
        "rank": trainer.args.process_index,
        "world_size": trainer.args.world_size,
        "history": callback.history,
        "layer_widths": trainer.model.config.layer_widths,
        "kept_units": {f"{layer}.{kind}": units.tolist() for (layer, kind), units in callback.kept.items()},
    }
    Path(out, f"rank{result['rank']}.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--per-device-batch", type=int, default=2)
    options = parser.parse_args()
    for name, scenario in SCENARIOS.items():
        run(str(Path(options.out) / name), options.per_device_batch, **scenario)
