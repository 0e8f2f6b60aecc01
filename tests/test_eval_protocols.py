"""Protocols: counts from the specs' cheat-sheets, subject disjointness, seeds, leakage helper, metrics."""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

from ferbench.errors import DatasetError
from ferbench.eval import metrics
from ferbench.eval.protocols import (LeakWarning, ProtocolSplits, Split, check_subject_disjoint, leaky_sample_split,
                                     list_protocols, make_splits, pi_sessions, subject_key)
from ferbench.eval.testing import fake_index, write_fake_files
from ferbench.labels import EXPRESSIONS

MAPS_PER_SCAN = 6  # DF-CNN: six attribute maps per scan (dfcnn.md §1.5)


@pytest.fixture(scope="module")
def full_index():
    """Paper-sized: 100 BU-3DFE subjects x 25 scans, 65 complete Bosphorus subjects + 3 incomplete."""
    return fake_index(100, 65, bosphorus_incomplete=3)


@pytest.fixture(scope="module")
def index_2d(tmp_path_factory):
    root = tmp_path_factory.mktemp("d2")
    idx = fake_index(12, 4, root=str(root))
    write_fake_files(idx)
    for r in idx.records:  # the 2D frontal images the 2D protocols look for
        p = r.path[:-len("_F3D.wrl")] + "_F2D.bmp" if r.dataset == "bu3dfe" else r.path[:-4] + ".png"
        open(p, "ab").close()
    return idx


def _all_protocol_splits(full_index, index_2d, rounds=3):
    for name in list_protocols():
        idx = index_2d if name.startswith("mffcnn") else full_index
        yield name, make_splits(name, idx, rounds=rounds, seed=7)


def test_no_subject_in_train_and_test_in_any_fold_of_any_protocol(full_index, index_2d):
    seen = set()
    for name, ps in _all_protocol_splits(full_index, index_2d):
        g = np.asarray(ps.groups(), dtype=object)
        assert ps.splits, name
        for s in ps.splits:
            assert not s.leaky
            assert len(s.test) > 0 and len(s.train) > 0, (name, s.name)
            assert set(g[s.train]).isdisjoint(set(g[s.test])), (name, s.name)
            assert len(np.intersect1d(s.train, s.test)) == 0
        seen.add(name)
    assert {"bu3dfe_subset1_pi", "bu3dfe_subset2_cv10", "bosphorus_cv10", "bu3dfe_p1_paper", "bu3dfe_p2_paper",
            "bu3dfe_setting1_720", "bu3dfe_p2_redraw", "bosphorus_p1_paper", "bu3dfe_full_5fold",
            "mffcnn_2d_cv10", "mffcnn_2d_loso", "mffcnn_2d_oulu"} <= seen


def test_every_subject_tested_exactly_once_per_round(full_index, index_2d):
    for name, ps in _all_protocol_splits(full_index, index_2d, rounds=2):
        if name == "bu3dfe_subset1_pi":
            continue
        g = np.asarray(ps.groups(), dtype=object)
        for r in range(2):
            test_idx = np.concatenate([s.test for s in ps.splits if s.round == r])
            assert len(test_idx) == len(set(test_idx.tolist())), name  # no sample tested twice
            train0 = next(s for s in ps.splits if s.round == r)
            pool = set(g[np.concatenate([train0.train, train0.test])])
            assert set(g[test_idx]) == pool, name


def test_dfcnn_counts_cheat_sheet(full_index):
    # BU-3DFE subjects / scans: 100 / 2,500
    assert len(full_index.filter(dataset="bu3dfe")) == 2500
    # P-I: 60 evaluation subjects (720 scans, 4,320 maps), 40 training subjects (480 scans, 2,880 maps)
    pi = make_splits("bu3dfe_subset1_pi", full_index, seed=0)
    assert len(pi.records) == 1200 and len(pi.records) * MAPS_PER_SCAN == 7200  # Subset I
    (s,) = pi.splits
    assert len(s.test) == 720 and len(s.test) * MAPS_PER_SCAN == 4320
    assert len(s.train) == 480 and len(s.train) * MAPS_PER_SCAN == 2880
    assert len(pi.meta["eval_subjects"]) == 60 and len(pi.meta["train_subjects"]) == 40
    # P-I sessions: 54 vs 6 subjects -> 648 / 72 scans
    groups = np.asarray(pi.groups(), dtype=object)
    sessions = pi_sessions(pi.meta["eval_subjects"], 1000, 6, seed=0)
    assert len(sessions) == 1000
    for test_subs in sessions[:50]:
        te = np.isin(groups[s.test], test_subs)
        assert te.sum() == 72 and (~te).sum() == 648
        assert Counter(pi.labels[s.test][te].tolist()) == {k: 12 for k in range(6)}  # balanced
    # Subset II: 2,400 scans / 14,400 maps; fold 12,960 / 1,440 maps
    s2 = make_splits("bu3dfe_subset2_cv10", full_index, seed=0)
    assert len(s2.records) == 2400 and len(s2.records) * MAPS_PER_SCAN == 14400
    assert len(s2.splits) == 10
    for s in s2.splits:
        assert len(s.train) * MAPS_PER_SCAN == 12960 and len(s.test) * MAPS_PER_SCAN == 1440
        assert Counter(s2.labels[s.test].tolist()) == {k: 40 for k in range(6)}
    # Bosphorus: 65 subjects with all six expressions (390 pairs); subset 60 / 360 / 2,160; fold 1,944 / 216
    bos = full_index.filter(dataset="bosphorus", kind="E")
    complete = [sub for sub in bos.subjects() if len(bos.filter(subject=sub)) == 6]
    assert len(complete) == 65 and 6 * len(complete) == 390
    b = make_splits("bosphorus_cv10", full_index, seed=0)
    assert len(b.records) == 360 and len(b.records) * MAPS_PER_SCAN == 2160
    assert sorted({r.subject for r in b.records}) == sorted(complete)[:60]  # first 60 sorted (dfcnn.md §9 #4)
    for s in b.splits:
        assert len(s.train) * MAPS_PER_SCAN == 1944 and len(s.test) * MAPS_PER_SCAN == 216
        assert Counter(b.labels[s.test].tolist()) == {k: 6 for k in range(6)}


def test_cmcnn_both_readings(full_index):
    p1 = make_splits("bu3dfe_p1_paper", full_index, seed=3)
    p2 = make_splits("bu3dfe_p2_paper", full_index, seed=3)
    s1 = make_splits("bu3dfe_setting1_720", full_index, seed=3, rounds=2)
    assert len(p1.records) == len(p2.records) == 360 and len(s1.records) == 720
    assert {r.intensity for r in p1.records} == {4} and {r.intensity for r in p2.records} == {3}
    assert {r.intensity for r in s1.records} == {3, 4}
    subs = {r.subject for r in p1.records}
    assert len(subs) == 60 and subs == {r.subject for r in p2.records} == {r.subject for r in s1.records}
    for s in p1.splits:  # 10 folds of 6 subjects = 36 samples
        assert len(s.test) == 36 and len(p1.subjects_of(s.test)) == 6
    for s in s1.splits:
        assert len(s.test) == 72
    # setting1 re-partitions the same 60 subjects; the redraw reading draws new subjects every round
    r0 = [set(s1.subjects_of(s.test)) for s in s1.splits if s.round == 0]
    r1 = [set(s1.subjects_of(s.test)) for s in s1.splits if s.round == 1]
    assert r0 != r1
    rd = make_splits("bu3dfe_p2_redraw", full_index, seed=3, rounds=2)
    per_round = [set().union(*(rd.subjects_of(np.concatenate([s.train, s.test])) for s in rd.splits if s.round == r))
                 for r in range(2)]
    assert all(len(x) == 60 for x in per_round) and per_round[0] != per_round[1]
    bp = make_splits("bosphorus_p1_paper", full_index, seed=3)
    assert len(bp.records) == 360 and len({r.subject for r in bp.records}) == 60
    assert {r.subject for r in bp.records} != {r.subject for r in make_splits("bosphorus_cv10", full_index).records}


def test_raimondo_s2_includes_neutral(full_index):
    ps = make_splits("bu3dfe_full_5fold", full_index, seed=0)
    assert ps.n_classes == 7 and ps.classes[-1] == "neutral"
    assert len(ps.records) == 2500
    for s in ps.splits:  # 20 subjects per fold: 500 test images = 80 per expression + 20 neutral
        c = Counter(ps.labels[s.test].tolist())
        assert len(s.test) == 500 and c[6] == 20 and all(c[k] == 80 for k in range(6))


def test_mffcnn_2d_protocols_use_images_and_group_by_subject(index_2d):
    ps = make_splits("mffcnn_2d_loso", index_2d, seed=0)
    n_subj = len({subject_key(r) for r in ps.records})
    assert ps.modality == "2d" and len(ps.splits) == n_subj == 16
    assert all(len(ps.subjects_of(s.test)) == 1 for s in ps.splits)
    # BU-3DFE levels 2-4 (3 per expression) and the six Bosphorus E_ images
    assert len(ps.records) == 12 * 6 * 3 + 4 * 6
    assert "not the paper's protocol" in ps.meta["note"]
    cv = make_splits("mffcnn_2d_cv10", index_2d, seed=0)
    assert len(cv.splits) == 10


def test_missing_2d_images_give_a_clear_error(full_index):
    with pytest.raises(DatasetError, match="2D images"):
        make_splits("mffcnn_2d_cv10", full_index)


def test_seed_reproducible_and_seed_sensitive(full_index):
    a = make_splits("bu3dfe_setting1_720", full_index, seed=11, rounds=2)
    b = make_splits("bu3dfe_setting1_720", full_index, seed=11, rounds=2)
    c = make_splits("bu3dfe_setting1_720", full_index, seed=12, rounds=2)
    assert a.to_json() == b.to_json()
    assert {r.subject for r in a.records} != {r.subject for r in c.records}


def test_pi_sessions_modes():
    subs = [f"s{i:02d}" for i in range(60)]
    a = pi_sessions(subs, 1000, 6, "random", seed=1)
    assert a == pi_sessions(subs, 1000, 6, "random", seed=1) and a != pi_sessions(subs, 1000, 6, "random", seed=2)
    assert all(len(set(t)) == 6 for t in a)
    counts = Counter(s for t in a for s in t)
    assert len(set(counts.values())) > 1  # independent draws: not perfectly balanced
    k = pi_sessions(subs, 1000, 6, "repeated_kfold", seed=1)
    assert len(k) == 1000 and Counter(s for t in k for s in t) == {s: 100 for s in subs}
    for r in range(100):  # each round of 10 sessions is a partition
        assert sorted(s for t in k[10 * r:10 * r + 10] for s in t) == subs
    with pytest.raises(DatasetError):
        pi_sessions(subs, 1000, 7, "repeated_kfold")


def test_scaled_down_for_few_subjects():
    ps = make_splits("bu3dfe_setting1_720", fake_index(20), seed=0, folds=4)
    assert ps.meta["scaled"] and ps.meta["n_selected"] == 12 and len({r.subject for r in ps.records}) == 12
    with pytest.raises(DatasetError, match="cannot fill"):
        make_splits("bu3dfe_setting1_720", fake_index(10), seed=0)  # 6 subjects, 10 folds
    ms = make_splits("bu3dfe_subset2_cv10", fake_index(100), max_subjects=8, folds=4)
    assert len({r.subject for r in ms.records}) == 8


def test_unknown_protocol():
    with pytest.raises(DatasetError, match="unknown protocol"):
        make_splits("nope", fake_index(4))


def test_leaky_split_only_on_request_and_warns(full_index):
    ps = make_splits("bu3dfe_setting1_720", full_index, seed=0)
    with pytest.warns(LeakWarning, match="identities"):
        lk = leaky_sample_split(ps, n_folds=10, rounds=2, seed=0)
    assert len(lk.splits) == 20 and all(s.leaky for s in lk.splits) and lk.meta["leaky"]
    g = np.asarray(lk.groups(), dtype=object)
    overlaps = [len(set(g[s.train]) & set(g[s.test])) for s in lk.splits]
    assert min(overlaps) > 0  # it really leaks
    check_subject_disjoint(lk)  # leaky splits are flagged, so the checker accepts them
    # the same overlap in a split NOT flagged leaky is rejected
    bad = ProtocolSplits(ps.protocol, ps.records, ps.labels, ps.classes,
                         [Split(0, 0, lk.splits[0].train, lk.splits[0].test)])
    with pytest.raises(DatasetError, match="subjects in train and test"):
        check_subject_disjoint(bad)
    # no other protocol produces leaky splits (and none warns)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakWarning)
        for name in list_protocols():
            if not name.startswith("mffcnn"):
                assert not any(s.leaky for s in make_splits(name, full_index).splits)


def test_metrics_on_hand_made_predictions():
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 1, 0, 1, 1, 0]
    cm = metrics.confusion_matrix(y, p, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics.accuracy(y, p) == pytest.approx(4 / 6)
    np.testing.assert_allclose(metrics.per_class_accuracy(cm), [2 / 3, 1.0, 0.0])
    assert metrics.mean_per_class_accuracy(cm) == pytest.approx((2 / 3 + 1) / 3)
    rn = metrics.row_normalised(cm)
    np.testing.assert_allclose(rn.sum(1), [100, 100, 100])
    avg = metrics.mean_row_normalised([cm, np.eye(3, dtype=int)])
    np.testing.assert_allclose(avg[0], [(200 / 3 + 100) / 2, 100 / 6, 0])
    pcs = metrics.per_class_accuracy(metrics.confusion_matrix([0], [0], 2))
    assert pcs[0] == 1 and np.isnan(pcs[1])
    with pytest.raises(ValueError):
        metrics.confusion_matrix([0, 5], [0, 1], 3)
    assert len(EXPRESSIONS) == 6


def test_chance_test_exact_binomial_tail_and_wilson_interval():
    from math import comb, sqrt

    n, k, q = 24, 9, 1 / 6
    t = metrics.chance_test(k, n, q)
    tail = sum(comb(n, x) * q ** x * (1 - q) ** (n - x) for x in range(k, n + 1))
    assert t["p_value"] == pytest.approx(tail, rel=1e-10) and 0.01 < tail < 0.02
    z, ph = 1.959963984540054, k / n
    centre = (ph + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    np.testing.assert_allclose(t["ci95"], [centre - half, centre + half], rtol=1e-10)
    assert t["accuracy"] == pytest.approx(0.375) and t["n"] == 24
    assert metrics.chance_test(4, 24, q)["p_value"] > 0.4            # chance-level: no evidence
    assert metrics.chance_test(0, 10, q)["p_value"] == pytest.approx(1.0)
    assert np.isnan(metrics.chance_test(0, 0, q)["p_value"])
    with pytest.raises(ValueError):
        metrics.chance_test(5, 4, q)


def test_svm_sessions_on_separable_and_random_features():
    from ferbench.eval.sessions import svm_sessions

    rng = np.random.default_rng(0)
    subs = [f"s{i:02d}" for i in range(12)]
    groups = np.repeat(subs, 12)
    labels = np.tile(np.repeat(np.arange(6), 2), 12)
    sep = np.eye(6)[labels] * 5 + 0.1 * rng.standard_normal((len(labels), 6))
    sessions = pi_sessions(subs, 20, 2, seed=0)
    r = svm_sessions(sep, labels, groups, sessions, fixed_pred=labels)
    assert r["mean"] == 1.0 and r["fixed_mean"] == 1.0 and len(r["accuracies"]) == 20
    np.testing.assert_allclose(np.diag(r["confusion_row_normalised_mean"]), 100)
    # the fixed predictor's session mean is the mean over sessions of its per-session accuracy
    half = np.where(groups < "s06", labels, (labels + 1) % 6)
    rr = svm_sessions(sep, labels, groups, sessions, fixed_pred=half)
    expect = np.mean([np.mean([t < "s06" for t in np.repeat(s, 12)]) for s in sessions])
    assert rr["fixed_mean"] == pytest.approx(expect)
    noise = rng.standard_normal((len(labels), 6))
    assert svm_sessions(noise, labels, groups, sessions)["mean"] < 0.6
