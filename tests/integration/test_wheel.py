"""The built wheel, as a deployment installs it: it carries the compiled catalogues, so its
bot speaks Chinese; and a bot whose catalogue is missing refuses to start, naming it.

The wheel is built from the repository's files (not its compiled ``.mo``, which git ignores)
by pip with build isolation, from the machine's configured package index.
"""

from __future__ import annotations

import gettext
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.i18n import translator

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = "Choose your language:"
CATALOGUES = {locale: f"bot/locales/{locale}/LC_MESSAGES/gridsnap.mo" for locale in ("zh_CN", "en")}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is still listed
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    assert not list(source.glob("locales/**/*.mo")), "the build must compile them itself"
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("gridsnap-*.whl")
    return found


@pytest.fixture
def installed(wheel: Path, tmp_path: Path) -> Path:
    """The wheel unpacked where an installer would put it (it is pure Python)."""
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def python(
    code: str, *args: str, site: Path, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    variables = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDSNAP_")},
        "PYTHONPATH": str(site),  # before site-packages, which holds the editable checkout
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=variables,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_issue8_the_wheel_ships_the_compiled_catalogue_of_every_locale(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert set(CATALOGUES.values()) <= names, sorted(n for n in names if "locale" in n)
        chinese = gettext.GNUTranslations(io.BytesIO(archive.read(CATALOGUES["zh_CN"])))
    assert chinese.gettext(MESSAGE) == translator("zh_CN")._(MESSAGE) != MESSAGE


def test_issue8_the_installed_wheel_speaks_chinese(installed: Path, tmp_path: Path) -> None:
    done = python(
        "import bot; from bot.i18n import translator;"
        f" print(bot.__file__); print(translator('zh_CN')._({MESSAGE!r}))",
        site=installed,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    where, said = done.stdout.splitlines()
    assert Path(where).is_relative_to(installed)
    assert said == translator("zh_CN")._(MESSAGE) != MESSAGE


def test_issue8_a_locale_without_its_catalogue_stops_start_up_naming_it(
    installed: Path, tmp_path: Path
) -> None:
    (installed / CATALOGUES["zh_CN"]).unlink()
    done = python(
        "from bot.cli import main; main()",
        "run",
        site=installed,
        cwd=tmp_path,
        GRIDSNAP_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}",
        GRIDSNAP_PHOTO_DIR=str(tmp_path / "photos"),
        GRIDSNAP_TELEGRAM_TOKEN="123456:wheel-test",
        # Never reached: the catalogues are checked before anything talks to Telegram.
        GRIDSNAP_TELEGRAM_API_URL="http://127.0.0.1:9",
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert "GRIDSNAP_DEFAULT_LOCALE" in output
    assert "no compiled catalogue for zh_CN" in output
