import io

import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from PIL.JpegImagePlugin import JpegImageFile

from bot.media import jpeg


def camera_jpeg(*, orientation: int = 1) -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS and maker note, XMP, a comment."""
    exif = Image.Exif()
    exif[Base.Orientation] = orientation
    exif[Base.Make] = "PhoneCo"
    exif.get_ifd(IFD.GPSInfo).update({GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: (39.0, 56.0, 9.0)})
    picture = Image.linear_gradient("L").convert("RGB").resize((64, 48))
    out = io.BytesIO()
    picture.save(
        out, "JPEG", exif=exif, comment=b"courier 42", xmp=b"<x:xmpmeta>secret</x:xmpmeta>"
    )
    return out.getvalue()


def applist(data: bytes) -> list[tuple[str, bytes]]:
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, JpegImageFile)
    return image.applist


def strip(data: bytes, exif: bytes | None = None) -> bytes:
    return jpeg.rebuild(data, jpeg.read_layout(data), exif=exif)


def test_exif_xmp_and_comments_are_dropped():
    clean = strip(camera_jpeg())
    for secret in (b"PhoneCo", b"courier 42", b"secret", b"Exif\x00\x00"):
        assert secret not in clean
    assert [(marker, body[:5]) for marker, body in applist(clean)] == [("APP0", b"JFIF\x00")]


def test_the_compressed_picture_is_copied_byte_for_byte():
    original = camera_jpeg()
    layout = jpeg.read_layout(original)
    scan = next(s for s in layout.segments if s.marker == jpeg.SOS)
    assert original[scan.start : scan.end] in strip(original)


def test_the_picture_decodes_to_the_same_pixels():
    original = camera_jpeg()
    before = Image.open(io.BytesIO(original)).tobytes()
    assert Image.open(io.BytesIO(strip(original))).tobytes() == before


def test_a_given_exif_block_follows_the_jfif_header_which_must_come_first():
    tag = Image.Exif()
    tag[Base.Orientation] = 6
    clean = strip(camera_jpeg(orientation=6), exif=tag.tobytes())
    assert [marker for marker, _ in applist(clean)] == ["APP0", "APP1"]
    assert dict(Image.open(io.BytesIO(clean)).getexif()) == {Base.Orientation: 6}


def test_frame_size_is_read_from_the_header():
    layout = jpeg.read_layout(camera_jpeg())
    assert (layout.width, layout.height) == (64, 48)


def test_the_first_exif_block_is_handed_out_for_reading():
    layout = jpeg.read_layout(camera_jpeg())
    assert layout.exif is not None and b"PhoneCo" in layout.exif


def test_data_after_the_end_marker_is_cut_off():
    original = camera_jpeg()
    assert strip(original + b"\xff\xd8appended preview with GPS") == strip(original)


def test_fill_bytes_before_a_marker_are_accepted():
    original = camera_jpeg()
    padded = original[:2] + b"\xff\xff" + original[2:]
    assert strip(padded) == strip(original)


def test_a_damaged_byte_pair_inside_the_scan_is_kept_like_libjpeg_does():
    original = camera_jpeg()
    scan = next(s for s in jpeg.read_layout(original).segments if s.marker == jpeg.SOS)
    middle = (scan.start + scan.end) // 2
    damaged = original[:middle] + b"\xff\x9f" + original[middle + 2 :]
    assert b"\xff\x9f" in strip(damaged)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_a_cut_short_file_is_an_error(keep):
    original = camera_jpeg()
    with pytest.raises(jpeg.JpegError):
        jpeg.read_layout(original[: int(len(original) * keep)])


def test_a_file_without_a_frame_header_is_an_error():
    with pytest.raises(jpeg.JpegError, match="no frame header"):
        jpeg.read_layout(b"\xff\xd8\xff\xfe\x00\x04hi\xff\xd9")
