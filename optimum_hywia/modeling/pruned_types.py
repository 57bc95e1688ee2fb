"""The one table of pruned-model types: base model_type -> (pruned config class, pruned model class).

Each family's classes live in a modeling file of its own, named after the pruned model_type
(``modeling_hywia_<family>.py``), which `save_pretrained` copies beside the weights together with the shared
``modeling_hywia_base.py`` and nothing else. The package imports them all here; `optimum_hywia.modeling` registers
them with the transformers Auto classes and `convert.py` looks families up in `PRUNED_TYPES`. (Baichuan, whose
modeling code ships with its checkpoints, is not here: see ``baichuan.py``.)
"""

from __future__ import annotations

from .modeling_hywia_bloom import HyWIABloomConfig, HyWIABloomForCausalLM
from .modeling_hywia_gemma3_text import HyWIAGemma3ForCausalLM, HyWIAGemma3TextConfig
from .modeling_hywia_granite import HyWIAGraniteConfig, HyWIAGraniteForCausalLM
from .modeling_hywia_llama import HyWIALlamaConfig, HyWIALlamaForCausalLM
from .modeling_hywia_mistral import HyWIAMistralConfig, HyWIAMistralForCausalLM
from .modeling_hywia_phi3 import HyWIAPhi3Config, HyWIAPhi3ForCausalLM
from .modeling_hywia_qwen2 import HyWIAQwen2Config, HyWIAQwen2ForCausalLM
from .modeling_hywia_qwen3 import HyWIAQwen3Config, HyWIAQwen3ForCausalLM

PRUNED_TYPES = {
    "llama": (HyWIALlamaConfig, HyWIALlamaForCausalLM),
    "mistral": (HyWIAMistralConfig, HyWIAMistralForCausalLM),
    "qwen2": (HyWIAQwen2Config, HyWIAQwen2ForCausalLM),
    "qwen3": (HyWIAQwen3Config, HyWIAQwen3ForCausalLM),
    "gemma3_text": (HyWIAGemma3TextConfig, HyWIAGemma3ForCausalLM),
    "granite": (HyWIAGraniteConfig, HyWIAGraniteForCausalLM),
    "bloom": (HyWIABloomConfig, HyWIABloomForCausalLM),
    "phi3": (HyWIAPhi3Config, HyWIAPhi3ForCausalLM),
}
