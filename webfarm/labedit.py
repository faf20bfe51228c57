"""Edit one tier size in lab.yml's text, ``profiles.P.scale.ROLE: N``, and nothing else.

``invoke scale ROLE N`` writes the count here (webfarm.scale). lab.yml is the reader's file:
its comments, alignment, flow mappings and line breaks must survive. A full YAML round trip
keeps comments but rewraps what it re-emits (ruamel.yaml joins a flow mapping written over
two lines), so the edit is surgical instead: ruamel.yaml's round-trip loader says where the
value (or the place for it) is, line and column, and only that spot of the text changes:

- ``scale: {app: 2}`` or a ``scale:`` block with ``app: 2``: the number is replaced;
- a scale mapping without the role: ``ROLE: N`` is added inside it (flow or block style);
- ``scale:`` with no value, or no ``scale`` key at all: ``scale: {ROLE: N}`` is written.

The result is read back and must equal the old data with that one value changed
(:class:`EditError` otherwise: nothing is written by the caller).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

_SCALAR = re.compile(r"[^\s,}\]#]+")
_BEFORE_COMMENT = re.compile(r"[^#\n]*?( +)#")  # the spaces before a comment


class EditError(Exception):
    """lab.yml cannot be edited here (the message says why and what to do)."""


def count(text: str, profile: str, role: str) -> int | None:
    """``profiles.PROFILE.scale.ROLE`` in lab.yml's text (None when it is not set)."""
    data = yaml.safe_load(text)
    try:
        value = data["profiles"][profile].get("scale") or {}
    except (KeyError, TypeError, AttributeError):
        return None
    found = value.get(role) if isinstance(value, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def set_count(text: str, profile: str, role: str, value: int) -> str:
    """lab.yml's ``text`` with ``profiles.PROFILE.scale.ROLE`` set to ``value``."""
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as err:
        raise EditError(f"lab.yml cannot be read: {err}") from None
    try:
        prof = data["profiles"][profile]
    except (KeyError, TypeError):
        raise EditError(f"lab.yml has no profile {profile!r}") from None
    if not isinstance(prof, CommentedMap):
        raise EditError(f"profiles.{profile} is not a mapping")
    lines = text.splitlines(keepends=True)
    entry = f"{role}: {value}"
    if "scale" not in prof:
        line = _end_line(lines, prof)
        indent = " " * prof.lc.key(next(iter(prof)))[1]
        lines.insert(line + 1, f"{indent}scale: {{{entry}}}\n")
    else:
        lines = _edit_scale(lines, prof, f"profiles.{profile}.scale", role, value, entry)
    new = "".join(lines)
    _verify(text, new, profile, role, value)
    return new


def _edit_scale(lines: list[str], prof: CommentedMap, key: str, role: str, value: int,
                entry: str) -> list[str]:
    scale = prof["scale"]
    vline, vcol = prof.lc.value("scale")
    if scale is None:  # `scale:` alone: the value goes right after the colon
        kline, kcol = prof.lc.key("scale")
        text = lines[kline]
        colon = text.index(":", kcol)
        lines[kline] = _splice(text, colon + 1, colon + 1, f" {{{entry}}}")
        return lines
    if not isinstance(scale, CommentedMap):
        raise EditError(f"{key} is not a mapping: write it like scale: {{app: 3}}")
    if role in scale:  # replace the number
        line, col = scale.lc.value(role)
        text = lines[line]
        m = _SCALAR.match(text, col)
        if not m:
            raise EditError(f"cannot find the value of {key}.{role} in lab.yml")
        lines[line] = _splice(text, m.start(), m.end(), str(value))
        return lines
    if lines[vline][vcol] == "{":  # flow mapping: add before its closing brace
        line, col = _closing(lines, vline, vcol, "{", "}")
        text = lines[line]
        inside = _between(lines, vline, vcol, line, col)
        if inside.strip():  # after the last entry, before the spaces ahead of the brace
            head = text[:col].rstrip()
            lines[line] = _splice(text, len(head), len(head), f", {entry}")
        else:
            lines[line] = _splice(text, col, col, entry)
        return lines
    # block mapping: a new line after the last entry's, at the entries' indentation
    if not scale:
        raise EditError(f"{key} is empty but not written as {{}}: write it like "
                        "scale: {app: 3}")
    indent = " " * scale.lc.key(next(iter(scale)))[1]
    lines.insert(_end_line(lines, scale) + 1, f"{indent}{entry}\n")
    return lines


def _splice(text: str, start: int, end: int, new: str) -> str:
    """``text`` with ``text[start:end]`` replaced by ``new``; a comment further on the line
    keeps its column when the spaces before it allow (at least one space is left)."""
    out = text[:start] + new + text[end:]
    grow = len(new) - (end - start)
    m = _BEFORE_COMMENT.match(out, start + len(new))
    if m:
        spaces = m.group(1)
        keep = max(1, len(spaces) - grow)
        out = out[:m.start(1)] + " " * keep + out[m.end(1):]
    return out


def _closing(lines: list[str], line: int, col: int, opening: str,
             closing: str) -> tuple[int, int]:
    """Where the bracket opened at (line, col) closes (brackets inside quotes or comments
    are not counted)."""
    depth = 0
    quote = ""
    for i in range(line, len(lines)):
        text = lines[i]
        j = col if i == line else 0
        while j < len(text):
            ch = text[j]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and (j == 0 or text[j - 1] in " \t"):
                break  # a comment: the rest of this line
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    if ch != closing:
                        raise EditError("unbalanced brackets in lab.yml")
                    return i, j
            j += 1
    raise EditError(f"no closing {closing!r} in lab.yml")


def _between(lines: list[str], line: int, col: int, end_line: int, end_col: int) -> str:
    if line == end_line:
        return lines[line][col + 1:end_col]
    return lines[line][col + 1:] + "".join(lines[line + 1:end_line]) + lines[end_line][:end_col]


def _end_line(lines: list[str], node: CommentedMap | CommentedSeq) -> int:
    """The last line of a block collection's content (0-based)."""
    last: Any = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
    line, col = node.lc.value(last) if isinstance(node, CommentedMap) else node.lc.item(last)
    child = node[last]
    if not isinstance(child, CommentedMap | CommentedSeq):
        return line  # a scalar: on its line (lab files hold no multi-line scalars)
    opening = lines[line][col] if col < len(lines[line]) else ""
    if opening in ("{", "["):  # flow style: up to its closing bracket
        return _closing(lines, line, col, opening, "}" if opening == "{" else "]")[0]
    return _end_line(lines, child) if len(child) else line


def _verify(old: str, new: str, profile: str, role: str, value: int) -> None:
    """The new text must hold exactly the old data with the one value set."""
    try:
        want = copy.deepcopy(yaml.safe_load(old))
        got = yaml.safe_load(new)
    except yaml.YAMLError as err:
        raise EditError(f"editing lab.yml would break it ({err}); nothing was written") from None
    prof = want["profiles"][profile]
    if not isinstance(prof.get("scale"), dict):
        prof["scale"] = {}
    prof["scale"][role] = value
    if got != want:
        raise EditError(f"editing profiles.{profile}.scale.{role} in lab.yml would change "
                        "more than that value; nothing was written. Fix: set it by hand")
