import hashlib

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
