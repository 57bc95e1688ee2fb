"""Loaded weights live in the process's own memory, not as views of the mapped safetensors files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from optimum_hywia.data import load_model_and_tokenizer
from optimum_hywia.data.weights import read_weights_into_memory

from tiny_models import save_tiny_checkpoint

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")


def mapped_ranges(file: Path) -> list[tuple[int, int]]:
    """Address ranges where `file` is mapped into this process."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[-1] == str(file.resolve()):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def views_of(model, file: Path) -> list[str]:
    ranges = mapped_ranges(file)
    return [name for name, p in model.named_parameters()
            if any(start <= p.untyped_storage().data_ptr() < end for start, end in ranges)]


@pytest.mark.parametrize("family", ["llama_gqa", "llama_mha"])  # tied and untied embeddings
def test_loaded_weights_are_read_into_memory_with_the_same_values(tmp_path, family):
    dense = save_tiny_checkpoint(tmp_path / "tiny", family)
    file = tmp_path / "tiny" / "model.safetensors"
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    assert views_of(plain, file)  # what transformers gives: views of the mapped file
    model, _ = load_model_and_tokenizer(str(tmp_path / "tiny"))
    assert not views_of(model, file)
    expected = dense.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in model.state_dict().items())
    if dense.config.tie_word_embeddings:
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_tensors_the_file_holds_otherwise_stay_as_loaded(tmp_path):
    save_tiny_checkpoint(tmp_path / "tiny")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny", dtype=torch.bfloat16)  # file is float32
    before = {name: p.data_ptr() for name, p in model.named_parameters()}
    assert read_weights_into_memory(model, tmp_path / "tiny") == 0
    assert before == {name: p.data_ptr() for name, p in model.named_parameters()}
