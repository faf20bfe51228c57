"""MkDocs hook: generate the parts of the tutorial that come from the lab itself.

Before every build it renders the default profile's host files (with secrets redacted) into
``docs/_generated/hosts/`` and writes tables built from ``lab.yml``, so chapter pages embed
the very configs, scripts and checks the lab uses (``--8<--`` snippets) and never drift.

It also makes the chapter registry (``webfarm/chapters.py``) the one list of chapters:

- ``on_config``: the nav's ``Chapters`` section (left empty in mkdocs.yml) is filled from it;
- ``on_files``: one page per chapter file (``files/<path>/``) shows that file;
- ``on_page_markdown``: every chapter page opens with a "This chapter's files" box, and
  every ``{{ lab.… }}`` placeholder on any page becomes its value from the lab model (see
  ``webfarm.docsgen.fill``). An unknown placeholder is logged as an error, so a
  ``--strict`` build fails (with or without ``-q``) and names the page and the placeholder.

``WEBFARM_DOCS_LAB`` names another lab file: the test suite builds the site from its frozen
fixture (tests/fixtures/lab.yml), so a reader's edits to lab.yml never turn the tests red.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files, InclusionLevel

from webfarm import chapters, docsgen, recording, topology

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("mkdocs.hooks.webfarm_docs")
_lab: dict[str, topology.Lab] = {}


def lab_file() -> Path:
    return ROOT / os.environ.get("WEBFARM_DOCS_LAB", "lab.yml")


def on_config(config: Any, **_: Any) -> Any:
    nav = config.get("nav") or []
    sections = [item for item in nav
                if isinstance(item, dict) and docsgen.CHAPTERS_NAV in item]
    if len(sections) != 1 or sections[0][docsgen.CHAPTERS_NAV]:
        raise PluginError(
            f"mkdocs.yml: the nav needs one empty '{docsgen.CHAPTERS_NAV}: []' section. "
            "Fix: list chapters in webfarm/chapters.py only; the docs hook fills the section")
    sections[0][docsgen.CHAPTERS_NAV] = docsgen.chapter_nav()
    return config


def on_pre_build(config: Any, **_: Any) -> None:
    out = ROOT / "docs" / "_generated"
    shutil.rmtree(out, ignore_errors=True)
    docsgen.generate(lab_file(), out)
    _lab["default"] = topology.load(lab_file())


def on_files(files: Files, config: Any, **_: Any) -> Files:
    for uri, text in docsgen.source_pages().items():
        files.append(File.generated(config, uri, content=text,
                                    inclusion=InclusionLevel.NOT_IN_NAV))
    from webfarm import diagram  # topology diagrams: diagrams/topology-PROFILE[-NN].svg

    for uri, svg in diagram.docs_files(lab_file()).items():
        files.append(File.generated(config, uri, content=svg))
    from webfarm import benchdocs  # the benchmark page's plots, from its committed snapshot

    for uri, svg in benchdocs.docs_files().items():
        files.append(File.generated(config, uri, content=svg))
    return files


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    uri = page.file.src_uri
    if uri == "chapters/04-lvs.md":  # the committed DR capture (invoke capture-dr)
        from webfarm import capture

        markdown = markdown.replace(capture.MARKER, capture.docs_section())
    from webfarm import docsprofiles  # <!-- profiles --> blocks: one tab per profile

    markdown = docsprofiles.expand_page(markdown, uri, lab_file(), log)
    for chapter in chapters.CHAPTERS:
        if uri == f"chapters/{chapter.slug}.md":
            from webfarm import diagram  # the farm, this chapter's hosts highlighted

            markdown = _after_title(markdown, diagram.chapter_figure(chapter.number, lab_file()))
            markdown = _after_title(markdown, docsgen.files_box(chapter))
            from webfarm import verify  # Verify commands with their captured real output

            markdown = verify.place(markdown, chapter, lab_file(),
                                    ROOT / "docs" / "assets" / "verify", ROOT)
            # "Watch it run": the recording of a real run, flagged when its files changed since
            markdown += recording.watch_section(chapter, ROOT / "docs" / "assets" / "casts")
    if "default" not in _lab:  # on_pre_build always runs first; be safe when it did not
        _lab["default"] = topology.load(lab_file())
    filled, problems = docsgen.fill(markdown, _lab["default"])
    for problem in problems:  # an error, not a warning: `mkdocs build -q` drops warnings
        log.error("%s: %s", uri, problem)  # before --strict can count them
    from webfarm import e2edocs  # the latest committed e2e report: drills page, chapter boxes

    filled = e2edocs.expand_page(filled, uri)
    from webfarm import benchdocs  # the committed `invoke bench` results: the benchmark page

    filled = benchdocs.expand_page(filled, uri)
    # "Type it yourself" (chapter pages): the scripts as plain commands, one folded block per
    # role, generated from the scripts and rendered files (after fill: configs may hold "{{")
    from webfarm import plainsteps

    return plainsteps.page_section(filled, uri, lab_file())


def _after_title(markdown: str, box: str) -> str:
    """``box`` right after the page's first ``# `` title (or first, if there is none)."""
    lines = markdown.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: i + 1]) + "\n" + box + "".join(lines[i + 1:])
    return box + "\n" + markdown


def on_serve(server: Any, config: Any, **_: Any) -> Any:
    """`invoke docs --serve`: watch docs/ but not docs/_generated/, which every build writes
    and removes (watching it made each rebuild trigger the next, forever)."""
    docs = Path(config["docs_dir"]).resolve()
    with contextlib.suppress(KeyError):
        server.unwatch(str(docs))
    server.watch(str(docs), recursive=False)
    for sub in sorted(p for p in docs.iterdir() if p.is_dir() and p.name != "_generated"):
        server.watch(str(sub))
    return server


def on_post_build(config: Any, **_: Any) -> None:
    """The generated tables and configs served their pages: remove them, so that no copy of
    the lab's addresses lies around in docs/ between builds (the next build makes them anew)."""
    shutil.rmtree(ROOT / "docs" / "_generated", ignore_errors=True)
