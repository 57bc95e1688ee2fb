"""A PNG of the widths each layer kept, for the model card (matplotlib, Agg canvas, no pyplot state touched)."""

from __future__ import annotations

import os
from pathlib import Path

from .facts import PruningFacts, width_keys

PLOT_NAME = "hywia_layer_widths.png"
_PANEL_LABELS = {"num_attention_heads": "attention heads", "num_key_value_heads": "key/value heads",
                 "intermediate_size": "MLP channels"}


def plot_layer_widths(facts: PruningFacts, path: str | os.PathLike) -> Path | None:
    """Draw kept widths per layer (bars) against the dense widths (outline) into `path`; None without matplotlib.

    Example:
        >>> plot_layer_widths(PruningFacts.from_folder("smollm2-pruned"), "widths.png")  # doctest: +SKIP
        PosixPath('widths.png')
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    layers, keys = list(range(len(facts.layer_widths))), width_keys(facts.layer_widths)
    figure = Figure(figsize=(max(6.0, 0.22 * len(layers) + 2), 2.2 * len(keys)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for axis, key in zip(axes, keys):
        label = _PANEL_LABELS.get(key, key)
        if facts.dense_widths and all(key in w for w in facts.dense_widths):
            dense = [w[key] for w in facts.dense_widths]
            axis.bar(layers, dense, color="none", edgecolor="0.6", linewidth=0.8)
        pruned = [i in facts.pruned_layers for i in layers]
        colours = ["tab:orange" if p else "tab:blue" for p in pruned]
        axis.bar(layers, [w[key] for w in facts.layer_widths], color=colours)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    legend = [Patch(color="tab:orange", label="pruned layer"), Patch(color="tab:blue", label="layer left dense")]
    if facts.dense_widths:
        legend.append(Patch(facecolor="none", edgecolor="0.6", label="dense width"))
    axes[0].legend(handles=legend, fontsize="small", loc="lower left", framealpha=0.9)
    axes[0].set_title("Widths kept per layer")
    axes[-1].set_xlabel("decoder layer")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path
