"""Run state of the current lab in ``.lab/state.yml``: which profile is up and how.

``invoke up --profile mini`` records the profile, so later ``invoke chapter 4`` or
``invoke status`` address the same VMs without repeating options.

The file is ours, but people edit it, and older versions wrote other keys. :func:`load`
checks every value before anything uses it: a wrong type or an unknown value is a
:class:`StateError` (one line: file, key, what is wrong, the fix); a key this version does not
know is ignored with a warning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.text import Text

from webfarm import grammar, paths, yamlfile
from webfarm.args import (
    NETNS_NAME,
    PROVIDERS,
    UserError,
    kind,
    printable,
    shown,
    write_fix,
)
from webfarm.topology import LIBVIRT_DRIVERS

LAB_DIR = paths.LAB_DIR
STATE_FILE = paths.STATE_FILE
PACKAGE_SOURCES = ("mirror", "offline")
# Options `invoke up --driver` and `invoke e2e` record per provider.
PROVIDER_OPTIONS: dict[str, tuple[str, ...]] = {"libvirt": ("driver", "emulator_path"),
                                                "virtualbox": ()}

_console = Console(stderr=True)
_warned: set[tuple[str, str]] = set()


class StateError(UserError):
    """``.lab/state.yml`` cannot be used; the message names the key and the fix."""


@dataclass
class State:
    profile: str | None = None
    package_source: str = "mirror"  # mirror: the distribution's; offline: the box's cache
    provider: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. libvirt driver
    namespace: str | None = None  # network namespace the lab lives in (e2e), if any

    def save(self, path: Path = STATE_FILE) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(asdict(self), sort_keys=True), encoding="utf-8")
        except OSError as err:
            raise StateError(f"{path}: cannot be written ({err.strerror}). "
                             f"Fix: {write_fix(path)}") from None


def load(path: Path = STATE_FILE) -> State:
    """The run state; ``State()`` when there is none. Raises :class:`StateError`."""
    if not path.exists() and not path.is_symlink():
        return State()
    data = _read(path)
    if data is None:
        return State()
    if not isinstance(data, dict):
        raise _error(path, "", f"expected key: value lines, got {kind(data)}",
                     "write it as key: value lines")
    for key in data:
        if key not in State.__dataclass_fields__:
            _warn(path, str(key), "unknown key (from another version?) ignored")
    return State(profile=_profile(path, data.get("profile")),
                 package_source=_package_source(path, data.get("package_source", "mirror")),
                 provider=_providers(path, data.get("provider")),
                 namespace=_namespace(path, data.get("namespace")))


# ---------------------------------------------------------------------------------------------
# Reading and reporting


def _read(path: Path) -> Any:
    return yamlfile.read(path, _error, "correct it")


def _error(path: Path, key: str, what: str, fix: str) -> StateError:
    where = f"{path}: {key}" if key else str(path)
    return StateError(f"{where}: {what}. Fix: {fix}, or delete {path} "
                      "(it is run state and is rebuilt)")


def _warn(path: Path, key: str, what: str) -> None:
    if (str(path), key) in _warned:
        return
    _warned.add((str(path), key))
    _console.print(Text(f"warning: {path}: {printable(key)}: {what}", style="yellow"),
                   soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# One function per key


def _profile(path: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not grammar.key_name(value):
        raise _error(path, "profile", f"{shown(value)} is not a profile name",
                     "run invoke up --profile NAME (a profile of lab.yml)")
    return value


def _package_source(path: Path, value: Any) -> str:
    if not isinstance(value, str) or value not in PACKAGE_SOURCES:
        raise _error(path, "package_source", f"unknown package source {shown(value)}",
                     f"use {' or '.join(PACKAGE_SOURCES)}")
    return value


def _providers(path: Path, value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(path, "provider", f"expected provider: options lines, got {kind(value)}",
                     "write it like provider: {libvirt: {driver: qemu}}")
    providers: dict[str, dict[str, Any]] = {}
    for name, options in value.items():
        if name not in PROVIDERS:
            raise _error(path, f"provider.{printable(name)}", f"unknown provider {shown(name)}",
                         f"use {' or '.join(PROVIDERS)}")
        providers[name] = _options(path, name, options)
    return providers


def _options(path: Path, provider: str, value: Any) -> dict[str, Any]:
    key = f"provider.{provider}"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(path, key, f"expected option: value lines, got {kind(value)}",
                     "write it like libvirt: {driver: qemu}")
    options: dict[str, Any] = {}
    for name, option in value.items():
        if name not in PROVIDER_OPTIONS[provider]:
            _warn(path, f"{key}.{name}", "unknown option (from another version?) ignored")
            continue
        options[name] = _option(path, f"{key}.{name}", name, option)
    return options


def _option(path: Path, key: str, name: str, value: Any) -> str:
    if name == "driver" and value not in LIBVIRT_DRIVERS:
        raise _error(path, key, f"unknown driver {shown(value)}",
                     f"use {' or '.join(LIBVIRT_DRIVERS)}")
    if name == "emulator_path" and not (isinstance(value, str) and value.startswith("/")
                                        and value.isprintable()):
        raise _error(path, key, f"{shown(value)} is not an absolute path",
                     "write the emulator's full path, e.g. /usr/bin/qemu-system-x86_64")
    return str(value)


def _namespace(path: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not NETNS_NAME.fullmatch(value) or value in (".", ".."):
        raise _error(path, "namespace", f"{shown(value)} is not a network namespace name",
                     "use letters, digits, '-', '_' and '.' (e2e uses webfarm-e2e)")
    return value
