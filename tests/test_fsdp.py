"""FSDP2: a model sharded over two gloo processes is pruned exactly as one process prunes it unsharded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from fsdp_run import SCENARIOS, calibration, run
from safetensors.torch import load_file
from torch.distributed.fsdp import fully_shard
from tiny_models import save_tiny_checkpoint, tiny_model
from transformers import AutoModelForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.commands.cli import main
from optimum_hywia.fsdp import init_distributed, shard_model

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE), "HF_HUB_OFFLINE": "1"}


def same_weights(a: Path, b: Path) -> None:
    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].shape == right[name].shape, name
        torch.testing.assert_close(left[name], right[name], rtol=0, atol=1e-6, msg=name)


def test_two_fsdp_ranks_prune_as_one_process(tmp_path):
    done = subprocess.run([*TORCHRUN, str(HERE / "fsdp_run.py"), str(tmp_path / "two")], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in SCENARIOS:
        single = run(tmp_path / "one", name, sharded=False)
        ranks = [json.loads((tmp_path / "two" / f"{name}-rank{r}.json").read_text()) for r in (0, 1)]
        assert [r["world_size"] for r in ranks] == [2, 2] and single["world_size"] == 1
        assert ranks[0]["layer_widths"] == single["layer_widths"], name
        assert ranks[1]["layer_widths"] is None  # only rank 0 gets the pruned model
        assert any(w["intermediate_size"] < 40 for w in single["layer_widths"])
        same_weights(tmp_path / "one" / name, tmp_path / "two" / name)
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "two" / name)
        assert loaded.config.layer_widths == single["layer_widths"]


def test_cli_fsdp_saves_what_one_process_saves(tmp_path):
    save_tiny_checkpoint(tmp_path / "tiny")
    options = ["prune", "--model", str(tmp_path / "tiny"), "--pruning-ratio", "0.5", "--skip-first-layers", "0",
               "--skip-last-layers", "0", "--eval-windows", "2", "--num-calibration-samples", "10",
               "--calibration-seq-len", "32", "--importance", "element1", "--allocation", "cost_aware"]
    hywia = Path(sys.executable).with_name("hywia")
    done = subprocess.run([*TORCHRUN, "--no-python", str(hywia), *options, "--output", str(tmp_path / "two"),
                           "--fsdp"], env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Saved to") == 1  # rank 0 alone measures and saves
    main([*options, "--output", str(tmp_path / "one")])
    same_weights(tmp_path / "one", tmp_path / "two")


def test_cli_fsdp_refuses_recovery_before_loading(tmp_path, capsys):
    save_tiny_checkpoint(tmp_path / "tiny")
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--model", str(tmp_path / "tiny"), "--output", str(tmp_path / "out"), "--fsdp",
              "--recover", "lora"])
    assert exit_info.value.code == 2
    assert "`--recover lora` does not run under `--fsdp`" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_init_distributed_without_a_launcher_names_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node"):
        init_distributed()


@pytest.fixture
def one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_sharded_scoring_refuses_second_order_and_unsharded_layers(one_process_group):
    base = dict(pruning_ratio=0.5, skip_first_layers=0, skip_last_layers=0)
    with pytest.raises(ValueError, match="taylor_order=2"):
        HyWIAPruner(HyWIAConfig(**base, importance="hywia", taylor_order=2)).prune(shard_model(tiny_model("llama_gqa")), calibration())
    model = tiny_model("llama_gqa")
    fully_shard(model)  # the model alone, not each decoder layer
    with pytest.raises(ValueError, match="Decoder layer 0 is not an FSDP module"):
        HyWIAPruner(HyWIAConfig(**base, importance="element1")).prune(model, calibration())
