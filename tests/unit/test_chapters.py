"""The chapter registry: numbering, lookup, the hosts each chapter provisions and their tiers,
and the registry-to-directory mapping (provision/NN-slug, webfarm/templates/NN-slug)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webfarm import chapters
from webfarm.chapters import CHAPTERS, EVERY, Chapter
from webfarm.topology import Lab

SLUG = re.compile(r"^(\d\d)-[a-z][a-z0-9-]*$")
IDS = [c.slug for c in CHAPTERS]

ROOT = Path(__file__).resolve().parents[2]


def test_numbers_unique_and_ascending() -> None:
    numbers = [c.number for c in CHAPTERS]
    assert numbers == sorted(set(numbers)), numbers


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_slug_is_nn_name(chapter: Chapter) -> None:
    match = SLUG.match(chapter.slug)
    assert match, f"{chapter.slug!r} is not NN-name"
    assert int(match.group(1)) == chapter.number
    assert chapter.title and chapter.summary


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_roles_and_tier_selectors_are_known(chapter: Chapter, labs: dict[str, Lab]) -> None:
    from webfarm.roles import ROLES

    for role in chapter.roles:
        assert role == EVERY or role in ROLES, role
    for tier in chapter.tiers:
        for selector in tier:
            role = selector.partition("[")[0]
            assert selector == EVERY or role in ROLES, selector
            chapters._select(labs["full"], chapter.hosts(labs["full"]), selector)  # no raise


# ---------------------------------------------------------------------------------------------
# Lookup


@pytest.mark.parametrize("key", [4, "4", "04", "04-lvs"])
def test_get_by_number_tag_or_slug(key: int | str) -> None:
    assert chapters.get(key).slug == "04-lvs"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_get_finds_every_chapter(chapter: Chapter) -> None:
    assert chapters.get(chapter.number) is chapter
    assert chapters.get(chapter.tag) is chapter
    assert chapters.get(chapter.slug) is chapter


@pytest.mark.parametrize("key", [99, "99", "lvs", "04-lbs", "", 0])
def test_get_unknown_lists_the_chapters(key: int | str) -> None:
    with pytest.raises(KeyError) as info:
        chapters.get(key)
    message = str(info.value)
    for chapter in CHAPTERS:
        assert chapter.slug in message
    assert repr(key) in message


def test_upto_runs_the_first_chapters_in_order() -> None:
    assert [c.slug for c in chapters.upto(2)] == ["01-base", "02-dns"]
    assert chapters.upto(None) == list(CHAPTERS)
    assert chapters.upto(0) == []


# ---------------------------------------------------------------------------------------------
# Hosts and tiers


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_chapter_provisions_some_host(chapter: Chapter, lab: Lab) -> None:
    assert chapter.hosts(lab), f"{chapter.slug} provisions no host in {lab.profile}"


@pytest.mark.parametrize(("slug", "full", "mini"), [
    ("03-web", ["app1", "app2", "media1", "media2"], ["app1", "app2"]),
    ("04-lvs", ["lb1", "lb2"], ["lb1", "lb2"]),
])
def test_hosts_of_a_chapter_are_those_with_its_roles(slug: str, full: list[str], mini: list[str],
                                                     labs: dict[str, Lab]) -> None:
    assert [h.name for h in chapters.get(slug).hosts(labs["full"])] == full
    assert [h.name for h in chapters.get(slug).hosts(labs["mini"])] == mini


def test_an_every_host_chapter_takes_every_host(labs: dict[str, Lab]) -> None:
    for lab in labs.values():
        assert chapters.get("01-base").hosts(lab) == list(lab.hosts.values())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_each_host_in_exactly_one_tier(chapter: Chapter, lab: Lab) -> None:
    tiers = chapter.tiers_for(lab)
    names = [h.name for tier in tiers for h in tier]
    assert len(names) == len(set(names)), f"a host appears twice: {names}"
    assert set(names) == {h.name for h in chapter.hosts(lab)}
    assert all(tiers), "no empty tier"


def test_dns_primary_comes_first(lab: Lab) -> None:
    tiers = chapters.get(2).tiers_for(lab)
    dns = lab.hosts_with("dns")
    assert [h.name for h in tiers[0]] == [dns[0].name]
    assert [h.name for h in tiers[1]] == [h.name for h in dns[1:]]
    rest = {h.name for tier in tiers[2:] for h in tier}
    assert rest == {h.name for h in lab.hosts.values()} - {h.name for h in dns}


def test_dns_tiers_per_profile(labs: dict[str, Lab]) -> None:
    assert [h.name for h in chapters.get("02-dns").tiers_for(labs["full"])[0]] == ["ns1"]
    assert [h.name for h in chapters.get("02-dns").tiers_for(labs["mini"])[0]] == ["lb1"]


def test_single_tier_chapter(lab: Lab) -> None:
    tiers = chapters.get("04-lvs").tiers_for(lab)
    assert [[h.name for h in t] for t in tiers] == [[h.name for h in lab.hosts_with("director")]]


def test_bad_selector_is_rejected(lab: Lab) -> None:
    bad = Chapter(99, "99-bad", "bad", "bad", ("dns",), (("dns[2]",),))
    with pytest.raises(ValueError, match="bad tier selector"):
        bad.tiers_for(lab)


def test_hosts_not_named_in_any_tier_run_last(lab: Lab) -> None:
    ch = Chapter(98, "98-x", "x", "x", ("dns", "app"), (("dns[0]",),))
    tiers = ch.tiers_for(lab)
    assert tiers[0] == [lab.hosts_with("dns")[0]]
    assert {h.name for h in tiers[-1]} == {h.name for h in ch.hosts(lab)} - {tiers[0][0].name}


# ---------------------------------------------------------------------------------------------
# Registry <-> directories. Other sessions are creating the chapter directories; every
# registered chapter must end up with its provision/NN-slug directory.


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_registered_chapter_has_its_provision_dir(chapter: Chapter) -> None:
    assert chapter.provision_dir.is_dir(), (
        f"{chapter.slug} is registered but provision/{chapter.slug}/ does not exist")


def _nn_dirs(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.is_dir() and re.match(r"^\d\d-", p.name))


@pytest.mark.parametrize("base", ["provision", "webfarm/templates"])
def test_every_chapter_dir_is_registered(base: str) -> None:
    registered = {c.slug for c in CHAPTERS}
    for name in _nn_dirs(ROOT / base):
        assert name in registered, f"{base}/{name} is not in webfarm.chapters.CHAPTERS"


def test_template_dirs_use_role_or_all_subdirs() -> None:
    from webfarm.roles import ROLES

    for name in _nn_dirs(ROOT / "webfarm" / "templates"):
        for sub in (ROOT / "webfarm" / "templates" / name).iterdir():
            if sub.is_dir() and not sub.name.startswith("_"):  # _partials: included only
                assert sub.name == "all" or sub.name in ROLES, f"templates/{name}/{sub.name}"


# ---------------------------------------------------------------------------------------------
# Registry <-> pages and the links no file name carries (chapters.files)


def test_every_chapter_has_a_page_and_every_page_a_chapter() -> None:
    pages = {p.stem for p in (ROOT / "docs" / "chapters").glob("*.md")}
    registered = {c.slug for c in CHAPTERS}
    assert registered - pages == set(), "registered chapters without docs/chapters/SLUG.md"
    assert pages - registered == set(), "docs/chapters pages with no chapter in the registry"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_listed_file_exists(chapter: Chapter) -> None:
    for f in chapters.files(chapter):
        assert f.kind in chapters.KINDS, f
        assert (ROOT / f.path).is_file(), f"{chapter.slug} lists {f.path}, which does not exist"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_files_cover_every_kind_found_by_name(chapter: Chapter) -> None:
    paths = {f.path for f in chapters.files(chapter)}
    for pattern in (f"provision/{chapter.slug}/*.sh", f"webfarm/templates/{chapter.slug}/**/*",
                    f"tests/configs/test_{chapter.tag}_*.py",
                    f"tests/chapters/test_{chapter.tag}_*.py"):
        found = {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern) if p.is_file()}
        assert found <= paths, f"{pattern}: {sorted(found - paths)} missing from files()"
    assert f"docs/chapters/{chapter.slug}.md" in paths


def test_every_drill_belongs_to_exactly_one_chapter() -> None:
    from webfarm.checks import drill_names  # test_db_node.py is the drill db-node

    drills = sorted(drill_names())
    owners = [d for c in CHAPTERS for d in (*c.drills, *c.on_demand_drills)]
    assert sorted(owners) == drills, ("each tests/drills/test_NAME.py: NAME in one "
                                      "Chapter.drills or Chapter.on_demand_drills")


def test_on_demand_drills_stay_out_of_e2e_and_drill_all() -> None:
    """e2e runs Chapter.drills only; the scale drills boot a VM and run every chapter on it:
    the lead moves them to `drills` once their cost in CI's run is known."""
    assert chapters.on_demand_drills() == ["scale", "scale-db"]
    assert all(not {"scale", "scale-db"} & set(c.drills) for c in CHAPTERS)


_OS_VAR = re.compile(r"\bWF_(PKG|SVC|PATH)_([A-Z0-9_]+)|\bWF_(OS_FAMILY|FIREWALL|SELINUX)\b")
_OS_ATTR = re.compile(r"\bos\.(packages|services|paths|validators)\.([a-z0-9_]+)"
                      r"|\bos\.(family|firewall|selinux|package_manager)\b")
_GROUP = {"PKG": "packages", "SVC": "services", "PATH": "paths"}
_TOP = {"OS_FAMILY": "family", "FIREWALL": "firewall", "SELINUX": "selinux"}


def _os_keys_read(chapter: Chapter) -> set[str]:
    keys: set[str] = set()
    for script in chapter.provision_dir.glob("*.sh"):
        for m in _OS_VAR.finditer(script.read_text(encoding="utf-8")):
            if m.group(3):
                keys.add(_TOP[m.group(3)])
            elif (m.group(1), m.group(2)) == ("PKG", "MANAGER"):
                keys.add("package_manager")
            else:
                keys.add(f"{_GROUP[m.group(1)]}.{m.group(2).lower()}")
    for template in (ROOT / "webfarm/templates" / chapter.slug).rglob("*"):
        if template.is_file():
            for m in _OS_ATTR.finditer(template.read_text(encoding="utf-8")):
                keys.add(m.group(3) or f"{m.group(1)}.{m.group(2)}")
    return keys


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_os_keys_are_the_ones_the_chapter_reads(chapter: Chapter) -> None:
    assert set(chapter.os_keys) == _os_keys_read(chapter), (
        f"{chapter.slug}: Chapter.os_keys must list exactly the OS-table keys its scripts "
        f"(WF_PKG_*, WF_SVC_*, WF_PATH_*) and templates (os.*) read")


@pytest.mark.parametrize("family", ["debian12", "el9"])
@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_os_keys_exist_in_every_os_table(chapter: Chapter, family: str) -> None:
    from webfarm import os as osdata

    table = osdata.get(family)
    for key in chapter.os_keys:
        group, _, name = key.partition(".")
        value = getattr(table, group)
        assert not name or name in value, f"{key} is not in webfarm/os/{family}.yml"


def test_helpers_are_the_common_sh_functions_the_scripts_call() -> None:
    common = (ROOT / chapters.COMMON_SH).read_text(encoding="utf-8")
    assert "wf_next_serial" in chapters.helpers(chapters.get("02-dns"))
    assert "wf_next_serial" not in chapters.helpers(chapters.get("04-lvs"))
    for chapter in CHAPTERS:
        called = chapters.helpers(chapter)
        assert "wf_put" in called or "wf_install" in called, chapter.slug
        scripts = "\n".join(p.read_text(encoding="utf-8")
                            for p in chapter.provision_dir.glob("*.sh"))
        for name in called:
            assert f"\n{name}() {{" in common and name in scripts


def test_facts_modules_come_from_the_registry_and_the_docstrings() -> None:
    assert chapters.facts(chapters.get(1))[:2] == ["webfarm/timesync.py", "webfarm/mgmtnet.py"]
    assert "webfarm/web.py" in chapters.facts(chapters.get(3))
    assert "webfarm/dnsplan.py" in chapters.facts(chapters.get(2))  # "(chapter 02-dns)"
    for chapter in CHAPTERS:
        found = chapters.facts(chapter)
        assert len(found) == len(set(found)), found
        assert "webfarm/chapters.py" not in found


def test_files_by_kind_keeps_the_kinds_order() -> None:
    for chapter in CHAPTERS:
        kinds = list(chapters.files_by_kind(chapter))
        assert kinds == [k for k in chapters.KINDS if k in kinds]
        assert kinds[0] == "script" and kinds[-1] == "page"


def test_invoke_chapter_files_prints_every_file(capsys: pytest.CaptureFixture[str]) -> None:
    from webfarm import chapterfiles

    chapterfiles.print_files("03")
    printed = capsys.readouterr().out
    for f in chapters.files(chapters.get(3)):
        assert f.path in printed
    assert "role app" in printed and "wf_put" in printed


def test_invoke_chapter_files_refuses_an_unknown_chapter(
        capsys: pytest.CaptureFixture[str]) -> None:
    from webfarm import chapterfiles

    with pytest.raises(SystemExit) as info:
        chapterfiles.print_files("99")
    assert info.value.code == 2
    assert "no chapter '99'" in capsys.readouterr().err
