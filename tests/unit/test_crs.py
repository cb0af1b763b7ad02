"""Coordinate conversions: reference values from wandergis/coordtransform, round trips."""

from __future__ import annotations

import pytest
from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import Crs
from bot.geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_map_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Mainland China, where the offset applies (kept off the box edges so a point stays "in China").
china_lat = st.floats(min_value=18.0, max_value=53.0)
china_lon = st.floats(min_value=74.0, max_value=134.0)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic(a, b).meters)


def test_wgs84_to_gcj02_matches_the_published_reference_value() -> None:
    assert wgs84_to_gcj02(39.915, 116.404) == pytest.approx(
        (39.91640428150164, 116.41024449916938), abs=1e-12
    )


def test_gcj02_to_bd09_matches_the_published_reference_value() -> None:
    assert gcj02_to_bd09(39.915, 116.404) == pytest.approx(
        (39.92133699351021, 116.41036949371029), abs=1e-12
    )


def test_bd09_to_gcj02_matches_the_published_reference_value() -> None:
    assert bd09_to_gcj02(39.915, 116.404) == pytest.approx(
        (39.90865673957631, 116.39762729119315), abs=1e-12
    )


def test_gcj02_offset_in_qinhuangdao_is_hundreds_of_metres() -> None:
    wgs = (39.935, 119.600)
    assert 100.0 < metres(wgs, wgs84_to_gcj02(*wgs)) < 700.0


def test_points_outside_china_are_not_offset() -> None:
    tuscany = (43.467, 11.885)
    assert out_of_china(*tuscany)
    assert wgs84_to_gcj02(*tuscany) == tuscany
    assert gcj02_to_wgs84(*tuscany) == tuscany


@given(china_lat, china_lon)
def test_gcj02_inverse_recovers_the_wgs84_point_within_half_a_metre(lat: float, lon: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))
    assert metres((lat, lon), back) < 0.5


@given(china_lat, china_lon)
def test_bd09_round_trip_stays_within_half_a_metre(lat: float, lon: float) -> None:
    assert metres((lat, lon), bd09_to_wgs84(*wgs84_to_bd09(lat, lon))) < 0.5
    assert metres((lat, lon), bd09_to_gcj02(*gcj02_to_bd09(lat, lon))) < 0.5


@given(china_lat, china_lon, st.sampled_from(list(Crs)), st.sampled_from(list(Crs)))
def test_convert_between_any_two_systems_round_trips(
    lat: float, lon: float, src: Crs, dst: Crs
) -> None:
    there = convert(lat, lon, src, dst)
    assert metres((lat, lon), convert(*there, dst, src)) < 0.5


def test_to_map_crs_takes_a_phone_point_into_the_map_system() -> None:
    assert to_map_crs(39.915, 116.404, Crs.WGS84) == (39.915, 116.404)
    assert to_map_crs(39.915, 116.404, Crs.GCJ02) == wgs84_to_gcj02(39.915, 116.404)
    assert to_map_crs(39.915, 116.404, Crs.BD09) == wgs84_to_bd09(39.915, 116.404)
