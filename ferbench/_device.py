"""Device selection: CUDA when present, CPU otherwise."""
from __future__ import annotations


def default_device(device: "str | None" = None):
    """Return a ``torch.device``: the one asked for, else CUDA if available, else CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
