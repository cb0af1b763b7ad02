"""Photo intake: refuse what we cannot take, clean what we keep.

``process_photo`` is the one door every photo (a courier's report, a worker's
after-photo) goes through before it is stored or forwarded. It is CPU-bound and
synchronous; async callers run it in a worker thread.

Orientation: a JPEG keeps a minimal EXIF block holding only the Orientation tag. Turning
the picture upright losslessly would need DCT-domain transforms (jpegtran) that Pillow
does not offer, and a decode + re-encode would lose quality and cost the time this path
exists to save. Every current browser, phone gallery and Telegram client honours the
tag, and the tag alone says nothing about the sender. ``width``/``height`` are the
upright size, and the thumbnail and perceptual hash are computed on the upright picture.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import imagehash
from PIL import Image, ImageOps
from PIL.ExifTags import Base
from PIL.JpegImagePlugin import JpegImageFile

from bot.media import exif as exif_
from bot.media import jpeg
from bot.media.errors import PhotoRejected, RejectCode
from bot.media.sniff import (
    Kind,
    claims_supported_format,
    looks_like_other_image,
    png_size,
    sniff,
    webp_size,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "PhotoRejected",
    "ProcessedPhoto",
    "RejectCode",
    "phash_distance",
    "process_photo",
    "strip_metadata",
]

DEFAULT_MAX_PIXELS = 40_000_000  # the default of Settings.max_photo_pixels
# Telegram takes document thumbnails up to 320 px; 160 px is what libjpeg's 1/8-scale decode
# gives of a 1280 px photo (Telegram's own photo size), and that scale is what keeps intake
# fast: the full-size picture is never reconstructed, only the block averages.
THUMBNAIL_SIDE = 160
_HASH_SIDE = 32  # imagehash.phash's DCT input for hash_size 8
_THUMBNAIL_QUALITY = 80
_REENCODE_QUALITY = 90
_PILLOW_FORMAT = {Kind.JPEG: "JPEG", Kind.PNG: "PNG", Kind.WEBP: "WEBP", Kind.HEIF: "HEIF"}
# EXIF orientation → the turn that shows the picture upright (as in ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    clean_bytes: bytes
    ext: str  # "jpg" or "png"
    width: int  # upright, as shown
    height: int
    sha256: str  # of clean_bytes: the photo store key
    phash: str  # hex; compare with phash_distance
    thumbnail_bytes: bytes  # JPEG, longest side <= THUMBNAIL_SIDE
    gps: tuple[float, float] | None  # WGS-84 (lat, lon) from EXIF
    taken_at: datetime | None  # aware if the camera wrote its UTC offset, else camera-local

    @property
    def mime_type(self) -> str:
        return "image/png" if self.ext == "png" else "image/jpeg"


def process_photo(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    file_name: str | None = None,
    mime_type: str | None = None,
) -> ProcessedPhoto:
    """Validate, clean and describe one photo; raises only ``PhotoRejected``."""
    kind = _admit(data, max_bytes=max_bytes, file_name=file_name, mime_type=mime_type)
    with _refusing_broken_input():
        if kind is Kind.JPEG:
            return _process_jpeg(data, max_pixels)
        return _process_reencoded(data, kind, max_pixels)


def strip_metadata(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The photo without metadata: JPEG losslessly, other formats re-encoded (HEIC → JPEG)."""
    kind = _admit(data, max_bytes=None, file_name=None, mime_type=None)
    with _refusing_broken_input():
        if kind is Kind.JPEG:
            return _clean_jpeg(data, max_pixels)[0]
        return _encode_clean(_decode(data, kind, max_pixels)[0], kind)[0]


def phash_distance(a: str, b: str) -> int:
    """Hamming distance of two ``ProcessedPhoto.phash`` values; near 0 means the same scene."""
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def _admit(
    data: bytes, *, max_bytes: int | None, file_name: str | None, mime_type: str | None
) -> Kind:
    if not data:
        raise PhotoRejected(RejectCode.EMPTY, "no bytes")
    if max_bytes is not None and len(data) > max_bytes:
        raise PhotoRejected(RejectCode.TOO_BIG, f"{len(data)} bytes, limit {max_bytes}")
    kind = sniff(data)
    if kind is not None:
        return kind
    if looks_like_other_image(data, file_name=file_name, mime_type=mime_type):
        raise PhotoRejected(RejectCode.UNSUPPORTED_FORMAT, "not JPEG, PNG, WebP or HEIC")
    if claims_supported_format(file_name=file_name, mime_type=mime_type):
        raise PhotoRejected(RejectCode.CORRUPT, "named as a photo, but the bytes are not one")
    raise PhotoRejected(RejectCode.NOT_AN_IMAGE, "no known image signature")


@contextmanager
def _refusing_broken_input() -> Iterator[None]:
    # Pillow and libjpeg/libheif answer hostile bytes with many exception types (OSError,
    # SyntaxError, struct.error, IndexError, MemoryError ...); to the sender all of them
    # mean the same thing, and the contract is that only PhotoRejected escapes.
    try:
        yield
    except PhotoRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise PhotoRejected(RejectCode.TOO_MANY_PIXELS, str(exc)) from exc
    except jpeg.JpegError as exc:
        raise PhotoRejected(RejectCode.CORRUPT, str(exc)) from exc
    except Exception as exc:
        raise PhotoRejected(RejectCode.CORRUPT, f"{type(exc).__name__}: {exc}") from exc


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise PhotoRejected(RejectCode.CORRUPT, f"impossible size {width}x{height}")
    if width * height > max_pixels:
        raise PhotoRejected(
            RejectCode.TOO_MANY_PIXELS, f"{width}x{height} pixels, limit {max_pixels}"
        )


def _clean_jpeg(data: bytes, max_pixels: int) -> tuple[bytes, exif_.ExifFacts, tuple[int, int]]:
    """The stripped JPEG, what its EXIF said and its stored (not upright) size."""
    layout = jpeg.read_layout(data)
    _check_pixels((layout.width, layout.height), max_pixels)
    facts = exif_.read_exif(layout.exif)
    clean = jpeg.rebuild(data, layout, exif=_orientation_only(facts.orientation))
    return clean, facts, (layout.width, layout.height)


def _orientation_only(turn: int) -> bytes | None:
    if turn == 1:
        return None
    tag = Image.Exif()
    tag[Base.Orientation] = turn
    return tag.tobytes()


def _process_jpeg(data: bytes, max_pixels: int) -> ProcessedPhoto:
    clean, facts, (width, height) = _clean_jpeg(data, max_pixels)
    small = _turned(_draft_decode(clean, (width, height)), facts.orientation)
    # Orientations 5-8 swap the axes: the picture is shown turned by a quarter.
    upright = (height, width) if facts.orientation >= 5 else (width, height)
    return _describe(clean, "jpg", upright, small, facts)


def _draft_decode(clean: bytes, size: tuple[int, int]) -> Image.Image:
    """The whole JPEG decoded at 1/2, 1/4 or 1/8 scale, the smallest that covers the thumbnail.

    Every byte of the scan is entropy-decoded (so damage is found), but libjpeg skips the
    full-size reconstruction: at 1/8 it keeps only each block's average.
    """
    preview = JpegImageFile(io.BytesIO(clean))
    fit = THUMBNAIL_SIDE / max(size)
    preview.draft("RGB", (math.ceil(size[0] * fit), math.ceil(size[1] * fit)))
    # One read of the whole buffer instead of 64 kB pieces: at each piece boundary
    # libjpeg's suspending source throws away the half-decoded block and starts it again.
    preview.decodermaxblock = max(preview.decodermaxblock, len(clean))
    preview.load()
    return preview


def _turned(image: Image.Image, orientation: int) -> Image.Image:
    turn = _UPRIGHT.get(orientation)
    return image if turn is None else image.transpose(turn)


def _process_reencoded(data: bytes, kind: Kind, max_pixels: int) -> ProcessedPhoto:
    image, exif = _decode(data, kind, max_pixels)
    clean, ext = _encode_clean(image, kind)
    facts = exif_.ExifFacts(gps=exif_.gps_position(exif), taken_at=exif_.taken_at(exif))
    return _describe(clean, ext, image.size, image.copy(), facts)


def _decode(data: bytes, kind: Kind, max_pixels: int) -> tuple[Image.Image, Image.Exif]:
    """Decode a non-JPEG photo after checking its header size; returns it upright."""
    _check_pixels(_header_size(data, kind), max_pixels)
    image = _open(data, kind)
    exif = _exif_of(image)
    image.load()
    return ImageOps.exif_transpose(image), exif


def _header_size(data: bytes, kind: Kind) -> tuple[int, int]:
    if kind is Kind.PNG:
        return png_size(data)
    if kind is Kind.WEBP:
        return webp_size(data)
    _enable_heif()
    import pillow_heif

    width, height = pillow_heif.open_heif(io.BytesIO(data)).size
    return int(width), int(height)


def _exif_of(image: Image.Image) -> Image.Exif:
    try:
        return image.getexif()
    except Exception:
        return Image.Exif()  # broken EXIF costs the GPS, not the photo


def _encode_clean(image: Image.Image, kind: Kind) -> tuple[bytes, str]:
    """Re-encode from pixels only: no EXIF, XMP or text chunks, only the colour profile."""
    icc = image.info.get("icc_profile")
    out = io.BytesIO()
    if kind is Kind.PNG:  # lossless stays lossless (screenshots, maps)
        params = (
            {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
        )
        _bare(image).save(out, "PNG", icc_profile=icc, **params)
        return out.getvalue(), "png"
    _bare(_flatten(image)).save(out, "JPEG", quality=_REENCODE_QUALITY, icc_profile=icc)
    return out.getvalue(), "jpg"


def _bare(image: Image.Image) -> Image.Image:
    # Pillow encoders fall back on image.info for some chunks; an empty info leaves nothing.
    bare = image.copy()
    bare.info = {}
    return bare


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB or L picture for JPEG; transparent areas become white."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _describe(
    clean: bytes,
    ext: str,
    upright: tuple[int, int],
    small: Image.Image,
    facts: exif_.ExifFacts,
) -> ProcessedPhoto:
    """``small`` is the upright picture at any size; it is shrunk in place, so pass one you own."""
    thumbnail = _flatten(small)
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    thumbnail.save(out, "JPEG", quality=_THUMBNAIL_QUALITY)
    return ProcessedPhoto(
        clean_bytes=clean,
        ext=ext,
        width=upright[0],
        height=upright[1],
        sha256=hashlib.sha256(clean).hexdigest(),
        phash=_phash(thumbnail),
        thumbnail_bytes=out.getvalue(),
        gps=facts.gps,
        taken_at=facts.taken_at,
    )


def _phash(picture: Image.Image) -> str:
    # phash squeezes to 32×32 grey itself; handing it that size already (a box average of
    # the thumbnail) leaves it only the DCT, and the bits match its own Lanczos squeeze
    # within a bit or two.
    grey = picture.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX)
    return str(imagehash.phash(grey))


def _open(data: bytes, kind: Kind) -> Image.Image:
    if kind is Kind.HEIF:
        _enable_heif()
    return Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[kind]])


@functools.cache
def _enable_heif() -> None:
    # Registered on first HEIC photo, not at import: importing bot.media stays cheap and
    # does not change Pillow's process-wide plugin table for code that never sees HEIC.
    from pillow_heif import register_heif_opener

    register_heif_opener()
