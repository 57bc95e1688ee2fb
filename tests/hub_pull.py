"""Pulling repos from a LocalHub by name in a fresh process, with optimum-hywia or without it (remote code only)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import torch
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
