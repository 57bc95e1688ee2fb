import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest

from optimum_hywia import CalibrationConfig, FusionConfig, HyWIAConfig, MemoryConfig
from optimum_hywia.commands.arguments import add_config_arguments, config_from_arguments
from optimum_hywia.configuration import CONFIG_NAME
from optimum_hywia.errors import ConfigError

BAD_VALUES = [
    ("pruning_ratio", 1.0, "pruning_ratio"),
    ("pruning_ratio", -0.1, "pruning_ratio"),
    ("pruning_ratio", "0.2", "pruning_ratio"),
    ("pruning_ratio", True, "pruning_ratio"),
    ("importance", "nope", "importance"),
    ("prune_attention", "yes", "prune_attention"),
    ("prune_mlp", 1, "prune_mlp"),
    ("skip_first_layers", -1, "skip_first_layers"),
    ("skip_last_layers", 1.5, "skip_last_layers"),
    ("scope", "model", "scope"),
    ("gqa_mode", "heads", "gqa_mode"),
    ("min_units_per_layer", 0, "min_units_per_layer"),
    ("calibration_data", "", "calibration_data"),
    ("num_calibration_samples", 0, "num_calibration_samples"),
    ("calibration_seq_len", 1, "calibration_seq_len"),
    ("seed", -3, "seed"),
    ("selection_data", "", "selection_data"),
    ("selection_samples", 0, "selection_samples"),
    ("choose_plan", "yes", "choose_plan"),
]


@pytest.mark.parametrize("field,value,named", BAD_VALUES)
def test_bad_value_names_field_and_value(field, value, named):
    with pytest.raises(ValueError) as error:
        HyWIAConfig(**{field: value})
    message = str(error.value)
    assert f"`{named}`" in message and repr(value) in message


@pytest.mark.parametrize("calibration,selection", [("builtin:austen", "builtin:austen"), ("builtin:mixed", "builtin:austen"),
                                                   ("builtin:sensesensibility", "builtin:validation")])
def test_selection_data_must_be_apart_from_the_calibration_text(calibration, selection):
    with pytest.raises(ValueError, match="`selection_data`.*apart from `calibration_data`"):
        HyWIAConfig(calibration_data=calibration, selection_data=selection)
    assert HyWIAConfig(calibration_data="builtin:mixed").calibration.selection_data == "builtin:validation"


def test_choice_errors_list_what_is_allowed():
    with pytest.raises(ValueError, match="layer.*global"):
        HyWIAConfig(allocation="model")
    with pytest.raises(ValueError, match="magnitude_l1"):
        HyWIAConfig(importance="nope")


def test_default_layer_range_scales_with_depth():
    config = HyWIAConfig()
    assert config.pruned_layers(32) == list(range(4, 30))  # LLM-Pruner: first 4 and last 2 of 32 kept
    assert config.pruned_layers(30) == list(range(3, 28))
    assert HyWIAConfig(skip_first_layers=0, skip_last_layers=0).pruned_layers(4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="leave no layer"):
        HyWIAConfig(skip_first_layers=2, skip_last_layers=2).pruned_layers(4)


def test_save_and_load_round_trip(tmp_path):
    config = HyWIAConfig(pruning_ratio=0.5, importance="magnitude_l2", allocation="global", seed=7)
    path = config.save_pretrained(tmp_path)
    assert path.name == CONFIG_NAME
    stored = json.loads(path.read_text())
    assert list(stored) == sorted(stored) and "optimum_hywia_version" in stored
    assert HyWIAConfig.from_pretrained(tmp_path) == config
    assert HyWIAConfig.from_pretrained(path) == config


def test_unknown_field_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="pruning_ration"):
        HyWIAConfig.from_dict({"pruning_ration": 0.3})
    with pytest.raises(FileNotFoundError):
        HyWIAConfig.from_pretrained(tmp_path)


def test_scope_still_loads_and_moves_to_allocation_with_a_warning():
    with pytest.warns(FutureWarning, match="allocation='global'"):
        config = HyWIAConfig(importance="element1", scope="global")
    assert config.allocation == "global" and config.scope is None and config.resolved_allocation == "global"
    with pytest.warns(FutureWarning, match="ignored"):  # the learned fusion's allocation always won over `scope`
        learned = HyWIAConfig.from_dict({"importance": "hywia", "scope": "layer"})
    assert learned.resolved_allocation == "learned" and learned.allocation is None
    assert HyWIAConfig(importance="element1").resolved_allocation == "layer"


ROOT = Path(__file__).resolve().parents[1]


def table_fields(path: Path, heading: str) -> set[str]:
    """The field names in the first column of the table under `heading` in `path`."""
    blocks = path.read_text().split(heading, 1)[1].split("\n\n")
    table = next(block for block in blocks if block.startswith("| field"))
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_every_config_field_is_in_the_configuration_doc_and_nothing_else():
    fields = set(HyWIAConfig.field_names())
    assert table_fields(ROOT / "docs" / "configuration.md", "# Configuration") == fields
    # the README's short table names real fields only
    assert table_fields(ROOT / "README.md", "## Configuration") <= fields


def test_sections_and_flat_names_are_one_config():
    nested = HyWIAConfig(pruning_ratio=0.5, fusion=FusionConfig(steps=16, mode="fixed"),
                         calibration=CalibrationConfig(data="builtin:mixed"), memory={"layers_per_pass": 2})
    flat = HyWIAConfig(pruning_ratio=0.5, fusion="fixed", fusion_steps=16, calibration_data="builtin:mixed",
                       layers_per_pass=2)
    assert nested == flat
    assert (flat.fusion.steps, flat.fusion.mode, flat.calibration.data, flat.memory.layers_per_pass) == (
        16, "fixed", "builtin:mixed", 2)
    # a flat name given beside its section wins over the section's value, as dataclasses.replace relies on
    assert HyWIAConfig(fusion=FusionConfig(steps=3), fusion_steps=5).fusion.steps == 5
    assert dataclasses.replace(flat, fusion_steps=0).fusion.steps == 0
    assert dataclasses.replace(flat, pruning_ratio=0.3).fusion.mode == "fixed"


def test_the_recipe_is_flat_and_an_old_flat_recipe_loads_the_same_config(tmp_path):
    config = HyWIAConfig(fusion_steps=4, num_calibration_samples=8, statistics_pass="buffered")
    recipe = config.to_dict()
    assert set(recipe) == set(HyWIAConfig.field_names())
    assert (recipe["fusion"], recipe["fusion_steps"], recipe["num_calibration_samples"]) == ("attention", 4, 8)
    assert all(not isinstance(value, dict) for value in recipe.values())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**recipe, "optimum_hywia_version": "0.0.1"}))
    assert HyWIAConfig.from_pretrained(tmp_path) == config


def test_a_section_value_error_names_the_flat_field():
    with pytest.raises(ConfigError, match="`fusion_steps` must be an integer >= 0, got -1"):
        HyWIAConfig(fusion=FusionConfig(steps=-1))
    with pytest.raises(ConfigError, match="`memory` must be a MemoryConfig"):
        HyWIAConfig(memory="lean")
    with pytest.raises(ConfigError, match="`layers_per_pass` must be an integer >= 1"):
        MemoryConfig(layers_per_pass=0)


def test_every_option_is_a_cli_flag_under_its_flat_name():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--fusion-steps", "3", "--calibration-data", "builtin:mixed", "--fusion", "fixed",
                              "--no-choose-plan", "--layers-per-pass", "2"])
    config = config_from_arguments(args)
    assert (config.fusion.steps, config.fusion.mode, config.fusion.choose_plan) == (3, "fixed", False)
    assert (config.calibration.data, config.memory.layers_per_pass) == ("builtin:mixed", 2)
    flags = {action.dest for action in parser._actions}
    assert set(HyWIAConfig.field_names()) <= flags
