"""Lossless JPEG metadata removal by rewriting the marker segments.

The compressed picture (quantisation and Huffman tables, frame and scan headers and the
entropy-coded data) is copied byte for byte; only application segments that carry
metadata and comments are dropped, and anything after the end-of-image marker (phones
append preview images and depth maps there) is cut off. Nothing is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOI, EOI, SOS, COM = 0xD8, 0xD9, 0xDA, 0xFE
APP0, APP1, APP2, APP14 = 0xE0, 0xE1, 0xE2, 0xEE
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0..7 carry no length
_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)})
# Inside entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker or
# another 0xFF (fill). Only a marker that may follow a scan (tables, SOF/SOS, EOI, APPn,
# COM) ends it; 0xFF before a reserved byte is damage that libjpeg skips when it resyncs
# at the next restart marker, so it is copied along like the rest of the scan.
_NEXT_MARKER = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_MAX_SEGMENT = 0xFFFF - 2


class JpegError(ValueError):
    """The marker structure is broken or the file is cut short."""


@dataclass(frozen=True, slots=True)
class Segment:
    marker: int
    start: int  # offset of the 0xFF that opens the marker
    end: int  # offset just past the segment (for SOS: past its entropy-coded data)


@dataclass(frozen=True, slots=True)
class JpegLayout:
    segments: tuple[Segment, ...]
    width: int
    height: int
    exif: bytes | None  # the first APP1 "Exif\0\0" payload, if any


def read_layout(data: bytes) -> JpegLayout:
    if not data.startswith(b"\xff\xd8"):
        raise JpegError("no SOI marker")
    segments = tuple(_walk(data))
    size = _frame_size(data, segments)
    return JpegLayout(segments, size[0], size[1], _first_exif(data, segments))


def rebuild(data: bytes, layout: JpegLayout, *, exif: bytes | None = None) -> bytes:
    """The same JPEG with only picture-defining segments kept and ``exif`` (if given) added.

    ``exif`` is a complete APP1 payload (starting ``Exif\\0\\0``); it goes right after SOI,
    or after a kept JFIF APP0 because JFIF requires APP0 to come first.
    """
    # Views, not slices: the scan is most of the file, and join copies it once anyway.
    whole = memoryview(data)
    kept = [whole[s.start : s.end] for s in layout.segments if _keeps(data, s)]
    head: list[bytes | memoryview] = [b"\xff\xd8"]
    if kept and kept[0][1] == APP0:
        head.append(kept.pop(0))
    if exif is not None:
        head.append(app_segment(APP1, exif))
    return b"".join([*head, *kept, b"\xff\xd9"])


def app_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > _MAX_SEGMENT:
        raise JpegError("segment payload too long")
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _walk(data: bytes) -> list[Segment]:
    segments: list[Segment] = []
    pos, n = 2, len(data)
    while True:
        if pos >= n:
            raise JpegError("ends before the EOI marker (truncated)")
        if data[pos] != 0xFF:
            raise JpegError(f"expected a marker at offset {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker are legal; drop them
            pos += 1
        if pos >= n:
            raise JpegError("ends inside a marker (truncated)")
        start, marker = pos - 1, data[pos]
        pos += 1
        if marker == EOI:
            return segments
        if marker in _STANDALONE:
            segments.append(Segment(marker, start, pos))
            continue
        pos = _segment_end(data, pos, marker)
        segments.append(Segment(marker, start, pos))


def _segment_end(data: bytes, pos: int, marker: int) -> int:
    if pos + 2 > len(data):
        raise JpegError("ends inside a segment length (truncated)")
    length = int.from_bytes(data[pos : pos + 2], "big")
    end = pos + length
    if length < 2 or end > len(data):
        raise JpegError(f"segment 0x{marker:02X} runs past the end (truncated)")
    if marker != SOS:
        return end
    found = _NEXT_MARKER.search(data, end)
    if found is None:
        raise JpegError("entropy-coded data runs to the end without EOI (truncated)")
    return found.start()


def _keeps(data: bytes, segment: Segment) -> bool:
    marker = segment.marker
    if marker == COM:
        return False
    if not APP0 <= marker <= 0xEF:
        return True
    payload = data[segment.start + 4 : segment.end]
    if marker == APP0:
        # JFIF without an embedded thumbnail is exactly 16 bytes long (length field 16).
        return payload.startswith(b"JFIF\x00") and segment.end - segment.start == 18
    if marker == APP2:
        # The colour profile is needed to show the colours right; it says nothing of the sender.
        return payload.startswith(b"ICC_PROFILE\x00")
    # Adobe's segment says how the colour components are transformed (RGB/YCC/CMYK/YCCK).
    return marker == APP14 and payload.startswith(b"Adobe")


def _frame_size(data: bytes, segments: tuple[Segment, ...]) -> tuple[int, int]:
    for s in segments:
        if s.marker in _SOF:
            if s.end - s.start < 9:
                raise JpegError("frame header too short")
            height = int.from_bytes(data[s.start + 5 : s.start + 7], "big")
            width = int.from_bytes(data[s.start + 7 : s.start + 9], "big")
            if width == 0 or height == 0:
                raise JpegError("frame without a size (DNL-sized JPEGs are not taken)")
            return width, height
    raise JpegError("no frame header")


def _first_exif(data: bytes, segments: tuple[Segment, ...]) -> bytes | None:
    for s in segments:
        if s.marker == APP1 and data.startswith(b"Exif\x00\x00", s.start + 4, s.end):
            return data[s.start + 4 : s.end]
    return None
