"""Expression classes and the label conventions of BU-3DFE and Bosphorus.

ferbench's canonical class order is BU-3DFE's alphabetical code order, used by every
paper's confusion matrix: anger, disgust, fear, happiness, sadness, surprise.
Neutral is label 6 when a protocol includes it.
"""
from __future__ import annotations

EXPRESSIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The six prototypical expressions in ferbench's canonical order (label index = position)."""

NEUTRAL = "neutral"
ALL_EXPRESSIONS: tuple[str, ...] = EXPRESSIONS + (NEUTRAL,)

BU3DFE_CODES: dict[str, str] = {
    "AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness",
    "SA": "sadness", "SU": "surprise", "NE": "neutral",
}
CODE_OF: dict[str, str] = {v: k for k, v in BU3DFE_CODES.items()}

BOSPHORUS_CODES: dict[str, str] = {
    "ANGER": "anger", "DISGUST": "disgust", "FEAR": "fear", "HAPPY": "happiness",
    "SADNESS": "sadness", "SURPRISE": "surprise",
}
BOSPHORUS_CODE_OF: dict[str, str] = {v: k for k, v in BOSPHORUS_CODES.items()}

SHORT_NAMES: dict[str, str] = {e: CODE_OF[e] for e in ALL_EXPRESSIONS}
"""Two-letter display names (AN, DI, ...) used on plot axes."""


def label_index(expression: str, include_neutral: bool = False) -> int:
    """Return the integer class label of an expression name.

    Parameters
    ----------
    expression
        Canonical name (``"happiness"``) or BU-3DFE code (``"HA"``).
    include_neutral
        Whether neutral is a valid class (label 6).
    """
    name = BU3DFE_CODES.get(expression.upper(), expression.lower())
    classes = ALL_EXPRESSIONS if include_neutral else EXPRESSIONS
    if name not in classes:
        raise ValueError(f"unknown expression {expression!r}; expected one of {classes}")
    return classes.index(name)
