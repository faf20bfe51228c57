"""Writing generated files safely: a reader sees the old file or the new one, never half.

``write_atomic`` writes to a temporary file in the target's own folder (same file system),
flushes it to disk and renames it over the target with ``os.replace``, which is atomic on
POSIX. If anything fails the temporary file is removed and the target is left untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _default_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the target's own mode if it exists,
    otherwise 0666 minus the process umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def is_current(path: Path, text: str, mode: int | None = None) -> bool:
    """True when ``path`` already holds ``text`` (and has ``mode``, when one is given)."""
    try:
        if path.read_text(encoding="utf-8") != text:
            return False
        return mode is None or stat.S_IMODE(path.stat().st_mode) == mode
    except (FileNotFoundError, UnicodeDecodeError):
        return False


def write_atomic(path: Path | str, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; create missing parent folders.

    ``mode``: the new file's permission bits (0o600 for files carrying secrets); None keeps
    the existing file's mode, or gives a new file the usual umask-derived one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    final_mode = _default_mode(path) if mode is None else mode
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(final_mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
