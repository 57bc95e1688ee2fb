"""One Registry for criteria, allocations and architectures; criteria declare what they need."""

from __future__ import annotations

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.allocation.strategies import register_allocation
from optimum_hywia.architectures import get_architecture_spec, register_architecture
from optimum_hywia.training.callback import training_gradient_criteria
from optimum_hywia.modeling.modeling_hywia import FORMAT_VERSION
from optimum_hywia.importance import ImportanceResult, Need, get_importance, register_importance
from optimum_hywia.registry import ALLOCATIONS, IMPORTANCES, Registry

from tiny_models import VOCAB


def test_registry_rejects_duplicates_and_bad_entries_and_lists_what_exists():
    registry = Registry("colour", check=lambda entry: isinstance(entry, str) or "a string")
    registry.add("red", "#f00")
    with pytest.raises(ValueError, match="Colour `red` is already registered"):
        registry.add("red", "#e00")
    with pytest.raises(TypeError, match=r"`blue` must be a string, got int 3"):
        registry.add("blue", 3)
    with pytest.raises(ValueError, match=r"non-empty string"):
        registry.add("", "#000")
    with pytest.raises(ValueError, match=r"Unknown colour `green`; available: \['red'\]"):
        registry.get("green")
    assert registry.names() == ["red"] and "red" in registry and "blue" not in registry


def test_every_registry_refuses_a_taken_name(make_tiny_model):
    with pytest.raises(ValueError, match="element1"):
        register_importance("element1", needs={Need.TAYLOR})(lambda context: {})
    with pytest.raises(ValueError, match="layer"):
        register_allocation("layer")(lambda context, scores, removal=None: {})
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(get_architecture_spec(make_tiny_model("llama_gqa")))
    with pytest.raises(TypeError, match="callable"):
        register_allocation("not_callable")(3)
    assert "not_callable" not in ALLOCATIONS


def test_declared_needs_decide_what_training_gradients_can_serve():
    config = HyWIAConfig(importance="element1")
    assert training_gradient_criteria(config) == ["element1", "groupvec", "hywia", "vector"]
    assert get_importance("hywia").needs(HyWIAConfig(taylor_order=2)) == {Need.TAYLOR2, Need.WINDOWS, Need.SELECTION}
    assert get_importance("hywia").needs(HyWIAConfig(fusion="fixed")) == {Need.TAYLOR}
    assert not get_importance("wanda_sp").can_use_training_gradients(config)
    assert not get_importance("magnitude_l1").needs_calibration and get_importance("flap").needs_calibration


def test_a_third_party_criterion_reads_typed_statistics_and_hands_a_removal_to_the_learned_allocation(
    make_tiny_model,
):
    @register_importance("test_half_fine", needs={Need.TAYLOR})
    def half_fine(context):
        scores = {key: stats.fine1 for key, stats in context.statistics.taylor().items()}
        return ImportanceResult(scores, removal={key: 0.5 for key in scores}, metadata={"made_by": "test"})

    try:
        assert get_importance("test_half_fine").can_use_training_gradients(HyWIAConfig())
        model = make_tiny_model("llama_gqa")
        config = HyWIAConfig(importance="test_half_fine", allocation="learned", pruning_ratio=0.5,
                             skip_first_layers=0, skip_last_layers=0)
        pruner = HyWIAPruner(config)
        pruner.prune(model, torch.randint(0, VOCAB, (4, 8), generator=torch.Generator().manual_seed(0)))
        assert model.config.hywia["made_by"] == "test" and model.config.hywia["format_version"] == FORMAT_VERSION
        assert 0.4 < pruner.summary.kept_fraction < 0.75
    finally:
        IMPORTANCES.remove("test_half_fine")
