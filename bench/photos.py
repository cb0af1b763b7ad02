"""Photo intake speed against the naive Pillow path, side by side in one run.

Inputs: every 4:3 real photo in ../shared/data/realworld/photos, resized to 1280×960 and
saved as JPEG with its EXIF kept (what a courier's phone sends as a file, scaled down).
  ours    process_photo: marker-segment rewrite (no decode), EXIF GPS/time, a 1/8-scale
          decode of the whole scan for the 160 px thumbnail and the perceptual hash
  naive   decode, re-encode at full size without EXIF, make a 320 px thumbnail
Goal: ours ≥ 4× faster on those inputs.

The last table bounds what any intake can reach: the naive path against nothing but the
1/8-scale decode a thumbnail or perceptual hash cannot do without.

Context rows, not the goal: the same photos as Telegram delivers a normal photo message
(recompressed by the emulator's pipeline, the 1280 px variant, no EXIF); the naive path
making a thumbnail as small as ours (like for like: a 160 px thumbnail is cheaper for the
naive path too); and phone-sized originals.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.media.intake import THUMBNAIL_SIDE, process_photo
from bot.transports.emulator.photos import recompress

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld" / "photos"
SIZE = (1280, 960)
ROUNDS = 7
GOAL = 4.0


def inputs() -> dict[str, bytes]:
    made = {}
    for path in sorted(PHOTOS.rglob("*.jpg")):
        with Image.open(path) as image:
            width, height = image.size
            if width * 3 != height * 4 or (width, height) == SIZE:
                continue
            out = io.BytesIO()
            resized = image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)
            resized.save(out, "JPEG", quality=90, exif=image.info.get("exif", b""))
            made[str(path.relative_to(PHOTOS))] = out.getvalue()
    return made


def ours(data: bytes) -> None:
    process_photo(data, max_bytes=20 * 1024 * 1024, max_pixels=40_000_000)


def naive(data: bytes, side: int = 320) -> None:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    image.save(io.BytesIO(), "JPEG", quality=90)
    thumbnail = image.copy()
    thumbnail.thumbnail((side, side))
    thumbnail.save(io.BytesIO(), "JPEG", quality=80)


def decode_floor(data: bytes) -> None:
    """Only the smallest decode any thumbnail or perceptual hash needs: libjpeg at 1/8 scale.

    A baseline JPEG's block averages sit between its AC codes, so all of the entropy-coded
    data is Huffman-decoded even at 1/8; this is the part no JPEG library can skip.
    """
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (SIZE[0] // 8, SIZE[1] // 8))
    image.decodermaxblock = len(data)
    image.load()


def naive_small_thumbnail(data: bytes) -> None:
    naive(data, THUMBNAIL_SIDE)


def as_telegram_delivers(photos: dict[str, bytes]) -> dict[str, bytes]:
    """Each photo as a bot receives it from a normal photo message: the 1280 px variant."""
    return {
        name: next(v.data for v in recompress(data) if max(v.width, v.height) == SIZE[0])
        for name, data in photos.items()
    }


def best_of(run: Callable[[bytes], None], data: bytes) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run(data)
        times.append(time.perf_counter() - start)
    return min(times)


def originals() -> dict[str, bytes]:
    """For context: phone-sized originals as sent, where draft decoding gains most."""
    big = (p for p in sorted(PHOTOS.rglob("*.jpg")) if p.stat().st_size > 700_000)
    return {str(p.relative_to(PHOTOS)): p.read_bytes() for p in big}


def compare(
    title: str,
    photos: dict[str, bytes],
    baseline: Callable[[bytes], None] = naive,
    *,
    mine: Callable[[bytes], None] = ours,
) -> float:
    print(f"\n{title}, best of {ROUNDS}")
    print(f"{'photo':36} {'ours ms':>8} {'naive ms':>9} {'ratio':>6}")
    ratios = []
    for name, data in photos.items():
        us, theirs = best_of(mine, data), best_of(baseline, data)
        ratios.append(theirs / us)
        print(f"{name:36} {us * 1000:8.2f} {theirs * 1000:9.2f} {theirs / us:5.1f}×")
    overall = statistics.geometric_mean(ratios)
    print(f"geometric mean: ours is {overall:.1f}× faster")
    return overall


def main() -> int:
    photos = inputs()
    ours(next(iter(photos.values())))  # first call imports numpy/scipy for the hash
    overall = compare(
        f"{len(photos)} photos at {SIZE[0]}×{SIZE[1]} (the goal: ≥ {GOAL:.0f}×)", photos
    )
    telegram = compare(
        "the same photos as Telegram delivers them (context only)", as_telegram_delivers(photos)
    )
    alike = compare(
        f"naive making a {THUMBNAIL_SIDE} px thumbnail like ours (context only)",
        photos,
        naive_small_thumbnail,
    )
    compare("originals over 700 kB at full size (context only)", originals())
    ceiling = compare(
        "the ceiling: naive against the 1/8-scale decode alone (nothing else of ours)",
        photos,
        naive,
        mine=decode_floor,
    )
    print(
        f"\ngoal {'met' if overall >= GOAL else 'NOT met'}: {overall:.2f}× at {SIZE[0]}×{SIZE[1]}"
        f" (as Telegram delivers them: {telegram:.2f}×;"
        f" against a {THUMBNAIL_SIDE} px naive thumbnail: {alike:.2f}×);"
        f" ceiling with nothing but the 1/8-scale decode: {ceiling:.2f}×"
    )
    return 0  # a verdict to read, not a gate: timings on a shared machine vary


if __name__ == "__main__":
    raise SystemExit(main())
