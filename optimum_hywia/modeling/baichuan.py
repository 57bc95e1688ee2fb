"""Pruned Baichuan: a small generated module that subclasses the checkpoint's own remote code.

Baichuan (Baichuan-7B, Baichuan2) is not part of transformers: its modeling code ships with each checkpoint and loads
with `trust_remote_code=True`, so a pruned Baichuan cannot be one of the self-contained classes of
`modeling_hywia.py`. `pruned_baichuan_types(model)` writes `modeling_hywia_baichuan.py` beside the model's own
remote-code module (in transformers' dynamic-module cache):

    from .modeling_baichuan import BaichuanForCausalLM as BaichuanBase        # the checkpoint's own classes
    from .configuration_baichuan import BaichuanConfig as BaichuanConfigBase
    <the functions and mixins marked below, copied verbatim>
    class HyWIABaichuanConfig(PrunedBaichuanConfigMixin, BaichuanConfigBase): ...
    class HyWIABaichuanForCausalLM(PrunedBaichuanModelMixin, BaichuanBase): ...

and the pruned in-memory model becomes an instance of that class. `save_pretrained` then copies the generated file
and, through its relative imports, Baichuan's own files beside the weights, with `auto_map` pointing at the pruned
classes. The saved model loads with `trust_remote_code=True`, as the original Baichuan does, whether or not
optimum-hywia is installed; the same file serves in memory and after loading.

Example:
    >>> config_class, model_class = pruned_baichuan_types(model)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

from torch import nn
from transformers.dynamic_module_utils import get_class_in_module
from transformers.utils import HF_MODULES_CACHE

from ..version import __version__

PRUNED_MODULE = "modeling_hywia_baichuan"

# ---- copied verbatim into the generated module: use only `nn` and the names defined in this block ----------------


def _resized_linear(linear: nn.Linear, in_features: int | None = None, out_features: int | None = None) -> nn.Linear:
    """An uninitialised Linear shaped like `linear` (bias, dtype, device) with new in/out features."""
    return nn.Linear(
        in_features if in_features is not None else linear.in_features,
        out_features if out_features is not None else linear.out_features,
        bias=linear.bias is not None,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )


def set_baichuan_attention_widths(attention: nn.Module, num_heads: int) -> None:
    """What Baichuan's attention forward reads besides its Linear shapes: it splits and merges with `hidden_size`."""
    attention.num_heads = num_heads
    attention.hidden_size = num_heads * attention.head_dim


def resize_baichuan_layer(layer: nn.Module, widths: dict) -> None:
    """Give a Baichuan decoder layer the projection shapes of `widths` (weights are loaded later)."""
    attention, mlp = layer.self_attn, layer.mlp
    width = widths["num_attention_heads"] * attention.head_dim
    attention.W_pack = _resized_linear(attention.W_pack, out_features=3 * width)
    attention.o_proj = _resized_linear(attention.o_proj, in_features=width)
    set_baichuan_attention_widths(attention, widths["num_attention_heads"])
    channels = widths["intermediate_size"]
    mlp.gate_proj = _resized_linear(mlp.gate_proj, out_features=channels)
    mlp.up_proj = _resized_linear(mlp.up_proj, out_features=channels)
    mlp.down_proj = _resized_linear(mlp.down_proj, in_features=channels)


def check_baichuan_layer_widths(layer_widths: list | None, num_hidden_layers: int) -> None:
    """Raise ValueError when `layer_widths` cannot describe a Baichuan of `num_hidden_layers` layers."""
    if layer_widths is None:
        return
    if len(layer_widths) != num_hidden_layers:
        raise ValueError(
            f"`layer_widths` has {len(layer_widths)} entries, expected one per layer ({num_hidden_layers})."
        )
    for index, widths in enumerate(layer_widths):
        if sorted(widths) != sorted(("num_attention_heads", "intermediate_size")):
            raise ValueError(
                f"`layer_widths[{index}]` = {widths}: each entry needs exactly num_attention_heads, intermediate_size."
            )
        if min(widths.values()) < 1:
            raise ValueError(f"`layer_widths[{index}]` = {widths} is invalid: widths must be >= 1.")


class PrunedBaichuanConfigMixin:
    """Adds `layer_widths` (per-layer heads and MLP channels) and `hywia` (how it was pruned) to Baichuan's config."""

    def __init__(self, layer_widths: list | None = None, hywia: dict | None = None, **kwargs):
        self.layer_widths = layer_widths
        self.hywia = hywia
        super().__init__(**kwargs)
        check_baichuan_layer_widths(layer_widths, self.num_hidden_layers)

    def original_width_values(self, widths: dict) -> dict:
        """The widths Baichuan's own config can carry: MLP channels, not heads (head_dim = hidden / heads)."""
        if widths["num_attention_heads"] != self.num_attention_heads:
            raise ValueError(
                "Baichuan's config derives head_dim from hidden_size / num_attention_heads, so it cannot describe "
                "removed heads"
            )
        return {"intermediate_size": widths["intermediate_size"]}


class PrunedBaichuanModelMixin:
    """Builds the checkpoint's Baichuan, then resizes each layer to `config.layer_widths` before weights load."""

    hywia_family = "baichuan"

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        for layer, widths in zip(self.model.layers, config.layer_widths or []):
            resize_baichuan_layer(layer, widths)
        self.post_init()


# ---- end of the copied block ----------------------------------------------------------------------------------------

_COPIED = (
    _resized_linear,
    set_baichuan_attention_widths,
    resize_baichuan_layer,
    check_baichuan_layer_widths,
    PrunedBaichuanConfigMixin,
    PrunedBaichuanModelMixin,
)

_HEADER = '''# Generated by optimum-hywia {version}. Apache-2.0.
"""A structurally pruned Baichuan over this checkpoint's own remote code (load with trust_remote_code=True).

Every decoder layer keeps its own number of attention heads and MLP channels, recorded in `config.layer_widths`;
the model builds the checkpoint's Baichuan, then resizes each layer's projections before the weights load.
"""

from __future__ import annotations

from torch import nn

from .{model_module} import {model_class} as BaichuanBase
from .{config_module} import {config_class} as BaichuanConfigBase
'''

_CLASSES = '''

class HyWIABaichuanConfig(PrunedBaichuanConfigMixin, BaichuanConfigBase):
    """Baichuan's config with per-layer widths (`layer_widths`) and the pruning record (`hywia`)."""

    model_type = "hywia_baichuan"
    # an __init__ of its own: transformers turns config subclasses without one into dataclasses with a generated one
    __init__ = PrunedBaichuanConfigMixin.__init__


class HyWIABaichuanForCausalLM(PrunedBaichuanModelMixin, BaichuanBase):
    """A structurally pruned Baichuan: attention heads and MLP channels removed per layer."""

    config_class = HyWIABaichuanConfig
'''


def render_pruned_module(model_module: str, model_class: str, config_module: str, config_class: str) -> str:
    """The text of `modeling_hywia_baichuan.py` over the given remote-code module and class names."""
    header = _HEADER.format(
        version=__version__,
        model_module=model_module,
        model_class=model_class,
        config_module=config_module,
        config_class=config_class,
    )
    body = "\n\n".join(inspect.getsource(obj) for obj in _COPIED)
    return header + "\n\n" + body + _CLASSES


def _remote_code_folder(model: nn.Module) -> Path:
    """The dynamic-module folder holding the model's remote code; ValueError when it was not loaded as remote code."""
    folder = Path(sys.modules[type(model).__module__].__file__).resolve().parent
    if Path(HF_MODULES_CACHE).resolve() not in folder.parents:
        raise ValueError(
            f"`{type(model).__name__}` comes from {folder}, not from transformers' remote-code cache: load the "
            "Baichuan checkpoint with `AutoModelForCausalLM.from_pretrained(..., trust_remote_code=True)` so its "
            "pruned model can subclass the checkpoint's own code."
        )
    return folder


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def pruned_baichuan_types(model: nn.Module) -> tuple[type, type]:
    """(config class, model class) of the pruned Baichuan over `model`'s own remote code, generated on first use."""
    if getattr(type(model), "hywia_family", None) == "baichuan":
        return type(model.config), type(model)
    folder = _remote_code_folder(model)
    config_base = getattr(type(model), "config_class", None) or type(model.config)
    config_module = config_base.__module__.rpartition(".")[2]
    if not (folder / f"{config_module}.py").is_file():
        raise ValueError(f"Baichuan's config module `{config_module}.py` is not beside its model code in {folder}.")
    text = render_pruned_module(
        type(model).__module__.rpartition(".")[2], type(model).__name__, config_module, config_base.__name__
    )
    path = folder / f"{PRUNED_MODULE}.py"
    _write_if_changed(path, text)
    module_path = path.relative_to(Path(HF_MODULES_CACHE).resolve())
    config_class = get_class_in_module("HyWIABaichuanConfig", module_path)
    model_class = get_class_in_module("HyWIABaichuanForCausalLM", module_path)
    # save_pretrained then copies the generated file and Baichuan's files, and writes `auto_map`; the base config
    # class too, for `as_original_architecture` saves (AutoConfig registered the copy it loaded, not this one)
    for config_type in (config_class, get_class_in_module("BaichuanConfigBase", module_path)):
        config_type.register_for_auto_class()
    model_class.register_for_auto_class("AutoModelForCausalLM")
    return config_class, model_class


# families whose modeling code ships with the checkpoint: model_type -> factory of the pruned (config, model) classes
REMOTE_CODE_TYPES = {"baichuan": pruned_baichuan_types}
