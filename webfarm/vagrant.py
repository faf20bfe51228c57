"""A thin layer over python-vagrant: the lab's environment, logs, and clear errors.

Every Vagrant call gets the lab's profile and provider settings through environment variables
read by the generated Vagrantfile (WEBFARM_PROFILE, WEBFARM_LIBVIRT_DRIVER,
WEBFARM_EMULATOR_PATH), so the Vagrantfile never special-cases CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import vagrant as pyvagrant

from webfarm import paths
from webfarm.topology import Lab

LOG_DIR = paths.LOG_DIR
SSH_CONFIG = paths.SSH_CONFIG


class VagrantError(Exception):
    pass


@dataclass(frozen=True)
class VMState:
    name: str
    state: str  # running, shutoff, not_created, ...
    provider: str


def lab_env(lab: Lab, provider: str = "libvirt") -> dict[str, str]:
    env = dict(os.environ)
    env["WEBFARM_PROFILE"] = lab.profile
    lv = lab.provider.get("libvirt", {})
    env.setdefault("WEBFARM_LIBVIRT_DRIVER", str(lv.get("driver", "kvm")))
    if lv.get("emulator_path"):
        env.setdefault("WEBFARM_EMULATOR_PATH", str(lv["emulator_path"]))
    env.setdefault("VAGRANT_DEFAULT_PROVIDER", provider)
    return env


def require_vagrant() -> str:
    exe = shutil.which("vagrant")
    if not exe:
        raise VagrantError("vagrant not found. Fix: apt-get install vagrant vagrant-libvirt "
                           "(Debian/Ubuntu), or install Vagrant from your vendor")
    return exe


@contextlib.contextmanager
def _stderr_into_stdout() -> Iterator[int]:
    """python-vagrant ``err_cm`` for streamed commands: Vagrant prints its errors (naming the
    machine that failed) on stderr; the log must have them in order with the rest."""
    yield subprocess.STDOUT


class LabVagrant(pyvagrant.Vagrant):
    """python-vagrant with the two things the lab needs beyond its public calls.

    - A command PREFIX (``ip netns exec NAME``, ``sudo -u USER -H``, ``timeout 600``): every
      command line python-vagrant builds goes through ``_make_vagrant_command``.
    - ``stream(args)``: any Vagrant command's output line by line. python-vagrant's public
      calls stream only ``up`` and ``reload``, and its ``up(vm_name)`` takes one machine and
      puts the options after it, while the lab boots a batch in one parallel ``vagrant up
      --provider=P A B C`` and retries with ``destroy -f A B``: ``stream`` hands
      python-vagrant's own streaming runner the argument list Vagrant documents.

    python-vagrant is pinned in requirements.lock; tests/unit/test_vagrant_up.py runs both
    hooks against a fake ``vagrant`` on PATH.
    """

    def _stream_vagrant_command(self, args: list[str | None]) -> Iterator[str]:
        """python-vagrant's streaming runner (same contract: lines, then CalledProcessError),
        except that a byte that is not valid text becomes U+FFFD: the library decodes
        strictly, so one odd byte would end the stream and kill a ``vagrant up`` halfway."""
        command = self._make_vagrant_command(args)
        with self.err_cm() as err_fh, subprocess.Popen(
                command, cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=err_fh,
                text=True, errors="replace") as proc:
            assert proc.stdout is not None
            yield from proc.stdout
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, command)

    def __init__(self, root: Path, env: dict[str, str] | None, prefix: Sequence[str] = (),
                 stream_stderr: bool = False) -> None:
        super().__init__(str(root), env=env,
                         err_cm=_stderr_into_stdout if stream_stderr else pyvagrant.devnull_cm)
        self.prefix = list(prefix)

    def _make_vagrant_command(self, args: list[str | None]) -> list[str]:
        return [*self.prefix, *super()._make_vagrant_command(args)]

    def stream(self, args: list[str]) -> Iterator[str]:
        """The lines of ``vagrant ARGS`` as they come (stderr included with
        ``stream_stderr``); CalledProcessError after the last one when it failed. Consume
        every line, or the command blocks."""
        return self._stream_vagrant_command(args)  # type: ignore[no-any-return]


def client(lab: Lab, root: Path = paths.ROOT, prefix: Sequence[str] = ()) -> LabVagrant:
    """python-vagrant bound to the lab's environment (quiet: output is captured)."""
    require_vagrant()
    return LabVagrant(root, lab_env(lab), prefix)


def status(lab: Lab) -> list[VMState]:
    try:
        return [VMState(s.name, s.state, s.provider or "") for s in client(lab).status()]
    except subprocess.CalledProcessError as err:
        raise VagrantError(f"vagrant status failed (exit {err.returncode}); "
                           "is libvirtd running? try: vagrant status") from None


# Vagrant names the machine whose action failed when it runs several in parallel.
_FAILED_MACHINE = re.compile(r"executing the action on the '([^']+)' machine")
_READY = re.compile(r"^==> ([^:\s]+): Machine booted and ready!")


@dataclass
class BootReport:
    """What ``up`` measured: seconds from its batch's start until each VM was ready (SSH),
    the batches, and the VMs that needed a second try."""

    seconds: dict[str, float] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    total: float = 0.0


def batch_size(lab: Lab, count: int) -> int:
    """How many VMs to boot at once: all of them with KVM; under TCG (driver qemu) they share
    the host's cores and thrash, so ``WEBFARM_UP_BATCH`` (default 4) at a time."""
    env = os.environ.get("WEBFARM_UP_BATCH", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    driver = lab.provider.get("libvirt", {}).get("driver", "kvm")
    return count if driver == "kvm" else min(count, 4)


def up(lab: Lab, hosts: list[str] | None = None, provider: str = "libvirt",
       batch: int | None = None, retry: bool = True,
       on_ready: Callable[[str, float], None] | None = None) -> BootReport:
    """``vagrant up`` in batches (parallel inside a batch on libvirt); output with timestamps
    in .lab/logs/vagrant-up.log. A VM that fails to come up (a boot timeout on a loaded host)
    is destroyed and started once more before this gives up; the report names it."""
    names = list(hosts or lab.hosts)
    size = batch or batch_size(lab, len(names))
    report = BootReport()
    start = time.monotonic()
    for i in range(0, len(names), size):
        chunk = names[i:i + size]
        report.batches.append(chunk)
        code, ready, failed = _up_once(lab, chunk, provider, report, on_ready)
        if code == 0 and set(chunk) <= ready:
            continue
        again = failed or [h for h in chunk if h not in ready] or chunk
        if not retry:
            raise _up_error(code, chunk)
        report.retried += again
        _run(lab, ["destroy", "-f", *again], "vagrant-up")
        code, ready, _ = _up_once(lab, again, provider, report, on_ready)
        if code != 0 or not set(again) <= ready:
            raise _up_error(code, again, retried=True)
    report.total = round(time.monotonic() - start, 1)
    return report


def _up_once(lab: Lab, chunk: list[str], provider: str, report: BootReport,
             on_ready: Callable[[str, float], None] | None) -> tuple[int, set[str], list[str]]:
    """One ``vagrant up`` of CHUNK: (exit code, VMs that became ready, VMs named as failed)."""
    ready: set[str] = set()
    failed: list[str] = []
    start = time.monotonic()

    def line(text: str) -> None:
        if m := _READY.match(text):
            ready.add(m.group(1))
            report.seconds[m.group(1)] = round(time.monotonic() - start, 1)
            if on_ready:
                on_ready(m.group(1), report.seconds[m.group(1)])
        if m := _FAILED_MACHINE.search(text):
            failed.append(m.group(1))

    code = stream(lab, ["up", f"--provider={provider}", *chunk], "vagrant-up", line)
    return code, ready, failed


def _up_error(code: int, hosts: list[str], retried: bool = False) -> VagrantError:
    path = LOG_DIR / "vagrant-up.log"
    tail = log_tail("vagrant-up")
    again = " (after a second try)" if retried else ""
    return VagrantError(
        f"vagrant up of {', '.join(hosts)} failed{again} (exit {code}); last lines of {path}:"
        f"\n{tail}\nFix: a VM that misses its boot timeout on a loaded host needs a larger "
        "provider.libvirt.boot_timeout in lab.yml (or WEBFARM_BOOT_TIMEOUT); then run again")


def destroy(lab: Lab, hosts: list[str] | None = None) -> None:
    """``vagrant destroy -f``: every VM of the lab, or only ``hosts`` (``invoke scale``; an
    empty list destroys nothing)."""
    if hosts is not None and not hosts:
        return
    _run(lab, ["destroy", "-f", *(hosts or [])], "vagrant-destroy")


def halt(lab: Lab) -> None:
    _run(lab, ["halt"], "vagrant-halt")


def write_ssh_config(lab: Lab, path: Path = SSH_CONFIG) -> Path:
    """``vagrant ssh-config`` for every running VM, for ssh, rsync and testinfra."""
    try:
        text = client(lab).ssh_config()
    except subprocess.CalledProcessError:
        raise VagrantError("vagrant ssh-config failed: are the VMs up? Fix: invoke up "
                           "(or invoke status to see their state)") from None
    extra = "  ConnectTimeout 20\n  ServerAliveInterval 15\n  ControlMaster auto\n" \
            "  ControlPath /tmp/webfarm-ssh-%r@%h:%p\n  ControlPersist 300\n"
    text = text.replace("  LogLevel FATAL\n", "  LogLevel FATAL\n" + extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def stream(lab: Lab | None, args: list[str], log: str,
           on_line: Callable[[str], None] | None = None, *, prefix: Sequence[str] = (),
           env: dict[str, str] | None = None) -> int:
    """Run ``vagrant ARGS`` through python-vagrant, after PREFIX, with the lab's environment
    (or ENV when LAB is None). Every output line, stderr included, goes to .lab/logs/LOG.log
    with the seconds since the start, and to ON_LINE. Returns the exit code."""
    vg = LabVagrant(Path("."), lab_env(lab) if lab is not None else env, prefix,
                    stream_stderr=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{log}.log"
    start = time.monotonic()
    with path.open("a", encoding="utf-8") as fh:
        cmd = [*prefix, require_vagrant(), *args]
        fh.write(f"\n$ {' '.join(cmd)}   # {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        try:
            for text in vg.stream(args):
                fh.write(f"[{time.monotonic() - start:7.1f}s] {text}")
                fh.flush()
                if on_line:
                    on_line(text.rstrip("\n"))
        except subprocess.CalledProcessError as err:
            return err.returncode
    return 0


def log_tail(log: str, lines: int = 15) -> str:
    """The last LINES lines of .lab/logs/LOG.log, for error messages."""
    path = LOG_DIR / f"{log}.log"
    return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-lines:])


def _run(lab: Lab, args: list[str], log: str) -> None:
    code = stream(lab, args, log)
    if code != 0:
        raise VagrantError(f"vagrant {' '.join(args[:2])} failed (exit {code}); "
                           f"last lines of {LOG_DIR / f'{log}.log'}:\n{log_tail(log)}")
