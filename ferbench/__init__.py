"""ferbench: an interactive workbench for 2D+3D facial expression recognition."""
__version__ = "0.1.0"
