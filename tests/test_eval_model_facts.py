"""run_protocol reads a registered model's size/inputs/paper from model_cfg (no weights built) and still
refuses a bad option value before any data are touched; factories are built once."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ferbench.eval.runner import _model_facts  # noqa: E402
from ferbench.models import create_model  # noqa: E402
from ferbench.models._base import RANDOM_INIT, ModelConfigError  # noqa: E402


@pytest.mark.parametrize("name,size,options", [("dfcnn", 80, {"map_channels": 1}), ("cmcnn", 48, {}),
                                               ("gemax_fa_stable", 64, {"width_mult": 0.25})])
def test_registered_model_facts_equal_the_built_model(name, size, options):
    m = create_model(name, input_size=size, **options)
    assert _model_facts(name, 6, size, options) == (m.input_size, [list(t) for t in m.inputs], RANDOM_INIT, m.paper)


def test_bad_values_refused_early_and_factories_built():
    with pytest.raises(ModelConfigError, match="divisible by 32"):
        _model_facts("gemax_fa", 6, 50, {})
    with pytest.raises(ModelConfigError, match="trunk_norm"):
        _model_facts("dfcnn", 6, 80, {"trunk_norm": "nope"})
    built = []

    def factory(n_classes, input_size, **kw):
        built.append(n_classes)
        m = create_model("mffcnn", n_classes=n_classes, input_size=input_size)
        m.init_note = "weights from my.pt"
        return m

    size, inputs, note, paper = _model_facts(factory, 7, 60, {})
    assert built == [7] and note == "weights from my.pt" and paper == "mffcnn" and size == 60
