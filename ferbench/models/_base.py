"""The common model contract shared by the five paper models.

Every model is a ``torch.nn.Module`` that takes ONE tensor ``x`` of shape ``(B, C, H, W)``
(multi-modal inputs stacked along channels in the order of ``model.inputs``) and returns
logits ``(B, n_classes)``. The training loop, Grad-CAM and the napari plugin rely on the
attributes and methods documented on :class:`FERModel`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ferbench.errors import FerbenchError

RANDOM_INIT = "random initialisation"

from ferbench.models.cfgs import MAP_NAMES  # noqa: E402,F401  (re-exported; owned by the configurations)


def input_slices(inputs) -> dict[str, slice]:
    """``{map_name: slice}`` of channels for an ``inputs`` layout (``((name, n_channels), ...)``).

    The one place that turns a model's ``inputs`` into channel offsets (models, Grad-CAM per modality,
    the explanation views and the displays all use it).
    """
    out: dict[str, slice] = {}
    start = 0
    for name, ch in inputs:
        out[str(name)] = slice(start, start + int(ch))
        start += int(ch)
    return out


class ModelConfigError(FerbenchError, ValueError):
    """A model was asked for with options, or called with an input, that it cannot handle."""


class FERModel(nn.Module):
    """Base class: the attributes and methods every ferbench model provides.

    Attributes
    ----------
    paper : str
        Paper key ("dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn").
    inputs : tuple of (str, int)
        ``(map_name, n_channels)`` in channel-stacking order.
    input_size : int
        Expected height = width of ``x``.
    n_classes : int
        Number of logits.
    feature_layer : str
        Dotted name of the module whose output is the ``(B, D)`` embedding (t-SNE).
    target_layers : dict of str -> list of str
        Per modality, module names for Grad-CAM.
    init_note : str
        ``"random initialisation"`` or the weight file that was loaded.
    """

    paper: str = ""

    def __init__(self, inputs: tuple[tuple[str, int], ...], input_size: int, n_classes: int):
        super().__init__()
        if int(n_classes) < 2:
            raise ModelConfigError(f"n_classes must be >= 2, got {n_classes}")
        if int(input_size) < 8:
            raise ModelConfigError(f"input_size must be >= 8, got {input_size}")
        for name, ch in inputs:
            if name not in MAP_NAMES or int(ch) < 1:
                raise ModelConfigError(f"bad model input ({name!r}, {ch})")
        self.inputs = tuple((str(n), int(c)) for n, c in inputs)
        self.input_size = int(input_size)
        self.n_classes = int(n_classes)
        self.feature_layer = "embed"
        self.target_layers: dict[str, list[str]] = {}
        self.init_note = RANDOM_INIT
        self.last_loss_terms: dict[str, float] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def in_channels(self) -> int:
        """Total number of stacked input channels."""
        return sum(c for _, c in self.inputs)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ModelConfigError` unless ``x`` is ``(B, in_channels, input_size, input_size)``."""
        if not isinstance(x, torch.Tensor):
            raise ModelConfigError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        want = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want or x.shape[0] < 1:
            layout = " + ".join(f"{n}:{c}" for n, c in self.inputs)
            raise ModelConfigError(
                f"{type(self).__name__} expects x of shape (B, {want[0]}, {want[1]}, {want[2]}) "
                f"[{layout}], got {tuple(x.shape)}")
        if not torch.is_floating_point(x):
            raise ModelConfigError(f"{type(self).__name__} expects a floating-point tensor, got {x.dtype}")

    def input_slices(self) -> dict[str, slice]:
        """Channel layout of the stacked input: ``{map_name: slice of channels}`` in ``self.inputs`` order.

        >>> FERModel((("geometry", 1), ("texture", 3)), 32, 6).input_slices()   # doctest: +SKIP
        {'geometry': slice(0, 1, None), 'texture': slice(1, 4, None)}
        """
        return input_slices(self.inputs)

    def split_inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split the stacked tensor into ``{map_name: (B, c, H, W)}`` in ``self.inputs`` order."""
        self.check_input(x)
        return {name: x[:, sl] for name, sl in self.input_slices().items()}

    # ------------------------------------------------------------------ contract
    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Forward pass returning ``{"logits": ..., "features": ..., ...}``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D401
        """Logits ``(B, n_classes)``."""
        return self.forward_train(x)["logits"]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, D)`` embedding (output of ``self.feature_layer``)."""
        return self.forward_train(x)["features"]

    def compute_loss(self, out: dict[str, Any], y: torch.Tensor) -> torch.Tensor:
        """The paper's training loss (default: cross-entropy on ``out["logits"]``)."""
        loss = nn.functional.cross_entropy(out["logits"], y)
        self.last_loss_terms = {"ce": float(loss.detach())}
        return loss

    def extra_param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups that need their own optimiser (e.g. learned class centers); default none."""
        return []

    def model_parameters(self):
        """Parameters of the network proper (excluding loss-owned ones such as class centers)."""
        extra = {id(p) for g in self.extra_param_groups() for p in g["params"]}
        return [p for p in self.parameters() if id(p) not in extra]

    def describe(self) -> str:
        """One-line summary including the initialisation note."""
        n = sum(p.numel() for p in self.model_parameters())
        layout = ", ".join(f"{k}:{c}" for k, c in self.inputs)
        return (f"{type(self).__name__}(paper={self.paper}, inputs=[{layout}], size={self.input_size}, "
                f"classes={self.n_classes}, params={n:,}, init={self.init_note})")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of network parameters (loss-owned parameters such as centers are excluded).

    Parameters
    ----------
    model
        Any module; for :class:`FERModel` the loss-owned parameters are skipped.
    trainable_only
        Count only parameters with ``requires_grad``.
    """
    params = model.model_parameters() if isinstance(model, FERModel) else list(model.parameters())
    return int(sum(p.numel() for p in params if p.requires_grad or not trainable_only))


def conv_out(size: int, kernel: int, stride: int = 1, pad: int = 0, ceil: bool = False) -> int:
    """Output length of a convolution / pooling along one axis (PyTorch rounding rules)."""
    num = size + 2 * pad - kernel
    if num < 0:
        return 0
    out = (-(-num // stride) if ceil else num // stride) + 1
    # PyTorch: the last ceil-mode window must start inside the (left-padded) input
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out
