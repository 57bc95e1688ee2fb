"""Every supported family end to end, and the fused layouts (Bloom ALiBi + query_key_value, Baichuan W_pack, Phi-3
qkv_proj and gate_up_proj).

Flow per family: prune (every data-free criterion; every calibration criterion, gradient ones included, on the
families besides Llama/Mistral/Qwen2) →
forward and cached `generate` → save → load by name (in process; and in fresh processes with optimum-hywia
imported, and without it through `trust_remote_code`) → identical logits and generations.
"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.architectures import baichuan as baichuan_spec
from optimum_hywia.architectures import bloom as bloom_spec
from optimum_hywia.architectures import phi3 as phi3_spec
from optimum_hywia.architectures.base import rows_per_unit
from optimum_hywia.importance import available_importances, get_importance
from optimum_hywia.modeling import PRUNED_TYPES, is_pruned_model
from optimum_hywia.modeling.baichuan import render_pruned_module

from tiny_models import BAICHUAN_TINY, EXTRA_FAMILIES, TINY_FAMILIES, VOCAB, masked_reference, tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELING = REPO_ROOT / "optimum_hywia" / "modeling"
BAICHUAN_TEMPLATE = MODELING / "modeling_hywia_baichuan_template.py"
# the classes of every pruned family: a saved folder's modeling code defines its own family's and no other
PRUNED_CLASS_NAMES = {cls.__name__ for pair in PRUNED_TYPES.values() for cls in pair}
PRUNED_CLASS_NAMES |= {"HyWIABaichuanConfig", "HyWIABaichuanForCausalLM"}
FAMILIES = sorted({**TINY_FAMILIES, **EXTRA_FAMILIES})
# Llama-layout families with their own attention details (q/k norms, one KV head, sliding windows): every criterion
LLAMA_LAYOUT_NEWER = ["gemma3", "qwen3"]
DATA_FREE = [name for name in available_importances() if not get_importance(name).needs_calibration]
WITH_CALIBRATION = [name for name in available_importances() if get_importance(name).needs_calibration]
INPUT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(7))
PADDED = torch.ones_like(INPUT)
PADDED[1, :3] = 0  # left padding in the second row: Bloom then builds ALiBi from the mask
CALIBRATION = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(1))


def load_kwargs(family: str) -> dict:
    return {"trust_remote_code": True} if family == "baichuan" else {}  # Baichuan's own code is remote code


def pruner_config(importance: str = "magnitude_l1", **overrides) -> HyWIAConfig:
    values = dict(pruning_ratio=0.5, skip_first_layers=1, skip_last_layers=0, importance=importance)
    if importance != "hywia":  # hywia learns its own allocation
        values["allocation"] = "global"
    return HyWIAConfig(**{**values, **overrides})


def logits(model, attention_mask=None) -> torch.Tensor:
    with torch.no_grad():
        return model(INPUT, attention_mask=attention_mask).logits


def assert_equals_masked_reference(family: str, config: HyWIAConfig, dense=None) -> None:
    dense = tiny_model(family, seed=2) if dense is None else dense
    reference = masked_reference(dense, config)
    pruned = HyWIAPruner(config).prune(dense)
    for mask in (None, PADDED):
        torch.testing.assert_close(logits(pruned, mask), logits(reference, mask), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("importance", DATA_FREE)
@pytest.mark.parametrize("family", FAMILIES)
def test_prune_generate_save_load(family, importance, tmp_path):
    pruner = HyWIAPruner(pruner_config(importance))
    model = pruner.prune(tiny_model(family, seed=4))
    assert is_pruned_model(model) and pruner.summary.params_after < pruner.summary.params_before
    widths = model.config.layer_widths
    assert any(w != widths[0] for w in widths[1:]), "the pruned layers should have lost units"
    expected, expected_padded = logits(model), logits(model, PADDED)
    assert torch.isfinite(expected).all() and torch.isfinite(expected_padded).all()
    prompt = INPUT[:1, :4]
    cached = model.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=True)
    assert torch.equal(cached, model.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=False))
    pruner.save_pretrained(model, tmp_path / "pruned")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned", **load_kwargs(family)).eval()
    assert type(loaded).__name__ == type(model).__name__ and loaded.config.layer_widths == widths
    assert torch.equal(logits(loaded), expected) and torch.equal(logits(loaded, PADDED), expected_padded)
    assert torch.equal(loaded.generate(prompt, max_new_tokens=6, do_sample=False), cached)


@pytest.mark.parametrize("importance", WITH_CALIBRATION)
@pytest.mark.parametrize("family", sorted([*EXTRA_FAMILIES, *LLAMA_LAYOUT_NEWER]))
def test_calibration_criteria_prune_the_fused_families(family, importance):
    config = pruner_config(importance, fusion_steps=3, fusion_holdout_samples=0)  # a short fusion for `hywia`
    model = HyWIAPruner(config).prune(tiny_model(family), calibration_data=CALIBRATION)
    assert any(w != model.config.layer_widths[0] for w in model.config.layer_widths[1:])
    assert torch.isfinite(logits(model, PADDED)).all()
    prompt = INPUT[:1, :4]
    cached = model.generate(prompt, max_new_tokens=4, do_sample=False, use_cache=True)
    assert torch.equal(cached, model.generate(prompt, max_new_tokens=4, do_sample=False, use_cache=False))


@pytest.mark.parametrize("allocation", ["layer", "global"])
@pytest.mark.parametrize("family", sorted(EXTRA_FAMILIES))
def test_pruned_logits_equal_masked_dense_model(family, allocation):
    assert_equals_masked_reference(family, pruner_config(allocation=allocation, skip_last_layers=1))


@pytest.mark.parametrize("gqa_mode", ["kv_group", "query_heads"])
def test_pruned_phi3_equals_masked_dense_model_in_both_gqa_modes(gqa_mode):
    assert_equals_masked_reference("phi3", pruner_config(skip_last_layers=1, gqa_mode=gqa_mode))


@pytest.mark.parametrize("importance", ["vector", "wanda_sp"])  # a gradient and an activation criterion
def test_pruned_gemma3_equals_masked_dense_model_with_calibration(importance):
    config = pruner_config(importance, skip_last_layers=1)
    dense = tiny_model("gemma3", seed=2)
    reference = masked_reference(dense, config, CALIBRATION)
    pruned = HyWIAPruner(config).prune(dense, calibration_data=CALIBRATION)
    torch.testing.assert_close(logits(pruned, PADDED), logits(reference, PADDED), atol=1e-5, rtol=1e-5)


def test_one_kv_head_prunes_query_heads_whatever_the_gqa_mode():
    for gqa_mode in ("kv_group", "query_heads"):
        model = HyWIAPruner(pruner_config(gqa_mode=gqa_mode, prune_mlp=False)).prune(tiny_model("gemma3"))
        widths = model.config.layer_widths
        assert all(w["num_key_value_heads"] == 1 for w in widths)
        assert widths[0]["num_attention_heads"] == 4 and min(w["num_attention_heads"] for w in widths) < 4
        for layer, w in zip(model.model.layers, widths):
            assert layer.self_attn.num_key_value_groups == w["num_attention_heads"]


def _per_group_qkv_rows(heads, kv_heads, head_dim, query_head_units):
    """A plausible bug: [q; k; v] read as interleaved per KV group ([q, k, v] of group 0, then group 1, ...)."""
    rows = rows_per_unit(kv_heads, (heads // kv_heads + 2) * head_dim)
    return rows, rows_per_unit(kv_heads, heads // kv_heads * head_dim)


@pytest.mark.parametrize(
    "target, wrong",
    [("qkv_unit_of", _per_group_qkv_rows), ("gate_up_unit_of", lambda channels: torch.arange(channels).repeat_interleave(2))],
    ids=["phi3-wrong-qkv-rows", "phi3-interleaved-gate-up"],
)
def test_reference_test_catches_wrong_phi3_rows(target, wrong, monkeypatch):
    monkeypatch.setattr(phi3_spec, target, wrong)
    with pytest.raises(AssertionError):
        assert_equals_masked_reference("phi3", pruner_config(skip_last_layers=1))


def test_phi3_with_removed_heads_refuses_its_original_architecture(tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", skip_first_layers=0))
    model = pruner.prune(tiny_model("phi3"))
    with pytest.raises(ValueError, match="Phi3Config cannot describe removed attention heads"):
        pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    assert not (tmp_path / "plain").exists()


def test_phi3_mlp_only_saves_as_plain_phi3(tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", prune_attention=False, skip_first_layers=0))
    model = pruner.prune(tiny_model("phi3"))
    pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert type(loaded).__name__ == "Phi3ForCausalLM" and loaded.config.intermediate_size == 20
    assert torch.equal(logits(loaded, PADDED), logits(model, PADDED))


def test_saved_phi3_carries_its_modeling_files(saved_families):
    folder = saved_families["phi3"][0]
    assert {"modeling_hywia_phi3.py", "modeling_hywia_base.py"} <= {path.name for path in folder.iterdir()}
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_hywia_phi3.HyWIAPhi3ForCausalLM"


_keep_alibi_slopes = bloom_spec.keep_alibi_slopes


def _first_heads_instead_of_kept(layer, kept_units):
    """A plausible bug: the layer's ALiBi slopes taken from heads 0..k-1 instead of the heads it kept."""
    _keep_alibi_slopes(layer, kept_units)
    layer.self_attention.kept_heads = list(range(len(kept_units)))


@pytest.mark.parametrize(
    "family, target, wrong",
    [
        ("bloom", "keep_alibi_slopes", _first_heads_instead_of_kept),
        ("bloom", "qkv_unit_of", baichuan_spec.w_pack_unit_of),  # [q; k; v] stacked instead of per head
        ("baichuan", "w_pack_unit_of", bloom_spec.qkv_unit_of),  # per-head [q, k, v] instead of stacked
    ],
    ids=["bloom-wrong-alibi-slopes", "bloom-wrong-qkv-rows", "baichuan-wrong-w-pack-rows"],
)
def test_reference_test_catches_wrong_slopes_and_rows(family, target, wrong, monkeypatch):
    module = bloom_spec if family == "bloom" else baichuan_spec
    monkeypatch.setattr(module, target, wrong)
    with pytest.raises(AssertionError):
        assert_equals_masked_reference(family, pruner_config(skip_last_layers=1))


def test_pruning_a_pruned_bloom_composes_the_kept_heads():
    config = pruner_config(pruning_ratio=0.3, skip_last_layers=1, prune_mlp=False)
    once = HyWIAPruner(config).prune(tiny_model("bloom", seed=2))
    assert_equals_masked_reference("bloom", config, dense=once)  # head indices of the second pass are positions


def test_bloom_layers_keep_their_original_heads_slopes():
    model = HyWIAPruner(pruner_config(prune_mlp=False)).prune(tiny_model("bloom", seed=2))
    for layer, widths in zip(model.transformer.h, model.config.layer_widths):
        assert layer.self_attention.kept_heads == widths["kept_heads"]
        assert layer.self_attention.num_heads == len(widths["kept_heads"]) == widths["num_attention_heads"]
    assert any(w["kept_heads"] != list(range(w["num_attention_heads"])) for w in model.config.layer_widths)


LOAD_SCRIPT = """
import sys
if {block_package}:
    sys.modules["optimum_hywia"] = None  # as if optimum-hywia were not installed
else:
    import optimum_hywia  # noqa: F401
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM
ids, mask = torch.tensor({ids}), torch.tensor({mask})
for family, path in {paths}.items():
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code={block_package} or family == "baichuan")
    with torch.no_grad():
        logits, padded = model(ids).logits, model(ids, attention_mask=mask).logits
    generated = model.generate(ids[:1, :4], max_new_tokens=5, do_sample=False, use_cache=True)
    save_file({{"logits": logits, "padded": padded, "generated": generated}}, path + ".out.safetensors")
    print(family, type(model).__module__, type(model).__name__)
"""


@pytest.fixture(scope="module")
def saved_families(tmp_path_factory):
    """Every family pruned non-uniformly, saved, with its logits and cached generation."""
    folder, saved = tmp_path_factory.mktemp("families"), {}
    for family in FAMILIES:
        pruner = HyWIAPruner(pruner_config())
        model = pruner.prune(tiny_model(family, seed=5))
        pruner.save_pretrained(model, folder / family)
        generated = model.generate(INPUT[:1, :4], max_new_tokens=5, do_sample=False, use_cache=True)
        saved[family] = (folder / family, logits(model), logits(model, PADDED), generated)
    return saved


@pytest.mark.parametrize("block_package", [False, True], ids=["installed", "remote_code"])
def test_every_family_loads_by_name_in_a_fresh_process(saved_families, block_package):
    paths = {family: str(entry[0]) for family, entry in saved_families.items()}
    script = LOAD_SCRIPT.format(block_package=block_package, ids=INPUT.tolist(), mask=PADDED.tolist(), paths=paths)
    env = {"PYTHONPATH": "" if block_package else str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded_by = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    for family, (path, expected, expected_padded, generated) in saved_families.items():
        remote = block_package or family == "baichuan"
        assert loaded_by[family].startswith("transformers_modules" if remote else "optimum_hywia.modeling"), family
        model_type = json.loads((path / "config.json").read_text())["model_type"]
        assert loaded_by[family].split(" ")[0].endswith(f".modeling_{model_type}"), family  # the family's own file
        result = load_file(f"{path}.out.safetensors")
        assert torch.equal(result["logits"], expected), family
        assert torch.equal(result["padded"], expected_padded), family
        assert torch.equal(result["generated"], generated), family


def test_saved_baichuan_carries_its_own_remote_code(saved_families):
    folder = saved_families["baichuan"][0]
    files = {path.name for path in folder.iterdir()}
    assert {"modeling_hywia_baichuan.py", "modeling_baichuan.py", "configuration_baichuan.py"} <= files
    assert "modeling_hywia.py" not in files
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "hywia_baichuan"
    assert config["auto_map"] == {
        "AutoConfig": "modeling_hywia_baichuan.HyWIABaichuanConfig",
        "AutoModelForCausalLM": "modeling_hywia_baichuan.HyWIABaichuanForCausalLM",
    }


def defines(code: str, name: str) -> bool:
    """Whether module source `code` defines `name`: a class statement or a module-level assignment to it."""
    return re.search(rf"^class {name}\(|^(\w+, )*{name}(, \w+)* = ", code, re.MULTILINE) is not None


def test_each_family_saves_only_its_own_modeling_code(saved_families):
    """The saved folder holds its family's modeling file and the shared base, not the other families' code."""
    baichuan_own = {"modeling_baichuan.py", "configuration_baichuan.py"}  # the checkpoint's own remote code
    for family, (folder, *_) in saved_families.items():
        config = json.loads((folder / "config.json").read_text())
        code = {path.name: path.read_text() for path in folder.glob("*.py")}
        own_file = f"modeling_{config['model_type']}.py"
        assert set(code) == {own_file, "modeling_hywia_base.py"} | (baichuan_own if family == "baichuan" else set())
        assert config["auto_map"]["AutoModelForCausalLM"] == f"{own_file[:-3]}.{config['architectures'][0]}"
        defined = {name for name in PRUNED_CLASS_NAMES if any(defines(text, name) for text in code.values())}
        assert defined == {config["architectures"][0], config["auto_map"]["AutoConfig"].split(".")[1]}, family
        assert "class HyWIA" not in code["modeling_hywia_base.py"]
        hywia_imports = {line.split()[1] for text in code.values() for line in text.splitlines()
                         if line.startswith("from .modeling_hywia")}
        assert hywia_imports == {".modeling_hywia_base"}, family


def test_no_package_code_is_generated_by_source_inspection():
    for path in (REPO_ROOT / "optimum_hywia").rglob("*.py"):
        assert "getsource" not in path.read_text(), path


def test_saved_baichuan_modeling_file_is_the_static_template(saved_families):
    folder = saved_families["baichuan"][0]
    written = (folder / "modeling_hywia_baichuan.py").read_text().splitlines()
    assert written[0].startswith("# Written by optimum-hywia") and written[0].endswith(f"{BAICHUAN_TEMPLATE.name}.")
    # the tiny Baichuan's classes have the template's names (Baichuan2's): the rest is the template, line for line
    assert written[1:] == BAICHUAN_TEMPLATE.read_text().splitlines()
    assert (folder / "modeling_hywia_base.py").read_text() == (MODELING / "modeling_hywia_base.py").read_text()


def test_the_baichuan_template_changes_only_its_base_imports():
    """Baichuan-7B names its classes `BaiChuanForCausalLM` / `BaiChuanConfig`: only the two marked imports change."""
    template = BAICHUAN_TEMPLATE.read_text().splitlines()
    written = render_pruned_module("modeling_baichuan", "BaiChuanForCausalLM", "configuration_baichuan",
                                   "BaiChuanConfig").splitlines()[1:]
    assert len(written) == len(template)
    changed = [(old, new) for old, new in zip(template, written) if old != new]
    assert changed == [
        ("from .configuration_baichuan import BaichuanConfig as BaichuanConfigBase  # hywia: base",
         "from .configuration_baichuan import BaiChuanConfig as BaichuanConfigBase  # hywia: base"),
        ("from .modeling_baichuan import BaichuanForCausalLM as BaichuanBase  # hywia: base",
         "from .modeling_baichuan import BaiChuanForCausalLM as BaichuanBase  # hywia: base"),
    ]


def test_a_saved_pruned_baichuan_refuses_a_newer_format_version(saved_families, tmp_path):
    folder = tmp_path / "future"
    shutil.copytree(saved_families["baichuan"][0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["hywia"]["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format_version 99"):
        AutoConfig.from_pretrained(folder, trust_remote_code=True)


# Granite's config has no head_dim (heads are hidden_size / num_attention_heads wide): plain only without head removal
@pytest.mark.parametrize("family", sorted(set(TINY_FAMILIES) - {"granite"}))
def test_uniform_widths_serve_as_the_original_architecture(family, tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", skip_first_layers=0))
    model = pruner.prune(tiny_model(family))
    pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert type(loaded).__module__.startswith("transformers.models.")
    assert torch.equal(logits(loaded), logits(model)) and torch.equal(logits(loaded, PADDED), logits(model, PADDED))


def test_granite_serves_as_its_original_architecture_when_only_mlp_channels_go(tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", skip_first_layers=0, prune_attention=False))
    model = pruner.prune(tiny_model("granite"))
    pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert type(loaded).__name__ == "GraniteForCausalLM" and loaded.config.intermediate_size == 20
    assert loaded.config.residual_multiplier == 0.5 and loaded.config.logits_scaling == 4.0
    assert torch.equal(logits(loaded), logits(model))


# uniform widths that the original config cannot express: one clear error, nothing written, the pruned type still saves
@pytest.mark.parametrize("family, prune_attention, message", [
    ("granite", True, "GraniteConfig cannot describe removed attention heads"),
    ("bloom", False, "BloomConfig cannot describe removed heads or MLP channels"),  # every layer keeps 96 of 192
    ("baichuan", True, "Baichuan.s config cannot describe removed attention heads"),
])
def test_the_original_architecture_refuses_widths_its_config_cannot_hold(family, prune_attention, message, tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", prune_attention=prune_attention, skip_first_layers=0))
    model = pruner.prune(tiny_model(family))
    with pytest.raises(ValueError, match=message):
        pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    assert not (tmp_path / "plain").exists()
    pruner.save_pretrained(model, tmp_path / "pruned")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pruned", **load_kwargs(family))
    assert torch.equal(logits(loaded), logits(model))


def test_baichuan_mlp_only_saves_as_its_original_remote_architecture(tmp_path):
    pruner = HyWIAPruner(pruner_config(allocation="layer", prune_attention=False, skip_first_layers=0))
    model = pruner.prune(tiny_model("baichuan"))
    pruner.save_pretrained(model, tmp_path / "plain", as_original_architecture=True)
    config = json.loads((tmp_path / "plain/config.json").read_text())
    assert config["model_type"] == "baichuan" and config["intermediate_size"] == 20 and "layer_widths" not in config
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_baichuan.BaichuanForCausalLM"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain", trust_remote_code=True)
    assert type(loaded).__name__ == "BaichuanForCausalLM"
    assert torch.equal(logits(loaded), logits(model))


def test_alibi_baichuan_offers_only_mlp_units():
    model = tiny_model("baichuan")
    layer = model.model.layers[1]
    del layer.self_attn.rotary_emb  # how Baichuan-13B's attention looks: no rotary embedding (ALiBi)
    groups = baichuan_spec.baichuan_unit_groups(layer, 1, model.config, "kv_group")
    assert [group.kind for group in groups] == ["mlp"]


def test_baichuan_needs_remote_code():
    from baichuan_tiny.configuration_baichuan import BaichuanConfig  # imported as a plain package, not remote code
    from baichuan_tiny.modeling_baichuan import BaichuanForCausalLM

    from optimum_hywia.modeling.baichuan import pruned_baichuan_types

    model = BaichuanForCausalLM(BaichuanConfig(**json.loads((BAICHUAN_TINY / "config.json").read_text())))
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        pruned_baichuan_types(model)


def test_bloom_tensor_parallel_emulation_is_refused():
    model = tiny_model("bloom", pretraining_tp=2, slow_but_exact=True)
    with pytest.raises(ValueError, match="slow_but_exact=True"):
        HyWIAPruner(pruner_config()).prune(model)


def test_bloom_config_rejects_bad_kept_heads():
    from optimum_hywia.modeling.modeling_hywia import HyWIABloomConfig

    good = {"num_attention_heads": 2, "kept_heads": [1, 4], "intermediate_size": 8}
    HyWIABloomConfig(n_head=6, n_layer=1, hidden_size=48, layer_widths=[good])
    for bad in ({"kept_heads": [4, 1]}, {"kept_heads": [1, 6]}, {"num_attention_heads": 3}):
        with pytest.raises(StrictDataclassClassValidationError, match="kept_heads"):
            HyWIABloomConfig(n_head=6, n_layer=1, hidden_size=48, layer_widths=[{**good, **bad}])
