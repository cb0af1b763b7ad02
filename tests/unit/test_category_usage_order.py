"""Issue 3: the first category menu orders by recent use, the fixed rank breaking ties."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.categories import Category, by_use, load_catalogue

CATALOGUE = load_catalogue()
FIXED_TOP = ["0102", "0502", "0201", "C0101", "0403", "0404"]  # the data file's ranks 1-6


def codes(categories: Iterable[Category]) -> list[str]:
    return [c.code for c in categories]


def test_without_counts_the_fixed_rank_decides() -> None:
    assert codes(by_use(CATALOGUE, {})[:6]) == FIXED_TOP
    assert codes(CATALOGUE.popular(6, {})) == codes(CATALOGUE.popular(6)) == FIXED_TOP


def test_more_reports_beat_a_better_rank() -> None:
    counts = {"0501": 5, "0402": 2, "0102": 1}  # ranks 28, 27 and 1
    assert codes(CATALOGUE.popular(4, counts)) == ["0501", "0402", "0102", "0502"]


def test_equal_counts_fall_back_to_the_rank() -> None:
    counts = {"0501": 3, "0402": 3, "0403": 3}  # ranks 28, 27 and 5
    assert codes(CATALOGUE.popular(4, counts)) == ["0403", "0402", "0501", "0102"]


def test_codes_no_longer_in_the_catalogue_are_ignored() -> None:
    assert codes(CATALOGUE.popular(6, {"9999": 50})) == FIXED_TOP
