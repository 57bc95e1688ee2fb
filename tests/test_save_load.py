"""Non-uniform pruning → save → load by name in a fresh process (with and without the package) → same logits."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from optimum_hywia import HyWIAConfig, HyWIAPruner, save_pruned_model
from optimum_hywia.configuration import CONFIG_NAME

from tiny_models import VOCAB

REPO_ROOT = Path(__file__).resolve().parents[1]
INPUT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(5))

LOAD_SCRIPT = """
import sys
from pathlib import Path
if {block_package}:
    sys.modules["optimum_hywia"] = None  # as if optimum-hywia were not installed
else:
    import optimum_hywia  # noqa: F401
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({path!r}, trust_remote_code={remote})
ids = torch.tensor({ids})
with torch.no_grad():
    logits = model(ids).logits
generated = model.generate(ids[:1, :4], max_new_tokens=5, do_sample=False, use_cache=True)
save_file({{"logits": logits.contiguous(), "generated": generated}}, {out!r})
print(type(model).__module__, type(model).__name__)
"""


def load_in_fresh_process(path: Path, out: Path, block_package: bool) -> str:
    script = LOAD_SCRIPT.format(
        block_package=block_package, path=str(path), remote=block_package, ids=INPUT.tolist(), out=str(out)
    )
    env = {"PYTHONPATH": "" if block_package else str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def pruned_non_uniform(make_tiny_model, family):
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="global",
                                        skip_first_layers=1, skip_last_layers=0))
    model = pruner.prune(make_tiny_model(family, seed=4))
    widths = model.config.layer_widths
    assert any(w != widths[0] for w in widths), "the test needs non-uniform widths"
    return model, pruner


@pytest.mark.parametrize("block_package", [False, True], ids=["installed", "remote_code"])
def test_load_by_name_in_fresh_process(pruned_non_uniform, tmp_path, block_package):
    model, pruner = pruned_non_uniform
    pruner.save_pretrained(model, tmp_path / "pruned")
    files = {p.name for p in (tmp_path / "pruned").iterdir()}
    modeling_module = f"modeling_{model.config.model_type}"  # modeling_hywia_llama, modeling_hywia_qwen2, ...
    assert {"model.safetensors", "config.json", f"{modeling_module}.py", "modeling_hywia_base.py", CONFIG_NAME} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    loaded_by = load_in_fresh_process(tmp_path / "pruned", tmp_path / "out.safetensors", block_package)
    expected_module = "transformers_modules" if block_package else "optimum_hywia.modeling"
    assert loaded_by.startswith(expected_module) and f"{modeling_module} " in loaded_by
    result = load_file(tmp_path / "out.safetensors")
    with torch.no_grad():
        assert torch.equal(result["logits"], model(INPUT).logits)
    expected = model.generate(INPUT[:1, :4], max_new_tokens=5, do_sample=False, use_cache=True)
    assert torch.equal(result["generated"], expected)


def test_config_records_widths_and_recipe(pruned_non_uniform, tmp_path):
    model, pruner = pruned_non_uniform
    pruner.save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"].startswith("hywia_")
    assert config["layer_widths"] == model.config.layer_widths
    model_class = f"modeling_{config['model_type']}.{type(model).__name__}"  # modeling_hywia_llama.HyWIALlama...
    assert config["auto_map"]["AutoModelForCausalLM"] == model_class
    assert config["hywia"]["pruning_ratio"] == 0.5
    assert config["hywia"]["params_after"] == pruner.summary.params_after
    assert HyWIAConfig.from_pretrained(tmp_path) == pruner.config


def test_a_save_naming_the_single_modeling_file_loads_with_the_package(make_tiny_model, tmp_path):
    """Saves of older releases name `modeling_hywia.py` (then one file for every family) in `auto_map`: with
    optimum-hywia installed they load through their registered model_type, whatever modeling files they carry."""
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", allocation="global",
                                        skip_first_layers=1, skip_last_layers=0))
    model = pruner.prune(make_tiny_model("llama_gqa", seed=4))
    folder = tmp_path / "older"
    pruner.save_pretrained(model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {key: "modeling_hywia." + name.split(".")[1] for key, name in config["auto_map"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    for path in folder.glob("modeling_hywia_*.py"):
        path.unlink()
    loaded_by = load_in_fresh_process(folder, tmp_path / "out.safetensors", block_package=False)
    assert loaded_by == "optimum_hywia.modeling.modeling_hywia_llama HyWIALlamaForCausalLM"
    with torch.no_grad():
        assert torch.equal(load_file(tmp_path / "out.safetensors")["logits"], model(INPUT).logits)


def test_uniform_widths_save_as_original_architecture(make_tiny_model, tmp_path):
    pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l1", skip_first_layers=0,
                                        skip_last_layers=0))
    model = pruner.prune(make_tiny_model("llama_gqa"))
    pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    config = json.loads((tmp_path / "plain/config.json").read_text())
    assert config["model_type"] == "llama" and "auto_map" not in config and "layer_widths" not in config
    assert config["intermediate_size"] == 20 and config["num_key_value_heads"] == 1 and config["head_dim"] == 8
    assert type(model).__name__ == "HyWIALlamaForCausalLM"  # the in-memory model is left as it was
    loaded_by = load_in_fresh_process(tmp_path / "plain", tmp_path / "out.safetensors", block_package=True)
    assert loaded_by.endswith("LlamaForCausalLM") and "transformers.models.llama" in loaded_by
    with torch.no_grad():
        assert torch.equal(load_file(tmp_path / "out.safetensors")["logits"], model(INPUT).logits)


def test_non_uniform_widths_refuse_original_architecture_and_write_nothing(pruned_non_uniform, tmp_path):
    model, pruner = pruned_non_uniform
    with pytest.raises(ValueError, match="same widths"):
        pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    assert not (tmp_path / "plain").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_failed_save_leaves_the_previous_save_intact(pruned_non_uniform, tmp_path, monkeypatch):
    model, pruner = pruned_non_uniform
    target = tmp_path / "pruned"
    pruner.save_pretrained(model, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken_save(directory, **kwargs):
        (Path(directory) / "model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_pretrained", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_pruned_model(model, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["pruned"]


OLD_SAVES = Path(__file__).resolve().parent / "saves" / "before_llama_layout_types"


@pytest.mark.parametrize("block_package", [False, True], ids=["installed", "remote_code"])
def test_saves_from_before_the_llama_layout_factory_still_load(block_package, tmp_path):
    """A tiny pruned Llama saved by the code before `llama_layout_types` (its family classes written out as
    class statements in the modeling file it carries) loads with and without the package and gives the logits it gave."""
    folder = tmp_path / "llama_gqa"
    shutil.copytree(OLD_SAVES / "llama_gqa", folder)
    own = [path for path in folder.glob("modeling_hywia_*.py") if path.name != "modeling_hywia_base.py"]
    assert len(own) == 1 and "class HyWIA" in own[0].read_text()  # the family file in its old form
    expected = load_file(folder / "expected_logits.safetensors")
    assert torch.equal(expected["input_ids"], INPUT)
    loaded_by = load_in_fresh_process(folder, tmp_path / "out.safetensors", block_package=block_package)
    assert loaded_by.split()[1].startswith("HyWIA")
    torch.testing.assert_close(load_file(tmp_path / "out.safetensors")["logits"], expected["logits"], rtol=0, atol=1e-6)
