"""Memory-saving ways to compute the Taylor statistics give the same scores as the plain all-at-once pass."""

from __future__ import annotations

import pytest
import torch

from optimum_hywia import HyWIAConfig
from optimum_hywia.importance import get_importance
from optimum_hywia.importance import gradients as gradients_module
from optimum_hywia.importance.gradient_pass import layer_chunks

from test_importance import context_for, tiny_llama, tiny_qwen2

STATISTICS = ("fine1", "vector1", "group1", "abs_saliency_sample")


def taylor_statistics(context, second_order=False):
    return context.statistics.taylor(second_order)


def assert_same_statistics(ours: dict, reference: dict, rtol: float = 1e-5) -> None:
    assert list(ours) == list(reference)
    for key in reference:
        for name in STATISTICS:
            expected, actual = getattr(reference[key], name), getattr(ours[key], name)
            scale = float(expected.abs().max()) or 1.0
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize(
    "make_model, per_pass", [(tiny_llama, 1), (tiny_llama, 2), (tiny_qwen2, 1)], ids=["llama-1", "llama-2", "qwen2-1"]
)
def test_layer_by_layer_equals_all_at_once(make_model, per_pass, monkeypatch):
    reference = taylor_statistics(context_for(make_model(), "element1"))
    passes = []
    accumulate = gradients_module.accumulate_gradients
    monkeypatch.setattr(gradients_module, "accumulate_gradients",
                        lambda context, params, second: passes.append(len(params)) or accumulate(context, params, second))
    context = context_for(make_model(), "element1", layers_per_pass=per_pass, statistics_pass="buffered")
    chunks = layer_chunks(context)
    assert len(chunks) == -(-len({g.layer for g in context.groups}) // per_pass) > 1
    assert_same_statistics(taylor_statistics(context), reference)
    assert len(passes) == len(chunks)  # one calibration pass per run of layers, each over that run's weights only
    assert sum(passes) == len(gradients_module.member_parameters(context))


def test_layer_by_layer_second_order_equals_all_at_once():
    reference = taylor_statistics(context_for(tiny_qwen2(), "element2"), second_order=True)
    ours = taylor_statistics(context_for(tiny_qwen2(), "element2", layers_per_pass=1), second_order=True)
    for key in reference:
        for name in ("fine2", "vector2", "group2"):
            torch.testing.assert_close(getattr(ours[key], name), getattr(reference[key], name), rtol=1e-5, atol=1e-9)


def test_activation_checkpointing_gives_the_same_scores_and_is_undone():
    reference = get_importance("element1").score(context_for(tiny_llama(), "element1"))
    model = tiny_llama()
    model.train()
    context = context_for(model, "element1", gradient_checkpointing=True, statistics_pass="buffered")
    recomputed = []
    layer = model.model.layers[1]
    layer.mlp.register_forward_pre_hook(lambda *args: recomputed.append(torch.is_grad_enabled()))
    scores = get_importance("element1").score(context)
    for key in reference:
        torch.testing.assert_close(scores[key], reference[key], rtol=1e-5, atol=1e-9)
    # checkpointed: the MLP ran again during the backward pass of every batch
    assert len(recomputed) == 2 * len(context.calibration)
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
    assert model.training and all(m.training for m in model.modules())


def test_bfloat16_statistics_are_close_and_rank_alike():
    reference = taylor_statistics(context_for(tiny_llama(), "element1"))
    ours = taylor_statistics(context_for(tiny_llama(), "element1", statistics_dtype="bfloat16",
                                         statistics_pass="buffered"))
    for key in reference:
        torch.testing.assert_close(ours[key].fine1, reference[key].fine1, rtol=2e-2, atol=1e-6)
        assert ours[key].fine1.dtype == torch.float64


@pytest.mark.parametrize("statistics_pass", ["streamed", "buffered"])
def test_gradients_held_before_scoring_are_kept_and_no_hook_is_left(statistics_pass):
    model = tiny_llama()
    weight = model.model.layers[0].mlp.up_proj.weight
    weight.grad = torch.full_like(weight, 3.0)
    context = context_for(model, "element1", statistics_pass=statistics_pass)
    taylor_statistics(context)
    assert torch.equal(weight.grad, torch.full_like(weight, 3.0))
    assert all(p.grad is None for name, p in model.named_parameters() if "up_proj" not in name or "layers.0." not in name)
    assert not weight._post_accumulate_grad_hooks


@pytest.mark.parametrize("micro_batch", [1, 3])
def test_micro_batches_give_the_batch_gradients(micro_batch):
    # batches of 4 and 2 sequences: a micro-batch of 3 leaves uneven parts, which must still weigh by their size
    reference = taylor_statistics(context_for(tiny_qwen2(), "element1"))
    passes = []
    model = tiny_qwen2()
    model.register_forward_pre_hook(lambda module, args, kwargs: passes.append(kwargs["input_ids"].shape[0]),
                                    with_kwargs=True)
    context = context_for(model, "element1", gradient_micro_batch=micro_batch, statistics_pass="buffered")
    assert_same_statistics(taylor_statistics(context), reference)
    assert passes == [size for batch in context.calibration for size in [micro_batch] * (len(batch) // micro_batch)
                      + ([len(batch) % micro_batch] if len(batch) % micro_batch else [])]


@pytest.mark.parametrize("name", ["layers_per_pass", "gradient_micro_batch"])
@pytest.mark.parametrize("value", [0, -1, "2", True])
def test_pass_sizes_are_validated(name, value):
    with pytest.raises(ValueError, match=name):
        HyWIAConfig(**{name: value})


def test_statistics_dtype_is_validated():
    with pytest.raises(ValueError, match=r"statistics_dtype.*\['float32', 'bfloat16'\].*'float16'"):
        HyWIAConfig(statistics_dtype="float16")
