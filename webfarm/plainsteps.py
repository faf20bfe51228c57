"""Plain steps: a chapter's role scripts as the commands a reader types on one host.

The chapter scripts (``provision/NN-slug/*.sh``) do their work through the ``wf_*`` helpers
of ``provision/lib/common.sh``, which add the checks that make a second run change nothing.
This module reads a script the way chapter.sh runs it on one host (``all.sh``, ``ROLE.sh``,
``finish.sh``) and writes the same work as plain commands, with the host's values filled in:

- ``wf_install PKGS``: ``apt-get install`` / ``dnf install`` of the OS table's packages;
- ``wf_put SRC DEST MODE OWNER``: ``sudo install ... /dev/stdin DEST <<'EOF'`` with the
  host's *rendered* file (secrets as ``<NAME from .lab/secrets.yml>`` placeholders);
- ``wf_sysctl``: the sysctl.d file and ``sysctl -w``; ``wf_service``: ``systemctl enable
  --now``; the firewalld and SELinux helpers: EL9 commands (a comment on Debian);
- other lines that are real steps (``useradd``, ``a2enmod``, ``haproxy -c`` ...) verbatim, with
  the variables the host's env.sh and the chapter's ``*.env`` files define filled in.

It is a translator of the chapter scripts' own style, not a bash interpreter: an ``if`` on a
value known from lab.yml keeps only its branch; an ``if`` on the host's state at run time
shows its body under a ``# if ...`` comment; a ``for`` over a known list is unrolled (a glob
over the rendered files too); whatever it cannot follow is shown as written, under a
``# (the script's logic: see the script)`` note. The tutorial's chapter pages get these steps
in a "Type it yourself" section (docs/hooks/webfarm_docs.py), generated at every build so the
page cannot drift from the scripts.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from webfarm import chapters, render, topology
from webfarm import os as osdata
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parent.parent
PROVISION = ROOT / "provision"
COMMON = PROVISION / "lib" / "common.sh"
NOTE = "# (the script's logic: see the script)"

# Every helper of common.sh falls in exactly one group (tests/unit/test_plainsteps.py checks
# it, so a new helper needs a decision here).
TRANSLATED = frozenset({
    "wf_install", "wf_put", "wf_put_text", "wf_move", "wf_absent", "wf_mark_restart",
    "wf_restart_pending", "wf_service", "wf_service_off", "wf_systemd_unit", "wf_sysctl",
    "wf_firewall_open", "wf_firewall_rich", "wf_selinux_bool", "wf_selinux_fcontext",
    "wf_mktemp", "wf_rmtemp",
    "wf_has_role", "wf_on_network",  # conditions, decided from lab.yml
})
SILENT = frozenset({  # bookkeeping: nothing for a reader to type
    "wf_log", "wf_changed", "wf_cancel_exit", "wf_run_exit_handlers",
})
SHOWN_AS_IS = frozenset({  # kept as written, under the NOTE
    "wf_on_exit", "wf_installed", "wf_next_serial", "wf_zone_freeze", "wf_zone_thaw",
})
# Commands a reader runs with sudo (the chapter scripts run as root).
ROOT_COMMANDS = frozenset({
    "a2disconf", "a2dismod", "a2dissite", "a2enconf", "a2enmod", "a2ensite", "apache2ctl",
    "apt-get", "chgrp", "chmod", "chown", "cp", "dnf", "firewall-cmd", "galera_new_cluster",
    "haproxy", "hostname", "htpasswd", "install", "ln", "mariadb", "mkdir", "modprobe", "mv",
    "mysql", "named-checkconf", "nginx", "restorecon", "rm", "rndc", "semanage", "setsebool",
    "sysctl", "systemctl", "tee", "touch", "useradd",
})
_FAMILY_TITLE = {"debian12": "Debian 12", "el9": "EL9"}
_FUNC_ONE_LINE = re.compile(r"^(\w+)\(\)\s*\{(.*)\}\s*$")
_FUNC_START = re.compile(r"^(\w+)\(\)\s*\{\s*$")
_ASSIGN = re.compile(r"^(?:local\s+)?[A-Za-z_]\w*=")
_VAR = re.compile(r"\$(?:\{(?P<b>[^}]*)\}|(?P<n>[A-Za-z_]\w*|[0-9@#?]))")
_SIMPLE_QUOTED = re.compile(r'"([A-Za-z0-9_./:@%+=,-]+)"')
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_]+)\2")


class _Stop(Exception):
    """``return``/``exit`` reached: the function (or sourced script) ends here."""


class _Continue(Exception):
    """``continue`` in an unrolled loop."""


# ---------------------------------------------------------------------------------------------
# Reading a script: logical lines, then a tree of statements


@dataclass
class Stmt:
    kind: str  # simple | if | for | while | case | raw
    text: str = ""  # a simple command; the header of a loop
    heredoc: str | None = None
    heredoc_quoted: bool = False
    branches: list[tuple[str | None, list[Stmt]]] = field(default_factory=list)  # if
    body: list[Stmt] = field(default_factory=list)  # loops
    redirect: str = ""  # while ... done <FILE
    raw: str = ""  # the statement as written (for "as-is")
    span: tuple[int, int] | None = None  # source lines of a compound statement


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` outside quotes after a blank)."""
    quote = ""
    depth = 0
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and (quote == "'" or line[i - 1] != "\\"):
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{" and i and line[i - 1] == "$":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch == "#" and not depth and (i == 0 or line[i - 1] in " \t;"):
            return line[:i].rstrip()
    return line


def _open_quote(text: str) -> bool:
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and (quote == "'" or text[i - 1] != "\\"):
                quote = ""
        elif ch in "'\"" and (i == 0 or text[i - 1] != "\\"):
            quote = ch
    return bool(quote)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` (``;`` or ``|``) outside quotes, ``$(...)``, ``[[ ]]`` and ``;;``/``||``."""
    parts, cur, quote, depth, i = [], [], "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote and (quote == "'" or text[i - 1] != "\\"):
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == sep and not depth:
            double = text[i:i + 2] == sep * 2 or (i and text[i - 1] == sep)
            if sep == "|" and text[i:i + 2] == "|&":
                double = False
            if not double:
                parts.append("".join(cur).strip())
                cur = []
                i += 1
                continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


@dataclass
class _Line:
    text: str
    heredoc: str | None
    heredoc_quoted: bool
    raw: str
    start: int = 0
    end: int = 0


def _logical_lines(text: str) -> tuple[list[_Line], dict[str, str]]:
    """The script's statements, one per item (``;`` split), and its function definitions."""
    lines = text.splitlines()
    out: list[_Line] = []
    functions: dict[str, str] = {}
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := _FUNC_ONE_LINE.match(line.strip()):
            functions[m.group(1)] = m.group(2).strip().rstrip(";")
            continue
        if m := _FUNC_START.match(line.strip()):
            body = []
            while i < len(lines) and lines[i].rstrip() != "}":
                body.append(lines[i])
                i += 1
            i += 1
            functions[m.group(1)] = textwrap.dedent("\n".join(body))
            continue
        cur = _strip_comment(line)
        while i < len(lines) and (cur.endswith("\\") or cur.endswith("|") or cur.endswith("&&")
                                  or cur.endswith("||") or _open_quote(cur)):
            if cur.endswith("\\"):
                cur = cur[:-1].rstrip() + " " + _strip_comment(lines[i]).strip()
            elif _open_quote(cur):
                cur = cur + "\n" + lines[i]
            else:
                cur = cur + " " + _strip_comment(lines[i]).strip()
            i += 1
        heredoc, quoted = None, False
        m = _HEREDOC.search(cur)
        if m and "<<<" not in cur:
            body = []
            while i < len(lines) and lines[i].strip() != m.group(3):
                body.append(lines[i])
                i += 1
            i += 1
            heredoc, quoted = "\n".join(body) + "\n", bool(m.group(2))
            cur = cur[:m.start()].rstrip() + " " + cur[m.end():].strip()
        raw = "\n".join(lines[start:i])
        for part in _split_top(cur.strip(), ";"):
            out.append(_Line(part, heredoc, quoted, raw, start, i))
    return out, functions


_KEYWORDS = ("then", "do", "else")


def _parse(text: str) -> tuple[list[Stmt], dict[str, str]]:
    items, functions = _logical_lines(text)
    source = text.splitlines()
    tokens: list[_Line] = []
    for item in items:  # "then X" -> "then", "X"
        word = item.text.split(None, 1)
        if word and word[0] in _KEYWORDS and len(word) == 2:
            tokens.append(_Line(word[0], None, False, item.raw, item.start, item.end))
            tokens.append(_Line(word[1], item.heredoc, item.heredoc_quoted, item.raw,
                                item.start, item.end))
        else:
            tokens.append(item)
    stmts, rest = _block(tokens, 0, ())
    if rest != len(tokens):
        raise ValueError(f"unexpected {tokens[rest].text!r}")
    _fill_raw(stmts, source)
    return stmts, functions


def _fill_raw(stmts: list[Stmt], source: list[str]) -> None:
    """Compound statements keep their source lines (shown as-is when not followed)."""
    for stmt in stmts:
        if stmt.span:
            stmt.raw = textwrap.dedent("\n".join(source[stmt.span[0]:stmt.span[1]]))
        for _, body in stmt.branches:
            _fill_raw(body, source)
        _fill_raw(stmt.body, source)


def _block(tokens: list[_Line], i: int, until: tuple[str, ...]) -> tuple[list[Stmt], int]:
    out: list[Stmt] = []
    while i < len(tokens):
        tok = tokens[i]
        first = tok.text.split(None, 1)[0]
        if first in until:
            return out, i
        if first == "if":
            stmt, i = _if(tokens, i)
        elif first in ("for", "while", "until"):
            stmt, i = _loop(tokens, i)
        elif first == "case":
            raw = [tok.text]
            while tokens[i].text.split(None, 1)[0] != "esac" and \
                    not tokens[i].text.endswith("esac"):
                i += 1
                raw.append(tokens[i].text)
            stmt = Stmt("case", text="; ".join(raw), raw=tok.raw,
                        span=(tok.start, tokens[i].end))
            i += 1
        else:
            stmt = Stmt("simple", text=tok.text, heredoc=tok.heredoc,
                        heredoc_quoted=tok.heredoc_quoted, raw=tok.raw)
            i += 1
        out.append(stmt)
    return out, i


def _if(tokens: list[_Line], i: int) -> tuple[Stmt, int]:
    stmt = Stmt("if", raw=tokens[i].raw)
    first = tokens[i].start
    raws = [tokens[i].raw]
    cond: str | None = tokens[i].text.split(None, 1)[1]
    i += 1
    while True:
        if tokens[i].text != "then":
            raise ValueError(f"if without then: {tokens[i].text!r}")
        body, i = _block(tokens, i + 1, ("elif", "else", "fi"))
        stmt.branches.append((cond, body))
        word = tokens[i].text.split(None, 1)
        raws.append(tokens[i].raw)
        if word[0] == "fi":
            break
        if word[0] == "else":
            body, i = _block(tokens, i + 1, ("fi",))
            stmt.branches.append((None, body))
            raws.append(tokens[i].raw)
            break
        cond = word[1]
        i += 1
    stmt.raw = _join_raw(raws)
    stmt.span = (first, tokens[i].end)
    return stmt, i + 1


def _loop(tokens: list[_Line], i: int) -> tuple[Stmt, int]:
    header = tokens[i].text
    raws = [tokens[i].raw]
    first = tokens[i].start
    if tokens[i + 1].text != "do":
        raise ValueError(f"loop without do: {header!r}")
    body, i = _block(tokens, i + 2, ("done",))
    raws.append(tokens[i].raw)
    done = tokens[i].text.split(None, 1)
    stmt = Stmt(header.split(None, 1)[0], text=header, body=body,
                redirect=done[1] if len(done) > 1 else "", raw=_join_raw(raws),
                span=(first, tokens[i].end))
    return stmt, i + 1


def _join_raw(raws: list[str]) -> str:
    seen: list[str] = []
    for r in raws:
        if not seen or seen[-1] != r:
            seen.append(r)
    return "\n".join(seen)


# ---------------------------------------------------------------------------------------------
# Expanding words with what is known about the host


Vars = dict[str, "str | None"]  # None: a value the script computes on the host


def _param(expr: str, vars_: Vars, strict: bool) -> str | None:
    """The value of ``${expr}`` (NAME, NAME:-default, NAME#pat, NAME%%pat ...), or None."""
    m = re.fullmatch(r"([A-Za-z_]\w*|[0-9@#])(?:(:-|-|##|#|%%|%)(.*))?", expr, re.S)
    if not m:
        return None
    name, op, arg = m.group(1), m.group(2), m.group(3) or ""
    if name in vars_ and vars_[name] is None:  # set on the host at run time
        return None
    value = vars_.get(name)
    if op in (":-", "-"):
        if value is None and name not in vars_:
            return _expand(arg, vars_, strict=strict, in_quotes=True)
        if op == ":-" and not value:
            return _expand(arg, vars_, strict=strict, in_quotes=True)
        return value
    if value is None:
        return None
    if op is None:
        return value
    pat = _expand(arg, vars_, strict=strict, in_quotes=True)
    if pat is None:
        return None
    if op in ("#", "##"):
        cuts = [k for k in range(len(value) + 1) if fnmatch.fnmatchcase(value[:k], pat)]
        if not cuts:
            return value
        return value[(max(cuts) if op == "##" else min(cuts)):]
    cuts = [k for k in range(len(value) + 1) if fnmatch.fnmatchcase(value[k:], pat)]
    if not cuts:
        return value
    return value[:(min(cuts) if op == "%%" else max(cuts))]


def _expand(text: str, vars_: Vars, strict: bool, in_quotes: bool = False) -> str | None:
    """``text`` with its variables replaced. ``strict``: None when any is unknown or a command
    substitution is left; otherwise unknown ones stay as written. Quoting is kept."""
    out: list[str] = []
    quote = '"' if in_quotes else ""
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith('"$@"', i) and vars_.get("@") is not None and not quote:
            out.append(str(vars_["@"]))  # the arguments, each already quoted
            i += 4
            continue
        if quote == "'":
            out.append(ch)
            if ch == "'":
                quote = ""
            i += 1
            continue
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if ch == "'" and not quote:
            quote = "'"
            out.append(ch)
            i += 1
            continue
        if ch == '"':
            quote = "" if quote == '"' else '"'
            out.append(ch)
            i += 1
            continue
        if ch == "$" and text[i + 1:i + 2] == "(":
            if strict:
                return None
            out.append(ch)
            i += 1
            continue
        if ch == "$":
            m = _VAR.match(text, i)
            if m:
                expr = m.group("b") if m.group("b") is not None else m.group("n")
                value = _param(expr, vars_, strict)
                if value is None:
                    if strict:
                        return None
                    out.append(m.group(0))
                else:
                    if quote == '"':
                        value = re.sub(r'(["\\$`])', r"\\\1", value)
                    out.append(value)
                i = m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _words(text: str, vars_: Vars) -> list[str] | None:
    """The words of a simple command after expansion (None: something unknown)."""
    expanded = _expand(text, vars_, strict=True)
    if expanded is None:
        return None
    try:
        return shlex.split(expanded)
    except ValueError:
        return None


def _tidy(text: str) -> str:
    """A command as shown: ``"word"`` loses quotes it does not need."""
    return _SIMPLE_QUOTED.sub(r"\1", text)


# ---------------------------------------------------------------------------------------------
# Translating


@dataclass
class _Host:
    host: Host
    vars: Vars
    files: dict[str, str]  # WF_FILES-relative path -> rendered text
    family: str
    functions: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    apt_updated: bool = False
    depth: int = 0


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = ""

    def add(self, *lines: str) -> None:
        for text in lines:
            for one in text.split("\n"):
                self.lines.append((self.indent + one) if one else "")

    def heredoc(self, head: str, body: str) -> None:
        """``head <<'EOF'`` + ``body`` + ``EOF`` (body lines are not indented)."""
        delim = "EOF"
        n = 0
        while any(line.strip() == delim for line in body.splitlines()):
            n += 1
            delim = f"EOF{n}"
        if not self.indent:
            self.blank()
        self.lines.append(f"{self.indent}{head} <<'{delim}'")
        self.lines.extend(body.removesuffix("\n").split("\n"))
        self.lines.append(delim)
        if not self.indent:
            self.lines.append("")

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


def _sudo(command: str) -> str:
    """``sudo`` before every stage of a pipeline that needs root."""
    stages = _split_top(command, "|")
    if len(stages) > 1 and " || " not in command:
        return " | ".join(_sudo(s) for s in stages)
    words = command.split(None, 1)
    if not words:
        return command
    name = PurePosixPath(words[0].strip("\"'")).name
    if name in ROOT_COMMANDS or name.startswith("php-fpm") or name.startswith("nagios"):
        return "sudo " + command
    if words[0] == "!" and len(words) > 1:
        return "! " + _sudo(words[1])
    return command


class Translator:
    def __init__(self, ctx: _Host) -> None:
        self.ctx = ctx
        self.out = _Out()
        self.stdin = ""  # "<FILE" when the function being followed reads a file

    # -- entry points -----------------------------------------------------------------------
    def script(self, path: Path) -> None:
        stmts, functions = _parse(path.read_text(encoding="utf-8"))
        self.ctx.functions.update(functions)
        with contextlib.suppress(_Stop):
            self.block(stmts)

    def finish(self, now: bool = False) -> None:
        if self.ctx.pending:
            self.out.blank()
            self.out.add("# The services whose files changed restart now:" if now else
                         "# At the end, the services whose files changed restart once:")
            for svc in self.ctx.pending:
                self.out.add(f"sudo systemctl restart {svc}")
            self.ctx.pending = []

    # -- statements ---------------------------------------------------------------------------
    def block(self, stmts: list[Stmt]) -> None:
        for stmt in stmts:
            getattr(self, f"s_{stmt.kind}")(stmt)

    def as_is(self, text: str) -> None:
        self.out.add(NOTE, _expand(text, self.ctx.vars, strict=False) or text)

    def s_case(self, stmt: Stmt) -> None:
        m = re.fullmatch(r"case\s+(\S+)\s+in\s+(.*?)\)\s*(.*?)\s*;;\s*esac", stmt.text, re.S)
        word = _words(m.group(1), self.ctx.vars) if m else None
        if not m or word is None or len(word) != 1:
            self.as_is(stmt.raw)
            return
        patterns = []
        for pat in m.group(2).split("|"):
            parts = shlex.split(pat.strip() + " x")[:-1] if pat.strip() not in ("''", '""') \
                else [""]
            if len(parts) != 1:
                self.as_is(stmt.raw)
                return
            unquoted_star = pat.strip().endswith("*")
            patterns.append(parts[0] + ("*" if unquoted_star and not parts[0].endswith("*")
                                        else ""))
        if any(fnmatch.fnmatchcase(word[0], p) if p else word[0] == "" for p in patterns):
            body, _ = _parse(m.group(3))
            self.block(body)

    def s_simple(self, stmt: Stmt) -> None:
        text = stmt.text
        if text.endswith(">&2") or text in ("true", "false", ":"):
            return  # a message for the log, not a step
        first = text.split(None, 1)[0]
        if first in ("return", "exit"):
            if self.ctx.depth:  # inside a runtime branch: say so, keep going
                self.out.add(f"# (the script stops here: {text})")
                return
            raise _Stop
        if first == "continue":
            if self.ctx.depth:
                self.out.add("# (the script skips to the next item here)")
                return
            raise _Continue
        if first in ("source", "."):
            self.source(text)
            return
        if first == "unset":
            return
        if ("&&" in text or "||" in text) and self.and_or(text):
            return
        if _ASSIGN.match(text):
            self.assign(text)
            return
        if first.startswith("wf_"):
            self.helper(first, stmt)
            return
        if first in self.ctx.functions:
            self.call(first, stmt)
            return
        self.verbatim(text, stmt.heredoc)

    def verbatim(self, text: str, heredoc: str | None = None) -> None:
        shown = _tidy(_sudo(_expand(text, self.ctx.vars, strict=False) or text))
        if self.stdin and heredoc is None and "<" not in shown:
            shown = f"{shown.rstrip()} {self.stdin}"
        called = set(re.findall(r"\b(wf_\w+|[a-z]+_\w+)\b", text)) & (
            set(self.ctx.functions) | SHOWN_AS_IS)
        if called:
            self.out.add(NOTE)
        if heredoc is not None:
            self.out.heredoc(shown, heredoc)
        else:
            self.out.add(shown)

    def and_or(self, text: str) -> bool:
        """``[ test ] && step`` / ``[ test ] || step`` with a known test."""
        m = re.fullmatch(r"(\[.*?\])\s*(&&|\|\|)\s*(.+)", text)
        if not m:
            return False
        value = self.test(m.group(1))
        if value is None:
            self.if_runtime([(m.group(1) if m.group(2) == "&&" else "! " + m.group(1),
                              [Stmt("simple", text=m.group(3), raw=text)])])
            return True
        if value == (m.group(2) == "&&"):
            self.s_simple(Stmt("simple", text=m.group(3), raw=text))
        return True

    def assign(self, text: str) -> None:
        local = text.startswith("local ")
        body = text[6:] if local else text
        if "$(" in body:  # a command substitution or arithmetic: run on the host
            for name in re.findall(r"(?:^|\s)([A-Za-z_]\w*)=", body):
                self.ctx.vars[name] = None
            self.verbatim(body)
            return
        try:
            parts = shlex.split(body, posix=False)
        except ValueError:
            parts = [body]
        shown: list[str] = []
        for part in parts:
            name, eq, value = part.partition("=")
            if not eq:
                self.ctx.vars[name] = ""
                continue
            if "WF_CHANGES" in value:
                self.ctx.vars[name] = None
                continue
            expanded = _words(value, self.ctx.vars) if value else [""]
            if self.ctx.depth and not local:  # set or not, depending on the host
                self.ctx.vars[name] = None
                shown.append(part)
            elif expanded is not None and len(expanded) <= 1:
                self.ctx.vars[name] = expanded[0] if expanded else ""
            else:
                self.ctx.vars[name] = None
                shown.append(part)
        if shown:
            self.verbatim(" ".join(shown))

    def source(self, text: str) -> None:
        words = _words(text, self.ctx.vars)
        rel = self.rendered(words[1]) if words and len(words) == 2 else None
        if rel is None:
            self.as_is(text)
            return
        for line in self.ctx.files[rel].splitlines():
            line = line.strip().removeprefix("export ")
            m = re.match(r"([A-Za-z_]\w*)=(.*)$", line)
            if not m or line.startswith("#"):
                continue
            try:
                value = " ".join(shlex.split(m.group(2)))
            except ValueError:
                value = m.group(2)
            self.ctx.vars[m.group(1)] = value

    def rendered(self, path: str) -> str | None:
        base = self.ctx.vars["WF_FILES"] + "/"
        if path.startswith(base) and path[len(base):] in self.ctx.files:
            return path[len(base):]
        return None

    def call(self, name: str, stmt: Stmt) -> None:
        text, stdin = stmt.text, ""
        if m := re.fullmatch(r"(.*?)\s+(<\s*\S+)", text):  # fn ARGS <FILE: its commands read FILE
            text, stdin = m.group(1), m.group(2)
        words = _words(text, self.ctx.vars)
        if words is None or re.search(r"[|>]", text):
            self.verbatim(stmt.text)
            return
        saved = {k: self.ctx.vars.get(k) for k in ("1", "2", "3", "4", "@", "#")}
        for n, word in enumerate(words[1:], 1):
            self.ctx.vars[str(n)] = word
        self.ctx.vars["@"] = " ".join(shlex.quote(w) for w in words[1:])
        self.ctx.vars["#"] = str(len(words) - 1)
        body, functions = _parse(self.ctx.functions[name])
        self.ctx.functions.update(functions)
        self.out.add(f"# --- {name} (a step of the script) ---")
        saved_stdin = self.stdin
        if stdin:
            self.stdin = _expand(stdin, self.ctx.vars, strict=False) or stdin
        try:
            self.block(body)
        except _Stop:
            pass
        finally:
            self.stdin = saved_stdin
            for k, v in saved.items():
                if v is None:
                    self.ctx.vars.pop(k, None)
                else:
                    self.ctx.vars[k] = v

    # -- control flow -------------------------------------------------------------------------
    def s_if(self, stmt: Stmt) -> None:
        runtime: list[tuple[str | None, list[Stmt]]] = []
        for cond, body in stmt.branches:
            value = True if cond is None else self.test(cond)
            if runtime or value is None:
                runtime.append((cond, body))
                continue
            if value:
                self.block(body)
                return
        if runtime:
            self.if_runtime(runtime)

    def if_runtime(self, branches: list[tuple[str | None, list[Stmt]]]) -> None:
        """Branches decided on the host at run time: each body under a ``# if`` comment."""
        first_cond, first_body = branches[0]
        if len(branches) == 1 and first_cond and self.is_guard(first_body):
            cond = first_cond.strip()
            check = cond[1:].strip() if cond.startswith("!") else cond
            if m := re.fullmatch(r"\w+=\$\((.*?)(\s+2>&1)?\)", check, re.S):
                check = m.group(1)
            self.out.add("# a check: the script stops here when it fails")
            self.verbatim(check)
            return
        for n, (cond, body) in enumerate(branches):
            head = "if" if n == 0 else "else, if"
            self.out.add(f"# {head} {self.describe(cond)}:" if cond else "# otherwise:")
            mark = len(self.out.lines)
            self.ctx.depth += 1
            self.out.indent += "  "
            try:
                self.block(body)
            finally:
                self.out.indent = self.out.indent[:-2]
                self.ctx.depth -= 1
            if len(self.out.lines) == mark:  # nothing to type in that branch
                self.out.lines.pop()

    def is_guard(self, body: list[Stmt]) -> bool:
        """A body that only reports an error and stops."""
        for s in body:
            if s.kind != "simple":
                return False
            t = s.text
            if not (t.endswith(">&2") or t in ("false", "exit 1", "return 1")
                    or t.startswith("exit ") or t.startswith("printf")):
                return False
        return bool(body)

    def describe(self, cond: str) -> str:
        parts = re.split(r"\s+(&&|\|\|)\s+", cond)
        shown = []
        for part in parts:
            if part in ("&&", "||"):
                shown.append("and" if part == "&&" else "or")
            elif "WF_CHANGES" in part:
                shown.append("the steps above changed something")
            else:
                text = _expand(part, self.ctx.vars, strict=False) or part
                text = re.sub(r"\s*(>/dev/null|2>/dev/null|2>&1|>&2)", "", text)
                text = re.sub(r"^(!\s+)?systemctl is-active --quiet (\S+)$",
                              lambda m: f"{m.group(2)} is {'not ' if m.group(1) else ''}running",
                              text)
                called = [w for w in re.findall(r"\b\w+\b", part)
                          if w in self.ctx.functions or w in SHOWN_AS_IS]
                if called:
                    text += f" (the script's {called[0]}: see the script)"
                shown.append(_tidy(text))
        return " ".join(shown)

    def test(self, cond: str) -> bool | None:
        """A condition decided from lab.yml (True/False), or None (decided on the host)."""
        cond = cond.strip()
        parts = re.split(r"\s+(&&|\|\|)\s+", cond)
        if len(parts) > 1:
            value = self.test(parts[0])
            for op, part in zip(parts[1::2], parts[2::2], strict=True):
                right = self.test(part)
                if op == "&&":
                    value = False if False in (value, right) else (
                        True if value is True and right is True else None)
                else:
                    value = True if True in (value, right) else (
                        False if value is False and right is False else None)
            return value
        if cond.startswith("! "):
            value = self.test(cond[2:])
            return None if value is None else not value
        words = _words(cond, self.ctx.vars)
        if words is None:
            return None
        if words and words[0] in ("wf_has_role", "wf_on_network") and len(words) == 2:
            key = self.ctx.host.roles if words[0] == "wf_has_role" else self.ctx.host.networks
            return words[1] in key
        if len(words) >= 2 and words[0] == "[" and words[-1] == "]":
            return _bracket(words[1:-1])
        if len(words) == 4 and words[:2] == ["grep", "-q"] and self.rendered(words[3]):
            try:  # a basic regular expression over a rendered file (the simple ones)
                pattern = re.compile(words[2])
            except re.error:
                return None
            text = self.ctx.files[str(self.rendered(words[3]))]
            return any(pattern.search(line) for line in text.splitlines())
        return None

    def s_for(self, stmt: Stmt) -> None:
        m = re.fullmatch(r"for\s+(\w+)\s+in\s+(.*)", stmt.text, re.S)
        items = self.items(m.group(2)) if m else None
        if m is None or items is None:
            self.as_is(stmt.raw)
            return
        for item in items:
            self.ctx.vars[m.group(1)] = item
            try:
                self.block(stmt.body)
            except _Continue:
                continue

    def items(self, text: str) -> list[str] | None:
        expanded = _expand(text, self.ctx.vars, strict=True)
        if expanded is None:
            return None
        words = shlex.split(expanded)
        out: list[str] = []
        for word in words:
            if not any(c in word for c in "*?["):
                out.append(word)
                continue
            base = self.ctx.vars["WF_FILES"] + "/"
            if not word.startswith(base):
                return None
            rel = word[len(base):]
            out += [base + f for f in sorted(self.ctx.files) if fnmatch.fnmatchcase(f, rel)]
        return out

    def s_while(self, stmt: Stmt) -> None:
        m = re.fullmatch(r"while\s+read\s+-r\s+(\w+)", stmt.text)
        src = _words(stmt.redirect.lstrip("<"), self.ctx.vars) if stmt.redirect else None
        rel = self.rendered(src[0]) if src and len(src) == 1 else None
        if not m or rel is None:
            self.as_is(stmt.raw)
            return
        for line in self.ctx.files[rel].splitlines():
            self.ctx.vars[m.group(1)] = line.strip()
            try:
                self.block(stmt.body)
            except _Continue:
                continue

    def s_until(self, stmt: Stmt) -> None:
        self.as_is(stmt.raw)

    # -- the helpers --------------------------------------------------------------------------
    def helper(self, name: str, stmt: Stmt) -> None:
        if name in SILENT:
            return
        if name in SHOWN_AS_IS:
            self.as_is(stmt.text)
            return
        if name in ("wf_has_role", "wf_on_network"):
            return
        words = _words(stmt.text, self.ctx.vars)
        if name not in TRANSLATED or words is None:
            if name in ("wf_put", "wf_systemd_unit", "wf_mktemp", "wf_rmtemp") and words is None:
                words = shlex.split(_expand(stmt.text, self.ctx.vars, strict=False) or "")
            else:
                self.as_is(stmt.text)
                return
        getattr(self, name)(words[1:], stmt)

    def _emit_file(self, dest: str, mode: str, owner: str, content: str) -> None:
        user, _, group = owner.partition(":")
        self.out.heredoc(f"sudo install -D -m {mode} -o {user} -g {group or user} /dev/stdin "
                         f"{dest}", content)

    def wf_install(self, args: list[str], stmt: Stmt) -> None:
        if not args:
            self.out.add(f"# (nothing to install here: {stmt.text.split(None, 1)[1]} is empty "
                         f"on {_FAMILY_TITLE[self.ctx.family]})")
            return
        if self.ctx.vars["WF_PKG_MANAGER"] == "apt":
            if not self.ctx.apt_updated:
                self.out.add("sudo apt-get update")
                self.ctx.apt_updated = True
            self.out.add("sudo apt-get install -y --no-install-recommends " + " ".join(args))
        else:
            self.out.add("sudo dnf install -y " + " ".join(args))

    def wf_put(self, args: list[str], stmt: Stmt) -> None:
        src, dest = args[0], args[1]
        mode = args[2] if len(args) > 2 else "0644"
        owner = args[3] if len(args) > 3 else "root:root"
        rel = self.rendered(src)
        if rel is not None:
            self._emit_file(dest, mode, owner, self.ctx.files[rel])
        else:
            user, _, group = owner.partition(":")
            self.out.add(_tidy(f'sudo install -D -m {mode} -o {user} -g {group} "{src}" {dest}'))
        if len(args) > 4 and args[4]:
            self.wf_mark_restart(args[4:5], stmt)

    def wf_put_text(self, args: list[str], stmt: Stmt) -> None:
        dest = args[0]
        mode = args[1] if len(args) > 1 else "0644"
        owner = args[2] if len(args) > 2 else "root:root"
        if stmt.heredoc is not None:
            content = stmt.heredoc if stmt.heredoc_quoted else (
                _expand(stmt.heredoc, self.ctx.vars, strict=False, in_quotes=False)
                or stmt.heredoc)
        elif m := re.search(r"<<<\s*(.+)$", stmt.text):
            words = _words(m.group(1), self.ctx.vars)
            if words is None or len(words) != 1:
                self.as_is(stmt.text)
                return
            content = words[0] + "\n"
            dest = args[0]
        else:
            self.as_is(stmt.text)
            return
        self._emit_file(dest, mode, owner, content)
        if len(args) > 3 and args[3] and not args[3].startswith("<"):
            self.wf_mark_restart(args[3:4], stmt)

    def wf_move(self, args: list[str], stmt: Stmt) -> None:
        self.out.add(f"[ -e {shlex.quote(args[0])} ] && sudo mv -f {shlex.quote(args[0])} "
                     f"{shlex.quote(args[1])}")

    def wf_absent(self, args: list[str], stmt: Stmt) -> None:
        self.out.add(f"sudo rm -f {shlex.quote(args[0])}")
        if len(args) > 1 and args[1]:
            self.wf_mark_restart(args[1:2], stmt)

    def wf_mark_restart(self, args: list[str], stmt: Stmt) -> None:
        if args and args[0] not in self.ctx.pending:
            self.ctx.pending.append(args[0])

    def wf_restart_pending(self, args: list[str], stmt: Stmt) -> None:
        self.finish(now=True)

    def wf_service(self, args: list[str], stmt: Stmt) -> None:
        self.out.add(f"sudo systemctl enable --now {args[0]}")

    def wf_service_off(self, args: list[str], stmt: Stmt) -> None:
        if args and args[0]:
            self.out.add(f"sudo systemctl disable --now {args[0]}")

    def wf_systemd_unit(self, args: list[str], stmt: Stmt) -> None:
        self.wf_put([args[0], f"/etc/systemd/system/{args[1]}", "0644", "root:root"], stmt)
        self.out.add("sudo systemctl daemon-reload")

    def wf_mktemp(self, args: list[str], stmt: Stmt) -> None:
        self.ctx.vars[args[0]] = None
        self.out.add(f"{args[0]}=$(mktemp)")

    def wf_rmtemp(self, args: list[str], stmt: Stmt) -> None:
        self.out.add(_tidy(f'rm -f "{args[0]}"'))

    def wf_sysctl(self, args: list[str], stmt: Stmt) -> None:
        name, settings = args[0], args[1:]
        content = "".join(f"{line}\n" for line in
                          [f"# webfarm: {name}"] + [s.replace("=", " = ", 1) for s in settings])
        self._emit_file(f"/etc/sysctl.d/60-webfarm-{name}.conf", "0644", "root:root", content)
        for setting in settings:
            self.out.add(f"sudo sysctl -w {setting}")

    def _el9(self, commands: list[str], what: str) -> None:
        firewalld = self.ctx.vars.get("WF_FIREWALL") == "firewalld"
        selinux = self.ctx.vars.get("WF_SELINUX") == "1"
        if (firewalld and what == "firewalld") or (selinux and what == "SELinux"):
            self.out.add(*commands)
        else:
            self.out.add(f"# EL9 only ({what}; not on {_FAMILY_TITLE[self.ctx.family]}):",
                         *(f"#   {c}" for c in commands))

    def wf_firewall_open(self, args: list[str], stmt: Stmt) -> None:
        self._el9([f"sudo firewall-cmd --permanent --add-port={p}" for p in args]
                  + ["sudo firewall-cmd --reload"], "firewalld")

    def wf_firewall_rich(self, args: list[str], stmt: Stmt) -> None:
        self._el9([f"sudo firewall-cmd --permanent --add-rich-rule={shlex.quote(args[0])}",
                   "sudo firewall-cmd --reload"], "firewalld")

    def wf_selinux_bool(self, args: list[str], stmt: Stmt) -> None:
        self._el9([f"sudo setsebool -P {args[0]} on"], "SELinux")

    def wf_selinux_fcontext(self, args: list[str], stmt: Stmt) -> None:
        type_, path = args[0], args[1].rstrip("/")
        self._el9([f"sudo semanage fcontext -a -t {type_} {shlex.quote(path + '(/.*)?')}",
                   f"sudo restorecon -R {path}"], "SELinux")


def _bracket(words: list[str]) -> bool | None:
    """``[ ... ]`` on known words: string and integer comparisons, -n, -z; files: None."""
    if words[:1] == ["!"]:
        value = _bracket(words[1:])
        return None if value is None else not value
    if len(words) == 2 and words[0] in ("-n", "-z"):
        return bool(words[1]) == (words[0] == "-n")
    if len(words) == 1:
        return bool(words[0])
    if len(words) == 3:
        a, op, b = words
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        ints = {"-eq": "__eq__", "-ne": "__ne__", "-gt": "__gt__", "-ge": "__ge__",
                "-lt": "__lt__", "-le": "__le__"}
        if op in ints:
            try:
                return bool(getattr(int(a), ints[op])(int(b)))
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------------------------------
# Chapters, roles, hosts


def scripts(chapter: chapters.Chapter, role: str | None) -> list[Path]:
    """The scripts chapter.sh runs for ``role`` (None: only all.sh and finish.sh), in order."""
    names = ["all.sh"] + ([f"{role}.sh"] if role else []) + ["finish.sh"]
    return [chapter.provision_dir / n for n in names if (chapter.provision_dir / n).is_file()]


def role_scripts(chapter: chapters.Chapter) -> list[str]:
    """The roles with a script of their own in the chapter, in the chapter's role order."""
    found = {p.stem for p in chapter.provision_dir.glob("*.sh")} - {"all", "finish"}
    order = [r for r in chapter.roles if r in found]
    return order + sorted(found - set(order))


def blocks(lab: Lab, chapter: chapters.Chapter) -> list[tuple[str | None, Host]]:
    """(role, host) for each block of the page: one per role script (its first host), and
    one for "every host" (role None) when some of the chapter's hosts run no role script."""
    out: list[tuple[str | None, Host]] = []
    hosts = chapter.hosts(lab)
    roles = role_scripts(chapter)
    others = [h for h in hosts if not any(r in h.roles for r in roles)]
    if others and scripts(chapter, None):
        out.append((None, others[0]))
    for role in roles:
        with_role = [h for h in hosts if role in h.roles]
        if with_role:
            out.append((role, with_role[0]))
    return out


def host_files(lab: Lab, host: Host, secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The host's rendered files, {path under files/: text}; secrets as placeholders unless
    given (the docs never get real ones)."""
    rendered = render.host_files(lab, host, secrets or lab_secrets.redacted(),
                                 State(profile=lab.profile), Path("/r"))
    base = f"/r/{host.name}/files/"
    return {str(p)[len(base):]: t for p, t in rendered.items() if str(p).startswith(base)}


def steps(lab: Lab, chapter: chapters.Chapter, role: str | None, host: Host,
          secrets: dict[str, str] | None = None) -> str:
    """The plain commands of ``chapter`` for ``role`` (None: every host's part) on ``host``."""
    env = render.host_env(lab, host, State(profile=lab.profile))
    env |= osdata.get(host.os.family).env()
    ctx = _Host(host=host, vars=dict(env), files=host_files(lab, host, secrets),
                family=host.os.family)
    tr = Translator(ctx)
    for path in scripts(chapter, role):
        tr.out.blank()
        tr.out.add(f"# ===== {path.relative_to(ROOT)} =====")
        tr.script(path)
    tr.finish()
    lines = tr.out.lines
    while lines and lines[0] == "":
        lines.pop(0)
    text = "\n".join(lines).rstrip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


# ---------------------------------------------------------------------------------------------
# The chapter page's section


SECTION_TITLE = "Type it yourself"
# A file (a heredoc) longer than this many lines is folded on its own inside its role's block:
# the commands stay readable in order, and an opened note holds one complete command to copy.
FOLD_LINES = 12
_HEREDOC_HEAD = re.compile(r"^(\S.*) <<'(EOF\d*)'$")


def parts(body: str, fold_lines: int = FOLD_LINES) -> list[tuple[str, str]]:
    """``body`` (the text of :func:`steps`) cut into ``("code", text)`` runs of commands and
    ``(DEST, text)`` for each file written by a heredoc at the top level that is longer than
    ``fold_lines``: the whole command, from ``… <<'EOF'`` to ``EOF``. Joined again in order,
    the texts are ``body`` (blank lines at the cuts aside)."""
    lines = body.rstrip("\n").split("\n")
    out: list[tuple[str, str]] = []
    run: list[str] = []

    def flush() -> None:
        text = "\n".join(run).strip("\n")
        if text.strip():
            out.append(("code", text + "\n"))
        run.clear()

    i = 0
    while i < len(lines):
        m = _HEREDOC_HEAD.match(lines[i])
        end = lines.index(m.group(2), i + 1) if m and m.group(2) in lines[i + 1:] else -1
        if m and end - i - 1 > fold_lines:
            flush()
            dest = m.group(1).split()[-1]
            out.append((dest, "\n".join(lines[i:end + 1]) + "\n"))
            i = end + 1
            continue
        stop = end + 1 if m and end > i else i + 1  # a short file stays, whole, in the run
        run += lines[i:stop]
        i = stop
    flush()
    return out


def _fenced(text: str, indent: str) -> list[str]:
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return ([f"{indent}{fence}bash"]
            + [f"{indent}{line}" if line else "" for line in text.rstrip("\n").split("\n")]
            + [f"{indent}{fence}", ""])


def section(lab: Lab, chapter: chapters.Chapter, level: int = 2) -> str:
    """The "Type it yourself" section of a chapter page: one folded block per role."""
    found = blocks(lab, chapter)
    if not found:
        return ""
    lines = [
        f"{'#' * level} {SECTION_TITLE}", "",
        f"The same work as plain commands, for one host of each role in the "
        f"`{lab.profile}` profile, generated from the scripts above and the host's rendered "
        "files (secrets appear as placeholders: take the values from `.lab/secrets.yml`). "
        "Typed in order on that host, after the earlier chapters, they build what the script "
        "builds; the script adds the checks that let it run again and change nothing. Lines "
        "marked `# if ...` depend on the host's state at that moment, and lines under "
        f"`{NOTE}` are shown as the script has them. Each file longer than {FOLD_LINES} "
        "lines is folded on its own, where the script writes it: open it for the complete "
        "command that writes the file.", ""]
    for role, host in found:
        title = f"{role} on {host.name}" if role else f"every host, here {host.name}"
        names = ", ".join(f"`{p.name}`" for p in scripts(chapter, role))
        body = steps(lab, chapter, role, host)
        lines += [f'??? example "{title}: the plain commands"', "",
                  f"    From {names} on `{host.name}` "
                  f"({_FAMILY_TITLE.get(host.os.family, host.os.family)}):", ""]
        for kind, text in parts(body):
            if kind == "code":
                lines += _fenced(text, "    ")
            else:
                size = text.count("\n") - 2  # the file's lines, without the command and EOF
                lines += [f'    ??? note "{kind} ({size} lines)"', ""]
                lines += _fenced(text, "        ")
    return "\n".join(lines) + "\n"


_LAB_CACHE: dict[str, Lab] = {}


def page_section(markdown: str, uri: str, lab_file: Path) -> str:
    """``markdown`` of page ``uri`` with the section inserted (chapter pages only): after the
    last embedded script of the chapter (its code block, or the folded note holding it), else
    before the checks, else at the end."""
    chapter = next((c for c in chapters.CHAPTERS if uri == f"chapters/{c.slug}.md"), None)
    if chapter is None:
        return markdown
    key = str(lab_file)
    if key not in _LAB_CACHE:
        _LAB_CACHE[key] = topology.load(lab_file)
    lab = _LAB_CACHE[key]
    lines = markdown.split("\n")
    marker = re.compile(rf'^(\s*)--8<-- "provision/{re.escape(chapter.slug)}/[^"]+\.sh"')
    hits = [i for i, line in enumerate(lines) if marker.match(line)]
    if hits:
        at = _after_embed(lines, hits[-1])
        text = section(lab, chapter, level=3)
    else:
        heads = [i for i, line in enumerate(lines)
                 if re.match(r"^## (The )?[Cc]hecks\b", line)]
        at = heads[0] if heads else len(lines)
        text = section(lab, chapter, level=2)
    if not text:
        return markdown
    return "\n".join([*lines[:at], "", *text.rstrip("\n").split("\n"), "", *lines[at:]])


def _after_embed(lines: list[str], i: int) -> int:
    """The line after the code block holding line ``i`` (and after the indented block, such as
    a folded note, that holds the code block)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i + 1
    while j < len(lines) and not lines[j].strip().startswith("```"):
        j += 1
    j += 1
    if indent:
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" " * indent)):
            j += 1
    return min(j, len(lines))
