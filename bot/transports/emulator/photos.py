"""Telegram's photo pipeline: rotate upright, drop EXIF, recompress into a ladder of sizes.

A photo sent the normal way reaches the bot as several JPEG PhotoSize variants, none of
them byte-identical to what the user picked and none carrying EXIF (so no GPS). Bots that
read location from a photo must fail against the emulator exactly as they would in real life.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Telegram's size classes s, m, x, y, w (longest side in pixels).
SIZE_BOXES = (90, 320, 800, 1280, 2560)
JPEG_QUALITY = 87


@dataclass(frozen=True, slots=True)
class Variant:
    width: int
    height: int
    data: bytes


def recompress(original: bytes) -> list[Variant]:
    """Smallest first, like ``Message.photo``; raises ValueError when it is not an image."""
    try:
        with Image.open(io.BytesIO(original)) as opened:
            upright = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError("IMAGE_PROCESS_FAILED") from exc
    longest = max(upright.size)
    boxes = [box for box in SIZE_BOXES if box < longest]
    if longest <= SIZE_BOXES[-1]:
        boxes.append(longest)
    return [_encode(upright, box) for box in boxes]


def _encode(image: Image.Image, box: int) -> Variant:
    resized = image.copy()
    resized.thumbnail((box, box), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif= argument: Pillow writes no EXIF block unless asked to.
    resized.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return Variant(resized.width, resized.height, out.getvalue())
