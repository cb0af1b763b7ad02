"""Run the installed ``gridsnap`` command in a new process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GRIDSNAP = Path(sys.executable).parent / "gridsnap"


def run_gridsnap(
    *args: str,
    url: str | None = None,
    cwd: Path | None = None,
    answer: str | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``url`` becomes GRIDSNAP_DATABASE_URL; ``env`` adds variables; ``answer`` is typed at
    its questions. Run it away from the repository (``cwd``) so a developer's ``.env``
    cannot leak in."""
    variables = {
        **os.environ,
        "COLUMNS": "200",  # rich would otherwise fold tables to a terminal-less 80
        "NO_COLOR": "1",
        **({"GRIDSNAP_DATABASE_URL": url} if url is not None else {}),
        **env,
    }
    return subprocess.run(
        [str(GRIDSNAP), *args],
        env=variables,
        cwd=cwd,
        capture_output=True,
        input=answer,
        text=True,
        timeout=120,
        check=False,
    )
