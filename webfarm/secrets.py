"""Per-lab secrets generated on first use into ``.lab/secrets.yml`` and stable afterwards.

Nothing secret is ever committed: the file is git-ignored and made mode 0600. The docs render
configs with :func:`redacted` so the tutorial shows where a secret goes, never its value.

People may set a secret by hand, so :func:`read` checks every value before a template gets
it: a :class:`SecretsError` names the file, the secret and the fix - never the value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets as _random
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console
from rich.text import Text

from webfarm import paths, yamlfile
from webfarm.args import UserError, kind, printable, write_fix

DEFAULT = paths.SECRETS_FILE

# name -> generator. VRRP PASS auth is at most 8 characters (keepalived truncates longer ones).
GENERATORS = {
    "vrrp_auth": lambda: _random.token_hex(4),
    "vrrp_auth_dblb": lambda: _random.token_hex(4),
    "tsig_key": lambda: base64.b64encode(_random.token_bytes(32)).decode(),
    "db_root_password": lambda: _random.token_urlsafe(18),
    "db_app_password": lambda: _random.token_urlsafe(18),
    "db_monitor_password": lambda: _random.token_urlsafe(18),
    "nagios_admin_password": lambda: _random.token_urlsafe(12),
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_VRRP_AUTH = re.compile(r"[A-Za-z0-9._-]{1,8}")
_PASSWORD = re.compile(r"[A-Za-z0-9._~-]{8,128}")
_REGENERATE = "or delete the line to have a new one generated (then run the chapters again)"

_console = Console(stderr=True)


class SecretsError(UserError, ValueError):
    """``.lab/secrets.yml`` cannot be used; the message never shows a secret's value."""


def load(path: Path = DEFAULT) -> dict[str, str]:
    """Read the lab's secrets, generating any that are missing (existing ones never change)."""
    current = read(path)
    missing = {k: gen() for k, gen in GENERATORS.items() if k not in current}
    if missing:
        current |= missing
        _write(path, current)
    return current


def read(path: Path = DEFAULT) -> dict[str, str]:
    """The secrets in ``path`` (none if it does not exist), each checked; generates nothing."""
    if not path.exists() and not path.is_symlink():
        return {}
    loaded = _parse(path)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise _error(path, "", f"expected name: value lines, got {kind(loaded)}",
                     "write one `name: value` per line, or delete the file to regenerate "
                     "every secret (then run the chapters again)")
    current: dict[str, str] = {}
    for name, value in loaded.items():
        current[_name(path, name)] = _value(path, name, value)
    for name in current.keys() - GENERATORS.keys():
        _console.print(Text(f"warning: {path}: {printable(name)}: not a secret webfarm uses "
                            f"(known: {', '.join(GENERATORS)}); kept as is", style="yellow"),
                       soft_wrap=True)
    return current


def redacted() -> dict[str, str]:
    """Placeholders for the docs: they name the secret instead of showing it."""
    return {k: f"<{k} from .lab/secrets.yml>" for k in GENERATORS}


# ---------------------------------------------------------------------------------------------
# Checking


def _parse(path: Path) -> object:
    return yamlfile.read(path, _error, "correct it, or delete the file to regenerate every "
                         "secret (then run the chapters again)")


def _error(path: Path, key: str, what: str, fix: str) -> SecretsError:
    where = f"{path}: {key}" if key else str(path)
    return SecretsError(f"{where}: {what}. Fix: {fix}")


def _name(path: Path, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _error(path, printable(str(name)), "is not a secret name",
                     f"secret names are: {', '.join(GENERATORS)}")
    return name


def _value(path: Path, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _error(path, name, f"expected text, got {kind(value)}",
                     f"put the value in quotes, {_REGENERATE}")
    if not value or not value.isprintable() or value != value.strip():
        raise _error(path, name, "is empty, or holds a line break, a control character or "
                     "leading/trailing blanks", f"write it on one line, {_REGENERATE}")
    check = _CHECKS.get(name)
    if check:
        check(path, name, value)
    return value


def _vrrp_auth(path: Path, name: str, value: str) -> None:
    if len(value) > 8:
        raise _error(path, name, f"is {len(value)} characters; keepalived uses only the first "
                     "8 of a VRRP password", f"use 1 to 8 letters or digits, {_REGENERATE}")
    if not _VRRP_AUTH.fullmatch(value):
        raise _error(path, name, "holds characters other than letters, digits, '.', '_', '-'",
                     f"use 1 to 8 letters or digits, {_REGENERATE}")


def _tsig_key(path: Path, name: str, value: str) -> None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 16:
        raise _error(path, name, "is not a base64 key of at least 16 bytes (BIND refuses it)",
                     f"use the output of `openssl rand -base64 32`, {_REGENERATE}")


def _password(path: Path, name: str, value: str) -> None:
    if not _PASSWORD.fullmatch(value):
        raise _error(path, name, "is not 8 to 128 letters, digits, '.', '_', '~' or '-' "
                     "(other characters break the configs it is written into)",
                     f"choose such a password, {_REGENERATE}")


_CHECKS: dict[str, Callable[[Path, str, str], None]] = {
    "vrrp_auth": _vrrp_auth,
    "vrrp_auth_dblb": _vrrp_auth,
    "tsig_key": _tsig_key,
    **{name: _password for name in GENERATORS if name.endswith("_password")},
}


def _write(path: Path, current: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# generated by webfarm for this lab; git-ignored, keep private\n")
            yaml.safe_dump(current, fh, sort_keys=True)
        tmp.replace(path)
    except OSError as err:
        raise _error(path, "", f"cannot be written ({err.strerror})", write_fix(path)) from None
