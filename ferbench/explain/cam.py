"""Class activation maps of any ferbench model with pytorch-grad-cam.

ferbench models take ONE stacked tensor ``(B, C, H, W)`` whose channel ranges are the modalities of
``model.inputs``. For a per-modality CAM the model is wrapped (:class:`ModalityView`, the wrapper
the grad-cam maintainers recommend for multi-input models) so that the CAM object sees only that
modality's channels as its input while the other channels are held fixed; the target layers are the
modality's entries of ``model.target_layers``. CAM objects are always created in a ``with`` block so
their hooks are released, and the computation runs on the GPU when one is present.

>>> from ferbench.explain import list_cam_methods
>>> "gradcam" in list_cam_methods()
True
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ferbench.explain.saliency import ExplainError, _as_batch
from ferbench.registry import Registry

CAM_METHODS: Registry = Registry("CAM method")

# name -> (pytorch_grad_cam class name, needs one forward per sample: mask-based methods build
# their own batch of perturbed copies of one image)
_CAMS: dict[str, tuple[str, bool]] = {
    "gradcam": ("GradCAM", False),
    "gradcam++": ("GradCAMPlusPlus", False),
    "hirescam": ("HiResCAM", False),
    "layercam": ("LayerCAM", False),
    "xgradcam": ("XGradCAM", False),
    "eigencam": ("EigenCAM", False),
    "eigengradcam": ("EigenGradCAM", False),
    "gradcam_elementwise": ("GradCAMElementWise", False),
    "scorecam": ("ScoreCAM", True),
    "ablationcam": ("AblationCAM", True),
}


def _cam_factory(name: str, cls_name: str, per_sample: bool):
    def factory(**kwargs: Any):
        import pytorch_grad_cam

        return getattr(pytorch_grad_cam, cls_name)(**kwargs)

    factory.__name__ = name
    factory.__doc__ = f"pytorch_grad_cam.{cls_name}"
    factory.per_sample = per_sample  # type: ignore[attr-defined]
    return factory


for _n, (_c, _p) in _CAMS.items():
    CAM_METHODS.register(_n)(_cam_factory(_n, _c, _p))


def list_cam_methods(pattern: str = "*") -> list[str]:
    """Names of the registered CAM methods (``gradcam``, ``gradcam++``, ``scorecam``, ...)."""
    return CAM_METHODS.list(pattern)


def modality_channels(model, modality: str) -> slice:
    """Channel range of ``modality`` in the stacked input, from ``model.inputs``.

    Raises
    ------
    ExplainError
        The model has no ``inputs`` or no input called ``modality``.
    """
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ExplainError(f"{type(model).__name__} has no 'inputs' layout; cannot select modality {modality!r}")
    from ferbench.models._base import input_slices

    slices = input_slices(inputs)
    if modality in slices:
        return slices[modality]
    raise ExplainError(f"{type(model).__name__} has no input {modality!r}; inputs: "
                       f"{', '.join(n for n, _ in inputs)}")


class ModalityView(torch.nn.Module):
    """``model`` seen as a function of one modality's channels (the others fixed to ``context``).

    Parameters
    ----------
    model
        A model taking the full stacked tensor.
    context
        ``(B, C, H, W)`` or ``(1, C, H, W)`` full input supplying the fixed channels.
    channels
        The modality's channel slice.
    """

    def __init__(self, model: torch.nn.Module, context: torch.Tensor, channels: slice):
        super().__init__()
        self.model = model
        self.register_buffer("context", context.detach(), persistent=False)
        self.channels = channels

    def forward(self, xm: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        if ctx.shape[0] != xm.shape[0]:
            if ctx.shape[0] != 1:
                raise ExplainError(f"context batch {ctx.shape[0]} does not match input batch {xm.shape[0]}")
            ctx = ctx.expand(xm.shape[0], -1, -1, -1)  # mask-based CAMs batch perturbed copies of one image
        return self.model(torch.cat([ctx[:, :self.channels.start], xm, ctx[:, self.channels.stop:]], 1))


def _last_conv_name(model) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not names:
        raise ExplainError(f"{type(model).__name__} has no target_layers and no Conv2d layer for a CAM")
    return names[-1]


def resolve_target_layers(model, modality: str | None = None,
                          target_layers: Sequence[Any] | None = None) -> list:
    """The modules a CAM hooks: explicit ``target_layers`` (names or modules), else
    ``model.target_layers[modality]`` (all modalities when ``modality`` is None), else the last Conv2d.
    """
    if target_layers is not None:
        items = list(target_layers)
    else:
        table = getattr(model, "target_layers", None) or {}
        if modality is not None:
            if modality not in table:
                raise ExplainError(f"{type(model).__name__} has no target layers for modality {modality!r}; "
                                   f"known: {', '.join(table) or 'none'}")
            items = list(table[modality])
        elif table:
            items = [n for names in table.values() for n in names]
        else:
            items = [_last_conv_name(model)]
    mods = []
    for it in items:
        if isinstance(it, str):
            try:
                mods.append(model.get_submodule(it))
            except AttributeError:
                raise ExplainError(f"{type(model).__name__} has no submodule {it!r}") from None
        else:
            mods.append(it)
    if not mods:
        raise ExplainError("no target layers to compute a CAM on")
    return mods


def _cam_targets(targets, n: int):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if targets is None:
        return None
    if isinstance(targets, (int, np.integer)):
        targets = [int(targets)] * n
    targets = list(targets)
    if len(targets) != n:
        raise ExplainError(f"got {len(targets)} targets for a batch of {n}")
    return [ClassifierOutputTarget(int(t)) if isinstance(t, (int, np.integer)) else t for t in targets]


def cam_maps(model, x, method: str = "gradcam", targets=None, modality: str | None = None, *,
             target_layers: Sequence[Any] | None = None, device=None, aug_smooth: bool = False,
             eigen_smooth: bool = False, **cam_options: Any) -> np.ndarray:
    """Class activation maps ``(B, H, W)`` in [0, 1] at the input resolution.

    Parameters
    ----------
    model
        A ferbench model (or any CNN taking one ``(B, C, H, W)`` tensor and returning logits).
    x
        ``(B, C, H, W)`` stacked input.
    method
        A name from :func:`list_cam_methods`.
    targets
        Class per sample (int, sequence, or pytorch-grad-cam target objects); default = the
        predicted class.
    modality
        Explain one modality: its entries of ``model.target_layers`` are hooked and the CAM input
        is that modality's channel range (others fixed). ``None`` = every target layer of every
        modality (mean over layers, pytorch-grad-cam's aggregation) on the full input.
    target_layers
        Override: module names or modules.
    device
        Default: CUDA when present, else CPU. The model is moved there for the call and moved back.
    aug_smooth, eigen_smooth, **cam_options
        Passed to pytorch-grad-cam.

    Returns
    -------
    numpy.ndarray
        float32 ``(B, H, W)``; each map min-max scaled by pytorch-grad-cam to [0, 1].
    """
    from ferbench._device import default_device

    factory = CAM_METHODS.get(method)
    x = _as_batch(x)
    layers = resolve_target_layers(model, modality, target_layers)
    channels = None
    if modality is not None and any(n == modality for n, _ in getattr(model, "inputs", ())):
        channels = modality_channels(model, modality)
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().reshape(-1).tolist()
    if isinstance(targets, np.ndarray):
        targets = targets.reshape(-1).tolist()
    if isinstance(targets, (list, tuple)) and len(targets) != x.shape[0]:
        raise ExplainError(f"got {len(targets)} targets for a batch of {x.shape[0]}")
    dev = default_device(device)
    try:
        home = next(model.parameters()).device
    except StopIteration:
        home = dev
    was_training = model.training
    per_sample = getattr(factory, "per_sample", False)
    chunks = [slice(i, i + 1) for i in range(x.shape[0])] if per_sample else [slice(0, x.shape[0])]
    out = []
    model.to(dev)
    try:
        with torch.enable_grad():
            for sl in chunks:
                xb = x[sl].to(dev)
                net, inp = model, xb
                if channels is not None:
                    net, inp = ModalityView(model, xb, channels), xb[:, channels]
                tg = _cam_targets(targets[sl] if isinstance(targets, (list, tuple)) else targets, inp.shape[0])
                res = None
                # `with` releases the forward hooks even when the CAM raises
                with factory(model=net, target_layers=layers, **cam_options) as cam:
                    res = cam(input_tensor=inp, targets=tg, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)
                if res is None:  # pytorch-grad-cam's __exit__ swallows IndexError
                    raise ExplainError(f"{method} failed on {type(model).__name__} (IndexError inside the CAM)")
                out.append(np.asarray(res, dtype=np.float32))
    finally:
        model.to(home)
        model.train(was_training)
    maps = np.concatenate(out, axis=0)
    return np.clip(np.nan_to_num(maps, nan=0.0), 0.0, 1.0).astype(np.float32)


def cam_maps_per_modality(model, x, method: str = "gradcam", targets=None, **kwargs: Any) -> dict[str, np.ndarray]:
    """``{modality: (B, H, W)}`` for every modality in ``model.target_layers``."""
    table = getattr(model, "target_layers", None) or {}
    if not table:
        return {"all": cam_maps(model, x, method, targets, **kwargs)}
    return {m: cam_maps(model, x, method, targets, modality=m, **kwargs) for m in table}
