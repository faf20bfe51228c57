"""MkDocs hook: generate the parts of the tutorial that come from the lab itself.

Before every build it renders the default profile's host files (with secrets redacted) into
``docs/_generated/hosts/`` and writes tables built from ``lab.yml``, so chapter pages embed
the very configs, scripts and checks the lab uses (``--8<--`` snippets) and never drift.

``WEBFARM_DOCS_LAB`` names another lab file: the test suite builds the site from its frozen
fixture (tests/fixtures/lab.yml), so a reader's edits to lab.yml never turn the tests red.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from webfarm import docsgen

ROOT = Path(__file__).resolve().parents[2]


def on_pre_build(config: Any, **_: Any) -> None:
    out = ROOT / "docs" / "_generated"
    shutil.rmtree(out, ignore_errors=True)
    docsgen.generate(ROOT / os.environ.get("WEBFARM_DOCS_LAB", "lab.yml"), out)
