"""Model settings read without building anything (ferbench.models.cfgs), checked against built models."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ferbench.models import list_models, model_cfg
from ferbench.models.cfgs import MODEL_CFGS, PAPER_CFGS

OPTION_CASES = [  # options that change a model's inputs
    ("dfcnn", {"map_channels": 3}),
    ("gemax_fa", {"depth_input": "gem", "width_mult": 0.125}),
    ("attention_transformer", {"rgb_only": True, "embed_dim": 64, "heads": 4}),
    ("cmcnn", {"modalities": ("gray", "depth")}),
    ("mffcnn", {"in_chans": 3}),
]
# small widths so building each model for the comparison stays fast; they do not change inputs or size
SMALL = {"gemax_fa": {"width_mult": 0.125}, "attention_transformer": {"embed_dim": 64, "heads": 4}}


def test_model_cfg_imports_no_torch_and_builds_nothing():
    code = ("import sys\n"
            "from ferbench.models import list_models, model_cfg\n"
            "cfgs = [model_cfg(n) for n in list_models()]\n"
            "print(len(cfgs), sorted(m for m in ('torch', 'ferbench.models.dfcnn', 'ferbench.models._base') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(None, 1) == [str(len(MODEL_CFGS)), "[]\n"]


def test_model_cfg_every_registered_name(monkeypatch):
    torch = pytest.importorskip("torch")

    def refuse(*a, **k):
        raise AssertionError("model_cfg built a module")

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    assert list_models() == sorted(MODEL_CFGS)
    for name in list_models():
        cfg = model_cfg(name)
        assert cfg.name == name and cfg.paper in PAPER_CFGS and name in PAPER_CFGS[cfg.paper].variants
        assert cfg.input_size == PAPER_CFGS[cfg.paper].input_size
        assert cfg.preset is PAPER_CFGS[cfg.paper].preset
    assert model_cfg("dfcnn", input_size=80).input_size == 80
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        model_cfg("nope")


@pytest.mark.parametrize("name", sorted(MODEL_CFGS))
def test_model_cfg_equals_built_model(name):
    pytest.importorskip("torch")
    from ferbench.models import create_model

    cfg = model_cfg(name)
    m = create_model(name, **SMALL.get(cfg.paper, {}))
    assert (m.paper, m.inputs, m.input_size, m.in_channels) == (cfg.paper, cfg.inputs, cfg.input_size,
                                                                cfg.in_channels)


@pytest.mark.parametrize("name,options", OPTION_CASES)
def test_model_cfg_options_change_inputs_as_the_model(name, options):
    pytest.importorskip("torch")
    from ferbench.models import create_model

    size = {"dfcnn": 67, "gemax_fa": 64, "attention_transformer": 64, "cmcnn": 48, "mffcnn": 60}[name]
    cfg = model_cfg(name, input_size=size, **options)
    m = create_model(name, input_size=size, **options)
    assert cfg.inputs == m.inputs != model_cfg(name).inputs and cfg.input_size == m.input_size == size


def test_settings_have_one_owner():
    from ferbench.cli import PAPERS as CLI_PAPERS
    from ferbench.demo import PLANS
    from ferbench.eval.training import PRESETS
    from ferbench.papers import PAPERS

    assert tuple(PAPER_CFGS) == PAPERS == CLI_PAPERS == tuple(PLANS) == tuple(PRESETS)
    for paper, plan in PLANS.items():
        assert model_cfg(plan.model).paper == paper
        assert PRESETS[paper] == dict(PAPER_CFGS[paper].preset)
