"""Feature embeddings for t-SNE: any model's feature layer (or any named layer), a Gabor bank
(DF-CNN Fig. 5a's handcrafted feature) and scikit-learn's t-SNE with the spec's recipe
(dfcnn.md §8 Fig. 5: PCA to 50 dimensions first, ``TSNE(n_components=2, perplexity=30,
init="pca", random_state=seed)``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ferbench.explain.saliency import ExplainError, _as_batch, _model_device


def layer_features(model, x, layer: str | None = None, batch_size: int = 32, device=None) -> np.ndarray:
    """Flattened output of one layer for every sample, ``(N, D)`` float64.

    Parameters
    ----------
    model
        A model taking ``(B, C, H, W)``.
    x
        ``(N, C, H, W)`` tensor/array.
    layer
        Dotted module name; default ``model.feature_layer`` (the embedding), falling back to
        ``model.forward_features`` when the model has no ``feature_layer``.
        A layer run on ``k * B`` rows (e.g. DF-CNN's shared trunk sees the six maps as 6B images,
        sample-major) is regrouped to ``(B, k * ...)``: the per-map features concatenated, as in
        DF-CNN Fig. 5b (vgg-net-m conv5 of the six maps, 110,592-D after ``pool5``).
    batch_size
        Samples per forward pass.
    device
        Default: the model's device (the model is moved there for the call and back).
    """
    import torch

    from ferbench._device import default_device

    x = _as_batch(x)
    home = _model_device(model)
    dev = home if device is None else default_device(device)
    name = layer if layer is not None else getattr(model, "feature_layer", None)
    module = None
    if name is not None:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ExplainError(f"{type(model).__name__} has no layer {name!r}") from None
    elif not hasattr(model, "forward_features"):
        raise ExplainError(f"{type(model).__name__} has neither feature_layer nor forward_features")
    grabbed: list = []
    handle = None
    if module is not None:
        handle = module.register_forward_hook(lambda m, i, o: grabbed.append(o.detach()))
    was_training = model.training
    model.to(dev)  # moved back in `finally`
    model.eval()
    feats = []
    try:
        with torch.no_grad():
            for i in range(0, x.shape[0], int(batch_size)):
                xb = x[i:i + int(batch_size)].to(dev)
                grabbed.clear()
                if module is None:
                    f = model.forward_features(xb)
                else:
                    model(xb)
                    if not grabbed:
                        raise ExplainError(f"layer {name!r} was not run by the forward pass")
                    f = grabbed[-1]
                if f.shape[0] % xb.shape[0]:
                    raise ExplainError(f"layer {name!r} output batch {f.shape[0]} is not a multiple of {xb.shape[0]}")
                feats.append(f.reshape(xb.shape[0], -1).double().cpu().numpy())
    finally:
        if handle is not None:
            handle.remove()
        model.to(home)
        model.train(was_training)
    return np.concatenate(feats, 0)


def gabor_bank(n_scales: int = 5, n_orientations: int = 8, size: int = 31) -> np.ndarray:
    """Real (even) Gabor kernels ``(n_scales * n_orientations, size, size)``, zero mean, unit L1.

    Wavelengths grow by sqrt(2) per scale from 4 px, sigma = 0.56 * wavelength
    (one-octave bandwidth), orientations evenly spaced over [0, pi).
    """
    r = np.arange(size) - size // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    lam = 4.0 * np.sqrt(2.0) ** np.arange(n_scales)                    # (S,)
    th = np.pi * np.arange(n_orientations) / n_orientations             # (O,)
    xr = xx[None, None] * np.cos(th)[None, :, None, None] + yy[None, None] * np.sin(th)[None, :, None, None]
    yr = -xx[None, None] * np.sin(th)[None, :, None, None] + yy[None, None] * np.cos(th)[None, :, None, None]
    sig = 0.56 * lam[:, None, None, None]
    k = np.exp(-(xr ** 2 + yr ** 2) / (2 * sig ** 2)) * np.cos(2 * np.pi * xr / lam[:, None, None, None])
    k = k - k.mean(axis=(-2, -1), keepdims=True)
    k = k / np.abs(k).sum(axis=(-2, -1), keepdims=True)
    return k.reshape(-1, size, size)


def gabor_features(maps, n_scales: int = 5, n_orientations: int = 8, grid: tuple[int, int] = (14, 12),
                   kernel_size: int = 31, chunk: int = 16) -> np.ndarray:
    """Gabor magnitude features of every channel, concatenated: ``(N, C * S * O * gh * gw)``.

    The spec's recommendation for DF-CNN's Gabor baseline (dfcnn.md §6.1): 5 scales x 8
    orientations, responses average-pooled to a 14 x 12 grid = 6,720-D per map (40,320-D for the six
    maps). Correlation by FFT (same result as ``conv2d`` on the replicate-padded map); ``chunk``
    samples at a time bound the memory.
    """
    import torch
    import torch.nn.functional as F

    x = _as_batch(maps).double()
    bank = torch.from_numpy(gabor_bank(n_scales, n_orientations, kernel_size))[:, None]  # (F,1,k,k)
    out = []
    pad = kernel_size // 2
    for i in range(0, x.shape[0], int(chunk)):
        xb = x[i:i + int(chunk)]
        B, C, H, W = xb.shape
        flat = F.pad(xb.reshape(B * C, 1, H, W), (pad, pad, pad, pad), mode="replicate")
        ph, pw = flat.shape[-2:]
        # circular FFT correlation on the padded image; the valid H x W window has no wrap-around
        spec = torch.fft.rfft2(flat, s=(ph, pw)) * torch.fft.rfft2(bank.flip(-2, -1)[:, 0], s=(ph, pw))[None]
        full = torch.fft.irfft2(spec, s=(ph, pw))                         # (B*C, F, ph, pw)
        k = kernel_size - 1
        resp = full[..., k:k + H, k:k + W].abs()                           # == conv2d(flat, bank), (B*C, F, H, W)
        pooled = F.adaptive_avg_pool2d(resp, grid)
        out.append(pooled.reshape(B, -1).numpy())
    return np.concatenate(out, 0)


def tsne_embedding(features, perplexity: float = 30.0, random_state: int = 0, pca_dims: int | None = 50,
                   standardize: bool = False, **tsne_options: Any) -> np.ndarray:
    """2-D t-SNE of ``(N, D)`` features (scikit-learn), reproducible from ``random_state``.

    High-dimensional inputs are first reduced with PCA to ``pca_dims`` (as scikit-learn's docs
    advise). The perplexity is capped at ``(N - 1) / 3`` (scikit-learn needs it below N; the cap
    keeps the neighbourhood meaningful on small sets) -- the value used is not reported back, so pass
    a valid one when it matters.

    Raises
    ------
    ExplainError
        Fewer than 4 samples, a non-2-D array, or NaN/inf values.
    """
    from sklearn.manifold import TSNE

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ExplainError(f"features must be (N, D), got shape {f.shape}")
    if f.shape[0] < 4:
        raise ExplainError(f"t-SNE needs at least 4 samples, got {f.shape[0]}")
    if not np.isfinite(f).all():
        raise ExplainError("features contain NaN or infinite values")
    if standardize:
        sd = f.std(0)
        f = (f - f.mean(0)) / np.where(sd > 0, sd, 1.0)
    if pca_dims is not None and f.shape[1] > pca_dims and f.shape[0] > pca_dims:
        from sklearn.decomposition import PCA

        f = PCA(n_components=int(pca_dims), random_state=random_state).fit_transform(f)
    perp = float(min(perplexity, max(1.0, (f.shape[0] - 1) / 3.0)))
    opts = {"n_components": 2, "perplexity": perp, "init": "pca", "learning_rate": "auto",
            "random_state": random_state, **tsne_options}
    return TSNE(**opts).fit_transform(f)
