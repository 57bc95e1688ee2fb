"""The streamed (memory-lean) first-order pass gives the buffered pass's statistics and scores, one layer at a time."""

from __future__ import annotations

import logging

import pytest
import torch

from optimum_hywia import HyWIAConfig
from optimum_hywia.errors import NonFiniteError
from optimum_hywia.importance import available_importances, get_importance
from optimum_hywia.importance import streamed as streamed_module
from optimum_hywia.importance.gradient_pass import member_parameters
from optimum_hywia.importance.statistics import Need

from test_gradient_memory import assert_same_statistics
from test_importance import calibration, context_for
from tiny_models import EXTRA_FAMILIES, TINY_FAMILIES, tiny_model

FIRST_ORDER = [name for name in available_importances()
               if Need.TAYLOR2 not in get_importance(name).needs(HyWIAConfig(importance=name))]


def _spy_streaming(monkeypatch) -> list[int]:
    """Record the gradient elements held by the reducer each time a group is reduced."""
    held = []
    reduce = streamed_module.GroupReducer._reduce

    def spying(self, key):
        held.append(sum(g.numel() for g in self.gradients.values()))
        return reduce(self, key)

    monkeypatch.setattr(streamed_module.GroupReducer, "_reduce", spying)
    return held


@pytest.mark.parametrize("family", [f for f in {**TINY_FAMILIES, **EXTRA_FAMILIES} if f != "baichuan"])
def test_streamed_statistics_equal_the_buffered_ones(family, monkeypatch):
    reference = context_for(tiny_model(family), "element1", statistics_pass="buffered").statistics.taylor()
    held = _spy_streaming(monkeypatch)
    context = context_for(tiny_model(family), "element1")
    assert streamed_module.can_stream(context)
    assert_same_statistics(context.statistics.taylor(), reference)
    assert len(held) == len(context.groups)  # every group reduced inside the one backward pass


@pytest.mark.parametrize("criterion", FIRST_ORDER)
def test_every_first_order_criterion_scores_alike_on_both_passes(criterion):
    buffered = get_importance(criterion).run(context_for(tiny_model("llama_gqa"), criterion, statistics_pass="buffered"))
    streamed = get_importance(criterion).run(context_for(tiny_model("llama_gqa"), criterion))
    for key, expected in buffered.scores.items():
        scale = float(expected.abs().max()) or 1.0
        torch.testing.assert_close(streamed.scores[key], expected, rtol=1e-4, atol=1e-4 * scale)


def test_at_most_about_one_layer_of_gradients_is_held(monkeypatch):
    held = _spy_streaming(monkeypatch)
    context = context_for(tiny_model("llama_gqa", num_hidden_layers=6), "element1")
    context.statistics.taylor()
    per_layer = max(sum(p.numel() for p in member_parameters(context, [g for g in context.groups if g.layer == layer]))
                    for layer in {g.layer for g in context.groups})
    everything = sum(p.numel() for p in member_parameters(context))
    assert max(held) <= 2 * per_layer < everything / 2


def test_one_backward_pass_over_all_windows(monkeypatch):
    model = tiny_model("llama_gqa")
    batches = []
    model.model.register_forward_pre_hook(lambda module, args, kwargs: batches.append(kwargs["input_ids"].shape[0]),
                                          with_kwargs=True)
    context = context_for(model, "element1")
    context.statistics.taylor()
    # one window to check the head, then every window at once (the buffered pass: one pass per batch)
    assert batches[-1] == sum(len(batch) for batch in context.calibration) and len(batches) <= 3


def test_bfloat16_weights_give_close_statistics():
    reference = context_for(tiny_model("llama_gqa"), "element1", statistics_pass="buffered").statistics.taylor()
    ours = context_for(tiny_model("llama_gqa").to(torch.bfloat16), "element1").statistics.taylor()
    for key, stats in reference.items():
        assert ours[key].fine1.dtype == torch.float64
        torch.testing.assert_close(ours[key].fine1, stats.fine1, rtol=0.1, atol=0.05 * float(stats.fine1.max()))


def test_batches_of_several_lengths_use_the_buffered_pass(caplog):
    data = [calibration(4, 12), calibration(2, 9)]
    reference = context_for(tiny_model("llama_gqa"), "element1", data, statistics_pass="buffered")
    context = context_for(tiny_model("llama_gqa"), "element1", data)
    with caplog.at_level(logging.INFO, logger=streamed_module.__name__):
        assert not streamed_module.can_stream(context)
    assert "several lengths" in caplog.text
    assert_same_statistics(context.statistics.taylor(), reference.statistics.taylor())


def test_a_head_the_pass_cannot_reproduce_uses_the_buffered_pass(caplog):
    model = tiny_model("llama_gqa")
    model.config.final_logit_softcapping = 2.0  # read by `head_logits`, ignored by Llama's own forward
    with caplog.at_level(logging.WARNING, logger=streamed_module.__name__):
        assert not streamed_module.can_stream(context_for(model, "element1"))
    assert "buffered pass" in caplog.text


def test_a_model_without_layer_checkpointing_uses_the_buffered_pass():
    model = tiny_model("baichuan")
    assert not streamed_module.can_stream(context_for(model, "element1"))


def test_a_non_finite_gradient_names_the_parameter():
    model = tiny_model("llama_gqa")

    def overflow_backward(module, args, output):  # finite logits, an infinite gradient behind layer 2's MLP
        if output.requires_grad:
            output.register_hook(lambda grad: grad * float("inf"))

    model.model.layers[2].mlp.register_forward_hook(overflow_backward)
    context = context_for(model, "element1")
    assert streamed_module.can_stream(context)
    with pytest.raises(NonFiniteError, match=r"calibration gradient of `model\.layers\.[0-2]\.[a-z_.]+` \(layer [0-2]\)"):
        context.statistics.taylor()


def test_statistics_pass_is_validated():
    with pytest.raises(ValueError, match=r"statistics_pass.*\['streamed', 'buffered'\].*'lean'"):
        HyWIAConfig(statistics_pass="lean")
