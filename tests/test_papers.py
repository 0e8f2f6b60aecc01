"""The papers' reported numbers (ferbench.papers): completeness, API and every consistency rule the specs give.

The rules come from dfcnn.md Appendix B, gemax_fa.md §6.10, attention_transformer.md §6.4/§12, cmcnn.md §5.9 and
mffcnn.md §5.8/§5.9. Each is written so that mistyping one printed number makes a test fail.
"""
from __future__ import annotations

import os
import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest

from ferbench import papers as P
from ferbench.errors import FerbenchError
from ferbench.labels import ALL_EXPRESSIONS, EXPRESSIONS

EXPECTED_IDS = {
    "dfcnn": ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII"],
    "gemax_fa": ["1", "2", "3", "4", "5", "6"],
    "attention_transformer": ["IV", "V", "VI", "VII", "VIII", "IX", "fig12a", "fig12b", "fig17a", "fig3", "fig15"],
    "cmcnn": ["I", "II", "III", "IV", "V", "VI", "VII", "fig6a", "fig6b", "fig6c", "fig6d"],
    "mffcnn": ["1", "2", "3", "4", "5", "6", "fig4", "fig5", "fig6", "fig7"],
}
EXPECTED_CMS = {
    ("dfcnn", "IV"): ["Gabor", "vgg-net-m-conv5", "DF-CNN_svm"],
    ("dfcnn", "VI"): ["vgg-net-m-ft-full7_svm", "vgg-net-16-ft-full7_svm", "DF-CNN_svm"],
    ("attention_transformer", "fig12a"): [None], ("attention_transformer", "fig12b"): [None],
    ("attention_transformer", "fig17a"): [None],
    ("cmcnn", "fig6a"): [None], ("cmcnn", "fig6b"): [None], ("cmcnn", "fig6c"): [None], ("cmcnn", "fig6d"): [None],
    ("mffcnn", "fig4"): [None], ("mffcnn", "fig5"): [None], ("mffcnn", "fig6"): [None], ("mffcnn", "fig7"): [None],
}


def rnd(x, decimals: int, rounding=ROUND_HALF_UP) -> Decimal:
    """Round exactly in decimal (73.375 stays 73.375 before rounding)."""
    return Decimal(repr(float(x)) if not isinstance(x, Decimal) else x).quantize(Decimal(1).scaleb(-decimals), rounding)


def same_printed(value, printed, rounding=ROUND_HALF_UP) -> bool:
    """value rounds to the printed number at the printed number's decimals."""
    return rnd(value, P.decimals_of(printed), rounding) == Decimal(str(printed))


def is_k_over_n(printed, n: int, rounding=ROUND_HALF_EVEN) -> bool:
    """Some k/n (in %) rounds to the printed value.

    DF-CNN's exact ties (76.625 -> 76.62, 78.125 -> 78.12) show round-half-even printing; with it,
    exactly the four cells dfcnn.md Appendix B lists fail (73.375 -> 73.38, not the printed 73.37).
    """
    k = round(float(printed) * n / 100)
    return any(same_printed(Decimal(kk) * 100 / n, printed, rounding) for kk in (k - 1, k, k + 1))


def nums(values):
    return [v for v in values if isinstance(v, (int, float))]


# --------------------------------------------------------------------------- completeness and API

def test_every_table_the_specs_list_exists():
    assert P.PAPERS == tuple(EXPECTED_IDS)
    for paper, ids in EXPECTED_IDS.items():
        assert [i for p, i, _ in P.list_tables(paper)] == ids
        for i in ids:
            t = P.table(paper, i)
            assert t.id == i and t.paper == paper and t.kind in ("table", "figure")
            assert t.caption and t.source and t.columns and t.row_labels
            assert t.kind == ("figure" if i.startswith("fig") else "table")
    assert len(P.list_tables()) == sum(map(len, EXPECTED_IDS.values())) == 51


def test_confusion_matrices_are_listed_and_well_formed():
    listed = P.list_confusion_matrices()
    expected = [(p, i, v) for (p, i), vs in EXPECTED_CMS.items() for v in vs]
    assert sorted(listed, key=str) == sorted(expected, key=str)
    assert P.list_confusion_matrices("mffcnn") == [(p, i, v) for p, i, v in expected if p == "mffcnn"]
    for paper, id, variant in listed:
        m, labels = P.confusion_matrix(paper, id, variant)
        assert m.shape == (len(labels), len(labels)) and m.dtype == float
        assert set(labels) <= set(ALL_EXPRESSIONS) and len(set(labels)) == len(labels)
        assert list(labels) == sorted(labels, key=ALL_EXPRESSIONS.index)  # default: ferbench order
        assert not m.flags.writeable


def test_paper_info():
    info = P.paper_info("dfcnn")
    assert (info.year, info.authors[0], info.venue) == (2017, "Huibin Li", "IEEE Transactions on Multimedia, vol. 19, no. 12")
    assert "Deep Fusion" in info.title and "Li" in str(info)
    assert P.paper_info("gemax_fa").authors == ("Yang Jiao", "Yi Niu", "Trac D. Tran", "Guangming Shi")
    assert P.paper_info("attention_transformer").year == 2024
    assert P.paper_info("cmcnn").doi == "10.1109/TCDS.2022.3150019"
    assert P.paper_info("mffcnn").authors == ("Wei Zou", "Dong Zhang", "Dah-Jye Lee")


def test_table_object_keeps_printed_values_and_renders():
    t = P.table("dfcnn", "II")
    assert t.columns == ("I_g", "I_n^x", "I_n^y", "I_n^z", "I_c", "I_t", "All")
    assert t.cell("Gabor", "All") == 84.72 and t.cell("Gabor", -1) == 84.72
    assert t.printed("DF-CNN_softmax", "All") == "86.20"          # trailing zero kept
    assert t.printed("MS-LBP", "I_c") == "77.70"
    assert t.cell("DF-CNN_svm", "I_g") == "–"                     # printed dash kept as a string
    assert t.rows["HOG"][0] == 81.89 and len(t.rows) == 6
    assert t.column("All")[:2] == (81.74, 83.16)
    rec = t.to_records()
    assert rec[0] == {"row": "MS-LBP", **dict(zip(t.columns, t.rows["MS-LBP"]))}
    text = str(t)
    assert text == t.to_text()
    assert text.splitlines()[0].startswith("[dfcnn] Table II, §VI-B1: ")
    assert re.search(r"^DF-CNN_softmax\s+–.*\s86\.20$", text, re.M)
    # zeros of the confusion matrices are printed '0' in DF-CNN, '0.0' in MFF-CNN
    assert P.table("dfcnn", "IV").printed("Gabor: AN", "HA") == "0"
    assert P.table("mffcnn", "fig4").printed("Anger", "Fear") == "0.0"
    assert P.table("mffcnn", "fig4").printed("Fear", "Fear") == "98.8"


def test_gemax_time_entropy_table_contract():
    t = P.table("gemax_fa", "3")
    assert t.columns == ("16", "20", "30", "40", "50", "60", "N")
    assert t.row_labels == ("time (s)", "FPS", "Entropy")
    assert t.cell("Entropy", "20") == 7.811 and t.printed("Entropy", "50") == "7.980"
    assert t.cell("time (s)", "N") == 33.9


def test_bad_keys_raise_one_clear_ferbench_error():
    cases = [
        (lambda: P.table("nope", "II"), "unknown paper 'nope'"),
        (lambda: P.table("dfcnn", "XIV"), "unknown table/figure 'XIV'"),
        (lambda: P.table("dfcnn", "II").cell("Gabor", "Iz"), "unknown column 'Iz'"),
        (lambda: P.table("dfcnn", "II").cell("SIFT", "All"), "unknown row 'SIFT'"),
        (lambda: P.confusion_matrix("dfcnn", "IV"), "pass variant="),
        (lambda: P.confusion_matrix("dfcnn", "IV", "HOG"), "unknown variant 'HOG'"),
        (lambda: P.confusion_matrix("dfcnn", "II"), "not a confusion matrix"),
        (lambda: P.per_class_accuracy("dfcnn", "II"), "no per-expression values"),
        (lambda: P.confusion_matrix("mffcnn", "fig4", order="alpha"), "order must be"),
    ]
    for call, msg in cases:
        with pytest.raises(P.PaperDataError) as ei:
            call()
        assert isinstance(ei.value, FerbenchError) and msg in str(ei.value) and "\n" not in str(ei.value)


def test_confusion_matrix_orders_and_metadata():
    m, labels = P.confusion_matrix("dfcnn", "IV", variant="Gabor")
    assert labels == EXPRESSIONS and m[0, 0] == 85.53 and m[4, 0] == 18.70
    pc = P.confusion_matrix("dfcnn", "IV", variant="Gabor")
    assert pc.printed_average.text == "84.72" and pc.printed[3][0] == "0" and pc.source == "Table IV, §VI-B2"
    # 7-class: the paper puts neutral 5th (alphabetical); ferbench order puts it last
    mp, lp = P.confusion_matrix("attention_transformer", "fig12b", order="paper")
    mf, lf = P.confusion_matrix("attention_transformer", "fig12b")
    assert lp[4] == "neutral" and lf == ALL_EXPRESSIONS
    perm = [lp.index(c) for c in lf]
    assert np.array_equal(mf, mp[np.ix_(perm, perm)])
    assert mf[6, 6] == 66.7 and mf[6, 0] == 16.7            # neutral row, moved
    assert P.confusion_matrix("mffcnn", "fig7")[1][-1] == "neutral"
    # not recoverable cells are NaN
    m6, _ = P.confusion_matrix("cmcnn", "fig6a")
    assert list(m6[0]) == [96.2, 0.0, 2.6, 0.0, 1.2, 0.0] and np.isnan(m6[1:]).all()
    assert np.isnan(P.confusion_matrix("cmcnn", "fig6b")[0]).all()


def test_per_class_accuracy():
    pca = P.per_class_accuracy("dfcnn", "IV", "DF-CNN_svm")
    assert list(pca) == list(EXPRESSIONS) and pca["fear"] == 79.24
    assert P.per_class_accuracy("mffcnn", "6", "MFF-CNN without mid-level feature")["anger"] == 70.69
    assert P.per_class_accuracy("mffcnn", "fig7")["neutral"] == 73.26
    assert P.per_class_accuracy("cmcnn", "fig6a")["anger"] == 96.2
    assert P.per_class_accuracy("cmcnn", "fig6a")["disgust"] is None
    with pytest.raises(P.PaperDataError):
        P.per_class_accuracy("mffcnn", "6")                      # 4 rows: must choose


# --------------------------------------------------------------------------- errata: flagged AND printed value kept

KNOWN_ERRATA = [  # (paper, table, cell or row, printed)
    ("dfcnn", "VIII", ["MS-LBP", "I_c"], "73.37"), ("dfcnn", "VIII", ["Gabor", "I_t"], "75.86"),
    ("dfcnn", "IX", ["HOG", "I_n^x"], "74.22"), ("dfcnn", "IX", ["Gabor", "I_n^z"], "71.61"),
    ("dfcnn", "V", ["caffe-alex-ft_softmax", "I_n^x"], "80.96"), ("dfcnn", "V", ["vgg-net-16-ft_softmax", "I_n^z"], "79.19"),
    ("dfcnn", "II", ["DF-CNN_softmax", "All"], "86.20"), ("dfcnn", "VII", ["Gong et al. [15]", "Feature"], "depth/PAC"),
    ("mffcnn", "6", ["MFF-CNN without joint tuning", "Avg"], "96.26"),
    ("mffcnn", "6", ["MFF-CNN without mid-level feature", "Parameters"], "0.02M"),
    ("mffcnn", "5", "IBAN-IL [36]", "IBAN-IL [36]"),
    ("cmcnn", "V", "Qyedotun et al. (2017) [86]", "Qyedotun et al. (2017) [86]"),
    ("cmcnn", "VI", "Ujjir et al. (2014) [89]", "Ujjir et al. (2014) [89]"),
    ("gemax_fa", "1", ["ours", "Entropy"], "7.94"),
]


@pytest.mark.parametrize("paper,id,where,printed", KNOWN_ERRATA)
def test_known_errata_flagged_and_printed_value_kept(paper, id, where, printed):
    t = P.table(paper, id)
    if isinstance(where, list):
        found = t.errata_for(*where)
        assert t.printed(*where) == printed                      # not corrected in the data
    else:
        found = [e for e in t.errata if e.get("row") == where]
        assert where in t.row_labels
    assert found and all(str(e["printed"]) == printed and e["issue"] for e in found)


def test_every_cell_erratum_matches_the_stored_cell():
    n = 0
    for e in P.errata():
        assert {"paper", "table", "printed", "issue", "corrected_if_known"} <= set(e) and e["issue"]
        if e["table"] and e.get("cell") and "where" not in e:
            assert P.table(e["paper"], e["table"]).printed(*e["cell"]) == str(e["printed"])
            n += 1
    assert n == 13


def test_text_only_errata_are_flagged():
    texts = {p: P.text_numbers(p) for p in P.PAPERS}
    abstract = [x for x in texts["cmcnn"] if x["where"] == "abstract"][0]
    assert abstract["printed"] == "87.28%" and "86.28" in abstract["issue"]
    assert P.table("cmcnn", "V").cell("CM-CNN", "P2") == 86.28
    oulu = [x for x in texts["mffcnn"] if "9.80" in x["printed"]][0]
    assert oulu["values"][0] == 9.80 and "8.80" in oulu["issue"]
    g = [e for e in P.errata("gemax_fa", "3")]
    assert len(g) == 1 and g[0]["printed"] == "0.016s" and str(g[0]["corrected_if_known"]) == "0.020"
    assert any("12098" in str(e["printed"]) for e in P.errata("attention_transformer", "fig15"))
    assert len(P.errata("attention_transformer")) >= 7 + 5     # paper-level + table-level


# --------------------------------------------------------------------------- DF-CNN (dfcnn.md Appendix B, §7 text claims)

def _dfcnn_cm(variant, id="IV"):
    return P.confusion_matrix("dfcnn", id, variant)


def test_dfcnn_confusion_rows_sum_to_100_and_diagonal_means_match_printed_average():
    for _, id, variant in P.list_confusion_matrices("dfcnn"):
        pc = _dfcnn_cm(variant, id)
        sums = pc.matrix.sum(axis=1)
        assert np.all(np.abs(sums - 100) <= 0.01 + 1e-9), (id, variant, sums)
        assert same_printed(Decimal(str(sum(Decimal(pc.printed[i][i]) for i in range(6)))) / 6, pc.printed_average), (id, variant)


def test_dfcnn_cross_table_identities():
    assert np.array_equal(_dfcnn_cm("DF-CNN_svm", "IV").matrix, _dfcnn_cm("DF-CNN_svm", "VI").matrix)
    pairs = [("IV", "Gabor", "II", "Gabor"), ("IV", "vgg-net-m-conv5", "III", "vgg-net-m-conv5"),
             ("IV", "DF-CNN_svm", "II", "DF-CNN_svm"), ("VI", "vgg-net-m-ft-full7_svm", "V", "vgg-net-m-ft-full7_svm"),
             ("VI", "vgg-net-16-ft-full7_svm", "V", "vgg-net-16-ft-full7_svm")]
    for cid, variant, tid, row in pairs:
        assert _dfcnn_cm(variant, cid).printed_average == P.table("dfcnn", tid).cell(row, "All")
    for tid in ("II", "III", "V", "VII", "XI", "XII"):
        t = P.table("dfcnn", tid)
        col = "All" if "All" in t.columns else ("Accuracy (100x10-fold)" if tid == "VII" else
                                                 "Accuracy" if tid == "XI" else "DF-CNN_svm (learning-based)")
        svm_row = "DF-CNN-ft-conv5" if tid == "XII" else "DF-CNN_svm"
        assert t.cell(svm_row, col) == 86.86
    assert P.table("dfcnn", "XIII").cell("Accuracy (%)", "linear SVM") == 86.86
    assert P.table("dfcnn", "XII").cell("DF-CNN-ft-conv5", "DF-CNN_softmax (learning-based)") == 86.20
    for ds, tid in (("BU-3DFE Subset II", "VIII"), ("Bosphorus subset", "IX")):
        for row in ("DF-CNN_svm", "DF-CNN_softmax"):
            assert P.table("dfcnn", "X").cell(row, ds) == P.table("dfcnn", tid).cell(row, "All")


def test_dfcnn_text_claims():
    d = lambda a, b: round(a - b, 2)  # noqa: E731
    g, v, s = (_dfcnn_cm(x).matrix for x in ("Gabor", "vgg-net-m-conv5", "DF-CNN_svm"))
    assert d(s[2, 2], g[2, 2]) == 13.26 and d(s[2, 2], v[2, 2]) == 12.83 and d(s[0, 0], g[0, 0]) == -3.45
    assert all(s[i, i] > g[i, i] for i in range(1, 6))            # better on every expression but anger
    f, v16 = _dfcnn_cm("vgg-net-m-ft-full7_svm", "VI").matrix, _dfcnn_cm("vgg-net-16-ft-full7_svm", "VI").matrix
    assert all(s[i, i] > f[i, i] for i in range(6)) and d(s[2, 2], v16[2, 2]) == 4.86
    t2 = P.table("dfcnn", "II")
    assert [d(t2.cell("Gabor", "All"), t2.cell(m, "All")) for m in ("HOG", "dense-SIFT", "MS-LBP")] == [0.98, 1.56, 2.98]
    for m in ("MS-LBP", "dense-SIFT", "HOG", "Gabor"):
        assert t2.cell(m, "All") > max(t2.rows[m][:6])           # All beats every single map
    t3, t5 = P.table("dfcnn", "III"), P.table("dfcnn", "V")
    assert d(t5.cell("vgg-net-16-ft-full7_svm", "I_c"), t3.cell("vgg-net-16-full7", "I_c")) == 16.52
    assert d(t5.cell("vgg-net-16-ft-full7_svm", "I_t"), t3.cell("vgg-net-16-full7", "I_t")) == 17.07
    assert d(P.table("dfcnn", "X").cell("Li et al. (2015) [24]", 1), P.table("dfcnn", "X").cell("Yang et al. (2015) [57]", 1)) == 2.22


def _flagged_cells(paper, id):
    return {tuple(e["cell"]) for e in P.table(paper, id).errata if e.get("cell")}


@pytest.mark.parametrize("id,n", [("VIII", 2400), ("IX", 360)])
def test_dfcnn_p_cv10_values_are_k_over_n_except_the_flagged_typos(id, n):
    t = P.table("dfcnn", id)
    failing = {(r, c) for r in t.row_labels for c in t.columns
               if isinstance(t.cell(r, c), float) and not is_k_over_n(t.cell(r, c), n)}
    assert failing == _flagged_cells("dfcnn", id) and len(failing) == 2
    x = P.table("dfcnn", "X")
    assert all(is_k_over_n(v, 2400) for v in x.column(0)) and all(is_k_over_n(v, 360) for v in x.column(1))


def test_dfcnn_fine_tuned_softmax_values_are_one_time_predictions_on_720_scans():
    t = P.table("dfcnn", "V")
    failing = {(r, c) for r in t.row_labels if r.endswith("ft_softmax") for c in t.columns if not is_k_over_n(t.cell(r, c), 720)}
    assert failing == _flagged_cells("dfcnn", "V")
    assert not is_k_over_n(P.PrintedNumber("86.20"), 720) and is_k_over_n(P.PrintedNumber("86.25"), 720)  # §1.4: likely swap
    assert is_k_over_n(P.table("dfcnn", "XI").cell("DF-CNNa_softmax", "Accuracy"), 720)
    # Bosphorus fear accuracies in the text are k/60
    fear = [x for x in P.text_numbers("dfcnn") if x["where"] == "§VI-C3"][0]["values"]
    assert all(is_k_over_n(v, 60) for v in fear)


# --------------------------------------------------------------------------- GEMax (gemax_fa.md §6.10)

def test_gemax_consistency_checks():
    t1, t2, t3, t4, t5, t6 = (P.table("gemax_fa", str(i)) for i in range(1, 7))
    acc1, acc2 = t1.column("Acc.(%)"), t2.column("Acc.(%)")
    assert round(t1.cell("ours", "Acc.(%)") - t1.cell("Zhu et al. [35] (2D+3D, CNN)", "Acc.(%)"), 2) == 1.37
    ent = {t1.cell(r, "Map"): t1.cell(r, "Entropy") for r in t1.row_labels if t1.cell(r, "Map") in ("RI", "NoM", "CuM", "GeM")}
    assert same_printed((Decimal("7.21") + Decimal("7.57") + Decimal("7.63")) / 3, ent["GeM"]) and ent["RI"] == 7.21
    bos = {t2.cell(r, "Map"): t2.cell(r, "Entropy") for r in t2.row_labels}
    assert round((bos["RI"] + bos["NoM"] + bos["SIM"]) / 3, 2) == 7.43 != bos["GeM"]            # flagged as unexplained
    assert any("7.43" in e["issue"] for e in t2.errata)
    assert [rnd(x, 2) for x in t3.row("Entropy")[:6]] == [Decimal(str(x)) for x in t5.row("BU-3DFE Entropy")]
    assert t5.cell("BU-3DFE Acc.", "16") == t4.cell("BU-3DFE", "6 cm") and t5.cell("Bosphorus Acc.", "16") == t4.cell("Bosphorus", "6 cm")
    assert t6.cell("BU-3DFE / Full image", "Both") == t1.cell("ours", "Acc.(%)") == max(acc1)
    assert t6.cell("Bosphorus / Full image", "Both") == t2.cell("ours", "Acc.(%)") == max(acc2)
    # FPS = 1/time. The printed times are 1/FPS truncated, not rounded: the interval 1/FPS allows
    # (FPS rounding) overlaps [time, time + last digit) for every tau, but round-to-nearest fails at tau = 30 and 40.
    near = []
    for time, fps in zip(t3.row("time (s)"), t3.row("FPS")):
        unit, hf = 10.0 ** -time.decimals, 0.5 * 10 ** -fps.decimals
        lo, hi = 1 / (fps + hf), 1 / (fps - hf)
        assert lo < time + unit and time <= hi, (time, fps)
        near.append(lo <= time + unit / 2 and time - unit / 2 <= hi)
    assert near == [True, True, False, False, True, True, True]
    assert any("truncated" in n for n in t3.notes)
    e = [float(x) for x in t3.row("Entropy")]
    assert e == sorted(e) and len(set(e)) == 7
    for row in ("BU-3DFE Acc.", "Bosphorus Acc."):
        assert t5.columns[int(np.argmax(t5.row(row)))] == "20"
    for row in ("BU-3DFE", "Bosphorus"):                      # best at 6 cm, non-increasing after
        r = list(t4.row(row))
        assert t4.columns[int(np.argmax(r))] == "6 cm" and r[1:] == sorted(r[1:], reverse=True)
    assert round(t4.cell("BU-3DFE", "6 cm") - t4.cell("BU-3DFE", "14 cm"), 2) == 2.52
    assert round(t4.cell("Bosphorus", "6 cm") - t4.cell("Bosphorus", "14 cm"), 2) == 1.37   # '> 2.5 %' fails: flagged
    assert t4.errata and "1.37" in t4.errata[0]["issue"]
    drops = [round(t6.cell(f"{d} / Full image", m) - t6.cell(f"{d} / Facial part", m), 2)
             for d in ("BU-3DFE", "Bosphorus") for m in ("Texture", "Depth")]
    assert drops == [10.40, 11.44, 11.47, 8.21] and sum(x > 10 for x in drops) == 3
    annotated = {r for r in t1.row_labels if t1.cell(r, "Extra annotations") == "yes"}
    assert len(annotated) == 7 and "Gong et al. [7]" in annotated


# --------------------------------------------------------------------------- attention_transformer (§6.4, §12)

def test_attention_transformer_figures_and_tables_agree():
    for fid in ("fig12a", "fig12b", "fig17a"):
        pc = P.confusion_matrix("attention_transformer", fid)
        tol = 0.05 * pc.matrix.shape[1]
        assert np.all(np.abs(pc.matrix.sum(axis=1) - 100) <= tol + 1e-9), fid
    diag = {f: round(float(np.mean(np.diag(P.confusion_matrix("attention_transformer", f)[0]))), 2)
            for f in ("fig12a", "fig12b", "fig17a")}
    assert diag == {"fig12a": 91.80, "fig12b": 85.23, "fig17a": 66.59}
    t = {i: P.table("attention_transformer", i) for i in ("IV", "V", "VI", "VII", "VIII", "IX")}
    assert t["IV"].cell("This", "Accuracy (%)") == t["VI"].cell("RGB+Depth", "Accuracy (%)") == t["VII"].cell("CMSA, ViT", -1) == 91.66
    assert t["IV"].cell("CMFN [34]", "Accuracy (%)") == P.table("cmcnn", "V").cell("CM-CNN", "P1")
    assert t["VIII"].cell("Island", -1) == [x for x in P.text_numbers("attention_transformer") if x["printed"] == "62,50"][0]["values"][0]
    assert max(t["VII"].column(-1)) == t["VII"].cell("CMSA, ViT", -1)


def test_attention_fig12b_counts_rebuild_the_printed_matrix_and_table_v():
    pc = P.confusion_matrix("attention_transformer", "fig12b", order="paper")
    counts = np.array(pc.derived["counts"])
    totals = counts.sum(axis=1)
    assert list(totals) == pc.derived["row_totals"] and totals.sum() == 500 == 2500 // 5
    for i in range(7):
        for j in range(7):
            assert same_printed(Decimal(int(counts[i, j])) * 100 / int(totals[i]), P.PrintedNumber(pc.printed[i][j])), (i, j)
    correct = int(np.trace(counts))
    assert correct == 438 and same_printed(Decimal(correct) * 100 / 500, P.table("attention_transformer", "V").cell("This", 1))


def test_attention_dataset_counts():
    f3, f15 = P.table("attention_transformer", "fig3"), P.table("attention_transformer", "fig15")
    assert f3.row_labels == f15.row_labels == tuple(sorted(ALL_EXPRESSIONS))
    for c in f3.row_labels:
        assert sum(f3.row(c)) == f15.cell(c, "Global")
    assert [sum(f3.column(j)) for j in range(3)] == [2500, 8716, 902] and sum(f15.column(0)) == 12118
    printed_totals = {e["printed"] for e in P.errata("attention_transformer") if e["table"] in ("fig3", "fig15", "IX")}
    assert {8617, 466, 12098} <= {int(x) for x in printed_totals}


# --------------------------------------------------------------------------- CM-CNN (cmcnn.md §5.9)

def test_cmcnn_consistency_checks():
    t = {i: P.table("cmcnn", i) for i in ("I", "II", "III", "IV", "V", "VI", "VII")}
    best = "Soft Focal loss (γ=2.0)"
    for col in ("P1", "P2"):
        assert t["I"].cell(best, f"BU-3DFE {col}") == t["II"].cell("G + L + D + CMFN", col) == t["V"].cell("CM-CNN", col)
    assert t["I"].cell(best, "Bosphorus") == t["III"].cell("G + L + D + CMFN", 0) == t["VI"].cell("CM-CNN", -1) == 85.16
    assert t["I"].cell(best, "VT-KFER") == t["IV"].cell("CM-CNN", -1) == 93.86
    for col in t["I"].columns:                                  # γ = 2 soft focal is best everywhere
        assert max(t["I"].column(col)) == t["I"].cell(best, col)

    def margin(tab, col):
        vals = sorted(nums(tab.column(col)), reverse=True)
        assert vals[0] == tab.cell("CM-CNN", col)
        return round(vals[0] - vals[1], 2)

    margins = [margin(t["IV"], "Accuracy (%)"), margin(t["V"], "P1"), margin(t["V"], "P2"), margin(t["VI"], "Accuracy (%)")]
    assert margins == [4.64, 0.88, 0.32, 2.66]
    assert margins == [float(v) for v in [x for x in P.text_numbers("cmcnn") if x["where"] == "§V"][0]["values"]]
    for gamma in ("1.5", "2.5", "2.0"):                          # soft beats hard in all 12 pairs
        for col in t["I"].columns:
            assert t["I"].cell(f"Soft Focal loss (γ={gamma})", col) > t["I"].cell(f"Focal loss (γ={gamma})", col)
    for tab, cols in ((t["II"], ("P1", "P2")), (t["III"], ("Accuracy (%)",))):
        for col in cols:                                        # G > D > L > B > H, CMFN beats concatenation
            single = [tab.cell(x, col) for x in "GDLBH"]
            assert single == sorted(single, reverse=True)
            for pair in ("G + L", "G + D", "L + D"):
                assert tab.cell(f"{pair} + CMFN", col) > tab.cell(pair, col)
    assert t["V"].cell("Zeng et al. (2013) [82]", "P1") == "N / A"
    assert 2129 + 2092 == 4221 and round(1000 / (15 + 28), 2) == 23.26


# --------------------------------------------------------------------------- MFF-CNN (mffcnn.md §5.8, §5.9)

MFF = {"fig4": ("2", "CK+"), "fig5": ("3", "JAFFE"), "fig6": ("4", "Oulu-CASIA"), "fig7": ("5", None)}


@pytest.mark.parametrize("fid", list(MFF))
def test_mffcnn_counts_rebuild_into_whole_numbers(fid):
    pc = P.confusion_matrix("mffcnn", fid, order="paper")
    n = pc.derived["predictions_per_class"]
    counts = np.array(pc.derived["counts"])
    assert list(counts.sum(axis=1)) == n                         # rows sum to n exactly
    for i, row in enumerate(pc.printed):
        for j, cell in enumerate(row):
            exact = Decimal(cell) * n[i] / 100                  # printed % x n must be (nearly) an integer ...
            assert abs(exact - int(counts[i, j])) <= Decimal("0.005") * n[i] / 100 + Decimal("1e-9"), (i, j)
            assert same_printed(Decimal(int(counts[i, j])) * 100 / n[i], P.PrintedNumber(cell)), (i, j)
    tid, dataset = MFF[fid]
    if dataset:                                                 # n = 10 x Table 1 (each sample predicted 10 times)
        assert n == [10 * x for x in P.table("mffcnn", "1").row(dataset)[:6]]
    pooled = Decimal(int(np.trace(counts))) * 100 / sum(n)
    assert same_printed(pooled, P.table("mffcnn", tid).cell("MFF-CNN", "Accuracy(%)"))


def test_mffcnn_count_check_catches_a_mistyped_cell():
    pc = P.confusion_matrix("mffcnn", "fig6", order="paper")
    n, counts = pc.derived["predictions_per_class"], pc.derived["counts"]
    # 93.46 % of 2400 = 2243.04 -> 2243; a typo 93.64 would not re-round from any count near it
    assert same_printed(Decimal(counts[0][0]) * 100 / n[0], P.PrintedNumber("93.46"))
    assert not same_printed(Decimal(counts[0][0]) * 100 / n[0], P.PrintedNumber("93.64"))


def test_mffcnn_tables_consistency():
    t1, t6 = P.table("mffcnn", "1"), P.table("mffcnn", "6")
    for r in t1.row_labels:
        assert sum(t1.row(r)[:6]) == t1.cell(r, "Total")
    assert t1.cell("JAFFE", "Total") == 183 * 8 and t1.cell("CK+", "Total") == 309 * 3
    flagged = {e["cell"][0] for e in t6.errata if e.get("cell") and e["cell"][1] == "Avg"}
    # the mean of six cells each rounded to 0.01 is uncertain by 0.005, the printed Avg by another 0.005
    mismatched = {r for r in t6.row_labels
                  if abs(sum(Decimal(str(v)) for v in t6.row(r)[1:7]) / 6 - Decimal(str(t6.cell(r, "Avg")))) > Decimal("0.01")}
    assert mismatched == flagged == {"MFF-CNN without joint tuning"}
    diag = P.per_class_accuracy("mffcnn", "fig6")
    assert P.per_class_accuracy("mffcnn", "6", "MFF-CNN") == pytest.approx(diag)
    assert t6.cell("MFF-CNN", "Avg") == P.table("mffcnn", "4").cell("MFF-CNN", "Accuracy(%)")
    for r in t6.row_labels[1:]:                                 # every deletion lowers the average
        assert t6.cell(r, "Avg") < t6.cell("MFF-CNN", "Avg")
    acc = {tid: P.table("mffcnn", tid).column("Accuracy(%)") for tid in ("2", "3", "4")}
    assert round(acc["2"][-1] - acc["2"][0], 2) == 5.34 and round(acc["2"][-1] - acc["2"][1], 2) == 1.55
    assert (round(acc["3"][-1] - acc["3"][2], 2), round(acc["3"][-1] - acc["3"][0], 2)) == (1.77, 4.52)
    assert (round(acc["4"][-1] - acc["4"][2], 2), round(acc["4"][-1] - acc["4"][0], 2)) == (8.80, 15.05)   # text '9.80' flagged
    assert any(e["corrected_if_known"] == 8.80 for e in P.errata("mffcnn", "4"))


# --------------------------------------------------------------------------- against the paper texts (when present)

def _papers_dir() -> Path | None:
    env = os.environ.get("FERBENCH_SHARED_DIR")
    root = Path(__file__).resolve().parents[1]
    for c in ([Path(env)] if env else []) + [root.parent / "shared", root / "shared"]:
        if (c / "papers").is_dir():
            return c / "papers"
    return None


@pytest.mark.parametrize("paper", P.PAPERS)
def test_printed_numbers_occur_in_the_paper_text(paper):
    d = _papers_dir()
    if d is None:
        pytest.skip("shared/papers not found (set FERBENCH_SHARED_DIR)")
    text = (d / P.paper_info(paper).source_text).read_text(encoding="utf-8")
    tokens = set(re.findall(r"\d+(?:[.,]\d+)?", text))
    checked = missing = 0
    for _, id, _ in P.list_tables(paper):
        t = P.table(paper, id)
        if paper == "attention_transformer" and t.kind == "figure":
            continue                                             # read off figure images, not in the text
        if paper == "dfcnn" and id == "I":
            continue
        implied = {tuple(c) for cm in t.extra.get("confusion_matrices", []) for c in cm.get("implied_cells", [])}
        for i, (r, vals) in enumerate(zip(t.row_labels, t.values)):
            for j, v in enumerate(vals):
                if isinstance(v, P.PrintedNumber) and (i, j) not in implied:
                    tok = v.text.replace(".", ",") if paper == "attention_transformer" else v.text
                    checked += 1
                    if tok not in tokens:
                        missing += 1
                        print("missing", paper, id, r, tok)
    assert checked >= 10 and missing == 0
