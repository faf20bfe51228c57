"""How ``invoke bench`` talks to the lab's guests: one ssh command at a time over the lab's
ssh-config (as webfarm.runner and webfarm.capture do), every command bounded in time and
written, with its output, to the part's log ``.lab/logs/bench/PART.log``.

What goes to a guest on standard input (an option file holding a password) is never logged
and never appears on a command line (``ps`` shows command lines to every user).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from webfarm import paths, runner
from webfarm.args import UserError

LOG_DIR = paths.LOG_DIR / "bench"


class BenchError(UserError):
    """A benchmark step failed on the lab; the message names the host, the step and the fix."""


@dataclass(frozen=True)
class Result:
    code: int  # -1: timed out
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def as_root(command: str) -> str:
    """``command`` run by ``sh`` as root on the guest (password-less sudo, never a prompt)."""
    return f"sudo -n sh -c {shlex.quote(command)}"


class Shell:
    """Runs commands on lab hosts and logs them to one part's log."""

    def __init__(self, log: TextIO, ssh_config: Path = paths.SSH_CONFIG) -> None:
        self.log, self.ssh_config = log, ssh_config

    def note(self, text: str) -> None:
        self.log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.log.flush()

    def run(self, host: str, command: str, timeout: float = 60, check: bool = True,
            stdin: str | None = None, root: bool = False) -> Result:
        """Run ``command`` on ``host``; with ``check`` a non-zero exit is a BenchError."""
        remote = as_root(command) if root else command
        self.note(f"{host}$ {remote}" + (" (with input)" if stdin is not None else ""))
        try:
            done = subprocess.run(runner.ssh_cmd(host, remote, self.ssh_config),
                                  input=stdin if stdin is not None else "",
                                  capture_output=True, text=True, timeout=timeout, check=False)
            res = Result(done.returncode, done.stdout, done.stderr)
        except subprocess.TimeoutExpired as err:
            res = Result(-1, _text(err.stdout), _text(err.stderr))
        for name, text in (("out", res.stdout), ("err", res.stderr)):
            if text.strip():
                self.log.write("".join(f"  {name}| {ln}\n" for ln in text.splitlines()))
        self.note(f"{host}: exit {res.code}")
        if check and not res.ok:
            what = "timed out" if res.code == -1 else f"failed (exit {res.code})"
            last = (res.stderr.strip() or res.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise BenchError(f"on {host}: `{command[:120]}` {what}: {last[0][:300]}. Fix: see "
                             f"{self.log.name}; check the host (invoke status, invoke ssh "
                             f"{host})")
        return res

    def root(self, host: str, command: str, timeout: float = 60, check: bool = True,
             stdin: str | None = None) -> Result:
        return self.run(host, command, timeout, check, stdin, root=True)

    def clock(self, host: str) -> float:
        """The host's clock (seconds since the epoch)."""
        return float(self.run(host, "date +%s.%N", 30).stdout.strip())


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


class ProbeHost:
    """A lab host seen as webfarm.drills' Runner (``run(command).stdout``), for its Probe."""

    def __init__(self, shell: Shell, host: str) -> None:
        self.shell, self.host = shell, host

    def run(self, command: str, *args: str) -> Result:
        return self.shell.run(self.host, " ".join([command, *args]), 60, check=False)


def open_log(part: str, directory: Path | None = None) -> TextIO:
    directory = directory or LOG_DIR
    directory.mkdir(parents=True, exist_ok=True)
    fh = (directory / f"{part}.log").open("a", encoding="utf-8")
    fh.write(f"\n==== invoke bench --part {part}: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
    return fh
