"""ALBERT: one block shared by several layers (its blocks are listed per call)."""

from __future__ import annotations

from torch import nn

from trexplain.models.families.base import Family


def albert_blocks(model: nn.Module) -> list[nn.Module]:
    """ALBERT's blocks in call order: its `num_hidden_groups` groups of `inner_group_num` layers are shared, so one
    module appears once per layer that calls it (as `AlbertTransformer.forward` picks the group of layer i)."""
    config, groups = model.config, model.albert.encoder.albert_layer_groups
    per_group = config.num_hidden_layers / config.num_hidden_groups
    return [layer for i in range(config.num_hidden_layers) for layer in groups[int(i / per_group)].albert_layers]


ALBERT = Family(
    "albert",
    ("albert",),
    "albert.embeddings",
    "",
    "attention",
    False,
    True,
    "ffn",
    blocks=albert_blocks,
    head="classifier",
)
FAMILIES = (ALBERT,)
