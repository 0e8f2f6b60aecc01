"""The six basic emotions as FACS action units, mapped onto ARKit-style blendshapes (ICT face model).

Source of the recipes: the EMFACS prototypes of the six basic emotions (Ekman & Friesen,
*Facial Action Coding System*, 1978; Ekman, Friesen & Hager, *FACS Investigator's Guide*,
2002, Table 10-1 "EMFACS predictions"), in the form used as emotion criteria for CK+
(Lucey et al., CVPR Workshops 2010, Table 2):

=========  ==========================  =======================================
emotion    prototype AUs (required)    optional AUs here (probability/subject)
=========  ==========================  =======================================
happiness  6 + 12                      25 (0.4)
sadness    1 + 4 + 15                  17 (0.5), 6 (0.3)
surprise   1 + 2 + 5 + 26              25 (0.3)
fear       1 + 2 + 4 + 5 + 7 + 20 + 26 25 (0.3)
anger      4 + 5 + 7 + 23              24 (0.4), 17 (0.3)
disgust    9 + 15 + 16                 10 (0.6), 17 (0.3), 25 (0.3)
=========  ==========================  =======================================

The AU -> blendshape map (:data:`AU_BLENDSHAPES`) follows the ARKit blendshape definitions
(Apple ARKit ``ARFaceAnchor.BlendShapeLocation``) and their usual FACS correspondences;
AU23 (lip tightener) has no ARKit counterpart and is approximated by ``mouthPress`` (AU24),
AU25 (lips part) by a small ``jawOpen``. Apex weights (:data:`EMOTION_AUS`, the weight at
BU-3DFE level 4) were set by looking at the ICT face: each recipe at level 4 is a clear,
not cartoonish, expression. Levels 1-4 scale the subject's apex weights by level / 4.

Per subject (:func:`sample_expression_styles`): each AU's apex weight is jittered
(x U(0.75, 1.25)), optional AUs are switched on or off, and the left/right blendshapes of an
AU differ by a slight asymmetry (x (1 +- N(0, 0.08))), so two subjects never show an emotion
identically. Per scan (:func:`scan_blend_weights`): a 5 % jitter on every active weight and
small random activity |N(0, 0.03)| on all blendshapes (neutral scans: |N(0, 0.04)|).
"""
from __future__ import annotations

import numpy as np

from ferbench.labels import EXPRESSIONS, NEUTRAL

__all__ = ["AU_NAMES", "AU_BLENDSHAPES", "EMOTION_AUS", "RECIPE_SOURCE", "nominal_blend_weights",
           "sample_expression_styles", "scan_blend_weights", "NEUTRAL_ACTIVITY_SD", "LEAKAGE_SD"]

RECIPE_SOURCE = ("EMFACS prototypes: Ekman, Friesen & Hager, FACS Investigator's Guide (2002), Table 10-1; "
                 "CK+ emotion criteria: Lucey et al., CVPR-W 2010, Table 2")

AU_NAMES = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
    12: "lip corner puller", 15: "lip corner depressor", 16: "lower lip depressor", 17: "chin raiser",
    20: "lip stretcher", 23: "lip tightener", 24: "lip pressor", 25: "lips part", 26: "jaw drop",
}

AU_BLENDSHAPES: dict[int, tuple[tuple[str, float], ...]] = {
    1: (("browInnerUp_L", 1.0), ("browInnerUp_R", 1.0)),
    2: (("browOuterUp_L", 1.0), ("browOuterUp_R", 1.0)),
    4: (("browDown_L", 1.0), ("browDown_R", 1.0)),
    5: (("eyeWide_L", 1.0), ("eyeWide_R", 1.0)),
    6: (("cheekSquint_L", 1.0), ("cheekSquint_R", 1.0)),
    7: (("eyeSquint_L", 1.0), ("eyeSquint_R", 1.0)),
    9: (("noseSneer_L", 1.0), ("noseSneer_R", 1.0)),
    10: (("mouthUpperUp_L", 1.0), ("mouthUpperUp_R", 1.0)),
    12: (("mouthSmile_L", 1.0), ("mouthSmile_R", 1.0)),
    15: (("mouthFrown_L", 1.0), ("mouthFrown_R", 1.0)),
    16: (("mouthLowerDown_L", 1.0), ("mouthLowerDown_R", 1.0)),
    17: (("mouthShrugLower", 1.0),),
    20: (("mouthStretch_L", 1.0), ("mouthStretch_R", 1.0)),
    23: (("mouthPress_L", 1.0), ("mouthPress_R", 1.0)),    # approximation (no ARKit lip tightener)
    24: (("mouthPress_L", 1.0), ("mouthPress_R", 1.0)),
    25: (("jawOpen", 0.15),),                               # lips part: a small jaw opening
    26: (("jawOpen", 1.0),),
}
"""FACS action unit -> ARKit-style blendshapes (name, weight per unit of AU intensity)."""

EMOTION_AUS: dict[str, tuple[tuple[int, float, float], ...]] = {
    # (AU, apex weight at level 4, probability that a subject shows it; 1 = prototype, always)
    "happiness": ((6, 0.7, 1.0), (12, 0.9, 1.0), (25, 1.0, 0.4)),
    "sadness": ((1, 0.9, 1.0), (4, 0.5, 1.0), (15, 0.8, 1.0), (17, 0.4, 0.5), (6, 0.2, 0.3)),
    "surprise": ((1, 0.9, 1.0), (2, 0.9, 1.0), (5, 0.7, 1.0), (26, 0.45, 1.0), (25, 1.0, 0.3)),
    "fear": ((1, 0.8, 1.0), (2, 0.5, 1.0), (4, 0.5, 1.0), (5, 0.8, 1.0), (7, 0.4, 1.0), (20, 0.8, 1.0),
             (26, 0.3, 1.0), (25, 1.0, 0.3)),
    "anger": ((4, 1.0, 1.0), (5, 0.4, 1.0), (7, 0.7, 1.0), (23, 0.7, 1.0), (24, 0.4, 0.4), (17, 0.4, 0.3)),
    "disgust": ((9, 0.9, 1.0), (15, 0.7, 1.0), (16, 0.25, 1.0), (10, 0.3, 0.6), (17, 0.3, 0.3), (25, 1.0, 0.3)),
}
"""Emotion -> FACS recipe: (action unit, apex weight, probability per subject)."""

NEUTRAL_ACTIVITY_SD = 0.04
LEAKAGE_SD = 0.03
SCAN_JITTER_SD = 0.05
AU_JITTER = (0.75, 1.25)
SIDE_ASYMMETRY_SD = 0.08


def _check(names) -> tuple[str, ...]:
    names = tuple(str(n) for n in names)
    missing = sorted({b for m in AU_BLENDSHAPES.values() for b, _ in m} - set(names))
    if missing:
        raise ValueError(f"the face model lacks the blendshapes {missing} the FACS recipes need")
    return names


def _add_au(w: np.ndarray, names: tuple[str, ...], au: int, amount: float, asym: float = 0.0) -> None:
    for b, k in AU_BLENDSHAPES[au]:
        side = 1.0 + asym if b.endswith("_L") else 1.0 - asym if b.endswith("_R") else 1.0
        w[names.index(b)] += amount * k * side


def nominal_blend_weights(names, expression: str) -> np.ndarray:
    """Apex (level 4) weights over ``names`` of the prototype recipe: required AUs only, no jitter."""
    names = _check(names)
    w = np.zeros(len(names))
    if expression != NEUTRAL:
        for au, apex, p in EMOTION_AUS[expression]:
            if p >= 1.0:
                _add_au(w, names, au, apex)
    return np.clip(w, 0.0, 1.0)


def sample_expression_styles(names, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One subject's apex weights (B,) per emotion: jittered AU strengths, optional AUs, L/R asymmetry."""
    names = _check(names)
    out = {}
    for e in EXPRESSIONS:
        w = np.zeros(len(names))
        for au, apex, p in EMOTION_AUS[e]:
            on = rng.random() < p  # drawn for every AU so the stream does not depend on p
            gain = rng.uniform(*AU_JITTER)
            asym = rng.normal(0.0, SIDE_ASYMMETRY_SD)
            if on:
                _add_au(w, names, au, apex * gain, asym)
        out[e] = np.clip(w, 0.0, 1.0)
    return out


def scan_blend_weights(style: dict[str, np.ndarray], expression: str, level: int, gain: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Weights (B,) of one scan: ``level / 4 * gain * style`` with a 5 % jitter, plus small activity elsewhere."""
    b = len(next(iter(style.values())))
    if expression == NEUTRAL:
        return np.clip(np.abs(rng.normal(0.0, NEUTRAL_ACTIVITY_SD, b)), 0.0, 1.0)
    jitter = 1.0 + rng.normal(0.0, SCAN_JITTER_SD, b)
    leak = np.abs(rng.normal(0.0, LEAKAGE_SD, b))
    return np.clip(level / 4.0 * gain * style[expression] * jitter + leak, 0.0, 1.0)
