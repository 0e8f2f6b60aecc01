"""Records -> stacked model inputs, cached on disk.

A model declares ``model.inputs = ((map_name, n_channels), ...)``. :func:`compute_input`
turns one record into a float32 array ``(C, size, size)`` by computing those maps
(:func:`ferbench.maps.compute_maps` for 3D scans, or from the frontal image for 2D protocols),
converting channel counts (1 -> 3 by repetition, 3 -> 1 by ITU-R BT.601 luma) and resizing
(bicubic, antialiased) to ``size``. :class:`MapCache` stores one ``.npy`` per
(file, map set, size) named by a SHA-256 of (absolute path, file size, mtime, inputs, size,
modality, cache version, map function), so repeated folds and rounds never recompute a map and
an edited file is recomputed. :func:`precompute` fills the cache for a whole protocol with a
process pool and a tqdm bar.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

import numpy as np

from ferbench.errors import DatasetError, FerbenchError

__all__ = ["compute_input", "stack_maps", "inputs_for_scan", "input_problem", "exclude_unusable", "MapCache", "precompute", "InputSet", "record_to_dict", "record_from_dict",
           "CACHE_VERSION"]

CACHE_VERSION = 1
Inputs = tuple[tuple[str, int], ...]


# --------------------------------------------------------------------------- records <-> dicts
def record_to_dict(r) -> dict[str, Any]:
    """Plain dict of a ScanRecord (for sending to worker processes and JSON)."""
    return {"path": r.path, "dataset": r.dataset, "subject": r.subject, "expression": r.expression,
            "intensity": r.intensity, "synthetic": bool(r.synthetic), "extra": dict(r.extra or {})}


def record_from_dict(d: dict[str, Any]):
    """Inverse of :func:`record_to_dict` (a :class:`~ferbench.io.dataset.ScanRecord`)."""
    from ferbench.io.dataset import ScanRecord

    return ScanRecord(d["path"], d["dataset"], d["subject"], d["expression"], d["intensity"],
                      bool(d.get("synthetic", False)), dict(d.get("extra") or {}))


# --------------------------------------------------------------------------- computing one input
def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) float32 -> (size, size, C), bicubic with antialias (dfcnn.md §9 #22)."""
    if arr.shape[0] == size and arr.shape[1] == size:
        return arr
    import torch

    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    out = torch.nn.functional.interpolate(t, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return out[0].numpy().transpose(1, 2, 0)


def _fit_channels(arr: np.ndarray, want: int, name: str, where: str) -> np.ndarray:
    """(H, W, c) -> (H, W, want): repeat a single channel, or luma of RGB for one channel."""
    c = arr.shape[2]
    if c == want:
        return arr
    if c == 1:
        return np.repeat(arr, want, axis=2)
    if c == 3 and want == 1:
        return (arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    raise DatasetError(f"{where}: map {name!r} has {c} channels, the model wants {want}")


def _image_maps(path: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Maps of a 2D frontal image: crop to the non-black face box, then texture (RGB) / gray in [0, 1]."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read image: {e}") from None
    fg = rgb.max(axis=2) > 0.02  # the F2D renders show the face on a black background
    if fg.any():
        rows, cols = np.flatnonzero(fg.any(1)), np.flatnonzero(fg.any(0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        side = max(r1 - r0, c1 - c0)  # square box about the centre, clipped to the image
        rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
        r0, c0 = max(0, rc - side // 2), max(0, cc - side // 2)
        rgb = rgb[r0:r0 + side, c0:c0 + side]
    out = {}
    for n in names:
        if n == "texture":
            out[n] = rgb
        elif n == "gray":
            out[n] = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        else:
            raise DatasetError(f"{path}: map {n!r} needs a 3D scan; 2D protocols provide only 'texture' and 'gray'")
    return out


def default_map_fn(record: dict[str, Any], names: Sequence[str], size: int, modality: str) -> dict[str, np.ndarray]:
    """Compute the named maps of one record (3D: ``ferbench.maps.compute_maps``; 2D: the frontal image)."""
    if modality == "2d":
        from ferbench.eval.protocols import image_path_2d

        img = image_path_2d(record_from_dict(record))
        if img is None:
            raise DatasetError(f"{record['path']}: no 2D frontal image beside the scan")
        return _image_maps(img, names)
    try:
        from ferbench.maps import compute_maps
    except ImportError as e:  # the maps package is another part of ferbench
        raise FerbenchError(f"ferbench.maps.compute_maps is not available: {e}") from None
    scan = record_from_dict(record).load()
    return compute_maps(scan, list(names), size=size)


def compute_input(record: dict[str, Any], inputs: Inputs, size: int, modality: str = "3d",
                  map_fn: Callable | None = None) -> np.ndarray:
    """Stack a record's maps into the model input.

    Parameters
    ----------
    record
        :func:`record_to_dict` of a ScanRecord.
    inputs
        ``model.inputs``: ``((map_name, n_channels), ...)`` in stacking order.
    size
        Output side in pixels.
    modality
        ``"3d"`` or ``"2d"`` (protocol modality).
    map_fn
        ``map_fn(record, names, size, modality) -> {name: (H, W) or (H, W, C)}``; default
        :func:`default_map_fn`. Must be a module-level function to run in worker processes.

    Returns
    -------
    numpy.ndarray
        float32 ``(sum(n_channels), size, size)``, finite.
    """
    fn = map_fn or default_map_fn
    names = [n for n, _ in inputs]
    return stack_maps(fn(record, names, size, modality), inputs, size, record["path"])


def stack_maps(maps: dict[str, np.ndarray], inputs: Inputs, size: int, where: str = "scan") -> np.ndarray:
    """Stack computed maps into one model input: the step shared by training, evaluation and prediction.

    Parameters
    ----------
    maps
        Map name -> (H, W) or (H, W, C) array (NaN / inf become 0: background and holes).
    inputs
        ``model.inputs`` in stacking order; a map's channels are repeated or turned to luma to fit.
    size
        Output side in pixels (bicubic resize with antialias).
    where
        Names the scan in error messages.

    Returns
    -------
    numpy.ndarray
        float32 ``(sum(n_channels), size, size)``.
    """
    parts = []
    for name, ch in inputs:
        if name not in maps:
            raise DatasetError(f"{where}: map {name!r} was not computed")
        a = np.asarray(maps[name], dtype=np.float32)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or min(a.shape[:2]) < 1:
            raise DatasetError(f"{where}: map {name!r} has shape {a.shape}, expected (H, W[, C])")
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)  # background / holes = 0 (dfcnn.md §9 #21)
        parts.append(_resize(_fit_channels(a, int(ch), name, where), int(size)))
    return np.ascontiguousarray(np.concatenate(parts, axis=2).transpose(2, 0, 1), dtype=np.float32)


def inputs_for_scan(scan, model) -> "Any":
    """The stacked model input of one scan that is not (necessarily) part of a dataset.

    Reads the scan (a path or a :class:`~ferbench.io.scan.Scan`), computes the model's maps at its input
    size with :func:`ferbench.maps.compute_maps` (the same call the training map cache makes through
    :func:`default_map_fn`) and stacks them with :func:`stack_maps`, so a prediction on the scan equals
    the evaluation of the same scan.

    Parameters
    ----------
    scan
        A scan file path or a Scan.
    model
        A model (anything with ``inputs`` and ``input_size``), or a FoldModel.

    Returns
    -------
    torch.Tensor
        float32 ``(1, C, size, size)`` on the CPU.
    """
    import torch

    from ferbench.maps import compute_maps

    model = getattr(model, "model", model)      # a FoldModel -> its network
    if isinstance(scan, (str, os.PathLike)):
        from ferbench.io import read_scan

        scan = read_scan(scan)
    inputs = tuple((str(n), int(c)) for n, c in model.inputs)
    size = int(model.input_size)
    maps = compute_maps(scan, [n for n, _ in inputs], size=size)
    where = getattr(getattr(scan, "meta", None), "source_path", None) or "scan"
    return torch.from_numpy(stack_maps(maps, inputs, size, where))[None]


# --------------------------------------------------------------------------- scans that cannot give the inputs
def _texture_map_names() -> set[str]:
    """Registered maps that need a texture (``needs_texture``)."""
    from ferbench.maps.base import MAPS

    return {n for n in MAPS.list() if getattr(MAPS.get(n), "needs_texture", False)}


def input_problem(path: str | os.PathLike, names: Sequence[str]) -> str | None:
    """Why a scan file cannot give the named maps (a texture map of a scan whose texture image is missing),
    or None when it can.

    Cheap for datasets: a BU-3DFE ``.wrl`` with its ``<stem>.bmp`` beside it, or a Bosphorus ``.bnt`` with
    its ``<stem>.png``, is accepted without reading; any other scan is read (texture included) and asked
    with :func:`ferbench.maps.missing_map_reasons`. A file that cannot be read is not judged here (None):
    the map cache reports it with its own message.
    """
    tex = _texture_map_names()
    return _texture_problem(path, [n for n in names if n in tex])


def _texture_problem(path: str | os.PathLike, tex_names: Sequence[str]) -> str | None:
    """:func:`input_problem` for the texture maps ``tex_names`` among a model's inputs (already picked out)."""
    from ferbench.maps.base import missing_map_reasons

    if not tex_names:
        return None
    p = os.fspath(path)
    stem, ext = os.path.splitext(os.path.basename(p))
    sibling = {".wrl": ".bmp", ".vrml": ".bmp", ".bnt": ".png"}.get(ext.lower())
    if sibling is not None:
        from ferbench.io._common import find_sibling

        if find_sibling(os.path.dirname(p), [stem + sibling]) is not None:
            return None
    import warnings

    from ferbench.io import read_scan

    try:
        with warnings.catch_warnings():     # the missing texture is reported once, by the caller
            warnings.simplefilter("ignore")
            scan = read_scan(p)
    except (FerbenchError, OSError, ValueError):
        return None
    reasons = missing_map_reasons(scan, tex_names)
    return next(iter(reasons.values()), None)


def exclude_unusable(index, inputs: Inputs | Sequence[Sequence[Any]], modality: str = "3d", *,
                     warn: bool = True):
    """Leave out the scans of a dataset index that cannot give a model's inputs (texture maps of a scan
    without texture), before a protocol splits it.

    Parameters
    ----------
    index
        A :class:`~ferbench.io.dataset.DatasetIndex` (only its records are used).
    inputs
        ``model.inputs`` (``((map_name, n_channels), ...)``).
    modality
        ``"3d"`` (scans checked) or ``"2d"`` (frontal images: nothing to check here).
    warn
        Emit one :class:`~ferbench.errors.ExcludedScansWarning` naming how many and the first few.

    Returns
    -------
    (index, excluded)
        The index without those scans (the same object when none), and ``[{"path", "subject",
        "expression", "reason"}, ...]`` in index order.
    """
    names = [str(n) for n, _ in inputs]
    if modality != "3d":
        return index, []
    tex = _texture_map_names()
    tex_names = [n for n in names if n in tex]
    if not tex_names:
        return index, []
    keep, excluded = [], []
    for r in index.records:
        why = _texture_problem(r.path, tex_names)
        if why is None:
            keep.append(r)
        else:
            excluded.append({"path": r.path, "subject": r.subject, "expression": r.expression, "reason": why})
    if not excluded:
        return index, []
    if warn:
        import warnings

        from ferbench.errors import ExcludedScansWarning

        first = "; ".join(f"{os.path.basename(e['path'])}: {e['reason']}" for e in excluded[:3])
        more = f" (and {len(excluded) - 3} more)" if len(excluded) > 3 else ""
        warnings.warn(f"{len(excluded)} scan(s) left out: they cannot give the model's inputs "
                      f"({', '.join(names)}): {first}{more}", ExcludedScansWarning, stacklevel=2)
    from ferbench.io.dataset import DatasetIndex

    out = DatasetIndex(keep, skipped=getattr(index, "skipped", 0), skipped_paths=getattr(index, "skipped_paths", ()),
                       root=getattr(index, "root", None))
    return out, excluded


# --------------------------------------------------------------------------- cache
def _fn_id(fn: Callable | None) -> str:
    fn = fn or default_map_fn
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class MapCache:
    """A folder of ``.npy`` model inputs keyed by file identity and parameters.

    Parameters
    ----------
    folder
        Cache folder (created). Share it between folds, rounds and runs; for a Dask cluster on
        several machines it must be on a shared file system (otherwise each worker recomputes).
    inputs, size, modality, map_fn
        As in :func:`compute_input`.
    """

    def __init__(self, folder: str | os.PathLike, inputs: Inputs, size: int, modality: str = "3d",
                 map_fn: Callable | None = None):
        self.folder = os.fspath(folder)
        self.inputs = tuple((str(n), int(c)) for n, c in inputs)
        self.size = int(size)
        self.modality = modality
        self.map_fn = map_fn
        self.hits = 0
        self.misses = 0

    def key(self, record: dict[str, Any]) -> str:
        p = os.path.abspath(record["path"])
        try:
            st = os.stat(p)
            ident = [p, st.st_size, st.st_mtime_ns]
        except OSError:
            ident = [p, None, None]
        blob = json.dumps([ident, self.inputs, self.size, self.modality, CACHE_VERSION, _fn_id(self.map_fn)])
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, record: dict[str, Any]) -> str:
        k = self.key(record)
        return os.path.join(self.folder, k[:2], k + ".npy")

    def get(self, record: dict[str, Any]) -> np.ndarray:
        """The cached input, computed and stored on a miss (atomic write)."""
        f = self.path(record)
        want = (sum(c for _, c in self.inputs), self.size, self.size)
        if os.path.isfile(f):
            try:
                a = np.load(f, allow_pickle=False)
                if a.shape == want and a.dtype == np.float32:
                    self.hits += 1
                    return a
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed
        self.misses += 1
        a = compute_input(record, self.inputs, self.size, self.modality, self.map_fn)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(f), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, a, allow_pickle=False)
            os.replace(tmp, f)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return a


def _fill_one(args) -> str:
    folder, inputs, size, modality, map_fn, record = args
    MapCache(folder, inputs, size, modality, map_fn).get(record)
    return record["path"]


def precompute(records: Sequence[dict[str, Any]], cache: MapCache, *, workers: int | None = None,
               executor: Executor | None = None, progress: bool = True) -> int:
    """Fill ``cache`` for all ``records``; returns how many were computed (misses).

    Parameters
    ----------
    records
        Record dicts.
    cache
        The target cache.
    workers
        Process-pool size (default: CPU count); 0 or 1 computes in this process.
    executor
        Use this executor instead of a new process pool (e.g. a Dask client's executor).
    progress
        Show a tqdm bar.
    """
    from tqdm.auto import tqdm

    todo = [r for r in records if not os.path.isfile(cache.path(r))]
    if not todo:
        return 0
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)
    bar = tqdm(total=len(todo), desc="maps", unit="scan", disable=not progress)
    try:
        if executor is None and (n_workers <= 1 or len(todo) == 1):
            for r in todo:
                cache.get(r)
                bar.update(1)
        else:
            own = executor is None
            if executor is None:
                import multiprocessing as mp

                # spawn: torch is already imported here, and forking a process with OpenMP threads can hang
                executor = ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=mp.get_context("spawn"))
            ex = executor
            try:
                args = [(cache.folder, cache.inputs, cache.size, cache.modality, cache.map_fn, r) for r in todo]
                for fut in as_completed([ex.submit(_fill_one, a) for a in args]):
                    fut.result()
                    bar.update(1)
                cache.misses += len(todo)  # computed in other processes
            finally:
                if own:
                    ex.shutdown()
    finally:
        bar.close()
    return len(todo)


class InputSet:
    """Model inputs and labels of a list of records, read through a :class:`MapCache`.

    ``batch(idx)`` returns ``(x float32 tensor (B, C, H, W), y int64 tensor (B,))``. Arrays are
    kept in memory after the first read while their total stays below ``max_bytes``.
    """

    def __init__(self, records: Sequence[dict[str, Any]], labels: Sequence[int], cache: MapCache,
                 max_bytes: int = 2 << 30):
        if len(records) != len(labels):
            raise ValueError("records and labels differ in length")
        self.records = list(records)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cache = cache
        per = 4 * sum(c for _, c in cache.inputs) * cache.size ** 2
        self._keep = per * len(self.records) <= max_bytes
        self._mem: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def array(self, i: int) -> np.ndarray:
        a = self._mem.get(i)
        if a is None:
            a = self.cache.get(self.records[i])
            if self._keep:
                self._mem[i] = a
        return a

    def batch(self, idx: Sequence[int]):
        import torch

        idx = [int(i) for i in idx]
        x = torch.from_numpy(np.stack([self.array(i) for i in idx]))
        y = torch.from_numpy(self.labels[idx])
        return x, y
