"""`hywia export` and `hywia serve-check` on tiny saved checkpoints: dense, pruned non-uniform, pruned uniform."""

import json

import pytest
import torch
from tiny_models import bpe_tokenizer, tiny_model

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.commands.cli import main
from optimum_hywia.export import written_by_hywia
from optimum_hywia.export.runtimes import serving_report


def save_pruned(folder, allocation: str, **skips):
    tokenizer = bpe_tokenizer()
    model = tiny_model("llama_gqa", seed=2, vocab_size=len(tokenizer), intermediate_size=100)
    config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation=allocation, **skips)
    calibration = torch.randint(0, len(tokenizer), (4, 16), generator=torch.Generator().manual_seed(1))
    pruner = HyWIAPruner(config)
    pruned = pruner.prune(model, calibration_data=calibration)
    pruner.save_pretrained(pruned, folder, tokenizer=tokenizer)
    return folder


def test_export_writes_a_gguf_and_refuses_a_foreign_file(tmp_path, capsys):
    folder = save_pruned(tmp_path / "pruned", "cost_aware", skip_first_layers=1, skip_last_layers=0)
    main(["export", "--model", str(folder), "--format", "gguf", "--output", str(tmp_path / "m.gguf"), "--dtype", "f32"])
    assert written_by_hywia(tmp_path / "m.gguf")
    assert "Wrote" in capsys.readouterr().out
    foreign = tmp_path / "foreign.gguf"
    foreign.write_bytes(b"not ours")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", str(folder), "--output", str(foreign)])
    assert exit_info.value.code == 2
    assert "not a GGUF written by optimum-hywia" in capsys.readouterr().err
    assert foreign.read_bytes() == b"not ours"


def test_export_of_an_unsupported_family_is_one_clear_error(tmp_path, capsys):
    model = tiny_model("bloom")
    model.save_pretrained(tmp_path / "bloom")
    bpe_tokenizer().save_pretrained(tmp_path / "bloom")
    with pytest.raises(SystemExit):
        main(["export", "--model", str(tmp_path / "bloom"), "--output", str(tmp_path / "b.gguf")])
    assert "`bloom`" in capsys.readouterr().err
    assert not (tmp_path / "b.gguf").exists()


def test_serve_check_names_the_runtimes_for_each_kind_of_model(tmp_path, capsys):
    non_uniform = serving_report(save_pruned(tmp_path / "nu", "cost_aware", skip_first_layers=1, skip_last_layers=0))
    assert [r.supported for r in non_uniform] == [True, True, False]
    assert "deci" in non_uniform[1].note and "--allocation uniform" in non_uniform[2].command
    uniform = serving_report(save_pruned(tmp_path / "u", "uniform", skip_first_layers=0, skip_last_layers=0))
    assert [r.supported for r in uniform] == [True, True, False]
    assert "`llama`" in uniform[1].note and "--save-as-original-architecture" in uniform[2].command
    tiny_model("llama_gqa").save_pretrained(tmp_path / "dense")
    dense = serving_report(tmp_path / "dense")
    assert all(r.supported for r in dense)
    tiny_model("bloom").save_pretrained(tmp_path / "bloom")
    assert [r.supported for r in serving_report(tmp_path / "bloom")] == [True, False, True]
    main(["serve-check", "--model", str(tmp_path / "nu")])
    printed = capsys.readouterr().out
    assert "| llama.cpp (GGUF) | ✓ |" in printed and "| vLLM / TGI (plain architecture) | ✗ |" in printed
    assert json.loads((tmp_path / "nu/config.json").read_text())["model_type"] == "hywia_llama"
