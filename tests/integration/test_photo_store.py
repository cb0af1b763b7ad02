import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.chat import FileRef
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from bot.services.photos import intake
from bot.services.retention import sweep_orphan_photos
from storage.photos import PhotoNotFound, PhotoStore

PHOTO = b"\xff\xd8 pretend jpeg \xff\xd9"
KEY = hashlib.sha256(PHOTO).hexdigest()


@pytest.fixture
def store(tmp_path):
    return PhotoStore(tmp_path / "photos")


def test_the_key_is_the_sha256_of_the_content(store):
    assert store.put(PHOTO, "jpg") == KEY


def test_a_stored_photo_reads_back_unchanged(store):
    assert store.get(store.put(PHOTO, "jpg")) == PHOTO


def test_photos_sit_two_directory_levels_down_with_their_extension(store, tmp_path):
    path = store.path(store.put(PHOTO, "png"))
    assert path == tmp_path / "photos" / KEY[:2] / KEY[2:4] / f"{KEY}.png"


def test_storing_the_same_photo_twice_keeps_one_file(store, tmp_path):
    store.put(PHOTO, "jpg")
    store.put(PHOTO, "jpg")
    assert [p.name for p in (tmp_path / "photos").rglob("*") if p.is_file()] == [f"{KEY}.jpg"]


def test_no_temporary_files_are_left_behind(store, tmp_path):
    store.put(PHOTO, "jpg")
    store.put(b"another", "jpg")
    assert not [p for p in (tmp_path / "photos").rglob(".*") if p.is_file()]


def test_an_unknown_key_is_not_found(store):
    with pytest.raises(PhotoNotFound):
        store.get(KEY)
    assert KEY not in store


@pytest.mark.parametrize("key", ["../../etc/passwd", KEY.upper(), KEY[:-1], ""])
def test_a_key_that_is_not_a_sha256_cannot_name_a_file(store, key):
    store.put(PHOTO, "jpg")
    with pytest.raises(PhotoNotFound):
        store.path(key)


@pytest.mark.parametrize("ext", ["", "../x", "j.pg", "jpeg-with-too-long-ext"])
def test_a_strange_extension_is_refused(store, ext):
    with pytest.raises(ValueError):
        store.put(PHOTO, ext)


def test_a_deleted_photo_is_gone(store):
    key = store.put(PHOTO, "jpg")
    assert store.delete(key) is True
    assert key not in store
    assert store.delete(key) is False


def _age(path: Path, days: float) -> None:
    """Set the file's modification time ``days`` before now."""
    when = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (when, when))


def test_stored_photos_are_listed_with_their_file_age_and_temp_files_are_not(store, tmp_path):
    key = store.put(PHOTO, "jpg")
    _age(store.path(key), days=3)
    folder = store.path(key).parent
    (folder / ".incoming-abc123").write_bytes(b"half a photo")
    (folder / "notes.txt").write_bytes(b"not a photo")
    (tmp_path / "photos" / "zz").mkdir()
    listed = list(store.stored())
    assert [p.key for p in listed] == [key]
    age = datetime.now(UTC) - listed[0].modified
    assert timedelta(days=3) - timedelta(minutes=1) < age < timedelta(days=3, minutes=1)


def test_an_empty_store_lists_nothing(store):
    assert list(store.stored()) == []


def test_only_a_photo_older_than_the_cutoff_is_deleted(store):
    old, young = store.put(PHOTO, "jpg"), store.put(b"young", "jpg")
    _age(store.path(old), days=8)
    _age(store.path(young), days=6)
    cutoff = datetime.now(UTC) - timedelta(days=7)
    assert store.delete_if_older(old, cutoff) is True
    assert store.delete_if_older(young, cutoff) is False
    assert old not in store and young in store
    assert store.delete_if_older(old, cutoff) is False


def test_storing_an_old_photo_again_makes_it_young(store):
    # Else the sweep could delete a photo a rider just sent again, before the report
    # naming it commits.
    key = store.put(PHOTO, "jpg")
    _age(store.path(key), days=30)
    store.put(PHOTO, "jpg")
    assert store.delete_if_older(key, datetime.now(UTC) - timedelta(days=7)) is False
    assert store.get(key) == PHOTO


# -- thumbnails --------------------------------------------------------------------------------

REALWORLD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "photos"
THUMBNAIL = b"\xff\xd8 pretend thumbnail \xff\xd9"


class LocalFiles:
    """A fetcher that "downloads" a real photo from disk."""

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return (REALWORLD / ref.file_id).read_bytes()


@pytest.mark.parametrize("name", ["misc/jolla.jpg", "gps/DSCN0010.jpg", "heic/IMG_5195.HEIC"])
async def test_intake_stores_a_jpeg_thumbnail_of_at_most_160_px_and_deleting_removes_it(
    store, name
):
    env = Env(catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=store)
    taken = await intake(FileRef(file_id=name), fetcher=LocalFiles(), env=env, as_file=True)
    assert taken.key is not None, taken.error
    with Image.open(store.thumbnail_path(taken.key)) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert max(thumbnail.size) <= 160
    assert store.delete(taken.key) is True
    with pytest.raises(PhotoNotFound):
        store.thumbnail_path(taken.key)


def test_a_thumbnail_is_neither_the_photo_nor_listed_as_one(store):
    key = store.put(PHOTO, "jpg", thumbnail=THUMBNAIL)
    assert store.path(key).name == f"{KEY}.jpg"
    assert store.get(key) == PHOTO
    assert store.thumbnail_path(key).read_bytes() == THUMBNAIL
    assert [p.key for p in store.stored()] == [key]


def test_the_retention_cutoff_removes_the_thumbnail_with_its_photo(store):
    key = store.put(PHOTO, "jpg", thumbnail=THUMBNAIL)
    _age(store.path(key), days=8)
    assert store.delete_if_older(key, datetime.now(UTC) - timedelta(days=7)) is True
    with pytest.raises(PhotoNotFound):
        store.thumbnail_path(key)


async def test_the_orphan_sweep_removes_the_thumbnail_with_its_photo(store, make_uow, tmp_path):
    key = store.put(PHOTO, "jpg", thumbnail=THUMBNAIL)
    _age(store.path(key), days=8)
    cutoff = datetime.now(UTC) - timedelta(days=7)
    assert await sweep_orphan_photos(make_uow, store, cutoff=cutoff) == 1
    assert not [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]
