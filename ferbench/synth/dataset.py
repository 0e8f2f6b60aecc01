"""Write synthetic BU-3DFE- and Bosphorus-layout datasets with a manifest.

Layout under ``out_dir``::

    BU3DFE/F0001/F0001_AN01WH_F3D.wrl  (+ .bmp texture, .bnd 83 landmarks, F0001_AN01WH_F2D.bmp render)
    Bosphorus/bs000/bs000_E_HAPPY_0.bnt (+ .png render, .lm3 22 landmarks, .lm2 in PNG pixels)
    manifest.csv
    SYNTHETIC_DATA.txt

BU-3DFE: subjects F0001.. and M0001.. (about 56:44), 6 expressions x 4 levels + neutral =
25 scans each. The per-subject texture does not depend on the expression, so it is written
once and hard-linked (or copied) to every scan's ``.bmp``. Bosphorus: subjects bs000..,
*different identities* from the BU-3DFE ones (independent seed streams), 6 emotions at
level 4 + neutral = 7 scans each; the ``.bnt`` is the z-buffer range image of the posed scan
on the PNG's pixel grid (x, y = pixel centres in mm, z = depth, u/v = pixel centre in the PNG
with v = 0 at the bottom); ``.lm3``/``.lm2`` omit landmarks whose vertex a hole or the crop
removed (as Bosphorus omits occluded ones).

Every file is a deterministic function of (seed, layout, subject index): same seed ->
byte-identical files, whatever the number of worker processes.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferbench.errors import DatasetError
from ferbench.io.dataset import INCOMPLETE_MARKER
from ferbench.labels import EXPRESSIONS, NEUTRAL

__all__ = ["generate_dataset", "GeneratedDataset", "MANIFEST_FIELDS", "bu3dfe_subject_ids",
           "bosphorus_subject_ids", "SCANS_PER_SUBJECT", "dataset_face_model", "FACE_MODEL_DESCRIPTIONS"]

SCANS_PER_SUBJECT = {"bu3dfe": 25, "bosphorus": 7}
_LAYOUT_CODE = {"bu3dfe": 1, "bosphorus": 2}
_LAYOUT_DIR = {"bu3dfe": "BU3DFE", "bosphorus": "Bosphorus"}
VIEW_HALF_WIDTH_MM = 95.0
"""Half side of the square window (around the neutral nose tip) of F2D/PNG renders and .bnt grids."""

MANIFEST_FIELDS = (
    "path", "dataset", "subject", "expression", "intensity", "source", "seed", "model", "model_sha256",
    "level", "sex", "race", "weights", "gain", "yaw", "pitch", "roll", "tx", "ty", "tz", "noise_sd", "n_holes",
    "crop_radius", "n_vertices", "n_faces", "skin_tone", "asymmetry", "alpha", "traits",
)
"""Manifest columns. ``intensity`` is empty for Bosphorus (the dataset has no levels; ``level``
holds the generated one); ``model`` names the face model that made the scan (``ict-face-light``,
``surrey-sfm3448`` or ``procedural``, see :func:`dataset_face_model`); ``weights`` are the
six blendshape weights in EXPRESSIONS order (SFM, procedural) or the 53 ICT blendshape weights
in the model's order (names in ``ferbench.synth.load_face_model().blend_names``);
``alpha`` the identity coefficients (in standard deviations); ``sex``/``race`` are dummy; ``traits`` the
scanner traits the scan was given (:mod:`ferbench.synth.scanner`; space-separated, empty = none)."""


@dataclass
class GeneratedDataset:
    """What :func:`generate_dataset` wrote."""

    root: Path
    manifest: Path
    rows: list[dict] = field(default_factory=list, repr=False)
    model: str = ""
    model_sha256: str = ""
    seed: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        n_subj = len({r.get("subject") for r in self.rows})
        return (f"{len(self.rows)} synthetic scans of {n_subj} subjects (face model: {self.model or 'unknown'}, "
                f"seed {self.seed}); manifest {self.manifest}")

    def __fspath__(self) -> str:
        return os.fspath(self.manifest)


def bu3dfe_subject_ids(n: int) -> list[str]:
    """F0001.. then M0001..: round(0.56 n) female ids (the BU-3DFE 56:44 split), the rest male."""
    nf = int(round(0.56 * n))
    return [f"F{i:04d}" for i in range(1, nf + 1)] + [f"M{i:04d}" for i in range(1, n - nf + 1)]


def bosphorus_subject_ids(n: int) -> list[str]:
    return [f"bs{i:03d}" for i in range(n)]


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def _f(x: float, nd: int = 4) -> str:
    return f"{float(x):.{nd}f}"


def _row(rel: str, dataset: str, scan, subject, seed: int, model, level: int) -> dict:
    x = scan.meta.extra
    e = scan.meta.expression
    gain = subject.gains[EXPRESSIONS.index(e)] if e != NEUTRAL else 0.0
    t = x["translation"]
    return {
        "path": rel, "dataset": dataset, "subject": subject.subject, "expression": e,
        "intensity": str(level) if dataset == "bu3dfe" else "", "source": model.source_label, "seed": str(seed),
        "model": model.name, "model_sha256": model.sha256, "level": str(level), "sex": subject.sex,
        "race": subject.race, "weights": " ".join(_f(w) for w in x["weights"]), "gain": _f(gain),
        "yaw": _f(x["yaw"], 3), "pitch": _f(x["pitch"], 3), "roll": _f(x["roll"], 3),
        "tx": _f(t[0], 3), "ty": _f(t[1], 3), "tz": _f(t[2], 3), "noise_sd": _f(x["noise_sd"]),
        "n_holes": str(x["n_holes"]), "crop_radius": _f(x["crop_radius"], 2), "n_vertices": str(scan.n_vertices),
        "n_faces": str(scan.n_faces), "skin_tone": str(subject.skin_index), "asymmetry": _f(subject.asymmetry),
        "alpha": " ".join(_f(a, 3) for a in subject.alpha),
        "traits": " ".join(x.get("scanner_traits", ())),
    }


def _window(scan) -> tuple[tuple[float, float], tuple[float, float]]:
    c = scan.meta.extra["nose_tip_neutral"]
    h = VIEW_HALF_WIDTH_MM
    return (c[0] - h, c[0] + h), (c[1] - h + 5.0, c[1] + h + 5.0)


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _subject_job(*args) -> list[dict]:
    """Generate and write all scans of one subject (runs in a worker process).

    BLAS is limited to one thread: the model's mat-vec products are tiny, and threaded BLAS
    only spins against the other workers (measured 5x slower per scan on a busy 2-core box).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return _subject_job_inner(*args)
    with threadpool_limits(limits=1, user_api="blas"):
        return _subject_job_inner(*args)


def _subject_job_inner(layout: str, index: int, subject_id: str, seed: int, model_spec: tuple, out_dir: str,
                       texture_size: int, image_size: int, traits_share: float = 0.0,
                       trait_kinds: tuple | None = None) -> list[dict]:
    from ferbench.io.bosphorus import BOSPHORUS_LANDMARK_NAMES, bosphorus_stem, write_bnt, write_lm2, write_lm3
    from ferbench.io.bu3dfe import bu3dfe_filename, write_bnd, write_wrl
    from ferbench.io.images import write_image
    from ferbench.synth.generator import sample_subject, subject_texture, synthesize_scan
    from ferbench.synth.model import load_face_model
    from ferbench.synth.texture import render_scan

    face_model, model_path = model_spec  # exactly the model the parent loaded
    model = load_face_model(model_path, face_model=face_model, allow_fallback=False)
    code = _LAYOUT_CODE[layout]
    subject = sample_subject(model, subject_id, _rng(seed, code, index, 0))
    texture = subject_texture(model, subject, texture_size)
    folder = os.path.join(out_dir, _LAYOUT_DIR[layout], subject_id)
    os.makedirs(folder, exist_ok=True)
    rows = []
    if layout == "bu3dfe":
        plan = [(NEUTRAL, 0)] + [(e, lv) for e in EXPRESSIONS for lv in range(1, 5)]
    else:
        plan = [(NEUTRAL, 0)] + [(e, 4) for e in EXPRESSIONS]
    tex_file = None
    for expression, level in plan:
        e_idx = EXPRESSIONS.index(expression) + 1 if expression != NEUTRAL else 0
        rng = _rng(seed, code, index, 1 + e_idx, level)
        scan = synthesize_scan(model, subject, expression, level, rng, texture=texture,
                               landmark_set="bu3dfe" if layout == "bu3dfe" else "bosphorus")
        xlim, ylim = _window(scan)
        image, raster = render_scan(scan, texture, image_size, image_size, xlim, ylim,
                                    light_dir=scan.meta.extra["light_dir"])
        missing = scan.meta.extra["landmark_missing"]
        if layout == "bu3dfe" and traits_share > 0:  # scanner traits on the mesh only (renders stay clean)
            from ferbench.synth.scanner import apply_traits, draw_traits

            t_rng = _rng(seed, code, index, 100 + e_idx, level)
            r_rng = _rng(seed, code, index, 200 + e_idx, level)  # rare traits: their own stream
            scan = apply_traits(scan, draw_traits(t_rng, traits_share, trait_kinds, rare_rng=r_rng), t_rng)
        traits = scan.meta.extra.get("scanner_traits", ())
        if layout == "bu3dfe":
            stem = bu3dfe_filename(subject_id, expression, level, race=subject.race, kind="F3D", ext="")
            wrl = os.path.join(folder, stem + ".wrl")
            write_wrl(scan, wrl, write_texture=False)
            bmp = os.path.join(folder, stem + ".bmp")
            if "missing_texture" in traits:
                pass  # the .wrl names a texture that is not written
            elif "seams" in traits:
                write_image(bmp, scan.texture)  # this scan's own re-laid-out atlas
            elif tex_file is None:
                write_image(bmp, texture)
                tex_file = bmp
            else:
                _link_or_copy(tex_file, bmp)
            write_bnd(os.path.join(folder, stem + ".bnd"), scan.landmarks, scan.meta.extra["landmark_vertex_ids"])
            f2d = bu3dfe_filename(subject_id, expression, level, race=subject.race, kind="F2D", ext="bmp")
            write_image(os.path.join(folder, f2d), image)
            rel = f"{_LAYOUT_DIR[layout]}/{subject_id}/{stem}.wrl"
        else:
            stem = bosphorus_stem(subject_id, expression)
            grid = raster.xyz()
            h, w = grid.shape[:2]
            uv = np.empty((h, w, 2))
            uv[..., 0] = ((np.arange(w) + 0.5) / w)[None, :]
            uv[..., 1] = (1.0 - (np.arange(h) + 0.5) / h)[:, None]
            write_bnt(os.path.join(folder, stem + ".bnt"), grid, uv, stem + ".png")
            write_image(os.path.join(folder, stem + ".png"), image)
            lm = scan.landmarks.copy()
            lm[missing] = np.nan
            write_lm3(os.path.join(folder, stem + ".lm3"), lm, BOSPHORUS_LANDMARK_NAMES)
            dx, dy = (xlim[1] - xlim[0]) / w, (ylim[1] - ylim[0]) / h
            px = np.column_stack([(lm[:, 0] - xlim[0]) / dx - 0.5, (ylim[1] - lm[:, 1]) / dy - 0.5])
            write_lm2(os.path.join(folder, stem + ".lm2"), px, BOSPHORUS_LANDMARK_NAMES)
            rel = f"{_LAYOUT_DIR[layout]}/{subject_id}/{stem}.bnt"
        rows.append(_row(rel, layout, scan, subject, seed, model, level))
    return rows


def _job_star(args):
    return _subject_job(*args)


_NOTE = """SYNTHETIC DATA - generated by ferbench.synth, not recorded from people
=====================================================================

Every scan, texture, image and landmark file in this folder is SYNTHETIC.
Face model: {model} (sha256 {sha}).
Seed: {seed}. Subjects per layout: {n}. Layouts: {layouts}. Scans: {n_scans}.
Source column in manifest.csv: {source}.

How the data were made
- Shapes: {shape_text}
- Expressions: {expr_text}
- Nuisance: pose jitter (yaw +-10, pitch +-5, roll +-3 degrees, +-5 mm), 0.1-0.3 mm noise along the
  normals, hole blobs, a circular crop of 82-88 mm around the nose tip.
- Scanner traits (manifest column "traits"): a share of the BU-3DFE-layout scans has a UV atlas
  cut into two islands (seams), extra holes, spike outliers, and a few (3 % by default) no texture
  file (texture-map models leave those out of training; results.json lists them).
- Textures are PROCEDURAL (painted skin tone, brows, lips, eyes; baked light); not photo-realistic.
- Landmarks: BU-3DFE-83 and Bosphorus-22 are APPROXIMATE, derived from the model's iBUG-68 vertices.
- Subject ids, the gender letter (F/M) and the race code in BU-3DFE file names are DUMMY
  metadata: the face model has no gender or ethnicity control. Bosphorus-layout subjects are
  different identities from the BU-3DFE-layout ones.

What may be claimed (docs/data.md §8)
- ferbench's loaders, preprocessing, maps, training loops and evaluation protocols run end to end,
  offline, on labelled textured 2D + 3D face-expression data in the BU-3DFE and Bosphorus file formats.
- {claim_model}
- Any number computed on these files must be labelled "synthetic sanity check".

What must NOT be claimed
- anything about accuracy on BU-3DFE, Bosphorus, CK+, JAFFE or Oulu-CASIA;
- that accuracy on this synthetic data predicts accuracy on real data;
- that the synthetic anger, disgust or sadness look like real ones in 2D;
- that the identity distribution matches BU-3DFE's demographics (56 F / 44 M, six ethnic groups);
- that the texture is photo-realistic.
"""


def _write_note(root: Path, model, seed: int, n: int, layouts, n_scans: int) -> None:
    if model.name == "ict-face-light":
        shape_text = ("identities sampled from the ICT Face Model Light (ICT-FaceKit, a 3D morphable model\n"
                      "  built from light-stage scans; USC ICT, MIT licence; shipped with ferbench), identity weights\n"
                      f"  ~ N(0, I) truncated at 3 over its {model.n_modes} modes.")
        claim = ("Shapes are sampled from a real 3D morphable model (ICT Face Model); expressions are\n"
                 "  FACS action-unit recipes of the six emotions (EMFACS prototypes, ferbench.synth.expressions) over\n"
                 "  its 53 ARKit-style blendshapes, with per-subject variation, at four graded intensities.")
    elif model.name == "surrey-sfm3448":
        shape_text = ("identities sampled from the Surrey Face Model 3448 (a real 3D morphable model built\n"
                      "  from 3D face scans; Huber et al., VISAPP 2016; non-commercial licence), alpha ~ N(0, I)\n"
                      "  truncated at 3 over its 63 modes.")
        claim = ("Shapes are sampled from a real 3D morphable model (Surrey Face Model); expressions come from\n"
                 "  its six basic-emotion blendshapes at four graded intensities.")
    else:
        shape_text = ("a PROCEDURAL face (hand-made smooth surface and deformation fields; the Surrey Face\n"
                      "  Model was not available), alpha ~ N(0, I) truncated at 3 over its modes.")
        claim = ("Shapes and expressions come from a hand-made procedural face, NOT from a model built from\n"
                 "  real scans: use only for software tests.")
    if model.blend_basis is not None:
        expr_text = ("FACS action-unit recipes of the six basic emotions (anger, disgust, fear,\n"
                     "  happiness, sadness, surprise) mapped to the model's blendshapes, per-subject jittered AU\n"
                     "  strengths, optional AUs and left/right asymmetry, scaled by level/4 x a per-subject gain\n"
                     "  U(0.8, 1.2), levels 1-4; neutral scans carry small random blendshape activity.")
    else:
        expr_text = ("the model's six basic-emotion blendshapes (anger, disgust, fear, happiness,\n"
                     "  sadness, surprise) at weight level/4 x a per-subject gain U(0.8, 1.2), levels 1-4\n"
                     "  (neutral = 0), plus leakage |N(0, 0.05)| from the other blendshapes.")
    text = _NOTE.format(expr_text=expr_text, model=model.name, sha=model.sha256, seed=seed, n=n,
                        layouts=", ".join(layouts), n_scans=n_scans, source=model.source_label,
                        shape_text=shape_text, claim_model=claim)
    (root / "SYNTHETIC_DATA.txt").write_text(text, encoding="utf-8", newline="\n")


_OURS = ("manifest.csv", "SYNTHETIC_DATA.txt", INCOMPLETE_MARKER, *_LAYOUT_DIR.values())
"""Entries of a dataset folder that generate_dataset writes (and only these may be replaced)."""

_INCOMPLETE_NOTE = """INCOMPLETE SYNTHETIC DATA - ferbench synth has not finished (or was interrupted)
==============================================================================

This folder is being written by ferbench.synth. Until this file is gone, ferbench refuses to
index it: the scans here are neither a complete dataset nor real data. Re-run the same
`ferbench synth` command (or generate_dataset): it replaces this folder.
"""


def _prepare_out(root: Path, overwrite: bool) -> None:
    """Refuse a root ferbench may not replace: a file, a folder with other content, or (without ``overwrite``)
    a complete synthetic dataset. An interrupted synthetic dataset (the marker is present) is always replaced."""
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a folder")
    if not root.is_dir() or not any(root.iterdir()):
        return
    if (root / INCOMPLETE_MARKER).is_file():
        return  # an interrupted run: finish it by replacing it
    if not (root / "SYNTHETIC_DATA.txt").is_file():
        raise DatasetError(f"{root}: not empty and not a ferbench synthetic dataset; refusing to overwrite")
    if not overwrite:
        raise DatasetError(f"{root}: not empty, it holds a synthetic dataset (pass --overwrite / overwrite=True to "
                           "replace it)")


def _building_dir(root: Path) -> Path:
    """A sibling work folder ``.<name>.ferbench-building``; a stale one of an interrupted run is removed."""
    full = root.absolute()
    build = full.parent / f".{full.name}.ferbench-building"
    if build.exists():
        if not (build / INCOMPLETE_MARKER).is_file():
            raise DatasetError(f"{build}: exists and was not written by ferbench synth; refusing to replace it")
        shutil.rmtree(build)
    try:
        build.mkdir(parents=True)
        (build / INCOMPLETE_MARKER).write_text(_INCOMPLETE_NOTE, encoding="utf-8", newline="\n")
    except OSError as e:
        raise DatasetError(f"{root}: cannot write a dataset here ({e.strerror or e})") from None
    return build


def _install(build: Path, root: Path) -> None:
    """Move the finished dataset from ``build`` into ``root``. ``root`` carries the incomplete-marker from before
    the first old entry is removed until the last new one is in, so no interruption leaves a folder that
    indexes as a complete (or a real) dataset."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / INCOMPLETE_MARKER
    marker.write_text(_INCOMPLETE_NOTE, encoding="utf-8", newline="\n")
    for name in _OURS:
        old = root / name
        if name == INCOMPLETE_MARKER or not os.path.lexists(old):
            continue
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
    # the manifest last: callers that test for it (notebooks, scripts) see it only with everything else in place
    for entry in sorted(build.iterdir(), key=lambda e: (e.name == "manifest.csv", e.name)):
        if entry.name != INCOMPLETE_MARKER:
            os.replace(entry, root / entry.name)
    shutil.rmtree(build)
    marker.unlink()


def generate_dataset(out_dir: str | os.PathLike, n_subjects: int = 100, seed: int = 0,
                     layouts=("bu3dfe", "bosphorus"), model_dir: str | os.PathLike | None = None,
                     texture_size: int = 256, image_size: int = 256, workers: int | None = None,
                     progress: bool = True, *, face_model: str | None = None, allow_fallback: bool = True,
                     overwrite: bool = False, scanner_traits: float = 0.3,
                     trait_kinds=None) -> GeneratedDataset:
    """Generate a synthetic BU-3DFE / Bosphorus-layout dataset (see module docstring).

    Parameters
    ----------
    out_dir
        Output folder (created; must be empty, hold an interrupted synthetic dataset (replaced), or
        hold a previous synthetic dataset and ``overwrite``). The dataset is built in a sibling
        ``.<name>.ferbench-building`` folder marked incomplete and moved in when finished, so an
        interrupted run never leaves a folder that indexes as a complete or a real dataset.
    n_subjects
        Subjects per layout (BU-3DFE: 25 scans each; Bosphorus: 7).
    seed
        Master seed; per-subject streams are derived from (seed, layout, subject index).
    layouts
        Any of ``"bu3dfe"``, ``"bosphorus"``.
    model_dir
        Folder of the chosen face model: the Surrey Face Model folder for ``face_model="sfm"``
        (None searches, see :func:`~ferbench.synth.find_face_model_dir`), or another ICT npz
        for ``"ict"``. A folder without the model is an error.
    face_model
        ``"ict"`` (default: the ICT Face Model shipped with ferbench), ``"sfm"`` or
        ``"procedural"``; None = ``"sfm"`` when ``model_dir`` is given, else ``"ict"``.
    texture_size
        Side of the UV-atlas ``.bmp`` textures.
    image_size
        Side of the F2D / PNG renders and of the ``.bnt`` range grid.
    workers
        Worker processes over subjects; None = one per CPU, 0 or 1 = in this process.
    progress
        Show a tqdm progress bar.
    allow_fallback
        Use the procedural face when the shipped ICT data is missing (a broken install;
        recorded in the manifest). A ``model_dir``
        that does not exist is a ModelAssetError, never a fallback.
    overwrite
        Replace a previous synthetic dataset in ``out_dir``.
    scanner_traits
        Share of the BU-3DFE-layout scans given scanner traits (:mod:`ferbench.synth.scanner`: a seamed
        two-island UV atlas, holes, spikes, rarely a missing texture file; 0 = none). Drawn per scan from the
        seed, recorded in the manifest's ``traits`` column. Bosphorus-layout scans are range images and get none.
    trait_kinds
        Traits to draw from; default :data:`ferbench.synth.scanner.DEFAULT_TRAITS`, where
        ``"missing_texture"`` (no texture file written) is rare (:data:`~ferbench.synth.scanner.RARE_TRAITS`);
        kinds named here are all drawn alike.

    Returns
    -------
    GeneratedDataset
        Root, manifest path, manifest rows, model name and sha256.
    """
    from ferbench.synth.model import load_face_model

    layouts = tuple(str(layout).lower() for layout in ([layouts] if isinstance(layouts, str) else layouts))
    bad = [layout for layout in layouts if layout not in _LAYOUT_CODE]
    if bad or not layouts:
        raise ValueError(f"unknown layouts {bad}; expected some of {tuple(_LAYOUT_CODE)}")
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, (int, np.integer)) or not 1 <= n_subjects <= 999:
        raise ValueError(f"n_subjects must be an integer in [1, 999], got {n_subjects!r}")
    for name, v in (("texture_size", texture_size), ("image_size", image_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 16 <= v <= 4096:
            raise ValueError(f"{name} must be an integer in [16, 4096], got {v!r}")
    seed = int(seed)
    if model_dir is not None and not Path(model_dir).is_dir():
        # a model folder given explicitly must exist: falling back to the procedural face would hide a typo
        from ferbench.errors import ModelAssetError

        raise ModelAssetError(f"{model_dir}: face model folder not found")
    from ferbench.synth.scanner import DEFAULT_TRAITS, TRAITS

    kinds = DEFAULT_TRAITS if trait_kinds is None else tuple(trait_kinds)
    if [t for t in kinds if t not in TRAITS] or not 0.0 <= float(scanner_traits) <= 1.0:
        raise ValueError(f"scanner_traits must be in [0, 1] and trait_kinds some of {TRAITS}, "
                         f"got {scanner_traits!r}, {kinds!r}")
    # None: draw_traits' default (missing_texture rare); kinds named explicitly are all equally likely
    trait_kinds = None if trait_kinds is None else kinds
    model = load_face_model(model_dir, face_model=face_model, allow_fallback=allow_fallback)
    # workers reload exactly this model
    kind = {"ict-face-light": "ict", "surrey-sfm3448": "sfm"}.get(model.name, "procedural")
    src = (kind, model.source_dir)
    root = Path(out_dir)
    _prepare_out(root, overwrite)
    # build beside the target and move in at the end: an interrupted run leaves only a marked work folder
    build = _building_dir(root)

    jobs = []
    for layout in layouts:
        ids = bu3dfe_subject_ids(n_subjects) if layout == "bu3dfe" else bosphorus_subject_ids(n_subjects)
        jobs += [(layout, i, sid, seed, src, str(build), int(texture_size), int(image_size), float(scanner_traits),
                  trait_kinds) for i, sid in enumerate(ids)]
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)
    n_workers = max(1, min(n_workers, len(jobs)))

    from tqdm.auto import tqdm

    results: dict[int, list[dict]] = {}
    with tqdm(total=len(jobs), disable=not progress, desc="synthetic subjects", unit="subject") as bar:
        if n_workers == 1:
            for k, job in enumerate(jobs):
                results[k] = _subject_job(*job)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                futures = {pool.submit(_job_star, job): k for k, job in enumerate(jobs)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)

    rows = [r for k in range(len(jobs)) for r in results[k]]
    rows.sort(key=lambda r: r["path"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (build / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
    _write_note(build, model, seed, n_subjects, layouts, len(rows))
    _install(build, root)
    manifest = root / "manifest.csv"
    return GeneratedDataset(root=root, manifest=manifest, rows=rows, model=model.name, model_sha256=model.sha256,
                            seed=seed)


FACE_MODEL_DESCRIPTIONS = {
    "ict-face-light": "ICT Face Model Light (ICT-FaceKit, MIT licence; shipped with ferbench), FACS-based expressions",
    "surrey-sfm3448": "Surrey Face Model 3448 (non-commercial licence), its six expression blendshapes",
    "procedural": "procedural face (hand-made; software tests only)",
}
"""Face-model name (manifest ``model`` column) -> one line for reports."""


def dataset_face_model(root: str | os.PathLike) -> str | None:
    """The face model that made a synthetic dataset: ``"ict-face-light"``, ``"surrey-sfm3448"``, ``"procedural"``.

    Read from the ``model`` column of ``root/manifest.csv`` (one value; several distinct values
    are joined with ``"+"``). None when ``root`` has no manifest or the manifest has no
    ``model`` column (e.g. real data). :data:`FACE_MODEL_DESCRIPTIONS` gives a sentence for reports.
    """
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rd = csv.DictReader(fh)
            if not rd.fieldnames or "model" not in rd.fieldnames:
                return None
            names = sorted({(r.get("model") or "").strip() for r in rd} - {""})
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read the manifest: {e}") from None
    return "+".join(names) or None
