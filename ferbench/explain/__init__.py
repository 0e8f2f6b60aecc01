"""Explainers: DF-CNN's SVM-weighted saliency, pytorch-grad-cam CAMs, attention maps, t-SNE embeddings.

Everything is imported lazily (torch, scikit-learn and pytorch-grad-cam load on first use).

>>> from ferbench.explain import list_cam_methods
>>> list_cam_methods("grad*")
['gradcam', 'gradcam++', 'gradcam_elementwise']
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # saliency.py
    "ExplainError": "saliency", "DARK_BLUE": "saliency", "svm_saliency": "saliency",
    "gradient_saliency": "saliency", "input_gradients": "saliency", "saliency_overlay": "saliency",
    "svm_weights": "saliency", "resize_map": "saliency",
    # cam.py
    "CAM_METHODS": "cam", "list_cam_methods": "cam", "cam_maps": "cam", "cam_maps_per_modality": "cam",
    "modality_channels": "cam", "ModalityView": "cam", "resolve_target_layers": "cam",
    # attention.py
    "attention_maps": "attention", "has_attention": "attention",
    # embedding.py
    "layer_features": "embedding", "gabor_bank": "embedding", "gabor_features": "embedding",
    "tsne_embedding": "embedding",
}

__all__ = sorted(_EXPORTS) + ["peak_location"]


def peak_location(m) -> tuple[int, ...]:
    """Index ``(row, col)`` of the maximum of a 2-D map (first one on ties)."""
    import numpy as np

    a = np.asarray(m)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(a)), a.shape))


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        mod = importlib.import_module(f"ferbench.explain.{_EXPORTS[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module 'ferbench.explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
