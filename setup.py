"""One build step on top of pyproject.toml: the wheel carries compiled gettext catalogues.

Translators and ``pybabel`` work on ``locales/<lang>/LC_MESSAGES/gridsnap.po`` at the top of
the repository, outside any package, and compiled ``.mo`` files are not committed. Without
this step a built wheel had no catalogues and every Chinese user silently got English.
``build_py`` now runs Babel's ``compile_catalog`` on each catalogue into the package, as
``bot/locales/<lang>/LC_MESSAGES/gridsnap.mo``, where ``bot.i18n`` looks first. An editable
install (``make``) reads ``locales/`` itself, compiled by ``make locales``.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.setuptools_frontend import compile_catalog
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DOMAIN = "gridsnap"


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        sources = sorted((HERE / "locales").glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
        if not sources:
            raise SystemExit("build: no locales/*/LC_MESSAGES/gridsnap.po to compile")
        for source in sources:
            self._compile(source, locale=source.parent.parent.name)

    def _compile(self, source: Path, *, locale: str) -> None:
        target = Path(self.build_lib) / "bot" / "locales" / locale / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        compiler = compile_catalog(self.distribution)
        compiler.initialize_options()
        compiler.domain = DOMAIN
        compiler.locale = locale
        compiler.input_file = str(source)
        compiler.output_file = str(target / f"{DOMAIN}.mo")
        compiler.finalize_options()
        if compiler.run():
            raise SystemExit(f"build: {source} has errors; see above")


setup(cmdclass={"build_py": BuildPyWithCatalogues})
