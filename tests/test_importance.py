"""Gradient (Taylor) and activation (Wanda-sp, FLAP) criteria against explicit per-weight computations."""

from __future__ import annotations

import statistics as pystats

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from optimum_hywia import HyWIAConfig, HyWIAPruner
from optimum_hywia.architectures import member_module
from optimum_hywia.importance import Need, fine_grained_densities, flap_bias_compensation, get_importance
from optimum_hywia.importance import gradients as gradients_module
from optimum_hywia.importance import reduction as reduction_module

ALL_CRITERIA = ("element1", "element2", "vector", "groupvec", "wanda_sp", "flap")


def tiny_llama(seed: int = 0, layers: int = 3, kv_heads: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=kv_heads, max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)


def tiny_qwen2(seed: int = 0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # non-zero q/k/v biases, so their gradient terms matter
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return model


def calibration(n: int = 6, length: int = 12, seed: int = 1) -> torch.Tensor:
    # 6 sequences in batches of 4 and 2: uneven batches exercise the per-batch mean of the loss
    return torch.randint(64, (n, length), generator=torch.Generator().manual_seed(seed))


def context_for(model, importance: str, data: torch.Tensor | None = None, **config):
    pruner = HyWIAPruner(HyWIAConfig(importance=importance, skip_first_layers=0, skip_last_layers=0, **config))
    return pruner.scoring_context(model, calibration() if data is None else data, None)


def member_params(context):
    params = []
    for group in context.groups:
        for member in group.members:
            linear = member_module(context.layer_of(group), member)
            params.append(linear.weight)
            if member.dim == 0 and linear.bias is not None:
                params.append(linear.bias)
    return params


def explicit_gradients(context, params):
    """Σ over batches of ∇(mean batch loss), and the mean over sequences of the squared per-sequence gradient."""
    grads = [torch.zeros_like(p) for p in params]
    fisher = [torch.zeros_like(p) for p in params]
    sequences = 0
    for batch in context.calibration:
        loss = context.model(input_ids=batch, labels=batch).loss
        for acc, g in zip(grads, torch.autograd.grad(loss, params)):
            acc += g
        for sequence in batch:
            one = sequence.unsqueeze(0)
            for acc, g in zip(fisher, torch.autograd.grad(context.model(input_ids=one, labels=one).loss, params)):
                acc += g * g
            sequences += 1
    return grads, [f / sequences for f in fisher]


def explicit_unit_scores(context, grads, fisher, second_order):
    """Per-weight Python loops: fine = Σ|s|, vector = Σ_lines |Σ_line s|, group = |Σ_unit s|."""
    by_param = {id(p): (g, f) for p, g, f in zip(member_params(context), grads, fisher)}
    result = {}
    for group in context.groups:
        fine, vector, total = [0.0] * group.num_units, [0.0] * group.num_units, [0.0] * group.num_units
        for member in group.members:
            linear = member_module(context.layer_of(group), member)
            g, f = by_param[id(linear.weight)]
            w, g, f = (t.detach().double().tolist() for t in (linear.weight, g, f))
            has_bias = member.dim == 0 and linear.bias is not None
            if has_bias:
                gb, fb = by_param[id(linear.bias)]
                b, gb, fb = (t.detach().double().tolist() for t in (linear.bias, gb, fb))
            for line, unit in enumerate(member.unit_of.tolist()):
                if unit < 0:
                    continue
                line_sum = 0.0
                for other in range(len(w[0]) if member.dim == 0 else len(w)):
                    i, j = (line, other) if member.dim == 0 else (other, line)
                    s = w[i][j] * g[i][j] - (0.5 * w[i][j] ** 2 * f[i][j] if second_order else 0.0)
                    fine[unit] += abs(s)
                    line_sum += s
                if has_bias:
                    s = b[line] * gb[line] - (0.5 * b[line] ** 2 * fb[line] if second_order else 0.0)
                    fine[unit] += abs(s)
                    line_sum += s
                vector[unit] += abs(line_sum)
                total[unit] += line_sum
        result[group.key] = {"fine": fine, "vector": vector, "group": [abs(t) for t in total]}
    return result


def assert_close(actual: torch.Tensor, expected: list[float], rtol: float = 1e-4) -> None:
    expected = torch.tensor(expected, dtype=torch.float64)
    scale = float(expected.abs().max())
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize(
    "make_model, config",
    [(tiny_llama, {}), (tiny_llama, {"gqa_mode": "query_heads"}), (tiny_qwen2, {})],
    ids=["llama-kv_group", "llama-query_heads", "qwen2-bias"],
)
def test_first_order_criteria_match_explicit_loops(make_model, config):
    model = make_model()
    context = context_for(model, "element1", **config)
    grads, fisher = explicit_gradients(context, member_params(context))
    expected = explicit_unit_scores(context, grads, fisher, second_order=False)
    for name, statistic in (("element1", "fine"), ("vector", "vector"), ("groupvec", "group")):
        scores = get_importance(name).score(context)
        assert set(scores) == {group.key for group in context.groups}
        for key, values in scores.items():
            assert values.dtype == torch.float64
            assert_close(values, expected[key][statistic])
    # the three readings are different numbers (a mix-up between them would fail above)
    key = context.groups[-1].key
    stats = context.statistics.taylor()[key]
    assert not torch.allclose(stats.fine1, stats.group1)


def test_second_order_matches_per_sequence_fisher():
    model = tiny_qwen2()
    context = context_for(model, "element2")
    params = member_params(context)
    grads, fisher = explicit_gradients(context, params)
    ours_g, ours_f = gradients_module.accumulate_gradients(context, params, second_order=True)
    for mine, theirs in zip(ours_g + ours_f, grads + fisher):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
    expected = explicit_unit_scores(context, grads, fisher, second_order=True)
    scores = get_importance("element2").score(context)
    stats = context.statistics.taylor(second_order=True)
    for key in scores:
        assert_close(scores[key], expected[key]["fine"])
        assert_close(stats[key].vector2, expected[key]["vector"])
        assert_close(stats[key].group2, expected[key]["group"])


def markov_sequences(n: int, length: int, seed: int, vocab: int = 64) -> torch.Tensor:
    """Each token is one of two fixed successors of the previous one: learnable structure."""
    generator = torch.Generator().manual_seed(seed)
    successors = torch.randint(vocab, (vocab, 2), generator=torch.Generator().manual_seed(1234))
    x = torch.zeros(n, length, dtype=torch.long)
    x[:, 0] = torch.randint(vocab, (n,), generator=generator)
    for t in range(1, length):
        x[:, t] = successors[x[:, t - 1], torch.randint(2, (n,), generator=generator)]
    return x


def spearman(a: list[float], b: list[float]) -> float:
    rank = lambda v: torch.argsort(torch.argsort(torch.tensor(v))).double()  # noqa: E731  (no ties here)
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def test_groupvec_tracks_true_loss_change_of_removing_a_unit():
    model = tiny_llama(seed=0, layers=2, kv_heads=4)  # multi-head attention
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(40):  # loss 4.2 → 0.79 (entropy floor ln 2): trained, non-degenerate gradients
        x = markov_sequences(16, 32, 100 + step)
        loss = model(input_ids=x, labels=x).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    context = context_for(model, "groupvec", data=markov_sequences(8, 32, 7))
    groupvec, element1 = (get_importance(name).score(context) for name in ("groupvec", "element1"))

    def objective() -> float:  # the loss the gradients are of: Σ over batches of the mean batch loss
        with torch.no_grad():
            return sum(float(model(input_ids=b, labels=b).loss) for b in context.calibration)

    base = objective()
    predicted, fine, true = [], [], []
    for group in context.groups:
        if group.kind != "mlp":
            continue
        layer = context.layer_of(group)
        for unit in range(group.num_units):
            saved = []
            for member in group.members:
                weight = member_module(layer, member).weight
                lines = (member.unit_of == unit).nonzero().flatten()
                saved.append((weight, lines, weight.data.index_select(member.dim, lines).clone(), member.dim))
                weight.data.index_fill_(member.dim, lines, 0.0)
            true.append(abs(objective() - base))
            for weight, lines, values, dim in saved:
                weight.data.index_copy_(dim, lines, values)
            predicted.append(float(groupvec[group.key][unit]))
            fine.append(float(element1[group.key][unit]))
    assert abs(objective() - base) < 1e-9
    # Measured on these 128 MLP channels: Spearman(groupvec, |ΔL|) = 0.98 (seeds 0-5 of this setup: 0.91-0.98;
    # after 20 training steps 0.79-0.86, at random init 0.998). element1 reaches only 0.50-0.68 here: the
    # whole-unit sum is the Taylor estimate of removing the unit, Σ|s| is not. Threshold 0.85 leaves margin.
    rho, rho_fine = spearman(predicted, true), spearman(fine, true)
    assert rho >= 0.85, (rho, rho_fine)
    assert rho > rho_fine + 0.1, (rho, rho_fine)


@pytest.mark.parametrize("name", ALL_CRITERIA)
def test_scoring_leaves_model_untouched(name):
    model = tiny_qwen2()
    model.train()
    model.model.embed_tokens.weight.requires_grad_(False)
    model.model.layers[0].mlp.up_proj.weight.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    before = {n: t.clone() for n, t in model.state_dict().items()}
    context = context_for(model, name)
    get_importance(name).score(context)
    assert model.training
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[n], after[n]) for n in before)


@pytest.mark.parametrize("name", ALL_CRITERIA)
def test_scores_are_deterministic(name):
    first = get_importance(name).score(context_for(tiny_llama(), name))
    second = get_importance(name).score(context_for(tiny_llama(), name))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize("statistics_pass", ["streamed", "buffered"])
def test_criteria_share_one_pass_per_statistic(monkeypatch, statistics_pass):
    calls = []
    accumulate, stream = gradients_module.accumulate_gradients, gradients_module.streamed_statistics
    monkeypatch.setattr(
        gradients_module, "accumulate_gradients", lambda *args: calls.append(args[2]) or accumulate(*args)
    )
    monkeypatch.setattr(gradients_module, "streamed_statistics", lambda *args: calls.append("streamed") or stream(*args))
    context = context_for(tiny_llama(), "element1", statistics_pass=statistics_pass)
    scores = {name: get_importance(name).score(context) for name in ("element1", "vector", "groupvec", "element2")}
    again = get_importance("element1").score(context)
    # one first-order pass shared by three criteria, one per-sequence pass
    assert calls == [False if statistics_pass == "buffered" else "streamed", True]
    assert all(torch.equal(scores["element1"][key], again[key]) for key in again)
    first, second = context.statistics.taylor(), context.statistics.taylor(second_order=True)
    for key in first:  # the per-sequence pass repeats the first-order statistics, up to rounding
        torch.testing.assert_close(second[key].fine1, first[key].fine1, rtol=1e-4, atol=1e-9)
    get_importance("wanda_sp").score(context)
    get_importance("flap").score(context)
    assert context.statistics.computed() == {Need.TAYLOR, Need.TAYLOR2, Need.ACTIVATIONS}


def captured_inputs(context):
    """Every calibration token's input to each group's output projection, [tokens, in_features]."""
    captured, handles = {}, []
    for group in context.groups:
        linear = member_module(context.layer_of(group), group.mask_member)
        captured[group.key] = []
        handles.append(linear.register_forward_pre_hook(
            lambda module, args, key=group.key: captured[key].append(args[0].detach().reshape(-1, args[0].shape[-1]))
        ))
    with torch.no_grad():
        for batch in context.calibration:
            context.model(input_ids=batch)
    for handle in handles:
        handle.remove()
    return {key: torch.cat(values).double() for key, values in captured.items()}


@pytest.mark.parametrize("make_model", [tiny_llama, tiny_qwen2], ids=["llama", "qwen2"])
def test_wanda_sp_and_flap_match_explicit_activations(make_model):
    model = make_model()
    context = context_for(model, "flap")
    inputs = captured_inputs(context)
    wanda, flap = get_importance("wanda_sp").score(context), get_importance("flap").score(context)
    for group in context.groups:
        x = inputs[group.key]
        weight = member_module(context.layer_of(group), group.mask_member).weight.detach().double()
        expected_wanda, raw_flap = [0.0] * group.num_units, [0.0] * group.num_units
        for j, unit in enumerate(group.mask_member.unit_of.tolist()):
            column = x[:, j].tolist()
            norm = sum(v * v for v in column) ** 0.5
            expected_wanda[unit] += sum(abs(w) for w in weight[:, j].tolist()) * norm
            raw_flap[unit] += pystats.variance(column) * sum(w * w for w in weight[:, j].tolist())
        mean, std = pystats.mean(raw_flap), pystats.stdev(raw_flap)
        assert_close(wanda[group.key], expected_wanda, rtol=1e-7)
        assert_close(flap[group.key], [(v - mean) / std for v in raw_flap], rtol=1e-7)
        assert abs(float(flap[group.key].mean())) < 1e-9 and abs(float(flap[group.key].std()) - 1) < 1e-9


def test_flap_bias_compensation_keeps_the_mean_output():
    model = tiny_llama()
    context = context_for(model, "flap")
    inputs = captured_inputs(context)
    for group in context.groups:
        kept = torch.arange(0, group.num_units, 2)
        bias = flap_bias_compensation(context, group, kept)
        weight = member_module(context.layer_of(group), group.mask_member).weight.detach().double()
        dense = (inputs[group.key] @ weight.T).mean(0)
        keep = torch.isin(group.mask_member.unit_of, kept)
        pruned = (inputs[group.key][:, keep] @ weight[:, keep].T).mean(0)
        torch.testing.assert_close(pruned + bias, dense, rtol=1e-9, atol=1e-9)
        assert bias.abs().max() > 0
        assert torch.equal(flap_bias_compensation(context, group, torch.arange(group.num_units)), torch.zeros_like(bias))


@pytest.mark.parametrize("statistics_pass", ["buffered", "streamed"])
def test_abs_saliency_sample_and_fine_grained_densities(monkeypatch, statistics_pass):
    model = tiny_llama()
    context = context_for(model, "element1", statistics_pass=statistics_pass)
    params = member_params(context)
    grads, _ = explicit_gradients(context, params)
    by_param = dict(zip(map(id, params), grads))
    exact = {}
    for group in context.groups:
        values = []
        for member in group.members:
            linear = member_module(context.layer_of(group), member)
            values.append((linear.weight.detach() * by_param[id(linear.weight)]).abs().flatten().double())
        exact[group.key] = torch.cat(values)
    stats = context.statistics.taylor()
    for key, values in exact.items():  # under SAMPLE_SIZE: the exact values, in member order
        assert int(stats[key].num_weights) == len(values)
        # the buffered pass sums the batches' gradients as `explicit_gradients` does: equal to rounding; the
        # streamed one takes all windows in one pass, so near-cancelling gradient entries differ by float32 rounding
        atol = 0.0 if statistics_pass == "buffered" else 1e-6 * float(values.max())
        torch.testing.assert_close(stats[key].abs_saliency_sample, values, rtol=1e-6, atol=atol)
    # the densities a global ranking of every individual weight would keep
    pooled = torch.cat(list(exact.values()))
    threshold = pooled.sort().values[int(0.6 * len(pooled))]
    densities = fine_grained_densities(stats, 0.6)
    for key, values in exact.items():
        assert densities[key] == pytest.approx(float((values >= threshold).double().mean()), abs=2e-3)
    assert len(set(round(d, 3) for d in densities.values())) > 1  # layers differ: the point of the allocation
    # above SAMPLE_SIZE: a seeded subsample of those values, the same every time
    monkeypatch.setattr(reduction_module, "SAMPLE_SIZE", 500)
    samples = []
    for _ in range(2):
        fresh = context_for(model, "element1", statistics_pass=statistics_pass)
        samples.append(fresh.statistics.taylor()[context.groups[0].key].abs_saliency_sample)
    assert len(samples[0]) == 500 and torch.equal(samples[0], samples[1])
    every = exact[context.groups[0].key]
    nearest = (samples[0].unsqueeze(1) - every.unsqueeze(0)).abs().min(1).values
    atol = 0.0 if statistics_pass == "buffered" else 1e-6 * float(every.max())  # this group's own scale
    assert bool((nearest <= atol).all())  # each sampled value is one of the group's per-weight values
