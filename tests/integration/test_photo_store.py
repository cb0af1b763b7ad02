import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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
