"""``import ferbench``: the lazy public names resolve to their definitions, and the import stays light."""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import subprocess
import sys

import pytest

import ferbench


def test_import_ferbench_loads_no_heavy_module():
    code = ("import sys, ferbench\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'numpy', 'ferbench.models', 'ferbench.eval') "
            "if m in sys.modules), set(ferbench.__all__) == set(ferbench._EXPORTS) <= set(dir(ferbench)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True"


@pytest.mark.parametrize("name", sorted(ferbench._EXPORTS))
def test_public_name_is_its_definition(name):
    module, attr = ferbench._EXPORTS[name].split(":")
    if module == "ferbench.eval.results" and importlib.util.find_spec(module) is None:
        pytest.skip("ferbench.eval.results (the run object) is not in this branch yet")
    value = getattr(ferbench, name)
    assert value is getattr(importlib.import_module(module), attr)
    assert name in dir(ferbench) and (value.__doc__ or "").strip()


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ferbench.nope  # noqa: B018


def test_docstring_examples():
    res = doctest.testmod(ferbench, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted >= 6
