"""Synthetic textured 2D + 3D face-expression scans (BU-3DFE and Bosphorus layouts).

Everything produced here is **synthetic** (``meta.synthetic`` is True; manifests say so).
Shapes come from the ICT Face Model Light shipped with ferbench (MIT licence, 100 identity
modes, 53 ARKit-style blendshapes) and the six emotions are FACS action-unit recipes over its
blendshapes (:mod:`ferbench.synth.expressions`). The Surrey Face Model 3448 stays an option
(``face_model="sfm"``, ``model_dir=...``), the procedural face the last fallback. Textures are
procedural.
See ``docs/data.md`` §7-§8 for what may and may not be claimed.

>>> from ferbench.synth import load_face_model, sample_subject, synthesize_scan  # doctest: +SKIP
>>> model = load_face_model()                                                     # doctest: +SKIP
>>> rng = np.random.default_rng(0)                                                # doctest: +SKIP
>>> scan = synthesize_scan(model, sample_subject(model, "F0001", rng), "happiness", 4, rng)  # doctest: +SKIP
"""
from __future__ import annotations

from ferbench.synth.dataset import FACE_MODEL_DESCRIPTIONS, GeneratedDataset, dataset_face_model, generate_dataset
from ferbench.synth.generator import (
    ScanParams, SubjectParams, expression_weights, sample_scan_params, sample_subject, subject_texture,
    synthesize_scan,
)
from ferbench.synth.model import FACE_MODELS, FaceModel, find_face_model_dir, load_face_model, procedural_model
from ferbench.synth.texture import paint_skin_texture, render_textured

__all__ = [
    "FaceModel", "FACE_MODELS", "find_face_model_dir", "load_face_model", "procedural_model", "dataset_face_model", "FACE_MODEL_DESCRIPTIONS",
    "SubjectParams", "ScanParams", "sample_subject", "subject_texture", "sample_scan_params", "expression_weights",
    "synthesize_scan", "paint_skin_texture", "render_textured", "generate_dataset", "GeneratedDataset",
]
