from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

from bot.media.exif import ExifFacts, gps_position, orientation, read_exif, taken_at


def exif_with_gps(**tags: object) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.update({GPS[name]: value for name, value in tags.items()})
    return exif


QINHUANGDAO = {
    "GPSLatitudeRef": "N",
    "GPSLatitude": (39.0, 56.0, 9.0),
    "GPSLongitudeRef": "E",
    "GPSLongitude": (119.0, 35.0, 6.0),
}


def test_degrees_minutes_seconds_become_decimal_degrees():
    lat, lon = gps_position(exif_with_gps(**QINHUANGDAO))  # type: ignore[misc]
    assert lat == pytest.approx(39 + 56 / 60 + 9 / 3600)
    assert lon == pytest.approx(119 + 35 / 60 + 6 / 3600)


def test_south_and_west_are_negative():
    tags = QINHUANGDAO | {"GPSLatitudeRef": "S", "GPSLongitudeRef": b"W\x00"}
    lat, lon = gps_position(exif_with_gps(**tags))  # type: ignore[misc]
    assert lat < 0 and lon < 0


def test_decimal_minutes_are_understood():
    tags = QINHUANGDAO | {"GPSLatitude": (43.0, 47.135666, 0.0)}
    lat, _ = gps_position(exif_with_gps(**tags))  # type: ignore[misc]
    assert lat == pytest.approx(43 + 47.135666 / 60)


@pytest.mark.parametrize(
    "change",
    [
        {"GPSLatitudeRef": ""},
        {"GPSLongitudeRef": "X"},
        {"GPSLatitude": (91.0, 0.0, 0.0)},
        {"GPSLongitude": (180.0, 30.0, 0.0)},
        {"GPSLatitude": (39.0, 60.0, 0.0)},
        {"GPSLatitude": (39.0, 0.0, -1.0)},
        {"GPSLatitude": (IFDRational(39, 0), 0.0, 0.0)},
        {"GPSLatitude": "thirty-nine"},
        {"GPSLatitude": (0.0, 0.0, 0.0), "GPSLongitude": (0.0, 0.0, 0.0)},
        {"GPSStatus": "V"},
        {"GPSMapDatum": "TOKYO"},
    ],
    ids=[
        "no-latitude-ref",
        "bad-longitude-ref",
        "latitude-over-90",
        "longitude-over-180",
        "sixty-minutes",
        "negative-seconds",
        "zero-denominator",
        "text-instead-of-numbers",
        "null-island",
        "void-fix",
        "other-datum",
    ],
)
def test_implausible_positions_are_treated_as_absent(change):
    assert gps_position(exif_with_gps(**(QINHUANGDAO | change))) is None


def test_a_wgs84_datum_in_any_spelling_is_accepted():
    assert gps_position(exif_with_gps(**QINHUANGDAO, GPSMapDatum="WGS-84   ")) is not None


def test_no_gps_block_means_no_position():
    assert gps_position(Image.Exif()) is None


def exif_with_times(**tags: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(IFD.Exif).update({Base[name]: value for name, value in tags.items()})
    return exif


def test_time_taken_carries_the_cameras_utc_offset():
    exif = exif_with_times(DateTimeOriginal="2024:05:01 08:30:00", OffsetTimeOriginal="+08:00")
    assert taken_at(exif) == datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))


def test_time_taken_without_offset_is_camera_local():
    exif = exif_with_times(DateTimeOriginal="2024:05:01 08:30:00")
    assert taken_at(exif) == datetime(2024, 5, 1, 8, 30)


def test_an_unset_camera_clock_falls_back_to_the_digitized_time():
    exif = exif_with_times(
        DateTimeOriginal="0000:00:00 00:00:00", DateTimeDigitized="2024:05:01 08:31:00"
    )
    assert taken_at(exif) == datetime(2024, 5, 1, 8, 31)


def test_impossible_times_are_treated_as_absent():
    assert taken_at(exif_with_times(DateTimeOriginal="1970:01:01 00:00:00")) is None
    assert taken_at(exif_with_times(DateTimeOriginal="2024:02:30 10:00:00")) is None


@pytest.mark.parametrize(("value", "expected"), [(6, 6), (1, 1), (0, 1), (9, 1), ("6", 1)])
def test_orientation_outside_1_to_8_means_upright(value, expected):
    exif = Image.Exif()
    exif[Base.Orientation] = value
    assert orientation(exif) == expected


def exif_block(exif: Image.Exif) -> bytes:
    return exif.tobytes()  # the APP1 payload, "Exif\0\0" header included


def full_exif(turn: int = 6) -> Image.Exif:
    exif = exif_with_gps(**QINHUANGDAO)
    exif[Base.Orientation] = turn
    exif[Base.Make] = "PhoneCo"
    exif.get_ifd(IFD.Exif).update(
        {Base.DateTimeOriginal: "2024:05:01 08:30:00", Base.OffsetTimeOriginal: "+08:00"}
    )
    return exif


def test_read_exif_finds_orientation_position_and_time():
    facts = read_exif(exif_block(full_exif(turn=6)))
    assert facts.orientation == 6
    assert facts.gps == pytest.approx((39 + 56 / 60 + 9 / 3600, 119 + 35 / 60 + 6 / 3600))
    assert facts.taken_at == datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))


def test_read_exif_applies_the_same_rules_as_the_pillow_readers():
    exif = full_exif()
    exif.get_ifd(IFD.GPSInfo)[GPS.GPSLatitudeRef] = "X"  # no hemisphere: no position
    facts = read_exif(exif_block(exif))
    assert facts.gps is None and gps_position(exif) is None
    assert facts.taken_at == taken_at(exif)


def test_no_exif_block_means_no_facts():
    assert read_exif(None) == read_exif(b"") == read_exif(b"Exif\x00\x00junk") == ExifFacts()


def test_any_truncation_of_an_exif_block_gives_facts_never_an_exception():
    block = exif_block(full_exif())
    outcomes = {read_exif(block[:cut]) for cut in range(len(block) + 1)}
    assert ExifFacts() in outcomes and read_exif(block) in outcomes
