"""`hywia prune` and `optimum-cli hywia prune` on a tiny local checkpoint."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from optimum_hywia.commands.cli import main

from tiny_models import save_tiny_checkpoint

ARGS = ["--pruning-ratio", "0.5", "--importance", "magnitude_l1", "--skip-first-layers", "1",
        "--skip-last-layers", "1", "--eval-windows", "2", "--eval-data", "builtin:prideprejudice"]


@pytest.fixture
def checkpoint(tmp_path):
    save_tiny_checkpoint(tmp_path / "tiny")
    return tmp_path / "tiny"


def test_prune_prints_table_and_saves_a_loadable_model(checkpoint, tmp_path, capsys):
    main(["prune", "--model", str(checkpoint), "--output", str(tmp_path / "out"), "--allocation", "global", *ARGS])
    printed = capsys.readouterr().out
    assert "| dense |" in printed and "| pruned |" in printed and "parameters:" in printed
    results = json.loads((tmp_path / "out/hywia_results.json").read_text())
    assert results["pruned"]["params"] < results["dense"]["params"]
    assert results["pruned"]["perplexity"] > 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert model.config.layer_widths[1]["num_key_value_heads"] < 2
    assert (tmp_path / "out/tokenizer.json").exists()
    assert torch.isfinite(model(torch.tensor([[3, 4, 5]])).logits).all()


@pytest.mark.parametrize("bad,named", [(["--pruning-ratio", "1.5"], "pruning_ratio"), (["--scope", "all"], "scope"),
                                       (["--importance", "nope"], "importance")])
def test_bad_option_is_one_clear_error_and_writes_nothing(checkpoint, tmp_path, capsys, bad, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--model", str(checkpoint), "--output", str(tmp_path / "out"), *ARGS, *bad])
    assert exit_info.value.code == 2
    assert f"`{named}`" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("optimum-cli") is None, reason="optimum-cli is not on PATH")
def test_optimum_cli_registers_hywia(checkpoint, tmp_path):
    listed = subprocess.run(["optimum-cli", "--help"], capture_output=True, text=True)
    assert "hywia" in listed.stdout
    result = subprocess.run(
        ["optimum-cli", "hywia", "prune", "--model", str(checkpoint), "--output", str(tmp_path / "out"), *ARGS],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| pruned |" in result.stdout
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "out").config.model_type == "hywia_llama"


def test_console_script_module_runs():
    result = subprocess.run([sys.executable, "-m", "optimum_hywia.commands.cli", "prune", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--pruning-ratio" in result.stdout


def test_prune_with_lora_recovery_saves_a_merged_model_that_loads_by_name(checkpoint, tmp_path, capsys):
    main(["prune", "--model", str(checkpoint), "--output", str(tmp_path / "out"), *ARGS,
          "--recover", "lora", "--recover-steps", "3", "--recover-batch-size", "2", "--recover-seq-len", "16",
          "--recover-data", "builtin:austen", "--recover-lr", "1e-3"])
    captured = capsys.readouterr()
    assert "| pruned + lora |" in captured.out and "Recovery (lora): 3 steps x 2 windows x 16 tokens" in captured.out
    assert "3/3" in captured.err  # the Trainer's progress bar
    results = json.loads((tmp_path / "out/hywia_results.json").read_text())
    assert results["recovered"]["params"] == results["pruned"]["params"]
    assert results["recovered"]["perplexity"] != results["pruned"]["perplexity"]  # the weights moved
    assert results["recovered"]["recovery"]["max_steps"] == 3 and results["recovered"]["recovery"]["data"] == (
        "builtin:austen")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert model.config.model_type == "hywia_llama"
    assert model.config.hywia["recovery"]["method"] == "lora" and model.config.hywia["recovery"]["r"] == 8
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged, no adapter left
    assert not list((tmp_path / "out").glob("adapter_*"))
    assert torch.isfinite(model(torch.tensor([[3, 4, 5]])).logits).all()


@pytest.mark.parametrize("bad,named", [(["--recover-steps", "0"], "--recover-steps"),
                                       (["--recover-lr", "-1"], "--recover-lr"),
                                       (["--recover-data", "builtin:nope"], "nope")])
def test_bad_recovery_option_is_one_clear_error_and_writes_nothing(checkpoint, tmp_path, capsys, bad, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--model", str(checkpoint), "--output", str(tmp_path / "out"), *ARGS, "--recover", "lora", *bad])
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
