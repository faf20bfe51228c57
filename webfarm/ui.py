"""How webfarm talks to the user: the two consoles, literal printing, and :func:`friendly`,
the wrapper that turns every known error into one clear message and exit code 2.

Every user-facing failure is a :class:`UserError` (or a lab-file error) printed as a clear
message with its fix; a traceback means a bug in webfarm itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

from webfarm.args import UserError
from webfarm.runner import ChapterFailed
from webfarm.topology import LabFileError
from webfarm.vagrant import VagrantError

console = Console(stderr=True)  # progress, warnings, errors
out = Console()  # results
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn known errors into a clear message and exit code 2 (never a traceback).

    Messages are printed literally (no rich markup): they carry names and values the user
    typed, and a ``[`` in those must neither vanish nor break the printer."""

    @wraps(func)
    def wrapper(*a: Any, **kw: Any) -> Any:
        try:
            return func(*a, **kw)
        except LabFileError as err:
            say(f"{len(err.problems)} problem(s) in {err.file}:", style="bold red")
            for problem in err.problems:
                say(f"  - {problem.render(err.file)}")
            sys.exit(2)
        except (UserError, VagrantError, ChapterFailed, *_tool_errors()) as err:
            console.print(Text.assemble(("error:", "bold red"), " ", str(err)),
                          highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            say("interrupted", style="yellow")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def say(text: str, style: str = "", to: Console = console) -> None:
    """Print ``text`` literally (no markup, no highlighting), on one logical line."""
    to.print(Text(text, style=style), highlight=False, soft_wrap=True)


def _tool_errors() -> tuple[type[Exception], ...]:
    """Errors of the box builders, whose messages already name the fix."""
    from webfarm.boxes import BoxError
    from webfarm.packer import PackerError

    return (BoxError, PackerError)
