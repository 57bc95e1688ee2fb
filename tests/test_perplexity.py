"""Tests for optimum_hywia.evaluation.perplexity (LLM-Pruner protocol)."""

from __future__ import annotations

import math

import pytest
import tiny_models
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from optimum_hywia.data import builtin_text, tokenize_text
from optimum_hywia.evaluation import perplexity, perplexity_report

SEQ = 16


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def byte_tokenizer():
    return tiny_models.byte_tokenizer()


@pytest.fixture
def ids():
    return torch.randint(0, 256, (5 * SEQ + 7,), generator=torch.Generator().manual_seed(1))


def ppl_by_hand(model, ids, seq_len, n_windows):
    """exp(mean NLL of every predicted token), each window scored alone, explicit loops."""
    total, count = 0.0, 0
    with torch.no_grad():
        for w in range(n_windows):
            window = ids[w * seq_len : (w + 1) * seq_len]
            log_probs = torch.log_softmax(model(window[None]).logits[0].double(), dim=-1)
            for t in range(seq_len - 1):
                total -= float(log_probs[t, window[t + 1]])
                count += 1
    return math.exp(total / count)


def test_matches_hand_computation(tiny_model, ids):
    expected = ppl_by_hand(tiny_model, ids, SEQ, n_windows=5)
    got = perplexity(tiny_model, token_ids=ids, seq_len=SEQ, batch_size=2, show_progress=False)
    assert got == pytest.approx(expected, rel=1e-5)
    report = perplexity_report(tiny_model, token_ids=ids, seq_len=SEQ, batch_size=8, show_progress=False)
    assert report["n_windows"] == 5 and report["n_tokens"] == 5 * (SEQ - 1)
    assert report["ppl"] == pytest.approx(expected, rel=1e-5)
    assert report["nll"] == pytest.approx(math.log(expected), rel=1e-5)


def test_partial_last_window_dropped(tiny_model, ids):
    base = perplexity(tiny_model, token_ids=ids, seq_len=SEQ, show_progress=False)
    changed = ids.clone()
    changed[5 * SEQ :] = (changed[5 * SEQ :] + 1) % 256  # only the partial tail differs
    assert perplexity(tiny_model, token_ids=changed, seq_len=SEQ, show_progress=False) == pytest.approx(base, rel=1e-6)
    changed[5 * SEQ - 1] = (changed[5 * SEQ - 1] + 1) % 256  # last token of the last full window
    assert perplexity(tiny_model, token_ids=changed, seq_len=SEQ, show_progress=False) != pytest.approx(base, rel=1e-6)


def test_max_windows(tiny_model, ids):
    report = perplexity_report(tiny_model, token_ids=ids, seq_len=SEQ, max_windows=3, show_progress=False)
    assert report["n_windows"] == 3
    assert report["ppl"] == pytest.approx(ppl_by_hand(tiny_model, ids, SEQ, n_windows=3), rel=1e-5)
    assert perplexity_report(tiny_model, token_ids=ids, seq_len=SEQ, max_windows=99, show_progress=False)[
        "n_windows"
    ] == 5


def test_no_grad_eval_mode_restored(tiny_model, ids):
    seen = []
    hook = tiny_model.model.register_forward_hook(
        lambda module, args, out: seen.append((module.training, torch.is_grad_enabled()))
    )
    tiny_model.train()
    try:
        perplexity(tiny_model, token_ids=ids, seq_len=SEQ, batch_size=4, show_progress=False)
    finally:
        hook.remove()
    assert seen == [(False, False), (False, False)]
    assert tiny_model.training
    tiny_model.eval()


def test_text_and_source_paths(tiny_model, byte_tokenizer, tmp_path):
    text = builtin_text("jargon")[:3000]
    expected = perplexity(tiny_model, token_ids=tokenize_text(text, byte_tokenizer), seq_len=SEQ, show_progress=False)
    assert perplexity(tiny_model, byte_tokenizer, text=text, seq_len=SEQ, show_progress=False) == expected
    f = tmp_path / "heldout.txt"
    f.write_text(text, encoding="utf-8")
    assert perplexity(tiny_model, byte_tokenizer, f, seq_len=SEQ, show_progress=False) == expected
    ids = tokenize_text(builtin_text("jargon"), byte_tokenizer, max_tokens=4 * SEQ)
    by_source = perplexity_report(tiny_model, byte_tokenizer, "builtin:jargon", seq_len=SEQ, max_windows=4,
                                  show_progress=False)
    assert by_source["n_windows"] == 4
    assert by_source["ppl"] == perplexity(tiny_model, token_ids=ids, seq_len=SEQ, max_windows=4, show_progress=False)


def test_errors(tiny_model, byte_tokenizer, ids):
    with pytest.raises(ValueError, match="exactly one of source, text or token_ids"):
        perplexity(tiny_model, byte_tokenizer)
    with pytest.raises(ValueError, match=r"exactly one.*\['text', 'token_ids'\]"):
        perplexity(tiny_model, byte_tokenizer, text="abc", token_ids=ids)
    with pytest.raises(ValueError, match="tokenizer is needed"):
        perplexity(tiny_model, text="abc")
    with pytest.raises(ValueError, match=r"Text too short: 10 tokens.*seq_len=16"):
        perplexity(tiny_model, token_ids=ids[:10], seq_len=SEQ)
    with pytest.raises(ValueError, match="seq_len must be >= 2"):
        perplexity(tiny_model, token_ids=ids, seq_len=1)
    with pytest.raises(ValueError, match="max_windows"):
        perplexity(tiny_model, token_ids=ids, max_windows=0)


def test_windows_start_with_the_bos_the_tokenizer_adds():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=257, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model, tokenizer = LlamaForCausalLM(config).eval(), tiny_models.bos_byte_tokenizer()
    text = builtin_text("jargon")[:3000]
    report = perplexity_report(model, tokenizer, text=text, seq_len=SEQ, max_windows=3, show_progress=False)
    # the same windows by hand: <bos> + 15 text tokens each, every text token predicted
    body = tokenize_text(text, tokenizer)[: 3 * (SEQ - 1)].view(3, SEQ - 1)
    windows = torch.cat([torch.full((3, 1), tokenizer.bos_token_id), body], dim=1)
    assert report["n_tokens"] == 3 * (SEQ - 1)
    assert report["ppl"] == perplexity(model, token_ids=windows.flatten(), seq_len=SEQ, show_progress=False)
    assert report["ppl"] != perplexity(model, token_ids=tokenize_text(text, tokenizer), seq_len=SEQ, max_windows=3,
                                       show_progress=False)
