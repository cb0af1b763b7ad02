import io
import struct
import zlib
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from PIL.ExifTags import GPS, IFD, Base

from bot.media.intake import (
    PhotoRejected,
    ProcessedPhoto,
    RejectCode,
    process_photo,
    strip_metadata,
)


class Limits(TypedDict):
    max_bytes: int
    max_pixels: int


LIMITS: Limits = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}


def picture(size=(96, 64), mode="RGB") -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient)
    ).convert(mode)


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[Base.Orientation] = orientation
    exif[Base.Make] = "PhoneCo"
    exif.get_ifd(IFD.GPSInfo).update(
        {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: (39.0, 56.0, 9.0),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: (119.0, 35.0, 6.0),
        }
    )
    return exif


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def rejection(
    data: bytes,
    *,
    max_bytes: int = LIMITS["max_bytes"],
    max_pixels: int = LIMITS["max_pixels"],
    file_name: str | None = None,
    mime_type: str | None = None,
) -> RejectCode:
    with pytest.raises(PhotoRejected) as caught:
        process_photo(
            data,
            max_bytes=max_bytes,
            max_pixels=max_pixels,
            file_name=file_name,
            mime_type=mime_type,
        )
    return caught.value.code


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but holds no pixels: only a header reader sees it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_an_empty_file_is_refused_as_empty():
    assert rejection(b"") is RejectCode.EMPTY


def test_a_file_over_the_byte_cap_is_refused_before_anything_else():
    assert rejection(encode(picture(), "JPEG"), max_bytes=100) is RejectCode.TOO_BIG


def test_a_pdf_is_not_an_image():
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    assert (
        rejection(pdf, file_name="report.pdf", mime_type="application/pdf")
        is RejectCode.NOT_AN_IMAGE
    )


def test_a_gif_is_an_unsupported_format():
    assert rejection(encode(picture(), "GIF")) is RejectCode.UNSUPPORTED_FORMAT


def test_unknown_bytes_sent_as_a_raw_camera_file_are_an_unsupported_format():
    assert (
        rejection(b"\x00" * 64, file_name="IMG_0001.CR3", mime_type="image/x-canon-cr3")
        is RejectCode.UNSUPPORTED_FORMAT
    )


def test_garbage_named_like_a_jpeg_is_corrupt():
    assert rejection(b"not really" * 10, file_name="photo.jpg") is RejectCode.CORRUPT


def test_a_20000_square_png_is_refused_from_its_header_without_decoding():
    assert rejection(png_header(20_000, 20_000)) is RejectCode.TOO_MANY_PIXELS


def test_a_jpeg_header_claiming_20000_square_is_refused_without_decoding():
    small = encode(picture((16, 16)), "JPEG")
    sof = small.index(b"\xff\xc0")
    huge = small[: sof + 5] + struct.pack(">HH", 20_000, 20_000) + small[sof + 9 :]
    assert rejection(huge) is RejectCode.TOO_MANY_PIXELS


def test_the_pixel_cap_is_inclusive():
    data = encode(picture((96, 64)), "JPEG")
    assert process_photo(data, max_bytes=LIMITS["max_bytes"], max_pixels=96 * 64).width == 96
    assert rejection(data, max_pixels=96 * 64 - 1) is RejectCode.TOO_MANY_PIXELS


def test_png_stays_png_and_loses_exif_and_text():
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "courier 42 at home")
    photo = process_photo(encode(picture(), "PNG", exif=gps_exif(), pnginfo=text), **LIMITS)
    assert photo.ext == "png" and photo.gps is not None
    clean = Image.open(io.BytesIO(photo.clean_bytes))
    assert not clean.getexif() and "Comment" not in clean.info
    assert b"courier 42" not in photo.clean_bytes


def test_webp_becomes_jpeg_without_exif_and_is_turned_upright():
    photo = process_photo(encode(picture((96, 64)), "WEBP", exif=gps_exif(orientation=6)), **LIMITS)
    clean = Image.open(io.BytesIO(photo.clean_bytes))
    assert (photo.ext, clean.format, clean.size) == ("jpg", "JPEG", (64, 96))
    assert (photo.width, photo.height) == (64, 96)
    assert not clean.getexif()
    assert photo.gps == pytest.approx((39 + 56 / 60 + 9 / 3600, 119 + 35 / 60 + 6 / 3600))


def test_transparent_areas_of_a_webp_become_white_in_jpeg():
    clear = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    photo = process_photo(encode(clear, "WEBP", lossless=True), **LIMITS)
    darkest, _ = Image.open(io.BytesIO(photo.clean_bytes)).convert("L").getextrema()
    assert isinstance(darkest, int) and darkest > 250


def test_jpeg_keeps_only_the_orientation_and_reports_the_upright_size():
    photo = process_photo(encode(picture((96, 64)), "JPEG", exif=gps_exif(orientation=8)), **LIMITS)
    clean = Image.open(io.BytesIO(photo.clean_bytes))
    assert dict(clean.getexif()) == {Base.Orientation: 8}
    assert (photo.width, photo.height) == (64, 96)
    assert Image.open(io.BytesIO(photo.thumbnail_bytes)).size == (64, 96)


def test_the_thumbnail_of_a_1280_pixel_photo_is_its_eighth_scale_decode():
    photo = process_photo(encode(picture((1280, 960)), "JPEG"), **LIMITS)
    assert Image.open(io.BytesIO(photo.thumbnail_bytes)).size == (160, 120)


def test_the_thumbnail_of_a_larger_photo_is_shrunk_to_160_pixels():
    photo = process_photo(encode(picture((2000, 1500)), "JPEG"), **LIMITS)
    assert Image.open(io.BytesIO(photo.thumbnail_bytes)).size == (160, 120)


def test_the_key_is_the_sha256_of_the_clean_bytes():
    import hashlib

    photo = process_photo(encode(picture(), "JPEG", exif=gps_exif()), **LIMITS)
    assert photo.sha256 == hashlib.sha256(photo.clean_bytes).hexdigest()


def test_strip_metadata_alone_removes_gps_from_a_jpeg():
    clean = strip_metadata(encode(picture(), "JPEG", exif=gps_exif(orientation=3)))
    assert dict(Image.open(io.BytesIO(clean)).getexif()) == {Base.Orientation: 3}
    assert b"PhoneCo" not in clean


def test_strip_metadata_refuses_what_intake_refuses():
    with pytest.raises(PhotoRejected):
        strip_metadata(b"%PDF-1.4")


SIGNATURES = [
    b"",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"\x00\x00\x00\x18ftypheic",
]


@settings(max_examples=300, deadline=None, database=None)
@given(head=st.sampled_from(SIGNATURES), tail=st.binary(max_size=2048))
def test_no_exception_but_photo_rejected_escapes_for_any_bytes(head, tail):
    try:
        result = process_photo(head + tail, **LIMITS)
    except PhotoRejected as refused:
        assert isinstance(refused.code, RejectCode)
    else:
        assert isinstance(result, ProcessedPhoto)
