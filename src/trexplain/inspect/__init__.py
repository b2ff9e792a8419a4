"""Look inside a model layer by layer: attention maps, per-layer masked-token predictions, corpus neighbours."""
