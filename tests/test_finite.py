"""NaN and infinite numbers stop pruning with one clear error naming the tensor and its layer: in the weights, in
the calibration gradients, in the scores."""

from __future__ import annotations

import pytest
import torch

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia import pruner as pruner_module
from optimum_hywia.errors import HyWIAError, NonFiniteError
from optimum_hywia.finite import check_finite
from optimum_hywia.importance import ImportanceResult

from tiny_models import tiny_model

CONFIG = dict(pruning_ratio=0.5, importance="element1", skip_first_layers=1, skip_last_layers=1)


def _calibration() -> torch.Tensor:
    return torch.randint(0, 96, (4, 16), generator=torch.Generator().manual_seed(0))


def test_a_nan_weight_is_named_with_its_layer_and_nothing_is_pruned():
    model = tiny_model("llama_gqa")
    with torch.no_grad():
        model.model.layers[1].mlp.up_proj.weight[3, 5] = float("nan")
    shapes = {name: p.shape for name, p in model.named_parameters()}
    with pytest.raises(NonFiniteError, match=r"Weight `model\.layers\.1\.mlp\.up_proj\.weight` \(layer 1\) holds 1 "
                                             r"NaN and 0 infinite") as error:
        HyWIAPruner(HyWIAConfig(**CONFIG)).prune(model, _calibration())
    assert isinstance(error.value, HyWIAError) and isinstance(error.value, FloatingPointError)
    assert {name: p.shape for name, p in model.named_parameters()} == shapes


def test_an_overflowing_gradient_is_named_with_its_layer():
    model = tiny_model("llama_gqa")
    # an activation that overflows: the loss and every gradient behind it become infinite or NaN
    model.model.layers[2].mlp.register_forward_hook(lambda module, args, output: output * float("inf"))
    with pytest.raises(NonFiniteError, match=r"The calibration gradient of `model\.layers\.\d\.[a-z_.]+` \(layer \d\) "
                                             r"holds .*statistics_dtype='float32'"):
        HyWIAPruner(HyWIAConfig(**CONFIG)).prune(model, _calibration())


def test_non_finite_scores_are_named_with_their_group(monkeypatch):
    class NanCriterion:
        def run(self, context):
            scores = {group.key: torch.ones(group.num_units, dtype=torch.float64) for group in context.groups}
            scores[context.groups[1].key][0] = float("inf")
            return ImportanceResult(scores)

        def needs(self, config):
            return set()

    model = tiny_model("llama_gqa")
    monkeypatch.setattr(pruner_module, "get_importance", lambda name: NanCriterion())
    pruner = HyWIAPruner(HyWIAConfig(**{**CONFIG, "importance": "magnitude_l1"}))
    context = pruner.scoring_context(model, None, None)
    layer, kind = context.groups[1].key
    with pytest.raises(NonFiniteError, match=rf"The `magnitude_l1` scores of layer {layer} {kind} holds 0 NaN and 1 "):
        pruner.score(context)


def test_finite_tensors_pass():
    check_finite(torch.tensor([1.0, -2.0, 0.0]), "x")
    with pytest.raises(NonFiniteError, match="`x` holds 0 NaN and 1 infinite value"):
        check_finite(torch.tensor([1.0, float("-inf")]), "`x`")
