"""Texture and 2D image files (BU-3DFE ``.bmp``, Bosphorus ``.png``) as uint8 RGB arrays.

Images are checked *before* decoding: the header's declared size is compared with a
pixel cap and with what the file's byte count can possibly hold, so a 200-byte file that
claims to be 60000 x 60000 pixels is refused without allocating anything.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io._common import clip, read_bytes

MAX_PIXELS = 64_000_000
"""Largest image (width x height) ferbench decodes: ~64 megapixels."""

MAX_COMPRESSION_RATIO = 2048
"""Declared raw size / file size above which a (compressed) image is refused as hostile.

Deflate (PNG) tops out near 1032:1 and JPEG near 1500:1 on uniform images."""

_SLACK_BYTES = 1 << 20


def _check_declared_size(path: str, im, n_bytes: int) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ScanFormatError(path, f"image declares an empty size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise ScanFormatError(path, f"image declares {w}x{h} pixels, more than the {MAX_PIXELS}-pixel limit")
    raw = w * h * 3
    if raw > MAX_COMPRESSION_RATIO * n_bytes + _SLACK_BYTES:
        raise ScanFormatError(path, f"image declares {w}x{h} pixels but the file has only {n_bytes} bytes")
    # Uncompressed layouts (BMP, PPM, TIFF raw) need >= 1 bit per pixel in the file itself.
    for tile in getattr(im, "tile", None) or []:
        decoder, extents, offset = tile[0], tile[1], tile[2]
        if decoder == "raw" and extents is not None:
            tw, th = extents[2] - extents[0], extents[3] - extents[1]
            need = int(offset) + (tw * th) // 8
            if need > n_bytes:
                raise ScanFormatError(path, f"truncated: header declares {w}x{h} pixels, file has only {n_bytes} bytes")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a uint8 (H, W, 3) RGB array, row 0 at the top.

    Grey, palette, 16-bit and RGBA images are converted to RGB (alpha is dropped, not
    composited).

    Parameters
    ----------
    path
        Any format Pillow reads (BMP, PNG, JPEG, TIFF, ...).

    Raises
    ------
    ScanFormatError
        Missing file, unknown format, truncated data, or a header declaring more than
        :data:`MAX_PIXELS` pixels or more than the file can hold (checked before decoding).
    """
    import io

    from PIL import Image

    p = os.fspath(path)
    data = read_bytes(p)
    try:
        with warnings.catch_warnings():  # sizes are checked below with ferbench's own limits
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # Pillow's own cap (> 2 x Image.MAX_IMAGE_PIXELS) fired first
        raise ScanFormatError(p, f"image declares more than the {MAX_PIXELS}-pixel limit") from None
    except Image.UnidentifiedImageError:
        raise ScanFormatError(p, "not a recognised image format") from None
    except Exception as e:  # Pillow's error surface is open-ended (SyntaxError, struct.error, ...)
        raise ScanFormatError(p, f"not a readable image: {clip(e, 100)}") from None
    with im:
        _check_declared_size(p, im, len(data))
        try:
            im.load()
            if im.mode == "I;16" or im.mode.startswith("I;16") or im.mode in ("I", "F"):
                a = np.asarray(im, dtype=np.float64)
                hi = float(np.nanmax(a)) if a.size else 1.0
                a = np.clip(a * (255.0 / (hi if hi > 255 else 255.0)), 0, 255).astype(np.uint8)
                rgb = np.repeat(a[:, :, None], 3, axis=2)
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except ScanFormatError:
            raise
        except Exception as e:
            raise ScanFormatError(p, f"cannot decode image: {clip(e, 100)}") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ScanFormatError(p, f"decoded image has unexpected shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


def write_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) RGB or (H, W) grey array; the format follows the extension.

    Raises
    ------
    ScanFormatError
        If the array is not uint8 grey/RGB or the extension is not an image format.
    """
    from PIL import Image

    p = os.fspath(path)
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ScanFormatError(p, f"image array must be uint8, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.size == 0:
        raise ScanFormatError(p, f"image array must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    try:
        Image.fromarray(np.ascontiguousarray(a)).save(p)
    except (ValueError, KeyError) as e:
        raise ScanFormatError(p, f"cannot write image: {clip(e, 100)}") from None
