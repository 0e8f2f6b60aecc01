"""Index a BU-3DFE and/or Bosphorus folder tree into labelled :class:`ScanRecord` rows.

:func:`index_dataset` walks ``root`` recursively and keeps

* BU-3DFE ``*_F3D.wrl`` files whose names parse with :func:`~ferbench.io.bu3dfe.parse_bu3dfe_name`
  (``_RAW.wrl`` and other kinds are ignored, not counted as skipped);
* Bosphorus ``*.bnt`` files whose stems parse with :func:`~ferbench.io.bosphorus.parse_bosphorus_name`.

Other ``.wrl``/``.bnt`` files are skipped and counted in :attr:`DatasetIndex.skipped`.
Both datasets may sit under one root (``root/BU3DFE``, ``root/Bosphorus``); ``dataset=``
keeps one of them.

Manifest: ``manifest.csv`` in ``root`` (and in each direct sub-folder, with paths relative
to that folder) has the columns ``path, dataset, subject, expression, intensity, source``
(more are allowed and copied to ``ScanRecord.extra``). A record whose file is listed is
marked ``synthetic`` when its ``source`` starts with "synthetic" (e.g. ``synthetic-sfm``).
Labels given in the manifest must agree with those parsed from the file name.

A folder holding :data:`INCOMPLETE_MARKER` (a synthetic dataset still being written, or whose writing was
interrupted) is refused as ``root`` and skipped below it.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ferbench.errors import DatasetError, ScanFormatError
from ferbench.labels import ALL_EXPRESSIONS, BU3DFE_CODES

__all__ = ["ScanRecord", "DatasetIndex", "index_dataset", "MANIFEST_COLUMNS", "INCOMPLETE_MARKER"]

MANIFEST_COLUMNS = ("path", "dataset", "subject", "expression", "intensity", "source")
INCOMPLETE_MARKER = "INCOMPLETE_SYNTHETIC_DATA.txt"
"""A file ``ferbench synth`` keeps in a dataset folder while writing it: such a folder (and anything below it)
is refused by :func:`index_dataset`, and skipped when a parent folder is indexed."""
_DATASETS = {"bu3dfe": "bu3dfe", "bu-3dfe": "bu3dfe", "bu_3dfe": "bu3dfe", "bosphorus": "bosphorus"}


@dataclass
class ScanRecord:
    """One scan file with its labels (no geometry loaded).

    Attributes
    ----------
    path
        Absolute path of the ``.wrl``/``.bnt`` file.
    dataset
        ``"bu3dfe"`` or ``"bosphorus"``.
    subject, expression, intensity
        Labels from the file name (intensity is None for Bosphorus).
    synthetic
        True when the manifest says the file was generated.
    extra
        Race/kind (BU-3DFE), kind/code (Bosphorus), extra manifest columns.
    """

    path: str
    dataset: str
    subject: str
    expression: str | None
    intensity: int | None
    synthetic: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self, *, load_texture: bool = True):
        """Read the scan (:func:`ferbench.io.read_scan`) and copy the record's ``synthetic`` flag into it."""
        from ferbench.io import read_scan

        scan = read_scan(self.path, load_texture=load_texture)
        scan.meta.synthetic = self.synthetic
        return scan


def _expr_key(e: str | None) -> tuple[int, str]:
    return (ALL_EXPRESSIONS.index(e), "") if e in ALL_EXPRESSIONS else (len(ALL_EXPRESSIONS), str(e))


class DatasetIndex:
    """An ordered, filterable list of :class:`ScanRecord`.

    Parameters
    ----------
    records
        The records (kept in the given order).
    skipped
        Number of candidate files whose names did not parse.
    skipped_paths
        Those files.
    root
        The indexed folder, if any.
    """

    def __init__(self, records: Iterable[ScanRecord], skipped: int = 0, skipped_paths: Iterable[str] = (),
                 root: str | None = None):
        self.records: list[ScanRecord] = list(records)
        self.skipped = int(skipped)
        self.skipped_paths: list[str] = list(skipped_paths)
        self.root = root

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ScanRecord]:
        return iter(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return DatasetIndex(self.records[i], root=self.root)
        return self.records[i]

    def __repr__(self) -> str:
        ds = sorted({r.dataset for r in self.records})
        return (f"DatasetIndex({len(self)} scans, {len(self.subjects())} subjects, datasets={ds}, "
                f"skipped={self.skipped})")

    def summary(self) -> str:
        """Multi-line text: scans and subjects per dataset, the expression x intensity table, skips."""
        lines = [f"{len(self)} scans, {len(self.subjects())} subjects"
                 + (f" ({sum(r.synthetic for r in self)} synthetic)" if any(r.synthetic for r in self) else "")
                 + (f", {self.skipped} files skipped (names did not parse)" if self.skipped else "")]
        for ds in sorted({r.dataset for r in self}):
            sub = self.filter(dataset=ds)
            lines.append(f"  {ds}: {len(sub)} scans, {len(sub.subjects())} subjects")
            for expr, row in sub.counts().items():
                cells = ", ".join(f"{'-' if k is None else k}: {n}" for k, n in row.items())
                lines.append(f"    {expr:<10} {cells}")
        return "\n".join(lines)

    def subjects(self) -> list[str]:
        """Sorted unique subject ids."""
        return sorted({r.subject for r in self.records})

    def filter(self, **criteria: Any) -> "DatasetIndex":
        """Keep records matching every criterion.

        Each keyword names a ScanRecord field or an ``extra`` key; its value is a single
        value (equality), a list/tuple/set (membership) or a callable (predicate).

        >>> idx.filter(dataset="bu3dfe", intensity=[3, 4], subject=lambda s: s.startswith("F"))  # doctest: +SKIP
        """
        def get(r: ScanRecord, k: str):
            if hasattr(r, k) and k != "extra":
                return getattr(r, k)
            if k in r.extra:
                return r.extra[k]
            raise KeyError(k)

        tests: list[tuple[str, Callable[[Any], bool]]] = []
        for k, want in criteria.items():
            if callable(want):
                tests.append((k, want))
            elif isinstance(want, (list, tuple, set, frozenset)):
                tests.append((k, lambda x, w=frozenset(want): x in w))
            else:
                tests.append((k, lambda x, w=want: x == w))
        keep = []
        for r in self.records:
            ok = True
            for k, t in tests:
                try:
                    ok = bool(t(get(r, k)))
                except KeyError:
                    ok = False
                if not ok:
                    break
            if ok:
                keep.append(r)
        return DatasetIndex(keep, root=self.root)

    def counts(self) -> dict[str, dict[int | None, int]]:
        """Expression x intensity table: ``{expression: {intensity: n_scans}}`` (canonical order)."""
        table: dict[str, dict[int | None, int]] = {}
        for r in sorted(self.records, key=lambda r: (_expr_key(r.expression), r.intensity is None, r.intensity or 0)):
            row = table.setdefault(str(r.expression), {})
            row[r.intensity] = row.get(r.intensity, 0) + 1
        return table


def _norm_dataset(name: str | None) -> str | None:
    if name is None:
        return None
    key = name.strip().lower()
    if key not in _DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected 'bu3dfe' or 'bosphorus'")
    return _DATASETS[key]


def _read_manifest(path: str) -> dict[str, dict[str, str]]:
    """Rows of one manifest keyed by normalised absolute path."""
    base = os.path.dirname(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise DatasetError(f"{path}: manifest has no 'path' column (expected {', '.join(MANIFEST_COLUMNS)})")
            rows = {}
            for row in reader:
                rel = (row.get("path") or "").strip()
                if not rel:
                    continue
                rows[os.path.normcase(os.path.abspath(os.path.join(base, rel)))] = row
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read manifest: {e}") from None


def _check_manifest_labels(manifest_path: str, row: dict[str, str], rec: ScanRecord) -> None:
    def norm_expr(e: str) -> str:
        e = e.strip()
        return BU3DFE_CODES.get(e.upper(), e.lower())

    checks = (
        ("dataset", lambda v: _norm_dataset(v) == rec.dataset),
        ("subject", lambda v: v.strip().lower() == rec.subject.lower()),
        ("expression", lambda v: norm_expr(v) == rec.expression),
        ("intensity", lambda v: rec.intensity is not None and int(float(v)) == rec.intensity),
    )
    for col, ok in checks:
        v = (row.get(col) or "").strip()
        if not v or v.lower() in ("none", "nan"):
            continue
        try:
            good = ok(v)
        except (ValueError, DatasetError):
            good = False
        if not good:
            raise DatasetError(f"{manifest_path}: {col} {v!r} for {row.get('path')} disagrees with the file name "
                               f"({getattr(rec, col)!r})")


def index_dataset(root: str | os.PathLike, dataset: str | None = None) -> DatasetIndex:
    """Index the BU-3DFE and/or Bosphorus scans under ``root`` (see module docstring).

    Parameters
    ----------
    root
        Folder to walk (recursively; symlinked folders are not followed).
    dataset
        ``"bu3dfe"`` or ``"bosphorus"`` to keep one dataset; None keeps all found.

    Returns
    -------
    DatasetIndex
        Records sorted by dataset, subject, expression (canonical order), intensity, path.

    Raises
    ------
    DatasetError
        If ``root`` is not a folder, ``dataset`` is unknown, or a manifest is unreadable
        or contradicts the file names.
    """
    from ferbench.io.bosphorus import parse_bosphorus_name
    from ferbench.io.bu3dfe import parse_bu3dfe_name

    root_s = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root_s):
        raise DatasetError(f"{root_s}: not a folder")
    want = _norm_dataset(dataset)
    # an interrupted ``ferbench synth`` must never pass for a dataset (complete or real): refuse its folder
    up = root_s
    for _ in range(4):  # root, subject folder, layout folder, dataset folder
        if os.path.isfile(os.path.join(up, INCOMPLETE_MARKER)):
            raise DatasetError(f"{up}: incomplete synthetic dataset (ferbench synth was interrupted or is still "
                               "running); re-run ferbench synth to replace it")
        up = os.path.dirname(up)

    manifests: dict[str, tuple[str, dict[str, str]]] = {}
    candidates = [os.path.join(root_s, "manifest.csv")]
    candidates += [os.path.join(root_s, d, "manifest.csv") for d in sorted(os.listdir(root_s))
                   if os.path.isdir(os.path.join(root_s, d))]
    for mp in candidates:
        if os.path.isfile(mp):
            for k, row in _read_manifest(mp).items():
                manifests[k] = (mp, row)

    records: list[ScanRecord] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root_s):
        if INCOMPLETE_MARKER in filenames:  # an unfinished synthetic dataset below root: not data
            dirnames[:] = []
            continue
        dirnames.sort()
        for fn in sorted(filenames):
            low = fn.lower()
            full = os.path.join(dirpath, fn)
            if low.endswith(".wrl"):
                try:
                    lab = parse_bu3dfe_name(fn)
                except ScanFormatError:
                    skipped.append(full)
                    continue
                if lab["kind"] != "F3D":
                    continue
                rec = ScanRecord(full, "bu3dfe", lab["subject"], lab["expression"], lab["intensity"],
                                 extra={"race": lab["race"], "kind": lab["kind"]})
            elif low.endswith(".bnt"):
                try:
                    lab = parse_bosphorus_name(fn)
                except ScanFormatError:
                    skipped.append(full)
                    continue
                rec = ScanRecord(full, "bosphorus", lab["subject"], lab["expression"], None,
                                 extra={"kind": lab["kind"], "code": lab["code"], "take": lab["take"]})
            else:
                continue
            if want is not None and rec.dataset != want:
                continue
            hit = manifests.get(os.path.normcase(full))
            if hit is not None:
                mp, row = hit
                _check_manifest_labels(mp, row, rec)
                rec.synthetic = (row.get("source") or "").strip().lower().startswith("synthetic")
                rec.extra.update({k: v for k, v in row.items() if k and k not in MANIFEST_COLUMNS})
                rec.extra["source"] = row.get("source")
            records.append(rec)
    records.sort(key=lambda r: (r.dataset, r.subject, _expr_key(r.expression), r.intensity or 0, r.path))
    return DatasetIndex(records, skipped=len(skipped), skipped_paths=skipped, root=root_s)
