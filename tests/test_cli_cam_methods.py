"""``ferbench predict --cam`` offers exactly the heat-map methods of the library (the CLI keeps its own copy of
:data:`ferbench.views.EXPLAIN_METHODS` so that ``ferbench --help`` imports no numpy)."""
from __future__ import annotations


def test_cli_cam_choices_are_the_explain_methods():
    from ferbench.cli import CAM_METHODS, build_parser
    from ferbench.views.explanation import EXPLAIN_METHODS

    assert tuple(CAM_METHODS) == tuple(EXPLAIN_METHODS)
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["predict"]
    cam = next(a for a in sub._actions if a.dest == "cam")
    assert tuple(cam.choices) == tuple(EXPLAIN_METHODS)
