"""Input-gradient saliency, including DF-CNN's SVM-weighted saliency (Li et al. 2017, eqs. 14-15).

Eq. (14): the score of expression ``e`` is ``S(I | e) = w_e^T f(I)`` with ``f`` the 32-d fused
feature and ``w_e`` the weight vector of the trained linear SVM. Eq. (15): the saliency of pixel
``x`` is ``G(x) = sum over the six (pixel-aligned) attribute maps of w_e^T df/dI(x)``. ferbench
(docs/dfcnn.md §8 Fig. 6, §9 #31) sums the signed gradients over all stacked input channels (the six
maps and their colour channels), takes ``|G|`` and min-max scales each image to [0, 1]. The display
blends ``s * texture + (1 - s) * dark_blue`` with dark blue = RGB (0, 0, 0.35).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ferbench.errors import FerbenchError

DARK_BLUE: tuple[float, float, float] = (0.0, 0.0, 0.35)
"""Background colour of DF-CNN's saliency display (docs/dfcnn.md §9 #31)."""


class ExplainError(FerbenchError, ValueError):
    """An explainer was called with inputs or a model it cannot handle."""


def _as_batch(x):
    import torch

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ExplainError(f"expected a tensor or array of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] < 1:
        raise ExplainError(f"expected x of shape (B, C, H, W), got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    if not torch.isfinite(x).all():
        raise ExplainError("x contains NaN or infinite values")
    return x


def _model_device(model):
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _targets(targets, n: int, default) -> "np.ndarray":
    if targets is None:
        return np.asarray(default, dtype=np.int64)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    if t.size == 1:
        t = np.repeat(t, n)
    if t.size != n:
        raise ExplainError(f"got {t.size} targets for a batch of {n}")
    return t


def svm_weights(svm: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """Return ``(coef (K, D), intercept (K,) or None, scaler)`` of a linear classifier.

    Accepts an sklearn linear model with ``coef_`` (e.g. ``LinearSVC``), ferbench's ``DFCNNSVM``
    (``.svm_`` plus its feature scaling) or a plain ``(K, D)`` array. ``scaler`` is ``None``,
    ``("standardize", mean, scale)`` or ``("l2",)``: the feature transform applied before the SVM.
    """
    scaler = None
    inner = svm
    if hasattr(svm, "svm_"):  # ferbench.models.dfcnn.DFCNNSVM
        inner = svm.svm_
        mode = getattr(svm, "feature_scaling", "none")
        if mode == "standardize" and hasattr(svm, "mean_"):
            scaler = ("standardize", np.asarray(svm.mean_, float), np.asarray(svm.scale_, float))
        elif mode == "l2":
            scaler = ("l2",)
    if hasattr(inner, "coef_"):
        coef = np.atleast_2d(np.asarray(inner.coef_, dtype=np.float64))
        icpt = getattr(inner, "intercept_", None)
        icpt = None if icpt is None else np.broadcast_to(np.asarray(icpt, float), coef.shape[:1]).copy()
        if coef.shape[0] == 1 and len(getattr(inner, "classes_", ())) == 2:
            # binary sklearn models store one vector: score(class 1) = w.f + b, score(class 0) = -(w.f + b)
            coef = np.vstack([-coef, coef])
            icpt = None if icpt is None else np.concatenate([-icpt, icpt])
    else:
        coef, icpt = np.atleast_2d(np.asarray(svm, dtype=np.float64)), None
    if coef.ndim != 2 or not np.isfinite(coef).all():
        raise ExplainError(f"SVM weights must be a finite (K, D) matrix, got shape {coef.shape}")
    return coef, icpt, scaler


def input_gradients(model, x, score_fn, targets=None, device=None):
    """Gradient of a per-sample class score with respect to the input.

    Parameters
    ----------
    model
        A ``torch.nn.Module`` (set to eval mode for the call, restored afterwards).
    x
        ``(B, C, H, W)`` tensor or array.
    score_fn
        ``score_fn(model, x) -> (B, K)`` class scores (differentiable in ``x``).
    targets
        Class per sample (int or sequence); default = argmax of the scores.
    device
        Where to compute (default: the model's device; the model is moved there for the call and back).

    Returns
    -------
    grad : numpy.ndarray
        ``(B, C, H, W)`` float64 gradient d score[b, target[b]] / d x[b].
    targets : numpy.ndarray
        The classes used.
    scores : numpy.ndarray
        ``(B, K)`` scores.
    """
    import torch

    from ferbench._device import default_device

    x = _as_batch(x)
    home = _model_device(model)
    dev = home if device is None else default_device(device)
    xg = x.detach().to(dev).clone().requires_grad_(True)
    was_training = model.training
    model.to(dev)  # moved back in `finally`
    model.eval()
    try:
        with torch.enable_grad():
            scores = score_fn(model, xg)
            if scores.ndim != 2 or scores.shape[0] != x.shape[0]:
                raise ExplainError(f"score function returned shape {tuple(scores.shape)}, expected (B, K)")
            t = _targets(targets, x.shape[0], scores.detach().argmax(1).cpu().numpy())
            if (t < 0).any() or (t >= scores.shape[1]).any():
                raise ExplainError(f"targets must lie in [0, {scores.shape[1]}), got {t.tolist()}")
            # samples are independent in eval mode, so one backward of the sum gives every per-sample gradient
            picked = scores.gather(1, torch.as_tensor(t, device=scores.device)[:, None]).sum()
            (grad,) = torch.autograd.grad(picked, xg)
    finally:
        model.to(home)
        model.train(was_training)
    return grad.detach().double().cpu().numpy(), t, scores.detach().double().cpu().numpy()


def _normalise(g: np.ndarray) -> np.ndarray:
    """Per-image min-max to [0, 1]; a constant image maps to zeros."""
    lo = g.min(axis=(-2, -1), keepdims=True)
    rng = g.max(axis=(-2, -1), keepdims=True) - lo
    return np.where(rng > 0, (g - lo) / np.where(rng > 0, rng, 1.0), 0.0)


def svm_saliency(model, x, svm, targets=None, *, feature_fn=None, normalize: bool = True,
                 return_signed: bool = False, device=None):
    """DF-CNN saliency (eqs. 14-15): SVM-weighted gradient of the fused feature w.r.t. the input.

    Parameters
    ----------
    model
        A model with ``forward_features(x) -> (B, D)`` (DF-CNN: the 32-d fused feature).
    x
        ``(B, C, H, W)``: the stacked attribute maps (all six maps are pixel-aligned).
    svm
        Linear SVM on the features: ``LinearSVC`` (``coef_`` ``(6, 32)``), ``DFCNNSVM`` or a
        ``(K, D)`` weight array.
    targets
        Expression per sample (label index); default = the SVM's prediction.
    feature_fn
        ``feature_fn(model, x) -> (B, D)``; default ``model.forward_features``.
    normalize
        Min-max scale each ``|G|`` to [0, 1] (paper display); otherwise return ``|G|`` raw.
    return_signed
        Also return the signed ``G`` (before abs and scaling).

    Returns
    -------
    numpy.ndarray
        ``(B, H, W)`` saliency; with ``return_signed`` a tuple ``(saliency, G, targets)``.
    """
    coef, icpt, scaler = svm_weights(svm)
    ffn = feature_fn or (lambda m, inp: m.forward_features(inp))

    def score(m, inp):
        f = ffn(m, inp)
        if f.ndim != 2 or f.shape[1] != coef.shape[1]:
            raise ExplainError(f"feature of shape {tuple(f.shape)} does not match SVM weights {coef.shape}")
        if scaler is not None and scaler[0] == "standardize":
            f = (f - f.new_tensor(scaler[1])) / f.new_tensor(scaler[2])
        elif scaler is not None:
            f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
        s = f @ f.new_tensor(coef).T  # eq. (14); the intercept does not change the gradient
        return s if icpt is None else s + f.new_tensor(icpt)

    grad, t, _ = input_gradients(model, x, score, targets, device)
    signed = grad.sum(axis=1)  # eq. (15): sum over the six maps (and their colour channels)
    sal = np.abs(signed)
    sal = _normalise(sal) if normalize else sal
    return (sal, signed, t) if return_signed else sal


def gradient_saliency(model, x, targets=None, *, channels: slice | Sequence[int] | None = None,
                      normalize: bool = True, device=None):
    """Vanilla input-gradient saliency of the logit of ``targets`` (any model), ``(B, H, W)`` in [0, 1].

    ``channels`` restricts the sum to one modality's channel range (see
    :func:`ferbench.explain.cam.modality_channels`); the absolute value is taken after summing.
    """
    grad, _, _ = input_gradients(model, x, lambda m, inp: m(inp), targets, device)
    if channels is not None:
        grad = grad[:, channels]
    sal = np.abs(grad.sum(axis=1))
    return _normalise(sal) if normalize else sal


def saliency_overlay(texture, saliency, background: Sequence[float] = DARK_BLUE) -> np.ndarray:
    """Blend ``s * texture + (1 - s) * background`` (DF-CNN Fig. 6 display).

    Parameters
    ----------
    texture
        ``(H, W, 3)`` or ``(H, W)`` image, uint8 (0-255) or float in [0, 1].
    saliency
        ``(h, w)`` map in [0, 1]; resized (bilinear) to the texture's size when they differ.
    background
        RGB in [0, 1] shown where the saliency is 0.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float image in [0, 1].
    """
    tex = np.asarray(texture)
    if tex.ndim == 2:
        tex = np.repeat(tex[..., None], 3, axis=-1)
    if tex.ndim != 3 or tex.shape[-1] not in (3, 4):
        raise ExplainError(f"texture must be (H, W, 3) or (H, W), got shape {tex.shape}")
    tex = tex[..., :3].astype(np.float64)
    if np.asarray(texture).dtype == np.uint8:
        tex = tex / 255.0
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ExplainError(f"saliency must be (H, W), got shape {s.shape}")
    if s.shape != tex.shape[:2]:
        s = resize_map(s, tex.shape[:2])
    s = np.clip(np.nan_to_num(s), 0.0, 1.0)[..., None]
    bg = np.asarray(background, dtype=np.float64).reshape(1, 1, 3)
    return np.clip(s * tex + (1.0 - s) * bg, 0.0, 1.0)


def resize_map(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(..., h, w)`` maps to ``size = (H, W)`` (align_corners=False, like CAM upsampling)."""
    import torch

    a = np.asarray(m, dtype=np.float64)
    lead = a.shape[:-2]
    t = torch.from_numpy(a.reshape(-1, 1, *a.shape[-2:]))
    out = torch.nn.functional.interpolate(t, size=tuple(int(v) for v in size), mode="bilinear",
                                          align_corners=False)
    return out.numpy().reshape(*lead, *out.shape[-2:])
