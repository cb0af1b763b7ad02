"""Recognise a photo format by its magic bytes and read its pixel size from the header.

The size is read here, by hand, because Pillow's own decompression-bomb guard uses the
process-global ``Image.MAX_IMAGE_PIXELS``; our cap comes from settings and must be
checked before Pillow is asked to open anything.
"""

from __future__ import annotations

import enum
import mimetypes
import struct

# ISO-BMFF brands that libheif (through pillow-heif) decodes as HEIC/HEIF stills.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

# Image formats people do send but we do not take; recognising them gives a better refusal
# ("send it as JPEG") than "this is not an image".
_OTHER_IMAGE_MAGIC = (
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"8BPS",
    b"\x00\x00\x01\x00",
    b"\x00\x00\x00\x0cjP  ",
    b"\xff\x0a",
    b"\x00\x00\x00\x0cJXL ",
)
_OTHER_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"crx "})

_SUPPORTED_MIME = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"})


class Kind(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIF = "heif"


def sniff(data: bytes) -> Kind | None:
    if data.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Kind.WEBP
    if _ftyp_brands(data) & _HEIF_BRANDS:
        return Kind.HEIF
    return None


def looks_like_other_image(data: bytes, *, file_name: str | None, mime_type: str | None) -> bool:
    """An image we do not take, by its bytes or, failing that, by what the sender called it."""
    if data.startswith(_OTHER_IMAGE_MAGIC) or _ftyp_brands(data) & _OTHER_IMAGE_BRANDS:
        return True
    claimed = _claimed_mime(file_name, mime_type)
    return claimed is not None and claimed.startswith("image/") and claimed not in _SUPPORTED_MIME


def claims_supported_format(*, file_name: str | None, mime_type: str | None) -> bool:
    return _claimed_mime(file_name, mime_type) in _SUPPORTED_MIME


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG spec fixes as the first chunk."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("PNG without IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def webp_size(data: bytes) -> tuple[int, int]:
    """Canvas size from the first chunk: VP8X (extended), VP8L (lossless) or VP8 (lossy)."""
    chunk, body = data[12:16], data[20:30]
    if len(body) < 10:
        raise ValueError("WebP header too short")
    if chunk == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    if chunk == b"VP8L" and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    raise ValueError("unknown WebP chunk")


def _ftyp_brands(data: bytes) -> set[bytes]:
    if data[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(data[0:4], "big")
    box = data[8 : min(size, 64)] if size >= 16 else data[8:12]
    # major brand, minor version, then compatible brands; the version is not a brand
    brands = {box[0:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}
    return brands


def _claimed_mime(file_name: str | None, mime_type: str | None) -> str | None:
    if mime_type:
        return mime_type.split(";", 1)[0].strip().lower()
    if file_name:
        guessed, _ = mimetypes.guess_type(file_name, strict=False)
        return guessed
    return None
