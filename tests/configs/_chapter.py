"""Shared by the config tests: one chapter's templates rendered for one host, as `invoke
render` does, but only that chapter's (another chapter's template being edited does not fail
these tests)."""

from __future__ import annotations

from pathlib import Path

from webfarm import render
from webfarm.state import State
from webfarm.topology import Host, Lab


def render_chapter(lab: Lab, host: Host, chapter: str, out: Path,
                   secrets: dict[str, str]) -> Path:
    """Render ``chapter``'s templates for ``host`` into ``out/HOST/files/CHAPTER/``."""
    ctx = render.context(lab, host, secrets, State(profile=lab.profile))
    files = out / host.name / "files"
    for name, rel in render.template_sources(host):
        if rel.startswith(f"{chapter}/"):
            path = files / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render.environment().get_template(name).render(ctx),
                            encoding="utf-8")
    return files / chapter
