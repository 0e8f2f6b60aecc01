"""The five papers' models behind one registry.

>>> from ferbench.models import list_models, create_model
>>> list_models()[:2]
['attention_transformer', 'attention_transformer_no_cmsa']

``create_model(name, n_classes=6, input_size=None, weights=None, **options)`` builds a model
(random initialisation unless ``weights`` names a local ``.pt/.pth/.safetensors`` file; the
choice is recorded in ``model.init_note``). Every model follows the contract of
:class:`ferbench.models._base.FERModel`. Submodules (and torch) are imported only when a model
is created, so listing the registry is instant. :func:`model_cfg` reads a model's settings (paper, inputs,
input size, training preset, demo plan) without building it.
"""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Callable

from ferbench.models.cfgs import MODEL_CFGS, PAPER_CFGS, ModelCfg, model_cfg
from ferbench.registry import Registry

MODELS: Registry = Registry("model")

# every registered name comes from the configurations (ferbench/models/cfgs.py): one owner per setting
_ENTRIES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    n: (PAPER_CFGS[c.paper].module, PAPER_CFGS[c.paper].factory, dict(c.options), c.description)
    for n, c in MODEL_CFGS.items()}


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


def check_options(name: str, options: dict[str, Any]) -> None:
    """Raise :class:`~ferbench.models._base.ModelConfigError` if ``name`` does not take one of ``options``.

    Reads the model class's signature: imports its module, builds nothing. Values are checked when the
    model is built. ``KeyError`` for an unknown name.
    """
    from ferbench.models._base import ModelConfigError

    factory = MODELS.get(name)
    target = getattr(factory, "target", None)
    if target is None:
        return
    params = inspect.signature(_resolve(*target)).parameters
    fixed = set(getattr(factory, "fixed_options", {}))
    known = sorted(k for k in params if k not in ("n_classes", "input_size") and k not in fixed)
    bad = sorted(set(options) - set(known))
    if bad and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ModelConfigError(f"model {name!r} does not accept option(s) {', '.join(bad)}; "
                               f"known: {', '.join(known)}")


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
    check_options(name, options)
    model = MODELS.get(name)(n_classes=n_classes, input_size=input_size, **options)
    if weights is not None:
        from ferbench.models.weights import load_weights

        load_weights(model, weights)
    return model


__all__ = ["MODELS", "list_models", "create_model", "model_info", "model_cfg", "ModelCfg", "check_options"]
