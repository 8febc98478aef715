"""Perceptual hashes of image crops (64 bits), written with Pillow + numpy.

- ``dhash`` (difference hash): grey, resize to 9x8, one bit per horizontal neighbour pair
  (left brighter than right). Robust to brightness/contrast changes and to small shifts.
- ``phash`` (DCT hash): grey, resize to 32x32, 2-D DCT-II, keep the 8x8 lowest frequencies,
  one bit per coefficient above their median (the DC term excluded from the median).

Hashes are 16 hex digits; :func:`hamming` counts differing bits. :func:`best_distance` also
tries the crop shifted by a few pixels in each direction and keeps the smallest distance, so a
component that moved slightly between the reference and the agent's screen still matches.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

HASH_BITS = 64


def _grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    g = img.convert("L").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(g, dtype=np.float64)


def _bits_to_hex(bits: np.ndarray) -> str:
    value = 0
    for b in bits.reshape(-1):
        value = (value << 1) | int(bool(b))
    return f"{value:016x}"


def dhash(img: Image.Image) -> str:
    """Difference hash of ``img`` (16 hex digits)."""
    a = _grey(img, (9, 8))
    return _bits_to_hex(a[:, :-1] > a[:, 1:])


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0, :] = np.sqrt(1.0 / n)
    return m


def phash(img: Image.Image) -> str:
    """DCT hash of ``img`` (16 hex digits)."""
    a = _grey(img, (32, 32))
    d = _dct_matrix(32)
    coeffs = d @ a @ d.T
    low = coeffs[:8, :8]
    med = np.median(low.reshape(-1)[1:])
    return _bits_to_hex(low > med)


ALGORITHMS = {"dhash": dhash, "phash": phash}


def image_hash(img: Image.Image, algo: str = "dhash") -> str:
    try:
        fn = ALGORITHMS[algo]
    except KeyError:
        raise ValueError(f"unknown hash algorithm {algo!r}") from None
    return fn(img)


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def crop(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Crop ``box`` (pixels, clamped to the image); raises ``ValueError`` when it is empty."""
    w, h = img.size
    left, top, right, bottom = (
        max(0, round(box[0])),
        max(0, round(box[1])),
        min(w, round(box[2])),
        min(h, round(box[3])),
    )
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"crop box {box} is empty on a {w}x{h} image")
    return img.crop((left, top, right, bottom))


def best_distance(
    img: Image.Image,
    box: tuple[float, float, float, float],
    reference: str,
    algo: str = "dhash",
    shift: float = 0.1,
) -> tuple[int, tuple[int, int]]:
    """Smallest Hamming distance to ``reference`` over the crop and its shifted copies.

    Shifts of ``shift`` times the box size (and half of it) in the 8 directions are tried.
    Returns ``(distance, (dx, dy))``.
    """
    bw = box[2] - box[0]
    bh = box[3] - box[1]
    best: tuple[int, tuple[int, int]] | None = None
    offsets = [(0, 0)]
    for f in (0.5, 1.0):
        sx, sy = round(bw * shift * f), round(bh * shift * f)
        for dx in (-sx, 0, sx):
            for dy in (-sy, 0, sy):
                if (dx, dy) != (0, 0) and (dx, dy) not in offsets:
                    offsets.append((dx, dy))
    for dx, dy in offsets:
        try:
            part = crop(img, (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy))
        except ValueError:
            continue
        d = hamming(image_hash(part, algo), reference)
        if best is None or d < best[0]:
            best = (d, (dx, dy))
        if d == 0:
            break
    if best is None:
        raise ValueError(f"crop box {box} is empty on a {img.size[0]}x{img.size[1]} image")
    return best
