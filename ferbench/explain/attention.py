"""Attention maps of the models that have them (GEMax-FA facial-attention maps, CMSA masks,
CM-CNN cross-modality attention, MFF-CNN's patch selection), as numpy arrays ready to overlay."""
from __future__ import annotations

import numpy as np

from ferbench.explain.saliency import ExplainError, _as_batch, _model_device, _normalise, resize_map


def has_attention(model) -> bool:
    """Whether ``model`` exposes ``attention_maps(x)``."""
    return callable(getattr(model, "attention_maps", None))


def attention_maps(model, x, size: tuple[int, int] | str | None = "input", normalize: bool = True
                   ) -> dict[str, np.ndarray]:
    """Attention maps ``{name: (B, h, w)}`` of an attention model, in eval mode without gradients.

    Parameters
    ----------
    model
        A model with ``attention_maps(x) -> {name: (B, h, w) tensor}``.
    x
        ``(B, C, H, W)`` stacked input.
    size
        ``"input"`` = bilinear-resize every map to the input's ``(H, W)`` for overlays; a ``(H, W)``
        tuple; ``None`` = the model's native grid.
    normalize
        Min-max scale each map to [0, 1] (per image). Raw values otherwise.

    Raises
    ------
    ExplainError
        The model has no attention maps, or returns something that is not ``(B, h, w)``.
    """
    import torch

    if not has_attention(model):
        raise ExplainError(f"{type(model).__name__} has no attention maps")
    x = _as_batch(x)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            raw = model.attention_maps(x.to(_model_device(model)))
    finally:
        model.train(was_training)
    target = tuple(x.shape[-2:]) if size == "input" else size
    out: dict[str, np.ndarray] = {}
    for name, a in raw.items():
        arr = np.asarray(a.detach().float().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float64)
        if arr.ndim == 4 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 3 or arr.shape[0] != x.shape[0]:
            raise ExplainError(f"{type(model).__name__}.attention_maps()[{name!r}] has shape {arr.shape}, "
                               f"expected ({x.shape[0]}, h, w)")
        if target is not None and arr.shape[-2:] != tuple(target):
            arr = resize_map(arr, target)
        out[name] = _normalise(arr) if normalize else arr
    return out
