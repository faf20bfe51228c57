"""Every command a page gives is true for the profile the reader runs.

The getting-started page steers a small machine to ``mini``; a Verify block naming ``ns1``
(a ``full``-only host) would fail there. Pages write such blocks as profile blocks
(``webfarm/docsprofiles.py``): rendered once per profile, one tab each. These tests check the
vocabulary and its errors, and that no page, read as one profile's reader reads it, names a
host or an address of ``lab.yml`` that this profile lacks outside that profile's tabs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webfarm import docsgen, docsprofiles, topology

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"
LAB_FILES = [FIXTURE, ROOT / "lab.yml"]

# The pages a reader follows with a lab up: every command in them must fit their profile.
PAGES = sorted([DOCS / "getting-started.md", DOCS / "drills.md", DOCS / "index.md",
                *(DOCS / "chapters").glob("[0-9][0-9]-*.md")])

# Inline code that is a command the reader types (prose may name example hosts freely).
COMMAND = re.compile(r"`((?:vagrant|invoke|ssh|sudo|dig|curl|ping|mariadb|ip) [^`]*)`")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")


def _profiles(lab_file: Path) -> list[str]:
    return list(topology.load(lab_file).profiles)


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(DOCS).as_posix() for p in paths]


@pytest.fixture(scope="module")
def labs() -> dict[str, topology.Lab]:
    return {name: topology.load(FIXTURE, name) for name in _profiles(FIXTURE)}


# --- the vocabulary ---------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "mini", "full"), [
    ("profile", "mini", "full"),
    ("host.dns.0", "lb1", "ns1"),
    ("host.dns.1", "lb2", "ns2"),
    ("host.director.0", "lb1", "lb1"),
    ("host.db_sql.1", "db2", "sql2"),
    ("host.media.0", "app1", "media1"),
    ("fqdn.client.0", "client1.webfarm.test", "client1.webfarm.test"),
    ("iface.app.0.db", "eth2", "eth2"),
    ("iface.db_data.0.db", "eth1", "eth1"),
    ("hosts.db_sql", "db1 db2", "sql1 sql2"),
    ("count.director", "2", "2"),
    ("total.vms", "8", "17"),
])
def test_vocabulary(expr: str, mini: str, full: str, labs: dict[str, topology.Lab]) -> None:
    assert docsprofiles.resolve(labs["mini"], expr) == mini
    assert docsprofiles.resolve(labs["full"], expr) == full


def test_addresses_and_memory_come_from_the_lab(labs: dict[str, topology.Lab]) -> None:
    for lab in labs.values():
        ns = lab.hosts_with("dns")[0]
        assert docsprofiles.resolve(lab, "addr.dns.0.front") == str(ns.addresses["front"])
        assert docsprofiles.resolve(lab, "lab.vips.db.address") == str(lab.vips["db"].address)
        total = sum(h.memory for h in lab.hosts.values())
        assert docsprofiles.resolve(lab, "total.memory_mb") == str(total)
        assert docsprofiles.resolve(lab, "total.memory_gb") == f"{total / 1024:.1f}"


@pytest.mark.parametrize(("expr", "says"), [
    ("nonsense", "unknown name"),
    ("host.nosuchrole.0", "no role 'nosuchrole'"),
    ("host.dns.first", "not a host number"),
    ("host.dns.2", "has 2 dns host(s)"),
    ("addr.client.0.db", "not on the db network"),
    ("addr.app.0.nowhere", "no network 'nowhere'"),
    ("hosts.nosuchrole", "no role"),
    ("total.cpus", "unknown name"),
])
def test_unknown_names_are_refused_with_a_fix(expr: str, says: str,
                                              labs: dict[str, topology.Lab]) -> None:
    with pytest.raises(docsprofiles.ProfileBlockError) as err:
        docsprofiles.resolve(labs["mini"], expr)
    assert says in err.value.message
    assert err.value.fix


def test_a_host_one_profile_lacks_is_an_error_naming_line_and_fix() -> None:
    page = "# t\n\n<!-- profiles -->\n```\nping {{ lab.hosts.ns1.addresses.front }}\n```\n" \
           "<!-- /profiles -->\n"
    _, problems = docsprofiles.expand(page, FIXTURE)
    assert len(problems) == 1
    assert problems[0].startswith("5: {{ lab.hosts.ns1.addresses.front }}: profile mini")
    assert "Fix:" in problems[0]


@pytest.mark.parametrize(("page", "says"), [
    ("<!-- profiles -->\nx\n", "1: <!-- profiles --> is not closed"),
    ("x\n<!-- /profiles -->\n", "2: <!-- /profiles --> without"),
    ("<!-- profiles -->\n<!-- profiles -->\n<!-- /profiles -->\n", "not closed"),
])
def test_broken_blocks_are_errors(page: str, says: str) -> None:
    _, problems = docsprofiles.expand(page, FIXTURE)
    assert any(says in p for p in problems), problems


def test_tabs_per_profile_smallest_first_and_indented() -> None:
    page = ("- step\n\n    <!-- profiles -->\n    ```bash\n    invoke ssh {{ host.dns.0 }}\n"
            "    ```\n    <!-- /profiles -->\n")
    text, problems = docsprofiles.expand(page, FIXTURE)
    assert problems == []
    assert text.index('    === "mini"') < text.index('    === "full"')
    assert "        invoke ssh lb1" in text and "        invoke ssh ns1" in text
    assert "<!--" not in text


def test_same_text_everywhere_needs_no_tabs() -> None:
    text, problems = docsprofiles.expand(
        "<!-- profiles -->\n{{ host.director.0 }} {{ lab.domain }} {{ \"{{\" }}\n"
        "<!-- /profiles -->\n", FIXTURE)
    assert problems == []
    assert text == 'lb1 webfarm.test {{ "{{" }}\n'  # the literal is left to docsgen.fill


def test_only_one_profile_is_what_its_reader_reads() -> None:
    page = "<!-- profiles -->\n{{ host.dns.0 }}\n<!-- /profiles -->\n"
    assert docsprofiles.expand(page, FIXTURE, only="mini")[0] == "lb1\n"
    with pytest.raises(ValueError):
        docsprofiles.expand(page, FIXTURE, only="huge")


def test_the_hook_logs_problems_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    log = logging.getLogger("test.docsprofiles")
    with caplog.at_level(logging.ERROR, logger="test.docsprofiles"):
        docsprofiles.expand_page("<!-- profiles -->\n{{ host.x.0 }}\n<!-- /profiles -->\n",
                                 "chapters/99-x.md", FIXTURE, log)
    assert "chapters/99-x.md:2: {{ host.x.0 }}: no role 'x'" in caplog.text


# --- the pages ---------------------------------------------------------------------------------

def _commands(markdown: str) -> list[tuple[int, str]]:
    """(line, text) of every line a reader would type or read as a command: fenced code
    (snippet includes left out: they embed the lab's own files) and inline commands."""
    found: list[tuple[int, str]] = []
    fence = ""
    for number, line in enumerate(markdown.splitlines(), 1):
        match = FENCE.match(line)
        if match and (not fence or match.group(2).startswith(fence)):
            fence = "" if fence else match.group(2)[0] * len(match.group(2))
            continue
        if fence:
            if not line.strip().startswith("--8<--"):
                found.append((number, line))
        else:
            found += [(number, m.group(1)) for m in COMMAND.finditer(line)]
    return found


@pytest.mark.parametrize("lab_file", LAB_FILES, ids=["fixture", "lab.yml"])
@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_names_only_hosts_of_the_profile(page: Path, lab_file: Path) -> None:
    uri = page.relative_to(DOCS).as_posix()
    raw = page.read_text(encoding="utf-8")
    everyone = {h for name in _profiles(lab_file) for h in topology.load(lab_file, name).hosts}
    wrong = []
    for profile in _profiles(lab_file):
        lab = topology.load(lab_file, profile)
        text, problems = docsprofiles.expand(raw, lab_file, only=profile)
        assert problems == [], f"{uri}: " + "\n".join(problems)
        # {{ lab.hosts.X… }} outside the blocks: an address (or name) this profile lacks
        _, missing = docsgen.fill(text, lab)
        wrong += [f"{profile}: {m}" for m in missing]
        foreign = sorted(everyone - set(lab.hosts), key=len, reverse=True)
        if not foreign:
            continue
        names = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, foreign)) + r")(?![\w-])")
        for number, line in _commands(text):
            for match in names.finditer(line):
                wrong.append(f"{profile}: line {number} (as rendered): {match.group(1)} in "
                             f"{line.strip()}")
    assert not wrong, (
        f"{uri} names hosts or addresses that a profile lacks. Fix: wrap the block in "
        "<!-- profiles --> ... <!-- /profiles --> and write {{ host.ROLE.N }} / "
        "{{ addr.ROLE.N.NET }} (webfarm/docsprofiles.py):\n" + "\n".join(wrong))


def test_chapter_hosts_follow_the_tiers(labs: dict[str, topology.Lab]) -> None:
    assert docsprofiles.resolve(labs["mini"], "chapter.5.hosts") == "db1 db2 mon1"
    assert docsprofiles.resolve(labs["full"], "chapter.2.hosts").startswith("ns1 ns2 ")
    with pytest.raises(docsprofiles.ProfileBlockError):
        docsprofiles.resolve(labs["mini"], "chapter.99.hosts")


def test_either_of_two_roles(labs: dict[str, topology.Lab]) -> None:
    assert docsprofiles.resolve(labs["mini"], "count.db_data|db_sql") == "2"
    assert docsprofiles.resolve(labs["full"], "hosts.db_data|db_sql") == "data1 data2 sql1 sql2"
    assert docsprofiles.resolve(labs["full"], "host.db_data|db_sql.2") == "sql1"


def test_dblb_check_timing_on_the_page_is_the_rendered_one() -> None:
    """Chapter 06 types HAProxy's check line and its arithmetic: they follow webfarm/dblb.py."""
    from webfarm import dblb

    text = (DOCS / "chapters" / "06-dblb.md").read_text(encoding="utf-8")
    check, timeout = dblb.CHECK, dblb.TIMEOUTS_S["check"]
    inter_s = check["inter_ms"] / 1000
    assert (f"inter {check['inter_ms']}ms fall {check['fall']} rise {check['rise']}") in text
    assert f"Every {inter_s:g} s (`inter`)" in text
    assert f"after\n{timeout} s (`timeout check`" in text
    times = "\N{MULTIPLICATION SIGN}"
    assert f"{check['fall']} {times} {inter_s:g} = {check['fall'] * inter_s:g} s" in text


def test_monitor_timing_on_the_page_is_monitor_py() -> None:
    """Chapter 08 types Nagios's intervals, thresholds and their arithmetic: they follow
    webfarm/monitor.py (and the drill's limits computed from it)."""
    from webfarm import monitor

    text = (DOCS / "chapters" / "08-monitor.md").read_text(encoding="utf-8")
    times = "\N{MULTIPLICATION SIGN}"
    minus = "\N{MINUS SIGN}"
    for t in (monitor.TIMING, monitor.SLOW_TIMING):
        check, retry, attempts = t["check_interval"], t["retry_interval"], t["max_check_attempts"]
        worst = check + (attempts - 1) * retry
        assert (f"{check} + ({attempts} {minus} 1) {times} {retry} = **{worst} s**") in text
    t = monitor.TIMING
    assert (f"| `check_interval` | {t['check_interval']} s | "
            f"{monitor.SLOW_TIMING['check_interval']} s |") in text
    assert f"**at most {monitor.MAX_CONCURRENT_CHECKS} checks at once**" in text
    warn, crit = (monitor.LOAD[k].replace(",", ", ") for k in ("warning", "critical"))
    assert f"warns at {warn}" in text and f"CRITICAL at {crit}" in text
    detect = t["check_interval"] + (t["max_check_attempts"] - 1) * t["retry_interval"] + 40
    assert f"`DETECT_LIMIT_S` = {detect} s" in text
    assert f"`RECOVER_LIMIT_S` = {t['check_interval'] + 40} s" in text
