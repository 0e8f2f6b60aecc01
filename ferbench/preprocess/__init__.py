"""Preprocessing of 3D face scans into regular grids (:class:`FaceGrid`).

See :mod:`ferbench.preprocess.pipeline` for the steps and their defaults.
"""
from ferbench.preprocess.facegrid import FaceGrid
from ferbench.preprocess.pipeline import (DEFAULTS, apply_transform, crop_sphere, detect_nose_tip, fill_holes,
                                          icp_align, pca_rotation, preprocess_scan, remove_spikes,
                                          resample_to_grid, rigid, rotation_angle_deg)
from ferbench.preprocess.project import vertex_values_from_grid

__all__ = ["FaceGrid", "preprocess_scan", "detect_nose_tip", "crop_sphere", "pca_rotation", "icp_align",
           "resample_to_grid", "fill_holes", "remove_spikes", "rigid", "apply_transform", "rotation_angle_deg",
           "DEFAULTS", "vertex_values_from_grid"]
