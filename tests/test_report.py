"""The self-contained HTML report writer."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ferbench.report import Report, ReportError  # noqa: E402


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_td = tag in ("td", "th")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells.append(data)


def test_report_roundtrip(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("synthetic")
    r = (Report("ferbench <demo>")
         .add_heading("Accuracy")
         .add_text("Numbers on synthetic data.\n\nSecond paragraph & more.", sources="ferbench, synthetic data")
         .add_figure(fig, caption="a line (synthetic data)", sources=["ferbench, synthetic data"])
         .add_table([["anger", 80.0, 75.456, None], ["fear", float("nan"), 1, np.float32(2.5)]],
                    header=["expression", "paper (%)", "ferbench (%)", "x"], caption="per class",
                    sources=["paper: DF-CNN (Li et al. 2017), Table V", "ferbench, synthetic data"]))
    assert len(r) == 4
    out = r.write(tmp_path / "sub" / "report.html")
    text = out.read_text(encoding="utf-8")
    # self-contained: no external references, no scripts
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    p = _Collect()
    p.feed(text)
    imgs = [a for t, a in p.tags if t == "img"]
    assert len(imgs) == 1
    png = base64.b64decode(imgs[0]["src"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert p.cells == ["expression", "paper (%)", "ferbench (%)", "x", "anger", "80.00", "75.46", "\u2013",
                       "fear", "\u2013", "1", "2.50"]
    assert "ferbench &lt;demo&gt;" in text and "Second paragraph &amp; more." in text
    badges = [a["class"] for t, a in p.tags if t == "span"]
    assert badges == ["src synthetic", "src synthetic", "src paper", "src synthetic"]
    assert not plt.fignum_exists(fig.number)                              # closed after embedding


def test_report_display_and_errors(tmp_path):
    from ferbench.viz import AccuracyTableDisplay

    d = AccuracyTableDisplay.from_values([90, 80, 70, 60, 50, 40], [91, 81, 71, 61, 51, 41], synthetic=True,
                                         paper_source="paper: DF-CNN (Li et al. 2017), Table V")
    r = Report("t").add_display(d, caption="per-class accuracy (synthetic data)")
    html = r.to_html()
    assert html.count("<table") == 1 and html.count("<img") == 1
    assert "src paper" in html and "src synthetic" in html and "-1.00" in html
    with pytest.raises(ReportError):
        Report("t").add_table([[1, 2], [3]], header=["a", "b"])
    with pytest.raises(ReportError):
        Report("t").add_figure(object())
    with pytest.raises(ReportError):
        Report("t").add_figure(b"not a png")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="file"):
        Report("t").write(blocker / "r.html")
