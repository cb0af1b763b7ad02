"""Every real-world photo in ../shared/data/realworld/photos gets a processed photo or a refusal."""

import io
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from PIL.ExifTags import IFD, Base
from PIL.JpegImagePlugin import JpegImageFile

from bot.media import jpeg
from bot.media.exif import ExifFacts, gps_position, orientation, read_exif, taken_at
from bot.media.intake import (
    THUMBNAIL_SIDE,
    PhotoRejected,
    ProcessedPhoto,
    RejectCode,
    phash_distance,
    process_photo,
)
from bot.services.reports import PHASH_MAX_DISTANCE
from bot.transports.emulator.photos import recompress

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "photos"


class Limits(TypedDict):
    max_bytes: int
    max_pixels: int


LIMITS: Limits = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}
SAME_SCENE = 8  # phash bits; a wrongly turned or mirrored copy of these photos differs by ~30


def dms(degrees: float, minutes: float, seconds: float) -> float:
    return degrees + minutes / 60 + seconds / 3600


@dataclass(frozen=True)
class Expect:
    size: tuple[int, int]  # upright
    gps: tuple[float, float] | None = None
    taken_at: datetime | None = None


# GPS in degrees/minutes/seconds as the files' EXIF holds it (checked with exiftool-style
# reading of the raw rationals); the decimal conversion is what intake must get right.
EXPECTED: dict[str, Expect] = {
    "gps/DSCN0010.jpg": Expect(
        (640, 480), (dms(43, 28, 2.814), dms(11, 53, 6.456)), datetime(2008, 10, 22, 16, 28, 39)
    ),
    "gps/DSCN0012.jpg": Expect((640, 480), (dms(43, 28, 1.764), dms(11, 53, 7.422))),
    "gps/DSCN0021.jpg": Expect((640, 480), (dms(43, 28, 1.494), dms(11, 53, 4.338))),
    "gps/DSCN0025.jpg": Expect((640, 480), (dms(43, 28, 6.114), dms(11, 52, 53.886))),
    "gps/DSCN0027.jpg": Expect((640, 480), (dms(43, 28, 6.39), dms(11, 52, 53.454))),
    "gps/DSCN0029.jpg": Expect((640, 480), (dms(43, 28, 5.676), dms(11, 52, 48.618))),
    "gps/DSCN0038.jpg": Expect((640, 480), (dms(43, 28, 2.118), dms(11, 52, 45.168))),
    "gps/DSCN0040.jpg": Expect((640, 480), (dms(43, 27, 57.642), dms(11, 52, 44.802))),
    "gps/DSCN0042.jpg": Expect((640, 480), (dms(43, 27, 52.038), dms(11, 52, 53.322))),
    # An iPhone photo from Missouri: western longitude must come out negative.
    "heic/IMG_5195.HEIC": Expect(
        (2566, 3313),
        (dms(39, 3, 4.84), -dms(94, 17, 19.58)),
        datetime(2021, 4, 11, 15, 47, 53, tzinfo=timezone(timedelta(hours=-5))),
    ),
    "heic/samplefilehub.heif": Expect((640, 426)),
    "invalid/image00971.jpg": Expect((636, 227)),
    "invalid/image01088.jpg": Expect((425, 120)),
    "invalid/image01137.jpg": Expect((88, 64)),
    "invalid/image01551.jpg": Expect((61, 58)),
    "invalid/image01713.jpg": Expect((49, 500)),
    "invalid/image01980.jpg": Expect((284, 25)),
    "invalid/image02206.jpg": Expect((65, 65)),
    "misc/35-empty.jpg": Expect((2164, 1626), None, datetime(2005, 7, 19, 18, 25, 29)),
    "misc/36-memory_error.jpg": Expect((1600, 1200), None, datetime(2002, 4, 21, 0, 30, 33)),
    "misc/45-gps_ifd.jpg": Expect((1600, 900), None, datetime(2012, 6, 23, 6, 55, 49)),
    "misc/67-0_length_string.jpg": Expect((4032, 2012), (dms(51, 1, 30), dms(7, 35, 31))),
    "misc/87_OSError.jpg": Expect(
        (1488, 2240),
        (dms(43, 47.135666, 0), dms(11, 14.077166, 0)),
        datetime(2005, 12, 14, 14, 39, 47),
    ),
    "misc/Canon_40D.jpg": Expect((100, 68), None, datetime(2008, 5, 30, 15, 56, 1)),
    # Its scan holds a damaged byte pair that libjpeg skips at the next restart marker.
    "misc/corrupted.jpg": Expect((3648, 2736), None, datetime(2015, 9, 8, 11, 2, 17)),
    "misc/jolla.jpg": Expect((3264, 2448), None, datetime(2014, 9, 21, 16, 0, 56)),
    "misc/no_exif.jpg": Expect((322, 466)),
    **{f"orientation/landscape_{n}.jpg": Expect((600, 450)) for n in range(1, 9)},
    **{f"orientation/portrait_{n}.jpg": Expect((450, 600)) for n in range(1, 9)},
}

ALL_FILES = sorted(
    str(p.relative_to(PHOTOS)) for p in PHOTOS.rglob("*") if p.is_file() and p.suffix != ".source"
)


def process(name: str) -> ProcessedPhoto:
    return process_photo((PHOTOS / name).read_bytes(), file_name=Path(name).name, **LIMITS)


def assert_carries_no_metadata(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, JpegImageFile) and image.format == "JPEG"  # not MPO
    exif = image.getexif()
    assert set(exif) <= {Base.Orientation}
    assert not exif.get_ifd(IFD.GPSInfo) and not exif.get_ifd(IFD.Exif)
    assert not {"xmp", "comment", "photoshop", "mp", "mpoffset"} & set(image.info)
    for marker, body in image.applist:
        assert (marker, body[:4]) in {
            ("APP0", b"JFIF"),
            ("APP1", b"Exif"),
            ("APP2", b"ICC_"),
            ("APP14", b"Adob"),
        }
    assert b"http://ns.adobe.com/xap/1.0/" not in data
    assert data.endswith(b"\xff\xd9")


def test_every_real_photo_has_an_expected_outcome():
    assert set(ALL_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", ALL_FILES)
def test_real_photo_is_processed_clean_and_decodable(name):
    expected = EXPECTED[name]
    photo = process(name)
    assert photo.ext == "jpg"
    assert_carries_no_metadata(photo.clean_bytes)
    decoded = ImageOps.exif_transpose(Image.open(io.BytesIO(photo.clean_bytes)))
    assert decoded.size == (photo.width, photo.height) == expected.size
    thumbnail = Image.open(io.BytesIO(photo.thumbnail_bytes))
    assert thumbnail.format == "JPEG" and max(thumbnail.size) <= THUMBNAIL_SIDE
    # Upright like the photo: a portrait photo gets a portrait thumbnail.
    assert (thumbnail.width >= thumbnail.height) == (photo.width >= photo.height)


@pytest.mark.parametrize("name", ALL_FILES)
def test_real_photo_position_and_time_are_read(name):
    expected = EXPECTED[name]
    photo = process(name)
    if expected.gps is None:
        assert photo.gps is None
    else:
        assert photo.gps == pytest.approx(expected.gps, abs=1e-6)
    if expected.taken_at is not None:
        assert photo.taken_at == expected.taken_at


def test_the_metadata_check_catches_what_an_original_carries():
    with pytest.raises(AssertionError):
        assert_carries_no_metadata((PHOTOS / "gps/DSCN0010.jpg").read_bytes())


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_each_orientation_shows_the_same_upright_scene(shape, orientation):
    reference = process(f"orientation/{shape}_1.jpg")
    photo = process(f"orientation/{shape}_{orientation}.jpg")
    assert phash_distance(photo.phash, reference.phash) <= SAME_SCENE
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(photo.clean_bytes)))
    redone = process_photo(_jpeg(shown), **LIMITS)
    assert phash_distance(redone.phash, reference.phash) <= SAME_SCENE


def test_a_mirrored_scene_is_told_apart_from_the_upright_one():
    scene = Image.open(PHOTOS / "orientation/landscape_1.jpg")
    mirrored = process_photo(_jpeg(scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), **LIMITS)
    assert phash_distance(mirrored.phash, process("orientation/landscape_1.jpg").phash) > SAME_SCENE


def test_a_smaller_recompressed_copy_is_a_near_duplicate():
    scene = Image.open(PHOTOS / "gps/DSCN0010.jpg")
    copy = process_photo(_jpeg(scene.resize((320, 240)), quality=40), **LIMITS)
    assert phash_distance(copy.phash, process("gps/DSCN0010.jpg").phash) <= SAME_SCENE
    other = process("gps/DSCN0042.jpg")
    assert phash_distance(other.phash, process("gps/DSCN0010.jpg").phash) > SAME_SCENE


# One photo of each scene (the orientation set is one scene eight times).
DISTINCT_SCENES = [
    *(f"gps/DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27", "29", "38", "40", "42")),
    "heic/IMG_5195.HEIC",
    "misc/35-empty.jpg",
    "misc/36-memory_error.jpg",
    "misc/45-gps_ifd.jpg",
    "misc/67-0_length_string.jpg",
    "misc/87_OSError.jpg",
    "misc/Canon_40D.jpg",
    "misc/corrupted.jpg",
    "misc/jolla.jpg",
    "misc/no_exif.jpg",
    "orientation/landscape_1.jpg",
]


@pytest.mark.parametrize("name", DISTINCT_SCENES)
def test_every_size_telegram_recompresses_a_photo_to_is_a_near_duplicate(name):
    original = process(name)
    for variant in recompress((PHOTOS / name).read_bytes()):
        copy = process_photo(variant.data, **LIMITS)
        assert phash_distance(copy.phash, original.phash) <= PHASH_MAX_DISTANCE, variant.width


def test_different_real_photos_are_far_apart():
    hashes = {name: process(name).phash for name in DISTINCT_SCENES}
    closest = min(
        phash_distance(hashes[a], hashes[b]) for a, b in itertools.combinations(hashes, 2)
    )
    assert closest > 2 * PHASH_MAX_DISTANCE


JPEG_EXIF = {
    name: exif
    for name in ALL_FILES
    if name.endswith(".jpg")
    and (exif := jpeg.read_layout((PHOTOS / name).read_bytes()).exif) is not None
}


@pytest.mark.parametrize("name", sorted(JPEG_EXIF))
def test_exif_facts_match_what_pillows_full_reader_finds(name):
    payload = JPEG_EXIF[name]
    exif = Image.Exif()
    exif.load(payload)
    expected = ExifFacts(orientation(exif), gps_position(exif), taken_at(exif))
    assert read_exif(payload) == expected


def test_heic_is_converted_to_jpeg_without_its_gps():
    photo = process("heic/IMG_5195.HEIC")
    image = Image.open(io.BytesIO(photo.clean_bytes))
    assert image.format == "JPEG" and not image.getexif()
    assert photo.gps is not None  # read before it was dropped


def test_a_truncated_jpeg_is_refused_as_corrupt():
    data = (PHOTOS / "gps/DSCN0010.jpg").read_bytes()
    with pytest.raises(PhotoRejected) as refused:
        process_photo(data[: len(data) // 2], **LIMITS)
    assert refused.value.code is RejectCode.CORRUPT


def test_a_truncated_heic_is_refused_as_corrupt():
    data = (PHOTOS / "heic/samplefilehub.heif").read_bytes()
    with pytest.raises(PhotoRejected) as refused:
        process_photo(data[: len(data) // 2], **LIMITS)
    assert refused.value.code is RejectCode.CORRUPT


def test_a_photo_over_the_byte_cap_is_refused_as_too_big():
    with pytest.raises(PhotoRejected) as refused:
        process_photo((PHOTOS / "misc/jolla.jpg").read_bytes(), max_bytes=500_000, max_pixels=10**9)
    assert refused.value.code is RejectCode.TOO_BIG


def test_a_photo_over_the_pixel_cap_is_refused_as_too_many_pixels():
    with pytest.raises(PhotoRejected) as refused:
        process_photo(
            (PHOTOS / "misc/jolla.jpg").read_bytes(), max_bytes=10**8, max_pixels=7_000_000
        )
    assert refused.value.code is RejectCode.TOO_MANY_PIXELS


FUZZ_SOURCES = [
    "gps/DSCN0010.jpg",
    "orientation/portrait_6.jpg",
    "misc/Canon_40D.jpg",
    "heic/samplefilehub.heif",
]
SOURCE_BYTES = {name: (PHOTOS / name).read_bytes() for name in FUZZ_SOURCES}


def outcome_is_a_photo_or_a_refusal(data: bytes) -> None:
    try:
        result = process_photo(data, **LIMITS)
    except PhotoRejected as refused:
        assert isinstance(refused.code, RejectCode)
    else:
        Image.open(io.BytesIO(result.clean_bytes)).load()


@settings(max_examples=120, deadline=None, database=None)
@given(name=st.sampled_from(FUZZ_SOURCES), cut=st.floats(0.0, 1.0))
def test_any_truncation_of_a_real_photo_is_a_photo_or_a_refusal(name, cut):
    data = SOURCE_BYTES[name]
    outcome_is_a_photo_or_a_refusal(data[: int(len(data) * cut)])


@settings(max_examples=120, deadline=None, database=None)
@given(
    name=st.sampled_from(FUZZ_SOURCES),
    edits=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_any_damage_to_a_real_photo_is_a_photo_or_a_refusal(name, edits):
    data = bytearray(SOURCE_BYTES[name])
    for where, value in edits:
        data[min(int(len(data) * where), len(data) - 1)] = value
    outcome_is_a_photo_or_a_refusal(bytes(data))


def _jpeg(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **params)
    return out.getvalue()


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(PHOTOS)) for p in PHOTOS.rglob("*.source"))
)
def test_the_provenance_notes_beside_the_photos_are_refused_as_not_images(name):
    """The folder's other files get a clear refusal too, not an exception."""
    with pytest.raises(PhotoRejected) as refused:
        process(name)
    assert refused.value.code is RejectCode.NOT_AN_IMAGE
