"""Command-line arguments, checked before anything starts.

Every function takes what invoke (or argparse) passed - a string, or None when the option was
not given - and returns the value to use, or raises :class:`UserError` with one line that
names the option, says what is wrong and how to fix it::

    --upto: 'abc' is not a chapter number. Fix: use a number from 1 to 4 ...

A value the user typed is shown with :func:`shown` (quoted, escaped, shortened), so an odd
value can neither break the line nor hide in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from webfarm import chapters, grammar, paths
from webfarm.topology import LIBVIRT_DRIVERS

PROVIDERS = ("libvirt", "virtualbox")
# A profile name as the CLI accepts it (lab.yml itself is checked by webfarm.topology).
# A network namespace name that is also a safe file name under /run/netns/.
NETNS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_DRILL = re.compile(r"[a-z][a-z0-9-]{0,62}")  # drill names: db-node (file test_db_node.py)
_NUMBER = re.compile(r"[0-9]{1,3}")
_SHOWN_MAX = 40


class UserError(Exception):
    """A problem the user can fix; the message says how (printed as is, exit code 2)."""


def problem(where: str, what: str, fix: str) -> UserError:
    """The standard one-line error: ``WHERE: WHAT. Fix: FIX``."""
    return UserError(f"{where}: {what}. Fix: {fix}")


def shown(value: object) -> str:
    """A user value for a message: quoted, control characters escaped, at most ~40 chars."""
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX - 4] + "...'"


def printable(text: str) -> str:
    """A key or name for a message, unquoted: control characters escaped, at most ~40 chars."""
    return shown(str(text))[1:-1]


def kind(value: object) -> str:
    """What a YAML value is, in words: 'a list', 'a number', ..."""
    names = {bool: "true/false", int: "number", float: "number", str: "text", list: "list",
             dict: "mapping", type(None): "nothing"}
    return "a " + names.get(type(value), type(value).__name__)


def write_fix(path: Path) -> str:
    """How to make ``path`` writable: its folder is a file, or not ours."""
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        return (f"{folder} is a file, not a folder: move it away (webfarm keeps its run "
                f"files in {folder}/)")
    return f"make {folder}/ writable by you (e.g. sudo chown -R \"$USER\" {folder})"


def _chapter_list() -> str:
    return ", ".join(f"{c.number} ({c.slug})" for c in chapters.CHAPTERS)


# ---------------------------------------------------------------------------------------------
# Chapters and drills


def upto(value: str | int | None, option: str = "--upto") -> int | None:
    """``--upto N``: the last chapter to run, 1..last; None when not given."""
    if value is None:
        return None
    last = chapters.CHAPTERS[-1].number
    fix = f"use a chapter number from 1 to {last} (chapters: {_chapter_list()})"
    text = str(value).strip()
    if not _NUMBER.fullmatch(text):
        raise problem(option, f"{shown(value)} is not a chapter number", fix)
    number = int(text)
    if not 1 <= number <= last:
        raise problem(option, f"there is no chapter {number}", fix)
    return number


def chapter(value: str | int, where: str = "invoke chapter NUMBER") -> chapters.Chapter:
    """A chapter by number (4, 04) or slug (04-lvs)."""
    text = str(value)
    if text.startswith("-"):
        raise problem(where, f"{shown(value)} is not a chapter",
                      "put options after the task name's arguments; for the task's options "
                      "see `invoke --help TASK`")
    try:
        return chapters.get(text.strip())
    except KeyError:
        raise problem(where, f"no chapter {shown(value)}",
                      f"use a number or slug: {_chapter_list()}") from None


def chapter_or_all(value: str, where: str = "invoke check NUMBER") -> chapters.Chapter | None:
    """``invoke check N|all``: one chapter, or None for every chapter."""
    return None if value == "all" else chapter(value, where)


def scale_role(value: str, where: str = "invoke scale ROLE N") -> str:
    """The role whose tier ``invoke scale`` changes: a role of the farm that can scale."""
    from webfarm import tiers
    from webfarm.roles import ROLES

    text = str(value).strip()
    if text not in ROLES:
        raise problem(where, f"{shown(value)} is not a role",
                      f"use one of the roles that can grow: {', '.join(tiers.SCALABLE)}")
    if text in tiers.CANNOT_SCALE:
        raise problem(where, f"role {text} cannot scale: {tiers.CANNOT_SCALE[text]}",
                      f"use one of the roles that can grow: {', '.join(tiers.SCALABLE)}")
    return text


def scale_count(value: str | int, where: str = "invoke scale ROLE N") -> int:
    """N of ``invoke scale ROLE N``: a whole number of hosts, 1 to tiers.MAX_COUNT."""
    from webfarm import tiers

    text = str(value).strip()
    fix = f"give the tier's new size, a number from 2 to {tiers.MAX_COUNT}"
    if not _NUMBER.fullmatch(text):
        raise problem(where, f"{shown(value)} is not a number of hosts", fix)
    number = int(text)
    if not 1 <= number <= tiers.MAX_COUNT:
        raise problem(where, f"{number} hosts is out of range", fix)
    return number


def drill_name(value: str, known: Iterable[str],
               where: str = "invoke drill NAME") -> str | None:
    """``invoke drill NAME|all``: a drill that exists (tests/drills/test_NAME.py), or None
    for all of them. ``known`` are the drills that exist."""
    names = sorted(known)
    if not names:
        raise problem(where, "no drill found in tests/drills/",
                      "run invoke from the project's top folder")
    if value == "all":
        return None
    if value.startswith("-"):
        raise problem(where, f"{shown(value)} is not a drill",
                      "for the task's options see `invoke --help drill`")
    if not _DRILL.fullmatch(value) or value not in names:
        raise problem(where, f"no drill {shown(value)}",
                      f"use one of: {', '.join(names)}, or all")
    return value


# ---------------------------------------------------------------------------------------------
# Names


def profile_name(value: str | None, option: str = "--profile") -> str | None:
    """A profile name as typed (whether lab.yml has it is checked when the lab loads)."""
    if value is None:
        return None
    if not grammar.key_name(value):  # the grammar lab.yml's profile names follow
        what = "is empty" if not value.strip() else f"{shown(value)} is not a profile name"
        raise problem(option, what, "name a profile of lab.yml, e.g. --profile mini "
                      "(invoke validate lists them), or leave the option out")
    return value


def host_name(value: str, known: Iterable[str] | None = None,
              where: str = "invoke ssh HOST") -> str:
    """A lab host name: lower-case letters, digits and '-'; one of ``known`` when given."""
    hosts = list(known) if known is not None else None
    listed = f"hosts: {', '.join(hosts)}" if hosts else "invoke status lists the hosts"
    if not grammar.hostname(value):
        raise problem(where, f"{shown(value)} is not a host name",
                      f"use a host of the lab ({listed})")
    if hosts is not None and value not in hosts:
        raise problem(where, f"no host {shown(value)} in this profile",
                      f"use one of the profile's {listed}")
    return value


def provider(value: str | None, option: str = "--provider") -> str:
    """The Vagrant provider: libvirt (default) or virtualbox."""
    if value is None:
        return PROVIDERS[0]
    if value not in PROVIDERS:
        raise problem(option, f"unknown provider {shown(value)}",
                      f"use {' or '.join(PROVIDERS)}")
    return value


def driver(value: str | None, provider_name: str = "libvirt",
           option: str = "--driver") -> str | None:
    """The libvirt driver (kvm or qemu); None when not given."""
    if value is None:
        return None
    if value not in LIBVIRT_DRIVERS:
        raise problem(option, f"unknown driver {shown(value)}",
                      "use kvm (hardware virtualization) or qemu (software emulation, slow)")
    if provider_name != "libvirt":
        raise problem(option, f"a libvirt driver does not apply to --provider {provider_name}",
                      "leave --driver out, or use --provider libvirt")
    return value


def box_os(value: str, known: Iterable[str], option: str = "--os") -> str:
    """A key of lab.yml's ``boxes``."""
    names = list(known)
    if value not in names:
        raise problem(option, f"unknown OS {shown(value)}",
                      f"use one of lab.yml's boxes: {', '.join(names)}")
    return value


def lab_file(value: str | None, option: str = "--lab") -> str:
    """The lab file: an existing, readable, UTF-8 text file."""
    if value is None:
        return str(paths.LAB_FILE)
    fix = "give the path of a lab file, e.g. --lab lab.yml (run from the project's top folder)"
    if not value.strip():
        raise problem(option, "is empty", fix)
    path = Path(value)
    if path.is_dir():
        raise problem(option, f"{shown(value)} is a directory, not a file", fix)
    if not path.exists():
        raise problem(option, f"{shown(value)} does not exist", fix)
    if not os.access(path, os.R_OK):
        raise problem(option, f"{shown(value)} is not readable",
                      f"make it readable (chmod u+r {value}) or use another file")
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise problem(option, f"{shown(value)} is not UTF-8 text (byte {err.start})",
                      "save it as UTF-8") from None
    return value


# ---------------------------------------------------------------------------------------------
# invoke e2e


def e2e_options(profile: str | None, upto_value: str | int | None) -> tuple[str, int | None]:
    """``invoke e2e --profile P --upto N`` checked before any namespace or daemon starts.
    Returns (profile, last chapter or None for all); the profile defaults to mini."""
    name = profile_name(profile)
    return (name if name is not None else "mini"), upto(upto_value)
