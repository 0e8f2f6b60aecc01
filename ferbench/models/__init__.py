"""The five papers' models behind one registry.

>>> from ferbench.models import list_models, create_model
>>> list_models()[:2]
['attention_transformer', 'attention_transformer_no_cmsa']

``create_model(name, n_classes=6, input_size=None, weights=None, **options)`` builds a model
(random initialisation unless ``weights`` names a local ``.pt/.pth/.safetensors`` file; the
choice is recorded in ``model.init_note``). Every model follows the contract of
:class:`ferbench.models._base.FERModel`. Submodules (and torch) are imported only when a model
is created, so listing the registry is instant.
"""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Callable

from ferbench.registry import Registry

MODELS: Registry = Registry("model")

# name -> (submodule, factory, fixed options, one-line description)
_ENTRIES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "dfcnn": ("dfcnn", "DFCNN", {"shared": True}, "DF-CNN, shared VGG-M trunk over six maps (Li et al. 2017)"),
    "dfcnn_unshared": ("dfcnn", "DFCNN", {"shared": False}, "DF-CNNa, six unshared trunks (Table XI)"),
    "dfcnn_frozen": ("dfcnn", "DFCNN", {"shared": True, "freeze_trunk": True}, "DF-CNN with a frozen trunk (Table XII)"),
    "gemax_fa": ("gemax_fa", "GEMaxFA", {}, "VGG-16 six-stream net with Facial Attention, GEMax depth (Jiao et al. 2020)"),
    "gemax_fa_stable": ("gemax_fa", "GEMaxFA", {"backbone": "vgg16_bn"}, "gemax_fa with VGG-16-BN (preset jiao2020_stable)"),
    "gemax_fa_gem": ("gemax_fa", "GEMaxFA", {"depth_input": "gem"}, "ours(-GeM): depth stream fed [RI, NoM_z, CuM]"),
    "attention_transformer": ("attention_transformer", "CMSATransformer", {},
                              "2x EfficientNet-B2 + cross-modality spatial attention + transformer (Raimondo et al.)"),
    "attention_transformer_rgb": ("attention_transformer", "CMSATransformer", {"rgb_only": True},
                                  "RGB-only ablation (Table VI)"),
    "attention_transformer_no_vit": ("attention_transformer", "CMSATransformer", {"use_vit": False},
                                     "CMSA without the transformer (Table VII)"),
    "attention_transformer_no_cmsa": ("attention_transformer", "CMSATransformer", {"use_cmsa": False},
                                      "sum fusion + transformer (Table VII)"),
    "cmcnn": ("cmcnn", "CMCNN", {}, "CM-CNN: gray, LBP, depth FENs + cross-modality attention (Ni et al. 2022)"),
    "cmcnn_concat": ("cmcnn", "CMCNN", {"cmfn": False}, "G+L+D concatenation without CMFN (Tab. II)"),
    "mffcnn": ("mffcnn", "MFFCNN", {}, "MFF-CNN: image branch + 16-patch branch with L2 selection (Zou et al. 2021)"),
    "mffcnn_no_mid": ("mffcnn", "MFFCNN", {"variant": "no_mid"}, "MFF-CNN without mid-level features (Table 6)"),
    "mffcnn_no_joint": ("mffcnn", "MFFCNN", {"variant": "no_joint"}, "MFF-CNN with feature concatenation (Table 6)"),
    "mffcnn_no_select": ("mffcnn", "MFFCNN", {"variant": "no_select"}, "MFF-CNN without L2 selection (Table 6)"),
}


def _resolve(module: str, attr: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(f"ferbench.models.{module}"), attr)


def _lazy_factory(name: str, module: str, attr: str, fixed: dict[str, Any], doc: str):
    def factory(**options: Any):
        return _resolve(module, attr)(**{**fixed, **options})

    factory.__name__ = name
    factory.__doc__ = doc
    factory.fixed_options = dict(fixed)  # type: ignore[attr-defined]
    factory.target = (module, attr)  # type: ignore[attr-defined]
    return factory


for _name, (_mod, _attr, _fixed, _doc) in _ENTRIES.items():
    MODELS.register(_name)(_lazy_factory(_name, _mod, _attr, _fixed, _doc))


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered model names matching a shell-style ``pattern``."""
    return MODELS.list(pattern)


def model_info(name: str) -> str:
    """One-line description of a registered model."""
    if name not in MODELS:
        MODELS.get(name)  # raises KeyError listing the known names
    return _ENTRIES[name][3] if name in _ENTRIES else (MODELS.get(name).__doc__ or "")


def create_model(name: str, n_classes: int = 6, input_size: int | None = None,
                 weights: str | os.PathLike | None = None, **options: Any):
    """Build a registered model.

    Parameters
    ----------
    name
        A name from :func:`list_models`.
    n_classes
        Number of logits (6 expressions by default).
    input_size
        Input side; ``None`` = the paper's size (224 / 224 / 260 / 148 / 60).
    weights
        Optional local weight file (``.pt``/``.pth`` state dict read with ``weights_only=True``,
        or ``.safetensors``); 3-channel stems are adapted to k-channel inputs (timm rule).
        Without it the model is randomly initialised and ``model.init_note`` says so.
    **options
        Model-specific options (see each model class).

    Raises
    ------
    KeyError
        Unknown name.
    ModelConfigError
        An option the model does not accept, or an invalid value.
    """
    from ferbench.models._base import ModelConfigError

    factory = MODELS.get(name)
    target = getattr(factory, "target", None)
    if target is not None:
        params = inspect.signature(_resolve(*target)).parameters
        fixed = set(getattr(factory, "fixed_options", {}))
        known = sorted(k for k in params if k not in ("n_classes", "input_size") and k not in fixed)
        bad = sorted(set(options) - set(known))
        if bad and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise ModelConfigError(f"model {name!r} does not accept option(s) {', '.join(bad)}; "
                                   f"known: {', '.join(known)}")
    model = factory(n_classes=n_classes, input_size=input_size, **options)
    if weights is not None:
        from ferbench.models.weights import load_weights

        load_weights(model, weights)
    return model


__all__ = ["MODELS", "list_models", "create_model", "model_info"]
