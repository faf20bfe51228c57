"""``invoke chapter N --files``: every file of one chapter, by kind.

The list comes from :func:`webfarm.chapters.files`, the same function that writes the
"This chapter's files" box at the top of each tutorial page, so the two never disagree.
"""

from __future__ import annotations

from rich.text import Text

from webfarm import args, chapters
from webfarm.ui import friendly, out

# kinds whose detail is said once, for the whole kind
SHARED_DETAIL = {"os": "keys read", "helpers": "called by the scripts"}


def lines(chapter: chapters.Chapter) -> list[Text]:
    """The listing, one line each: a heading per kind, then its paths (never cut short, so
    they can be copied), with the role of each script."""
    rows: list[Text] = [Text(f"chapter {chapter.slug}: {chapter.title}", style="bold")]
    for kind, found in chapters.files_by_kind(chapter).items():
        heading = Text(chapters.KINDS[kind], style="cyan")
        if kind in SHARED_DETAIL:
            heading.append(f" ({SHARED_DETAIL[kind]}: {found[0].detail})", style="dim")
        rows.append(heading)
        width = max(len(f.path) for f in found)
        for f in found:
            if f.detail and kind not in SHARED_DETAIL:
                rows.append(Text.assemble("  " + f.path.ljust(width) + "  ", (f.detail, "dim")))
            else:
                rows.append(Text("  " + f.path))
    return rows


@friendly
def print_files(number: str | int) -> None:
    """Print chapter ``number``'s files (scripts, templates, OS-table keys, tests, ...)."""
    chapter = args.chapter(number, "invoke chapter NUMBER --files")
    for row in lines(chapter):
        out.print(row, highlight=False, soft_wrap=True)
