"""Talking to a LocalHub: this process pointed at it, and repos pulled by name in a fresh process (with optimum-hywia,
or without it through remote code only)."""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import load_file

LOAD_SCRIPT = """
import json, sys
if {block}:
    sys.modules["optimum_hywia"] = None  # as if optimum-hywia were not installed
else:
    import optimum_hywia  # noqa: F401
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM
tensors, classes = {{}}, {{}}
for repo in {repos!r}:
    model = AutoModelForCausalLM.from_pretrained(repo, trust_remote_code={block})
    with torch.no_grad():
        tensors[repo.replace("/", "--")] = model(torch.tensor({ids})).logits.contiguous()
    classes[repo] = type(model).__module__ + "." + type(model).__name__
save_file(tensors, {out!r})
print("RESULT " + json.dumps(classes))
"""


def pull_logits(hub, repos: list[str], ids: torch.Tensor, block_package: bool,
                folder: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Load each repo by name in a subprocess pointed at `hub` (`block_package`: optimum-hywia made unimportable, so
    only `trust_remote_code=True` can build the model); return the class each loaded as and its logits on `ids`."""
    out = folder / "logits.safetensors"
    script = LOAD_SCRIPT.format(block=block_package, repos=sorted(repos), ids=ids.tolist(), out=str(out))
    proc = hub.run_python(textwrap.dedent(script), hf_home=folder / "hf")
    classes = json.loads(proc.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    pulled = load_file(out)
    return classes, {repo: pulled[repo.replace("/", "--")] for repo in repos}


@contextlib.contextmanager
def pointed_at(hub, cache: str | Path) -> Iterator:
    """This process's huggingface_hub pointed at `hub`, with `cache` as its download cache; yields `hub`."""
    with hub.patch_endpoint(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_CACHE", str(cache))
        yield hub


def assert_pulled_logits_equal(hub, expected: dict[str, torch.Tensor], ids: torch.Tensor, block_package: bool,
                               folder: Path) -> None:
    """Every repo of `expected` loads by name as the pruned Llama type (from optimum-hywia, or as remote code when
    `block_package`) and gives exactly the expected logits on `ids`."""
    classes, pulled = pull_logits(hub, list(expected), ids, block_package, folder)
    module = "transformers_modules" if block_package else "optimum_hywia.modeling.modeling_hywia_llama"
    for repo, reference in expected.items():
        assert classes[repo].startswith(module) and classes[repo].endswith("HyWIALlamaForCausalLM"), classes
        assert torch.equal(pulled[repo], reference), f"logits differ for {repo}"
