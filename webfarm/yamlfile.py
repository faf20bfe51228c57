"""Reading a small YAML file of run state (``.lab/state.yml``, ``.lab/secrets.yml``) with one
clear error per way it can be broken, never a traceback and never the file's content."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# error(path, key, what, fix) -> the caller's exception, with its own wording of the fix
ErrorFactory = Callable[[Path, str, str, str], Exception]


def read(path: Path, error: ErrorFactory, fix: str) -> Any:
    """The parsed YAML of PATH; FIX is the caller's advice for a file that is not text or not
    YAML. Only the position of a YAML error is shown: PyYAML's message quotes the line, which
    may hold a secret."""
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise error(path, "", "is a directory", f"remove the directory {path}") from None
    except OSError as err:
        raise error(path, "", f"cannot be read ({err.strerror})",
                    f"make it readable by you (e.g. sudo chown \"$USER\" {path})") from None
    except UnicodeDecodeError:
        raise error(path, "", "is not UTF-8 text", fix) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise error(path, "", f"is not valid YAML{where}", fix) from None
