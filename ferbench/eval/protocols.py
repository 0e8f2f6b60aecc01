"""Named, seeded, subject-independent evaluation protocols over a dataset index.

Every protocol turns a :class:`~ferbench.io.dataset.DatasetIndex` into a
:class:`ProtocolSplits`: the selected records, their labels and a list of :class:`Split`
(round, fold, train indices, test indices). Folds are always **grouped by subject**: no
subject is ever in both the train and the test part of a split
(:func:`check_subject_disjoint`). The only way to obtain a sample-level (identity-leaking)
split, as some papers used, is :func:`leaky_sample_split`, which warns.

Protocols (``list_protocols()``; spec section in brackets):

=========================  =================================================================
``bu3dfe_subset1_pi``      DF-CNN P-I [dfcnn.md §1.4]: Subset I (levels 3, 4; 12 scans per
                           subject); 40 subjects train the network once, the other 60 are the
                           test set of the one-time prediction; :func:`pi_sessions` draws the
                           1,000 random 54-vs-6 SVM sessions over those 60.
``bu3dfe_subset2_cv10``    DF-CNN P-CV10 on Subset II (levels 1-4, 24 scans per subject),
                           10 subject folds of 10 subjects.
``bosphorus_cv10``         DF-CNN P-CV10 on the Bosphorus subset: the first 60 (sorted ids)
                           subjects having all six E_ scans, 10 folds of 6.
``bu3dfe_p1_paper``        CM-CNN literal P1 [cmcnn.md §1.3]: 60 seeded subjects, level 4 only
                           (360 samples), 10 subject folds.
``bu3dfe_p2_paper``        CM-CNN literal P2: the same 60 subjects, level 3 only.
``bu3dfe_setting1_720``    Literature Setting I (CM-CNN's second reading of P1, Raimondo S1,
                           Jiao alias): the same 60 subjects, levels 3+4 (720), 10 folds;
                           each round re-partitions the same 60 subjects.
``bu3dfe_p2_redraw``       Literature P2 (CM-CNN second reading) = ``bu3dfe_jiao2020``
                           [gemax_fa.md §5]: a new random 60 subjects every round.
``bosphorus_p1_paper``     CM-CNN Bosphorus: 60 seeded subjects of those with all six E_ scans.
``bosphorus_jiao2020``     Jiao et al.: 60 of the eligible subjects re-drawn every round.
``bu3dfe_full_5fold``      Raimondo S2 [attention_transformer.md §1.7]: all 25 scans per subject
                           incl. neutral (7 classes, neutral = label 6), 5 subject folds.
``mffcnn_2d_cv10``         MFF-CNN CK+-style clean protocol [mffcnn.md §2.7]: subject-grouped
                           stratified 10-fold over the **2D** frontal images.
``mffcnn_2d_loso``         MFF-CNN JAFFE-style: leave-one-subject-out over the 2D images.
``mffcnn_2d_oulu``         MFF-CNN Oulu-style: 10 folds of equally many subjects (2D images).
=========================  =================================================================

MFF-CNN's datasets (CK+, JAFFE, Oulu-CASIA) are 2D video/image sets that ferbench does not
read. Its protocols are therefore mapped onto the 2D records that exist: BU-3DFE
``*_F2D.bmp`` frontal renders (levels 2-4, mirroring the last three frames of a CK+/Oulu
sequence) and Bosphorus ``E_`` PNGs; the split logic is the spec's clean subject-independent
one, labelled "not the paper's protocol" (the paper's sample-level 10x10 split leaks identities
and is only available through :func:`leaky_sample_split`).

Fewer subjects than the paper (synthetic quick runs): "60 of 100" becomes 60 % of the
subjects, "60 of 65" keeps min(60, n); the scaling is recorded in ``meta["scaled"]``.
Selection is reproducible: sorted candidate ids, ``numpy.random.default_rng(seed)``;
round ``r`` partitions with ``default_rng([seed, r])`` (redraw protocols select with it too).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ferbench.errors import DatasetError
from ferbench.labels import ALL_EXPRESSIONS, EXPRESSIONS, label_index

__all__ = [
    "Split", "ProtocolSplits", "Protocol", "PROTOCOLS", "list_protocols", "get_protocol", "make_splits",
    "subject_folds", "pi_sessions", "leaky_sample_split", "check_subject_disjoint", "subject_key",
    "image_path_2d", "LeakWarning",
]


class LeakWarning(UserWarning):
    """Emitted by :func:`leaky_sample_split`: the same identities are in train and test."""


@dataclass(frozen=True)
class Split:
    """One train/test partition of a protocol's records.

    Attributes
    ----------
    round, fold
        Repetition and fold number (0-based).
    train, test
        Indices into :attr:`ProtocolSplits.records`.
    leaky
        True only for splits made by :func:`leaky_sample_split`.
    """

    round: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    leaky: bool = False

    @property
    def name(self) -> str:
        from ferbench.eval.results import split_name

        return split_name(self.round, self.fold)


@dataclass
class ProtocolSplits:
    """A protocol applied to a dataset: records, labels, splits and what was chosen.

    Attributes
    ----------
    protocol
        Protocol name.
    records
        The selected :class:`~ferbench.io.dataset.ScanRecord` (union over rounds).
    labels
        Integer class of each record (``EXPRESSIONS`` order; neutral = 6 when used).
    classes
        Class names in label order.
    splits
        The train/test splits.
    modality
        ``"3d"`` (scans -> maps) or ``"2d"`` (frontal images, see :func:`image_path_2d`).
    meta
        Seed, chosen subject lists, scaling notes (JSON-serialisable).
    """

    protocol: str
    records: list
    labels: np.ndarray
    classes: tuple[str, ...]
    splits: list[Split]
    modality: str = "3d"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def groups(self) -> list[str]:
        """Subject key of every record (see :func:`subject_key`)."""
        return [subject_key(r) for r in self.records]

    def subjects_of(self, idx: Iterable[int]) -> set[str]:
        g = self.groups()
        return {g[i] for i in idx}

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable description (paths relative to nothing: absolute as indexed)."""
        g = self.groups()
        return {
            "protocol": self.protocol, "modality": self.modality, "classes": list(self.classes),
            "meta": self.meta,
            "records": [{"path": r.path, "subject": r.subject, "dataset": r.dataset, "expression": r.expression,
                         "intensity": r.intensity, "label": int(y), "synthetic": bool(r.synthetic)}
                        for r, y in zip(self.records, self.labels)],
            "splits": [{"round": s.round, "fold": s.fold, "leaky": s.leaky,
                        "train_subjects": sorted({g[i] for i in s.train}),
                        "test_subjects": sorted({g[i] for i in s.test}),
                        "train": [int(i) for i in s.train], "test": [int(i) for i in s.test]}
                       for s in self.splits],
        }


def subject_key(record) -> str:
    """Identity used for grouping: ``"dataset/subject"`` (ids of different datasets never merge)."""
    return f"{record.dataset}/{record.subject}"


def image_path_2d(record) -> str | None:
    """The frontal 2D image that goes with a scan record, or None if it does not exist.

    BU-3DFE: ``<SID>_<EX><LL><RACE>_F2D.bmp`` beside the ``_F3D.wrl``; Bosphorus: the ``.png``
    beside the ``.bnt``.
    """
    p = record.path
    stem, _ = os.path.splitext(p)
    if record.dataset == "bu3dfe":
        cands = [stem[:-4] + "_F2D.bmp"] if stem.upper().endswith("_F3D") else []
    else:
        cands = [stem + ".png", stem + ".PNG"]
    for c in cands:
        if os.path.isfile(c):
            return c
    return None


# --------------------------------------------------------------------------- fold helpers
def subject_folds(subjects: Sequence[str], n_folds: int, rng: np.random.Generator) -> list[list[str]]:
    """Shuffle subjects (after sorting, so the result depends only on the set and the rng) into
    ``n_folds`` groups whose sizes differ by at most one.

    Raises
    ------
    DatasetError
        If there are fewer subjects than folds or ``n_folds < 2``.
    """
    subs = sorted(set(subjects))
    if n_folds < 2:
        raise DatasetError(f"need at least 2 folds, got {n_folds}")
    if len(subs) < n_folds:
        raise DatasetError(f"{len(subs)} subjects cannot fill {n_folds} subject-disjoint folds; "
                           f"use fewer folds (--folds) or more subjects")
    perm = rng.permutation(len(subs))
    return [[subs[i] for i in part] for part in np.array_split(perm, n_folds)]


def _splits_from_folds(groups: Sequence[str], folds: list[list[str]], rnd: int,
                       subset: np.ndarray | None = None) -> list[Split]:
    g = np.asarray(groups, dtype=object)
    pool = np.arange(len(g)) if subset is None else np.asarray(subset)
    out = []
    for f, test_subs in enumerate(folds):
        in_test = np.isin(g[pool], np.asarray(test_subs, dtype=object))
        out.append(Split(rnd, f, np.sort(pool[~in_test]), np.sort(pool[in_test])))
    return out


def pi_sessions(subjects: Sequence[str], n_sessions: int = 1000, n_test: int = 6, mode: str = "random",
                seed: int = 0) -> list[tuple[str, ...]]:
    """Test-subject sets of DF-CNN's P-I SVM sessions [dfcnn.md §1.4].

    Parameters
    ----------
    subjects
        The evaluation subjects (60 in the paper).
    n_sessions
        Number of sessions (1,000).
    n_test
        Test subjects per session (6; the other 54 train the SVM).
    mode
        ``"random"``: each session draws ``n_test`` subjects uniformly without replacement,
        independently of the others (default). ``"repeated_kfold"``: ``n_sessions / k`` rounds of
        a k-fold partition with ``k = len(subjects) / n_test`` (100 x 10), so every subject is
        tested exactly ``n_sessions * n_test / len(subjects)`` times.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    list of tuple of str
        Sorted test-subject ids per session.
    """
    subs = sorted(set(subjects))
    if not 1 <= n_test < len(subs):
        raise DatasetError(f"n_test must be in [1, {len(subs) - 1}], got {n_test}")
    rng = np.random.default_rng(seed)
    if mode == "random":
        return [tuple(sorted(subs[i] for i in rng.choice(len(subs), n_test, replace=False)))
                for _ in range(n_sessions)]
    if mode == "repeated_kfold":
        if len(subs) % n_test:
            raise DatasetError(f"repeated_kfold needs len(subjects) ({len(subs)}) divisible by n_test ({n_test})")
        k = len(subs) // n_test
        if n_sessions % k:
            raise DatasetError(f"repeated_kfold needs n_sessions ({n_sessions}) divisible by the fold count {k}")
        out = []
        for _ in range(n_sessions // k):
            perm = rng.permutation(len(subs))
            out += [tuple(sorted(subs[i] for i in part)) for part in perm.reshape(k, n_test)]
        return out
    raise ValueError(f"unknown mode {mode!r}; expected 'random' or 'repeated_kfold'")


def check_subject_disjoint(ps: ProtocolSplits) -> None:
    """Raise :class:`DatasetError` if any non-leaky split shares a subject between train and test."""
    g = np.asarray(ps.groups(), dtype=object)
    for s in ps.splits:
        if s.leaky:
            continue
        both = set(g[s.train]) & set(g[s.test])
        if both:
            raise DatasetError(f"protocol {ps.protocol} split {s.name}: subjects in train and test: "
                               f"{sorted(both)[:5]}")


def leaky_sample_split(ps: ProtocolSplits, n_folds: int = 10, rounds: int = 1, seed: int = 0) -> ProtocolSplits:
    """Sample-level (NOT subject-independent) k-fold, as several papers did. Identities leak.

    This is the only function in ferbench that produces splits sharing subjects between
    train and test; it exists to reproduce and demonstrate the leakage (e.g. MFF-CNN's
    ``paper_random_10x10``: ``KFold(10, shuffle=True, random_state=r)`` for r < rounds).

    Parameters
    ----------
    ps
        A protocol's records (its own splits are discarded).
    n_folds, rounds, seed
        ``rounds`` repetitions of a shuffled sample k-fold; round r uses seed ``seed + r``.

    Returns
    -------
    ProtocolSplits
        Same records, splits flagged ``leaky=True``, ``meta["leaky"] = True``,
        protocol name suffixed ``+leaky_sample``.
    """
    from sklearn.model_selection import KFold

    warnings.warn(f"leaky_sample_split({ps.protocol}): sample-level folds put the same subjects (identities) in "
                  f"train and test; accuracies are NOT subject-independent and not comparable", LeakWarning,
                  stacklevel=2)
    n = len(ps.records)
    if n < n_folds:
        raise DatasetError(f"{n} samples cannot fill {n_folds} folds")
    splits = []
    for r in range(rounds):
        kf = KFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
        for f, (tr, te) in enumerate(kf.split(np.arange(n))):
            splits.append(Split(r, f, np.sort(tr), np.sort(te), leaky=True))
    meta = dict(ps.meta, leaky=True, leak_note="sample-level split: identities leak between train and test")
    return ProtocolSplits(ps.protocol + "+leaky_sample", ps.records, ps.labels, ps.classes, splits, ps.modality, meta)


# --------------------------------------------------------------------------- protocol table
@dataclass(frozen=True)
class Protocol:
    """A named protocol: which records, how many folds/rounds, where it comes from."""

    name: str
    description: str
    source: str
    dataset: str                      # "bu3dfe" | "bosphorus" | "any"
    levels: tuple[int, ...] | None    # BU-3DFE intensity levels kept (None = n/a)
    n_select: int | None              # subjects chosen per protocol (None = all)
    select: str                       # "all" | "first" | "random" | "redraw" | "pi"
    n_folds: int
    paper_rounds: int
    modality: str = "3d"
    include_neutral: bool = False
    fold_kind: str = "group"          # "group" | "stratified_group" | "loso"
    note: str = ""


_P: dict[str, Protocol] = {}


def _reg(p: Protocol) -> None:
    _P[p.name] = p


_reg(Protocol("bu3dfe_subset1_pi", "DF-CNN P-I: 40 subjects train once, 60 evaluate (1,000 x 54-vs-6 SVM sessions)",
              "dfcnn.md §1.4", "bu3dfe", (3, 4), 60, "pi", 1, 1))
_reg(Protocol("bu3dfe_subset2_cv10", "DF-CNN P-CV10 on BU-3DFE Subset II (all 4 levels), 10 subject folds",
              "dfcnn.md §1.4", "bu3dfe", (1, 2, 3, 4), None, "all", 10, 1))
_reg(Protocol("bosphorus_cv10", "DF-CNN P-CV10 on the Bosphorus subset (first 60 sorted subjects), 10 subject folds",
              "dfcnn.md §1.4, §9 #4", "bosphorus", None, 60, "first", 10, 1))
_reg(Protocol("bu3dfe_p1_paper", "CM-CNN P1 (paper-literal): 60 seeded subjects, level 4, 10 subject folds",
              "cmcnn.md §1.3", "bu3dfe", (4,), 60, "random", 10, 1))
_reg(Protocol("bu3dfe_p2_paper", "CM-CNN P2 (paper-literal): the same 60 subjects, level 3, 10 subject folds",
              "cmcnn.md §1.3", "bu3dfe", (3,), 60, "random", 10, 1))
_reg(Protocol("bu3dfe_setting1_720", "Setting I (literature): 60 seeded subjects, levels 3+4, 10 subject folds, "
              "rounds re-partition the same 60", "cmcnn.md §1.3; attention_transformer.md §1.7 S1; gemax_fa.md §5",
              "bu3dfe", (3, 4), 60, "random", 10, 100))
_reg(Protocol("bu3dfe_p2_redraw", "P2 (literature) / Jiao 2020: a new random 60 subjects every round, levels 3+4, "
              "10 subject folds", "cmcnn.md §1.3; gemax_fa.md §5", "bu3dfe", (3, 4), 60, "redraw", 10, 100))
_reg(Protocol("bu3dfe_jiao2020", "alias of bu3dfe_p2_redraw (gemax_fa.md §5 preset)", "gemax_fa.md §5", "bu3dfe",
              (3, 4), 60, "redraw", 10, 100))
_reg(Protocol("bosphorus_p1_paper", "CM-CNN Bosphorus: 60 seeded subjects with all six expressions, 10 subject folds",
              "cmcnn.md §1.3", "bosphorus", None, 60, "random", 10, 1))
_reg(Protocol("bosphorus_jiao2020", "Jiao 2020 Bosphorus: 60 subjects re-drawn every round, 10 subject folds",
              "gemax_fa.md §5", "bosphorus", None, 60, "redraw", 10, 100))
_reg(Protocol("bu3dfe_full_5fold", "Raimondo S2: all 25 scans per subject incl. neutral (7 classes), 5 subject folds",
              "attention_transformer.md §1.7", "bu3dfe", (0, 1, 2, 3, 4), None, "all", 5, 1, include_neutral=True))
_2D_NOTE = ("not the paper's protocol: MFF-CNN's CK+/JAFFE/Oulu protocols mapped onto subject-grouped folds over "
            "the available 2D frontal images (BU-3DFE F2D levels 2-4, Bosphorus E_ PNGs)")
_reg(Protocol("mffcnn_2d_cv10", "MFF-CNN CK+-style: StratifiedGroupKFold(10) by subject over 2D images",
              "mffcnn.md §2.7", "any", (2, 3, 4), None, "all", 10, 1, modality="2d", fold_kind="stratified_group",
              note=_2D_NOTE))
_reg(Protocol("mffcnn_2d_loso", "MFF-CNN JAFFE-style: leave-one-subject-out over 2D images",
              "mffcnn.md §2.7", "any", (2, 3, 4), None, "all", 0, 1, modality="2d", fold_kind="loso", note=_2D_NOTE))
_reg(Protocol("mffcnn_2d_oulu", "MFF-CNN Oulu-style: 10 folds of equally many subjects over 2D images",
              "mffcnn.md §2.7", "any", (2, 3, 4), None, "all", 10, 1, modality="2d", note=_2D_NOTE))

PROTOCOLS: dict[str, Protocol] = _P


def list_protocols() -> list[str]:
    """Sorted protocol names."""
    return sorted(_P)


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name (:class:`DatasetError` listing the known names otherwise)."""
    try:
        return _P[name]
    except KeyError:
        raise DatasetError(f"unknown protocol {name!r}; known: {', '.join(list_protocols())}") from None


# --------------------------------------------------------------------------- building splits
def _candidates(p: Protocol, index) -> list:
    classes = ALL_EXPRESSIONS if p.include_neutral else EXPRESSIONS
    recs = []
    for r in index.records:
        if p.dataset != "any" and r.dataset != p.dataset:
            continue
        if r.expression not in classes:
            continue
        if r.dataset == "bu3dfe":
            lvl = 0 if r.expression == "neutral" else r.intensity
            if p.levels is not None and lvl not in p.levels:
                continue
        elif r.dataset == "bosphorus":
            if r.extra.get("kind", "E") not in ("E", "N") or int(r.extra.get("take", 0) or 0) != 0:
                continue
        if p.modality == "2d" and image_path_2d(r) is None:
            continue
        recs.append(r)
    if p.dataset == "bosphorus" or p.dataset == "any":
        # Bosphorus: only subjects that have all six expressions are eligible [dfcnn.md §1.2]
        by_sub: dict[str, set] = {}
        for r in recs:
            if r.dataset == "bosphorus":
                by_sub.setdefault(r.subject, set()).add(r.expression)
        ok = {s for s, e in by_sub.items() if set(EXPRESSIONS) <= e}
        recs = [r for r in recs if r.dataset != "bosphorus" or r.subject in ok]
    return recs


def _n_select(p: Protocol, n_available: int) -> tuple[int, bool]:
    """How many subjects to select; True when scaled down from the paper's count."""
    if p.n_select is None:
        return n_available, False
    if p.select == "pi" or (p.dataset == "bu3dfe" and n_available < 100):
        # "60 of 100": keep the 60/40 ratio (P-I needs the other 40 to train)
        if n_available >= 100:
            return p.n_select, False
        return max(2, int(round(0.6 * n_available))), True
    return min(p.n_select, n_available), n_available < p.n_select


def make_splits(protocol: str, index, *, folds: int | None = None, rounds: int = 1, seed: int = 0,
                max_subjects: int | None = None) -> ProtocolSplits:
    """Apply a named protocol to a dataset index.

    Parameters
    ----------
    protocol
        A name from :func:`list_protocols`.
    index
        A :class:`~ferbench.io.dataset.DatasetIndex` (anything with ``.records``).
    folds
        Override the protocol's fold count (e.g. fewer folds for a quick synthetic run).
    rounds
        Repetitions (the papers use 1 or 100; default 1).
    seed
        Seed of subject selection and fold assignment.
    max_subjects
        Keep only the first ``max_subjects`` candidate subjects (sorted ids) before selection.

    Returns
    -------
    ProtocolSplits

    Raises
    ------
    DatasetError
        Unknown protocol, no usable records, or too few subjects for the folds.
    """
    p = get_protocol(protocol)
    if rounds < 1:
        raise DatasetError(f"rounds must be >= 1, got {rounds}")
    recs = _candidates(p, index)
    root = getattr(index, "root", None)
    if not recs:
        what = "2D images (_F2D.bmp / .png)" if p.modality == "2d" else "scans"
        raise DatasetError(f"{root or 'dataset'}: no {what} usable by protocol {protocol} "
                           f"(needs {p.dataset} records; {p.description})")
    subjects = sorted({subject_key(r) for r in recs})
    if max_subjects is not None:
        if max_subjects < 2:
            raise DatasetError(f"max_subjects must be >= 2, got {max_subjects}")
        subjects = subjects[:max_subjects]
        keep = set(subjects)
        recs = [r for r in recs if subject_key(r) in keep]
    n_sel, scaled = _n_select(p, len(subjects))
    classes = ALL_EXPRESSIONS if p.include_neutral else EXPRESSIONS
    meta: dict[str, Any] = {"protocol": p.name, "description": p.description, "source": p.source, "seed": int(seed),
                            "rounds": int(rounds), "n_candidate_subjects": len(subjects), "n_selected": n_sel,
                            "scaled": bool(scaled), "note": p.note, "paper_rounds": p.paper_rounds,
                            "include_neutral": p.include_neutral,
                            "max_subjects": max_subjects}
    if scaled:
        meta["scaled_note"] = (f"only {len(subjects)} subjects available: selected {n_sel} instead of the "
                               f"paper's {p.n_select}")

    # which subjects take part in each round
    round_subjects: list[list[str]] = []
    if p.select == "all":
        round_subjects = [subjects] * rounds
    elif p.select == "first":
        round_subjects = [subjects[:n_sel]] * rounds
    elif p.select in ("random", "pi"):
        chosen = sorted(subjects[i] for i in np.random.default_rng(seed).choice(len(subjects), n_sel, replace=False))
        round_subjects = [chosen] * rounds
    elif p.select == "redraw":
        for r in range(rounds):
            rng = np.random.default_rng([seed, r, 1])
            round_subjects.append(sorted(subjects[i] for i in rng.choice(len(subjects), n_sel, replace=False)))
    used = sorted(set().union(*map(set, round_subjects)))
    if p.select == "pi":
        used = subjects
    keep = set(used)
    recs = [r for r in recs if subject_key(r) in keep]
    groups = [subject_key(r) for r in recs]
    labels = np.array([label_index(r.expression, include_neutral=p.include_neutral) for r in recs], dtype=np.int64)

    splits: list[Split] = []
    if p.select == "pi":
        eval_subs = set(round_subjects[0])
        g = np.asarray(groups, dtype=object)
        is_eval = np.array([x in eval_subs for x in g])
        splits = [Split(0, 0, np.flatnonzero(~is_eval), np.flatnonzero(is_eval))]
        meta["eval_subjects"] = sorted(eval_subs)
        meta["train_subjects"] = sorted(set(groups) - eval_subs)
        meta["sessions_note"] = "pi_sessions(meta['eval_subjects'], 1000, 6, mode='random', seed) for the SVM"
    else:
        k = folds if folds is not None else p.n_folds
        g = np.asarray(groups, dtype=object)
        for r in range(rounds):
            pool_subs = round_subjects[r]
            pool = np.flatnonzero(np.isin(g, np.asarray(pool_subs, dtype=object)))
            rng = np.random.default_rng([seed, r])
            if p.fold_kind == "loso" and folds is None:
                k = len(pool_subs)
            if p.fold_kind == "stratified_group":
                from sklearn.model_selection import StratifiedGroupKFold

                if len(pool_subs) < k:
                    raise DatasetError(f"{len(pool_subs)} subjects cannot fill {k} subject-disjoint folds")
                sgk = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(rng.integers(2 ** 31)))
                for f, (tr, te) in enumerate(sgk.split(pool, labels[pool], g[pool])):
                    splits.append(Split(r, f, np.sort(pool[tr]), np.sort(pool[te])))
            else:
                splits += _splits_from_folds(groups, subject_folds(pool_subs, k, rng), r, pool)
        meta["n_folds"] = int(k)
        meta["round_subjects"] = [list(s) for s in round_subjects] if p.select == "redraw" else list(round_subjects[0])
    ps = ProtocolSplits(p.name, recs, labels, tuple(classes), splits, p.modality, meta)
    check_subject_disjoint(ps)
    return ps
