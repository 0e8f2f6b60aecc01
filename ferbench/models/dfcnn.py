"""DF-CNN (Li et al., IEEE TMM 2017): deep fusion CNN over six 2D facial attribute maps.

Method notes: ``docs/dfcnn.md`` §4-§5, §9. Architecture (spec §4.1): one VGG-M conv1-conv5
trunk shared by the six maps (geometry, normal_x, normal_y, normal_z, shape_index, texture),
each turned into a 224x224x3 image; the six 6x6x512 volumes are concatenated (map index = slow
channel index) into 6x6x3,072, fused by Fusion7 (1x1 conv -> 32, ReLU) and Fusion8 (6x6 conv ->
32, ReLU) into the 32-d fused deep feature, then FC -> 6 and softmax. Prediction by softmax
(DF-CNN_softmax) or by a linear SVM on the 32-d feature (:class:`DFCNNSVM`, DF-CNN_svm).
Parameters: 6,664,070 shared, 39,307,270 unshared (DF-CNNa), both at 224x224.

Recorded choices (spec's [R] recommendations unless stated):
* LRN(size 5, alpha 5e-4, beta 0.75, k 2) after conv1/conv2; all max-pools 3x3/2 in ceil mode so
  pool2 gives 13x13 and pool5 6x6 (§4.1).
* Map -> 3 channels inside the model ("gray3", §3.5 / §9 #11): a 1-channel map is replicated;
  the RGB texture is converted to BT.601 luma and replicated (``texture_mode="gray"``, §9 #13)
  or used as is (``texture_mode="rgb"``). Scaling / mean subtraction belong to the data pipeline.
* Input normalisation inside the model (§3.5 #5; the data pipeline delivers maps in [0, 1]):
  ``input_norm="unit"`` (default) = ``(x - mean/255) / 0.25``, ImageNet mean subtraction on the
  [0, 1] scale, then about unit spread (0.25 ~ 64/255), for the random-init trunk;
  ``"imagenet255"`` = ``255 x - mean`` (the VGG-M convention, set by :func:`load_vggm_mat`);
  ``"none"`` = maps as given. mean = (123.68, 116.779, 103.939).
* Trunk initialised Kaiming-normal **fan_in** (variance-preserving forward; random initialisation,
  since the ImageNet VGG-M weights cannot be downloaded: §4.4). A local MatConvNet
  ``imagenet-vgg-m.mat`` or a state dict can be loaded (:func:`load_vggm_mat`).
* Fusion7/Fusion8: ``fusion_init="he"`` (default; Kaiming-normal fan_in, zero bias, the spec's
  §4.2 "option Xavier/He"; FC stays N(0, 0.01^2) so the initial logits are small and Adam 1e-3
  does not overshoot) or ``"gauss"`` = all three N(0, 0.01^2), zero bias (§9 #8, MatConvNet style, meant
  for the pretrained trunk whose conv5 activations are O(10-100)). Why not "gauss" by default: with
  a random trunk (and the former fan_out trunk init on raw [0, 1] maps) the signal shrank ~1e4x
  through the net: logits ~6e-5, gradients ~1e-3, so the loss sat at exactly ln 6 under
  SGD 1e-4..1e-2 and Adam 1e-3. Use ``input_norm="imagenet255", fusion_init="gauss"`` for the
  paper's setting with pretrained VGG-M weights.
* ``trunk_norm="lrn"`` (default, the paper's VGG-M) or ``"batch"``: BatchNorm after every conv, no LRN
  (ferbench's choice for training from random initialisation: on a few hundred synthetic scans the LRN
  trunk's loss stays at ln 6 for 10+ epochs under Adam 1e-4..1e-3, while the BN trunk learns in a few CPU
  minutes; ``ferbench demo`` uses it and says so). Conv shapes are unchanged (+3,776 BN parameters).
* The 32-d feature is read after Fusion8's ReLU (``feature_point="post_relu"``, §9 #24);
  ``"pre_relu"`` is an option. Fused-dimension variants set K7 = K8 = ``fused_dim`` (§9 #25).
* ``freeze_trunk=True`` = the "pure fusion learning" variant (DF-CNN-in-conv5, Table XII).
* Input sizes other than 224 are allowed (for fast tests); Fusion8's kernel then equals the
  trunk's output size, so the parameter count changes.
* Grad-CAM targets: per map, an identity tap on the trunk's conv5 (post-ReLU, 13x13) output.
* SVM: sklearn ``LinearSVC(C=1, squared hinge, dual=True)``, the nearest LIBLINEAR default
  (§5); ``fit_intercept=False`` gives LIBLINEAR's no-bias default.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ferbench.errors import ModelAssetError
from ferbench.models._base import FERModel, ModelConfigError, conv_out

from ferbench.models.cfgs import DFCNN_MAPS  # noqa: E402  (the configurations own the map order)
LUMA = (0.299, 0.587, 0.114)
IMAGENET_MEAN = (123.68, 116.779, 103.939)
INPUT_NORMS = ("unit", "imagenet255", "none")


def vggm_trunk(norm: str = "lrn") -> nn.Sequential:
    """VGG-M conv1-conv5 (+ReLU, LRN after conv1/conv2, pools after conv1/conv2); pool5 is separate.

    ``norm="batch"`` puts a BatchNorm after every conv (before its ReLU) and drops the two LRNs:
    the trunk to train from random initialisation on a small dataset (the LRN trunk, built for the
    ImageNet-pretrained weights, stays at chance on a few hundred synthetic scans; see the module
    docstring). Conv layer names and shapes are the same, so VGG-M weights load into either.
    """
    if norm not in ("lrn", "batch"):
        raise ModelConfigError(f"trunk_norm must be 'lrn' or 'batch', got {norm!r}")

    def lrn():
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)

    def block(i: int, conv: nn.Conv2d) -> list[tuple[str, nn.Module]]:
        if norm == "batch":
            return [(f"conv{i}", conv), (f"bn{i}", nn.BatchNorm2d(conv.out_channels)), (f"relu{i}", nn.ReLU(inplace=True))]
        layers = [(f"conv{i}", conv), (f"relu{i}", nn.ReLU(inplace=True))]
        return layers + ([(f"norm{i}", lrn())] if i in (1, 2) else [])

    return nn.Sequential(OrderedDict(
        block(1, nn.Conv2d(3, 96, 7, stride=2)) + [("pool1", nn.MaxPool2d(3, 2, ceil_mode=True))]
        + block(2, nn.Conv2d(96, 256, 5, stride=2, padding=1)) + [("pool2", nn.MaxPool2d(3, 2, ceil_mode=True))]
        + block(3, nn.Conv2d(256, 512, 3, padding=1)) + block(4, nn.Conv2d(512, 512, 3, padding=1))
        + block(5, nn.Conv2d(512, 512, 3, padding=1))))


def vggm_sizes(size: int) -> dict[str, int]:
    """Spatial size after each VGG-M stage for a square input (224 -> 109/54/26/13/13/6)."""
    s = {"conv1": conv_out(size, 7, 2)}
    s["pool1"] = conv_out(s["conv1"], 3, 2, ceil=True)
    s["conv2"] = conv_out(s["pool1"], 5, 2, 1)
    s["pool2"] = conv_out(s["conv2"], 3, 2, ceil=True)
    s["conv5"] = s["pool2"]
    s["pool5"] = conv_out(s["conv5"], 3, 2, ceil=True)
    return s


class DFCNN(FERModel):
    """DF-CNN with a shared (default) or unshared (DF-CNNa) VGG-M trunk.

    Parameters
    ----------
    n_classes
        Number of expressions (6).
    input_size
        Side of each map image (224 in the paper; >= 67 so pool5 is at least 1x1).
    shared
        One trunk for all six maps (DF-CNN) or six trunks (DF-CNNa).
    fused_dim
        K7 = K8, the fused feature size (32; 16/64 variants).
    map_channels
        Channels of each non-texture map in the stacked input (1 = replicated to 3, or 3).
    texture_mode
        ``"gray"`` (luma replicated) or ``"rgb"``.
    feature_point
        ``"post_relu"`` (paper) or ``"pre_relu"`` for the 32-d feature.
    freeze_trunk
        Keep the trunk fixed (only the fusion subnet and FC train).
    input_norm
        ``"unit"``, ``"imagenet255"`` or ``"none"`` (see the module docstring).
    fusion_init
        ``"he"`` (Fusion7/Fusion8 Kaiming, FC N(0, 0.01^2)) or ``"gauss"`` (all N(0, 0.01^2)).
    trunk_norm
        ``"lrn"`` (paper's VGG-M) or ``"batch"`` (BatchNorm after every conv, no LRN; for training
        from random initialisation, see the module docstring).
    """

    paper = "dfcnn"

    def __init__(self, n_classes: int = 6, input_size: int | None = None, shared: bool = True,
                 fused_dim: int = 32, map_channels: int = 1, texture_mode: str = "gray",
                 feature_point: str = "post_relu", freeze_trunk: bool = False,
                 input_norm: str = "unit", fusion_init: str = "he", trunk_norm: str = "lrn"):
        input_size = 224 if input_size is None else int(input_size)
        if map_channels not in (1, 3):
            raise ModelConfigError(f"map_channels must be 1 or 3, got {map_channels}")
        if texture_mode not in ("gray", "rgb"):
            raise ModelConfigError(f"texture_mode must be 'gray' or 'rgb', got {texture_mode!r}")
        if feature_point not in ("post_relu", "pre_relu"):
            raise ModelConfigError(f"feature_point must be 'post_relu' or 'pre_relu', got {feature_point!r}")
        if input_norm not in INPUT_NORMS:
            raise ModelConfigError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")
        if fusion_init not in ("he", "gauss"):
            raise ModelConfigError(f"fusion_init must be 'he' or 'gauss', got {fusion_init!r}")
        sizes = vggm_sizes(input_size)
        if sizes["pool5"] < 1:
            raise ModelConfigError(f"input_size {input_size} too small for VGG-M (need >= 67)")
        inputs = tuple((m, 3 if m == "texture" else map_channels) for m in DFCNN_MAPS)
        super().__init__(inputs, input_size, n_classes)
        self.shared, self.fused_dim = bool(shared), int(fused_dim)
        self.texture_mode, self.feature_point = texture_mode, feature_point
        self.input_norm, self.fusion_init, self.trunk_norm = input_norm, fusion_init, trunk_norm
        self.map_names = DFCNN_MAPS
        self.grid = sizes["pool5"]
        if self.shared:
            self.trunk = vggm_trunk(trunk_norm)
        else:
            self.trunks = nn.ModuleDict({m: vggm_trunk(trunk_norm) for m in DFCNN_MAPS})
        self.taps = nn.ModuleDict({m: nn.Identity() for m in DFCNN_MAPS})
        self.pool5 = nn.MaxPool2d(3, 2, ceil_mode=True)
        n = len(DFCNN_MAPS)
        self.fusion7 = nn.Sequential(OrderedDict([("conv", nn.Conv2d(512 * n, fused_dim, 1)),
                                                  ("relu", nn.ReLU(inplace=True))]))
        self.fusion8 = nn.Conv2d(fused_dim, fused_dim, self.grid)
        self.embed = nn.Flatten(1)
        self.fc = nn.Linear(fused_dim, n_classes)
        self._init_weights()
        self.freeze_trunk = bool(freeze_trunk)
        if self.freeze_trunk:
            for p in self.trunk_parameters():
                p.requires_grad_(False)
        self.feature_layer = "embed"
        self.target_layers = {m: [f"taps.{m}"] for m in DFCNN_MAPS}

    def _init_weights(self) -> None:
        for name, mod in self.named_modules():
            if isinstance(mod, nn.Conv2d) and name.startswith("trunk"):
                nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(mod.bias)
        for mod in (self.fusion7.conv, self.fusion8, self.fc):
            if self.fusion_init == "he" and mod is not self.fc:
                nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.normal_(mod.weight, 0.0, 0.01)
            nn.init.zeros_(mod.bias)

    def trunk_parameters(self):
        """Parameters of the VGG-M trunk(s)."""
        return list((self.trunk if self.shared else self.trunks).parameters())

    def _to_rgb3(self, name: str, t: torch.Tensor) -> torch.Tensor:
        if name == "texture":
            if self.texture_mode == "rgb":
                return t
            w = torch.tensor(LUMA, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
            return (t * w).sum(1, keepdim=True).expand(-1, 3, -1, -1)
        return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t

    def _normalise(self, t: torch.Tensor) -> torch.Tensor:
        """Apply ``input_norm`` to a 3-channel [0, 1] map image."""
        if self.input_norm == "none":
            return t
        mean = torch.tensor(IMAGENET_MEAN, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
        if self.input_norm == "imagenet255":
            return t * 255.0 - mean
        return (t - mean / 255.0) / 0.25

    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Return logits, the 32-d ``features``, the fused ``fusion7`` map and per-map conv5 volumes."""
        maps = self.split_inputs(x)
        B = x.shape[0]
        imgs = [self._normalise(self._to_rgb3(m, maps[m])) for m in DFCNN_MAPS]
        if self.shared:
            vol = self.trunk(torch.stack(imgs, 1).flatten(0, 1))          # (6B, 512, h, w)
            vol = vol.view(B, len(imgs), *vol.shape[1:])
            conv5 = [self.taps[m](vol[:, i]) for i, m in enumerate(DFCNN_MAPS)]
        else:
            conv5 = [self.taps[m](self.trunks[m](img)) for m, img in zip(DFCNN_MAPS, imgs)]
        pooled = self.pool5(torch.stack(conv5, 1).flatten(0, 1))          # (6B, 512, 6, 6)
        reshape6 = pooled.view(B, -1, *pooled.shape[-2:])                 # map index = slow channel index
        f7 = self.fusion7(reshape6)
        f8 = self.fusion8(f7)
        f8_relu = F.relu(f8)
        feats = self.embed(f8_relu if self.feature_point == "post_relu" else f8)
        logits = self.fc(f8_relu.flatten(1))
        return {"logits": logits, "features": feats, "fusion7": f7, "reshape6": reshape6}


def build_dfcnn(n_classes: int = 6, input_size: int | None = None, **options) -> DFCNN:
    """DF-CNN with the shared trunk (registry name ``"dfcnn"``)."""
    return DFCNN(n_classes=n_classes, input_size=input_size, shared=True, **options)


def build_dfcnn_unshared(n_classes: int = 6, input_size: int | None = None, **options) -> DFCNN:
    """DF-CNNa: six unshared trunks (registry name ``"dfcnn_unshared"``)."""
    return DFCNN(n_classes=n_classes, input_size=input_size, shared=False, **options)


# ----------------------------------------------------------------------------- weights
def load_vggm_mat(model: DFCNN, path: str | os.PathLike) -> list[str]:
    """Load conv1-conv5 of a MatConvNet ``imagenet-vgg-m.mat`` (simplenn format) into every trunk.

    Filters are stored H x W x C_in x C_out and permuted with (3, 2, 0, 1). The first five
    ``conv`` layers of ``layers`` are used (fc6-fc8 are convs in MatConvNet too and are skipped).
    Returns the names of the loaded trunk layers.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(os.fspath(path), squeeze_me=True, struct_as_record=False)
    except Exception as e:
        raise ModelAssetError(f"{path}: not a readable .mat file ({type(e).__name__}: {e})") from None
    layers = mat.get("layers")
    if layers is None and "net" in mat:
        layers = getattr(mat["net"], "layers", None)
    if layers is None:
        raise ModelAssetError(f"{path}: no 'layers' entry (expected a MatConvNet simplenn model)")
    convs = [ly for ly in np.atleast_1d(layers) if str(getattr(ly, "type", "")) == "conv"][:5]
    names = ["conv1", "conv2", "conv3", "conv4", "conv5"]
    if len(convs) < 5:
        raise ModelAssetError(f"{path}: found {len(convs)} conv layers, need 5")
    trunks = [model.trunk] if model.shared else list(model.trunks.values())
    with torch.no_grad():
        for name, ly in zip(names, convs):
            w_b = np.atleast_1d(getattr(ly, "weights", None))
            if w_b is None or len(w_b) < 2:
                raise ModelAssetError(f"{path}: layer {name} has no [weights, bias] pair")
            w = torch.from_numpy(np.asarray(w_b[0], dtype=np.float32)).permute(3, 2, 0, 1)
            b = torch.from_numpy(np.asarray(w_b[1], dtype=np.float32).reshape(-1))
            for tr in trunks:
                conv = getattr(tr, name)
                if tuple(w.shape) != tuple(conv.weight.shape) or b.numel() != conv.bias.numel():
                    raise ModelAssetError(f"{path}: {name} has shape {tuple(w.shape)}, "
                                          f"expected {tuple(conv.weight.shape)}")
                conv.weight.copy_(w)
                conv.bias.copy_(b)
    model.input_norm = "imagenet255"  # VGG-M expects [0, 255] minus the mean (§3.5 #5)
    model.init_note = f"trunk from {os.fspath(path)} (MatConvNet VGG-M); fusion layers random"
    return names


# ----------------------------------------------------------------------------- SVM path
def extract_features(model: FERModel, data, batch_size: int = 64, device=None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Embeddings ``(N, D)`` of ``data`` with ``model.forward_features`` (eval mode, no grad).

    ``data`` is an array/tensor ``(N, C, H, W)`` or an iterable of ``x`` or ``(x, y, ...)`` batches.
    Returns ``(features, labels)``; labels are ``None`` when the batches carry none.
    """
    from ferbench._device import default_device

    dev = next(model.parameters()).device if device is None else default_device(device)
    was_training = model.training
    model.eval()
    feats, labels = [], []
    try:
        with torch.no_grad():
            for batch in _batches(data, batch_size):
                xb, yb = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
                xb = torch.as_tensor(xb, dtype=torch.float32).to(dev)
                feats.append(model.forward_features(xb).float().cpu().numpy())
                if yb is not None:
                    labels.append(np.asarray(torch.as_tensor(yb).cpu()))
    finally:
        model.train(was_training)
    if not feats:
        raise ModelConfigError("no samples to extract features from")
    return np.concatenate(feats), (np.concatenate(labels) if labels else None)


def _batches(data, batch_size: int) -> Iterable:
    if isinstance(data, (np.ndarray, torch.Tensor)):
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
    else:
        yield from data


class DFCNNSVM:
    """DF-CNN_svm: a linear SVM on the 32-d fused features (LIBLINEAR-like, C = 1).

    Parameters
    ----------
    model
        A (trained) DF-CNN; any :class:`FERModel` works.
    C, fit_intercept, max_iter
        ``sklearn.svm.LinearSVC`` settings (squared hinge, dual, one-vs-rest).
    feature_scaling
        ``"none"`` (default), ``"standardize"`` or ``"l2"``.

    Attributes
    ----------
    svm_ : sklearn.svm.LinearSVC
        The fitted SVM; ``coef_`` ``(K, D)`` and ``intercept_`` are the weight vectors the
        saliency explainer needs (eqs. 14-15).
    """

    def __init__(self, model: FERModel, C: float = 1.0, fit_intercept: bool = True, max_iter: int = 10000,
                 feature_scaling: str = "none", batch_size: int = 64):
        if feature_scaling not in ("none", "standardize", "l2"):
            raise ModelConfigError(f"unknown feature_scaling {feature_scaling!r}")
        self.model, self.C, self.fit_intercept = model, float(C), bool(fit_intercept)
        self.max_iter, self.feature_scaling, self.batch_size = int(max_iter), feature_scaling, int(batch_size)

    def features(self, X) -> np.ndarray:
        """Scaled features of ``X``: a 2-D array is taken as features already, otherwise extracted."""
        if isinstance(X, (np.ndarray, torch.Tensor)) and np.ndim(X) == 2:
            f = np.asarray(X, dtype=np.float64)
        else:
            f = extract_features(self.model, X, self.batch_size)[0].astype(np.float64)
        if self.feature_scaling == "standardize":
            f = (f - self.mean_) / self.scale_ if hasattr(self, "mean_") else f
        elif self.feature_scaling == "l2":
            f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        return f

    def fit(self, X, y=None) -> "DFCNNSVM":
        """Fit on images ``(N, C, H, W)``, a loader of ``(x, y)`` batches, or features ``(N, D)``."""
        from sklearn.svm import LinearSVC

        if isinstance(X, (np.ndarray, torch.Tensor)):
            if y is None:
                raise ModelConfigError("labels y are required when X is an array")
            f = np.asarray(X, dtype=np.float64) if np.ndim(X) == 2 else \
                extract_features(self.model, X, self.batch_size)[0].astype(np.float64)
            labels = np.asarray(torch.as_tensor(y).cpu() if isinstance(y, torch.Tensor) else y)
        else:
            f, labels = extract_features(self.model, X, self.batch_size)
            f = f.astype(np.float64)
            if labels is None:
                raise ModelConfigError("the loader yields no labels; pass (x, y) batches")
        if self.feature_scaling == "standardize":
            self.mean_ = f.mean(0)
            self.scale_ = np.where(f.std(0) > 0, f.std(0), 1.0)
            f = (f - self.mean_) / self.scale_
        elif self.feature_scaling == "l2":
            f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        self.svm_ = LinearSVC(C=self.C, loss="squared_hinge", dual=True, fit_intercept=self.fit_intercept,
                              max_iter=self.max_iter, random_state=0)
        self.svm_.fit(f, labels)
        self.coef_, self.intercept_, self.classes_ = self.svm_.coef_, self.svm_.intercept_, self.svm_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        """SVM scores ``(N, K)``."""
        return self.svm_.decision_function(self.features(X))

    def predict(self, X) -> np.ndarray:
        """Predicted class labels."""
        return self.svm_.predict(self.features(X))

    def score(self, X, y) -> float:
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def fit_svm(model: FERModel, data, y=None, C: float = 1.0, fit_intercept: bool = True, **kwargs) -> DFCNNSVM:
    """Fit :class:`DFCNNSVM` on ``data`` (images, ``(x, y)`` loader, or features) and return it."""
    return DFCNNSVM(model, C=C, fit_intercept=fit_intercept, **kwargs).fit(data, y)
