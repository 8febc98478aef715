"""Safe decoding of PNG / JPEG screenshots with Pillow.

Every failure (unreadable file, unknown format, truncated or corrupt data, an image larger than
the limits) is an :class:`~llamatouch.errors.ImageFormatError` naming the file. The pixel limit
is checked from the header before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from llamatouch.errors import ImageFormatError

#: Largest encoded image accepted (bytes).
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: Largest decoded image accepted (pixels). Phone screenshots are ~2.6-3.7 Mpx; 40 Mpx leaves
#: room for tablets and stitched long screenshots.
MAX_IMAGE_PIXELS = 40_000_000
#: Formats accepted.
IMAGE_FORMATS = frozenset({"PNG", "JPEG"})


def decode_image(
    data: bytes,
    source: str | Path = "<image>",
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    formats: frozenset[str] = IMAGE_FORMATS,
) -> Image.Image:
    """Decode ``data`` fully (pixels loaded) and return the image.

    Raises :class:`ImageFormatError` for empty, oversized, unknown-format, truncated or
    corrupt input.
    """
    if not data:
        raise ImageFormatError(source, "empty image data")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageFormatError(source, f"image is {len(data)} bytes (limit {MAX_IMAGE_BYTES})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=sorted(formats))
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageFormatError(source, f"bad image size {width}x{height}")
            if width * height > max_pixels:
                raise ImageFormatError(
                    source, f"image is {width}x{height} pixels (limit {max_pixels} pixels)"
                )
            img.load()
    except ImageFormatError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageFormatError(source, f"not a {'/'.join(sorted(formats))} image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageFormatError(source, f"image too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageFormatError(source, f"truncated or corrupt image: {exc}") from exc
    return img


def read_image(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Read and decode an image file (see :func:`decode_image`)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ImageFormatError(p, f"image is {size} bytes (limit {MAX_IMAGE_BYTES})")
        data = p.read_bytes()
    except OSError as exc:
        raise ImageFormatError(p, f"cannot read: {exc.strerror or exc}") from exc
    return decode_image(data, p, max_pixels=max_pixels)
