"""The tutorial cannot drift from lab.yml: no page types an address or the lab's domain by
hand, every ``{{ lab.… }}`` placeholder names a value of the lab model, an unknown one fails
the strict build, and the nav's chapter section is the chapter registry."""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from mkdocs.exceptions import PluginError

from webfarm import chapters, docsgen, docsprofiles, topology

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"

# Addresses a page may type because no lab.yml can change them, each with its reason.
CONSTANTS = {
    "224.0.0.18": "IANA's VRRP multicast group (RFC 5798), fixed by the protocol",
}
IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]*\d)")
PRIVATE_PREFIX = re.compile(r"(?<![\w.])(?:10|192\.168|172\.(?:1[6-9]|2\d|3[01]))\.\d")


def pages() -> list[Path]:
    """Every hand-written page (docs/_generated/ is written by the hook)."""
    return sorted(p for p in DOCS.rglob("*.md") if "_generated" not in p.relative_to(DOCS).parts)


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(DOCS).as_posix() for p in paths]


@pytest.fixture(scope="module")
def lab() -> topology.Lab:
    return topology.load(FIXTURE)


def test_there_are_pages() -> None:
    assert len(pages()) >= 5


@pytest.mark.parametrize("page", pages(), ids=_ids(pages()))
def test_no_address_typed_by_hand(page: Path) -> None:
    found = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        for match in IPV4.finditer(line):
            if match.group(0) not in CONSTANTS:
                found.append(f"{number}: {match.group(0)}")
        if PRIVATE_PREFIX.search(IPV4.sub("", line)):
            found.append(f"{number}: part of a private address: {line.strip()}")
    assert not found, (
        f"{page.relative_to(ROOT)} types addresses by hand; write a placeholder such as "
        f"{{{{ lab.vips.www.address }}}} instead:\n" + "\n".join(found))


@pytest.mark.parametrize("page", pages(), ids=_ids(pages()))
def test_no_lab_domain_typed_by_hand(page: Path, lab: topology.Lab) -> None:
    text = page.read_text(encoding="utf-8")
    assert lab.domain not in text, f"{page.relative_to(ROOT)}: write {{{{ lab.domain }}}}"


@pytest.mark.parametrize("page", pages(), ids=_ids(pages()))
def test_every_placeholder_is_known(page: Path, lab: topology.Lab) -> None:
    # profile blocks first, as the hook does: their names resolve per profile
    # (webfarm/docsprofiles.py; tests/unit/test_docs_profiles.py)
    expanded, problems = docsprofiles.expand(page.read_text(encoding="utf-8"), FIXTURE)
    assert problems == []
    filled, problems = docsgen.fill(expanded, lab)
    assert problems == []
    assert "{{" not in filled


# ---------------------------------------------------------------------------------------------
# The placeholder language


@pytest.mark.parametrize(("expr", "value"), [
    ("lab.domain", "webfarm.test"),
    ("lab.name", "webfarm"),
    ("lab.vips.www.address", "192.168.56.10"),
    ("lab.vips.db.port", "3306"),
    ("lab.networks.front.cidr", "192.168.56.0/24"),
    ("lab.networks.db.prefixlen", "24"),
    ("lab.networks.front.gateway", "192.168.56.1"),
    ("lab.hosts.app1.addresses.db", "192.168.57.41"),
    ("lab.hosts.data1.primary_address", "192.168.57.51"),
    ("lab.vrrp.advert_int", "1"),  # a float, written as people write it
])
def test_lookup_values(expr: str, value: str, lab: topology.Lab) -> None:
    assert docsgen.lookup(lab, expr) == value


@pytest.mark.parametrize(("expr", "says"), [
    ("lab.vips.wwww.address", "lab.vips has no 'wwww'; it has: www, media, db"),
    ("lab.hosts.app9", "lab.hosts has no 'app9'"),
    ("lab.vips.www.adress", "lab.vips.www has no 'adress'; it has: name, network, address"),
    ("lab.hosts", "lab.hosts is not a single value; it has: lb1"),
    ("lab.vips.www", "is not a single value"),
    ("lab.hosts_with", "lab has no 'hosts_with'"),  # methods are not values
    ("lab.__class__", "lab has no '__class__'"),
    ("lab._secret", "lab has no '_secret'"),
    ("lab.source", "lab.source is not a single value"),
    ("vips.www.address", "not a placeholder"),
    ("lab.vips['www']", "not a placeholder"),
    ("lab.vrrp.unicast", "is not a single value"),  # a bool: say what you mean in prose
    ("", "not a placeholder"),
])
def test_lookup_refuses_with_a_reason(expr: str, says: str, lab: topology.Lab) -> None:
    with pytest.raises(docsgen.PlaceholderError, match=re.escape(says)):
        docsgen.lookup(lab, expr)


def test_fill_replaces_and_reports(lab: topology.Lab) -> None:
    text = ("`curl http://{{ lab.vips.www.address }}:{{lab.vips.www.port}}/` "
            "{{ lab.nope }} {{ \"{{\" }} x }}")
    filled, problems = docsgen.fill(text, lab)
    assert filled == "`curl http://192.168.56.10:80/` {{ lab.nope }} {{ x }}"
    assert len(problems) == 1 and problems[0].startswith("{{ lab.nope }}: lab has no 'nope'")


def test_values_follow_the_lab(lab: topology.Lab) -> None:
    moved = topology.Lab(**{**lab.__dict__, "vips": {
        "www": topology.Vip("www", "front", ipaddress.IPv4Address("192.168.56.99"), 8080,
                            "director", "app")}})
    assert docsgen.fill("{{ lab.vips.www.address }}:{{ lab.vips.www.port }}", moved) == (
        "192.168.56.99:8080", [])


def _first_column(table: str) -> list[str]:
    return [row.split("|")[1].strip(" `") for row in table.splitlines()[2:]]


def test_filtered_tables_show_what_their_caption_says(lab: topology.Lab) -> None:
    """"The directors are the director hosts" shows those hosts only; "the VIPs they will
    serve" only the VIPs that pair holds (not the DB VIP)."""
    for role in ("director", "dblb"):
        assert _first_column(docsgen.hosts_table(lab, role)) == [
            h.name for h in lab.hosts_with(role)]
        assert _first_column(docsgen.vips_table(lab, role)) == [
            v.name for v in lab.vips_held_by(role)]
    assert _first_column(docsgen.hosts_table(lab)) == list(lab.hosts)


def test_every_included_table_is_generated(tmp_path: Path) -> None:
    docsgen.generate(FIXTURE, tmp_path)
    included = {m for page in pages() for m in re.findall(
        r'--8<-- "docs/_generated/([^/"]+\.md)"', page.read_text(encoding="utf-8"))}
    assert included and not {name for name in included if not (tmp_path / name).is_file()}


# ---------------------------------------------------------------------------------------------
# The hook: nav from the registry, the files box, placeholders in pages


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webfarm_docs_hook",
                                                  DOCS / "hooks" / "webfarm_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nav_chapters_come_from_the_registry() -> None:
    config: dict[str, Any] = {"nav": [{"Home": "index.md"}, {"Chapters": []}]}
    _hook().on_config(config)
    assert config["nav"][1]["Chapters"] == [f"chapters/{c.slug}.md" for c in chapters.CHAPTERS]


@pytest.mark.parametrize("nav", [
    [{"Home": "index.md"}],  # no chapter section
    [{"Chapters": ["chapters/01-base.md"]}],  # hand-listed: a second list of chapters
    [{"Chapters": []}, {"Chapters": []}],
])
def test_nav_without_one_empty_chapter_section_is_refused(nav: list[Any]) -> None:
    with pytest.raises(PluginError, match=r"webfarm/chapters\.py"):
        _hook().on_config({"nav": nav})


def test_mkdocs_yml_leaves_the_chapters_to_the_registry() -> None:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^  - Chapters: \[\]", text, re.M)
    assert "chapters/0" not in text


def _page(uri: str) -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=uri))


@pytest.mark.parametrize("chapter", chapters.CHAPTERS, ids=[c.slug for c in chapters.CHAPTERS])
def test_chapter_page_opens_with_its_files_box(chapter: chapters.Chapter,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFARM_DOCS_LAB", str(FIXTURE))
    source = chapter.page.read_text(encoding="utf-8")
    out = _hook().on_page_markdown(source, page=_page(f"chapters/{chapter.slug}.md"))
    title, blank, box = out.splitlines()[:3]
    assert title.startswith("# ") and blank == "" and box.startswith('!!! abstract "This chapter')
    for f in chapters.files(chapter):
        if f.kind == "page":
            assert f"`{f.path}` (this page)" in out
        else:
            target = os.path.relpath(docsgen.file_page(f.path), "chapters")
            assert f"]({target})" in out, f.path


def test_every_listed_file_has_a_page() -> None:
    generated = docsgen.source_pages()
    for chapter in chapters.CHAPTERS:
        for f in chapters.files(chapter):
            if f.kind != "page":
                page = generated[docsgen.file_page(f.path)]
                assert f'--8<-- "{f.path}"' in page
                assert f"{chapter.number}. {chapter.title}" in page


def test_unknown_placeholder_is_an_error_naming_the_page(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("WEBFARM_DOCS_LAB", str(FIXTURE))
    with caplog.at_level(logging.ERROR):
        out = _hook().on_page_markdown("see {{ lab.vips.wwww.address }}", page=_page("x.md"))
    assert out == "see {{ lab.vips.wwww.address }}"
    assert "x.md: {{ lab.vips.wwww.address }}: lab.vips has no 'wwww'" in caplog.text


def test_strict_build_fails_on_an_unknown_placeholder(tmp_path: Path) -> None:
    """A real ``mkdocs build --strict`` of a copy of the site with one bad placeholder."""
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("_generated"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for item in ROOT.iterdir():  # what the pages embed: provision/, webfarm/, packer/, ...
        if item.name not in ("docs", "mkdocs.yml", "site"):
            (tmp_path / item.name).symlink_to(item)
    page = tmp_path / "docs" / "drills.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nAsk {{ lab.vips.wwww.port }}.\n",
                    encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "WEBFARM_DOCS_LAB": str(FIXTURE)}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-d", str(tmp_path / "site")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "drills.md: {{ lab.vips.wwww.port }}: lab.vips has no 'wwww'" in run.stderr
