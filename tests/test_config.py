import dataclasses
import json
import re
from pathlib import Path

import pytest

from optimum_hywia import HyWIAConfig
from optimum_hywia.configuration import CONFIG_NAME

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
    assert HyWIAConfig(calibration_data="builtin:mixed").selection_data == "builtin:validation"


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
    fields = {field.name for field in dataclasses.fields(HyWIAConfig)}
    assert table_fields(ROOT / "docs" / "configuration.md", "# Configuration") == fields
    # the README's short table names real fields only
    assert table_fields(ROOT / "README.md", "## Configuration") <= fields
