"""``invoke scale`` writes one number into lab.yml (webfarm.labedit): every other byte of the
reader's file, comments and layout included, stays as it was."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from webfarm import labedit

ROOT = Path(__file__).resolve().parents[2]
REAL = (ROOT / "lab.yml").read_text(encoding="utf-8")
FIXTURE = (ROOT / "tests/fixtures/lab.yml").read_text(encoding="utf-8")


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_number_is_replaced_and_its_comment_kept_in_place() -> None:
    new = labedit.set_count(REAL, "mini", "app", 3)
    diff = changed_lines(REAL, new)
    assert len(diff) == 2
    old_line, new_line = diff[0][1:], diff[1][1:]
    assert old_line.replace("app: 2", "app: 3") == new_line
    assert new_line.index("#") == old_line.index("#")  # the comment keeps its column
    assert labedit.count(new, "mini", "app") == 3


def test_a_wider_number_eats_one_space_before_the_comment() -> None:
    new = labedit.set_count(REAL, "mini", "app", 12)
    line = next(ln for ln in new.splitlines() if "app: 12" in ln)
    old = next(ln for ln in REAL.splitlines() if "app: 2 " in ln and "#" in ln
               and ln.startswith("      app:"))
    assert line.index("#") == old.index("#")


def test_there_and_back_gives_the_same_bytes() -> None:
    there = labedit.set_count(REAL, "mini", "app", 5)
    assert labedit.set_count(there, "mini", "app", 2) == REAL


def test_every_comment_survives() -> None:
    new = labedit.set_count(REAL, "full", "db_sql", 3)
    comments = [ln for ln in REAL.splitlines() if ln.lstrip().startswith("#")]
    assert comments and all(c in new.splitlines() for c in comments)


def test_a_role_is_added_to_an_empty_flow_mapping() -> None:
    new = labedit.set_count(REAL, "full", "app", 3)
    assert changed_lines(REAL, new) == [
        "-    scale: {}                   # tier sizes, e.g. {app: 3}: see the mini profile below",
        "+    scale: {app: 3}             # tier sizes, e.g. {app: 3}: see the mini profile below"]


def test_a_role_is_added_to_a_flow_mapping_with_entries() -> None:
    new = labedit.set_count(FIXTURE, "mini", "db_sql", 3)
    assert changed_lines(FIXTURE, new) == [
        "-    scale: {app: 2}             # tier sizes (webfarm/tiers.py)",
        "+    scale: {app: 2, db_sql: 3}  # tier sizes (webfarm/tiers.py)"]


def test_a_role_is_added_to_a_block_mapping() -> None:
    new = labedit.set_count(REAL, "mini", "db_sql", 3)
    diff = changed_lines(REAL, new)
    assert diff == ["+      db_sql: 3"]
    lines = new.splitlines()
    assert lines[lines.index("      db_sql: 3") - 1].startswith("      app: 2 ")


def test_a_profile_without_scale_gets_one_after_its_last_host() -> None:
    text = REAL.replace("    scale: {}                   # tier sizes, e.g. {app: 3}: see the "
                        "mini profile below\n", "")
    assert text != REAL
    new = labedit.set_count(text, "full", "media", 3)
    lines = new.splitlines()
    i = lines.index("    scale: {media: 3}")
    assert lines[i - 1].startswith("      client1:") and lines[i + 1] == "  mini:"


def test_the_last_profile_without_scale_gets_it_before_trailing_comments() -> None:
    text = FIXTURE.replace("    scale: {app: 2}             # tier sizes (webfarm/tiers.py)\n",
                           "") + "# the end\n"
    new = labedit.set_count(text, "mini", "app", 3)
    assert new.endswith("      client1: {roles: [client], networks: {front: 192.168.56.100}}\n"
                        "    scale: {app: 3}\n# the end\n")


def test_scale_with_no_value_gets_a_flow_mapping() -> None:
    text = REAL.replace("    scale: {}                   #", "    scale:                      #")
    new = labedit.set_count(text, "full", "app", 3)
    assert "    scale: {app: 3}             # tier sizes" in new  # the comment stays put
    assert yaml.safe_load(new)["profiles"]["full"]["scale"] == {"app": 3}


def test_a_multi_line_flow_mapping_elsewhere_is_left_alone() -> None:
    """lab.yml's db VIP spans two lines: a YAML dump would join them, the edit does not."""
    assert "pool: db_sql,\n       read_port: 3307" in REAL
    new = labedit.set_count(REAL, "mini", "app", 3)
    assert "pool: db_sql,\n       read_port: 3307" in new


@pytest.mark.parametrize(("profile", "why"), [("nosuch", "no profile 'nosuch'")])
def test_refusals(profile: str, why: str) -> None:
    with pytest.raises(labedit.EditError, match=why):
        labedit.set_count(REAL, profile, "app", 3)


def test_a_scale_that_is_not_a_mapping_is_refused() -> None:
    text = REAL.replace("    scale: {}  ", "    scale: [3]  ")
    with pytest.raises(labedit.EditError, match="not a mapping"):
        labedit.set_count(text, "full", "app", 3)


def test_count_reads_the_value() -> None:
    assert labedit.count(REAL, "mini", "app") == 2
    assert labedit.count(REAL, "full", "app") is None
    assert labedit.count(REAL, "nosuch", "app") is None
