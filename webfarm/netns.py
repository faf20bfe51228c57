"""The lab's network namespace and its own libvirt (virtlogd + libvirtd) inside it.

Lab addresses are private ranges, so everything that talks to them lives in a network
namespace made for the run: libvirt's bridges, dnsmasq and iptables rules stay inside it and
vanish with it. On hosts without systemd there is no libvirt service either, so the lab starts
``virtlogd -d`` and ``libvirtd -d`` itself, inside the namespace, and stops exactly those::

    with LabNamespace("webfarm") as ns:
        print(ns.virsh("list", "--all"))  # or any command: [*ns.exec_prefix(), ...]

``stop()`` is safe after a partial ``start()``, on Ctrl-C, and from another process (it finds
the lab's daemons through ``ip netns pids``). It never touches a libvirtd running outside the
namespace: ``start()`` refuses to run next to one.

``qemu_wrapper_path()`` is the QEMU wrapper that caps TCG's translation cache
(vagrant-libvirt ``emulator_path``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import sh

from webfarm.virsh import URI as virsh_uri
from webfarm.wait import WaitTimeout, wait_until

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
QEMU_CONF_BACKUP_SUFFIX = ".webfarm-bak"
NETNS_DIR = Path("/run/netns")
LIBVIRT_URI = virsh_uri  # one URI for every virsh the lab runs (webfarm.virsh)
PIDFILES = {"virtlogd": Path("/run/virtlogd.pid"), "libvirtd": Path("/run/libvirtd.pid")}
# Daemons that own /run/libvirt: two of them on one host fight over the sockets.
LIBVIRT_DAEMONS = ("libvirtd", "virtqemud", "virtlogd", "virtnetworkd", "virtstoraged")
# Processes libvirt starts for the lab (comm is cut to 15 characters by the kernel).
LAB_CHILDREN = ("qemu-system-x86", "qemu-system-x86_64", "dnsmasq", "qemu-tcg-wrapper")
TB_SIZE_FILE = Path("/etc/webfarm/tcg-tb-size")
STATE_DIR = Path("/run/webfarm")  # per namespace: daemon PIDs + libvirt inventory at start
RECORD_DIR = Path("/var/lib/webfarm")  # per namespace: libvirt objects created, not yet removed
INVENTORY_KINDS = ("domains", "volumes", "networks", "pools")

TOOLS = {  # command -> Debian package
    "ip": "iproute2",
    "libvirtd": "libvirt-daemon-system",
    "virtlogd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
}

# host commands: pipes, not sh's default pseudo-terminal (no colours, no tty-only behaviour)
_sh = sh.bake(_tty_out=False, _decode_errors="replace")
ANY_EXIT = range(256)  # sh's _ok_code for commands whose exit code the caller reads itself


def _host(argv: list[str], **options: object) -> sh.RunningCommand:
    """Run ARGV on the host with sh (OPTIONS: sh's ``_ok_code``, ``_timeout``...): its stdout
    as text, or with ``_return_cmd=True`` the finished command (exit_code, stdout, stderr)."""
    return _sh.Command(argv[0])(*argv[1:], **options)  # type: ignore[no-any-return]


class NamespaceError(Exception):
    """The lab's namespace or libvirt could not be set up; the message says how to fix it."""


def qemu_wrapper_path() -> Path:
    """The TCG wrapper script shipped with the package (vagrant-libvirt ``emulator_path``)."""
    return Path(__file__).resolve().parent / "scripts" / "qemu-tcg-wrapper.sh"


def write_tb_size(mib: int, path: Path = TB_SIZE_FILE) -> None:
    """Set the wrapper's TCG cache size: libvirtd clears QEMU's environment, so it is a file."""
    if mib <= 0:
        raise ValueError(f"tb-size must be a positive number of MiB, got {mib}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{mib}\n", encoding="utf-8")


def ensure_qemu_conf_root(path: Path = QEMU_CONF) -> bool:
    """Make libvirt run QEMU as root:root (else it re-probes QEMU on every API call, 4-7 s each).

    Idempotent; keeps a one-time backup next to the file. Returns True when the file changed.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    want = {"user": '"root"', "group": '"root"'}
    active = {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r'^\s*(user|group)\s*=\s*(".*?")\s*$', text, re.MULTILINE)
    }
    if active == want:
        return False
    backup = path.with_name(path.name + QEMU_CONF_BACKUP_SUFFIX)
    if path.exists() and not backup.exists():
        shutil.copy2(path, backup)
    lines = [ln for ln in text.splitlines() if not re.match(r"^\s*(user|group)\s*=", ln)]
    lines += [
        "# webfarm lab: QEMU runs as root (see webfarm/netns.py)",
        'user = "root"',
        'group = "root"',
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


def process_comm(pid: int) -> str | None:
    """The name of process PID (``/proc/PID/comm``, cut to 15 characters), None if gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _describe(pids: list[int]) -> str:
    return ", ".join(f"{p} ({process_comm(p)})" for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


@dataclass
class LabNamespace:
    """A network namespace with its own virtlogd and libvirtd. Use as a context manager."""

    name: str = "webfarm"
    timeout: float = 60.0
    qemu_conf: Path = QEMU_CONF
    remove_created_on_exit: bool = True
    pids: dict[str, int] = field(default_factory=dict)
    created_namespace: bool = False
    owner_dir: str = field(default_factory=lambda: str(Path.cwd()))
    remove_leftovers: bool = True  # False: keep what an earlier run left (e2e --reuse)
    leftovers: dict[str, list[str]] = field(default_factory=dict)  # removed by start()
    _before: dict[str, set[str]] = field(default_factory=dict, repr=False)

    # -- public API ------------------------------------------------------------------------

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def run(self, cmd: list[str], timeout: float | None = None) -> sh.RunningCommand:
        """Run CMD inside the namespace and return it finished, whatever its exit code
        (``exit_code``, ``stdout``/``stderr`` as bytes); sh.TimeoutException after TIMEOUT s."""
        return _host([*self.exec_prefix(), *cmd], _ok_code=ANY_EXIT, _return_cmd=True,
                     _timeout=timeout)

    def virsh(self, *args: str, check: bool = True) -> str:
        """Run ``virsh -c qemu:///system ARGS`` inside the namespace; return its stdout."""
        res = self.run(["virsh", "-c", LIBVIRT_URI, *args])
        if check and res.exit_code != 0:
            raise NamespaceError(f"virsh {' '.join(args)} failed: "
                                 f"{res.stderr.decode(errors='replace').strip()}")
        return res.stdout.decode(errors="replace")  # type: ignore[no-any-return]

    def state_file(self) -> Path:
        """Where start() records the PIDs and libvirt's inventory, for a stop() elsewhere."""
        return STATE_DIR / f"netns-{self.name}.json"

    def exists(self) -> bool:
        return (NETNS_DIR / self.name).exists()

    def namespace_pids(self) -> list[int]:
        """PIDs of every process inside the namespace (``ip netns pids``)."""
        if not self.exists():
            return []
        out = _host(["ip", "netns", "pids", self.name], _ok_code=ANY_EXIT)
        return [int(p) for p in out.split() if p.isdigit()]

    def start(self) -> LabNamespace:
        """Create the namespace and start virtlogd + libvirtd inside it; wait for libvirt.

        A refused or failed start undoes only what this call made (the daemons it started,
        the namespace if it created it): a lab that was already there is never touched."""
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._undo_partial_start()
            raise
        return self

    def _undo_partial_start(self) -> None:
        ours = [pid for daemon, pid in self.pids.items() if process_comm(pid) == daemon]
        if self.created_namespace:  # nobody else's: what libvirtd started in it is ours too
            ours += [p for p in self.namespace_pids() if process_comm(p) in LAB_CHILDREN]
        self._kill(ours)
        self.pids.clear()
        if self.created_namespace and self.exists():
            if not [p for p in self.namespace_pids() if _alive(p)]:
                _host(["ip", "netns", "delete", self.name], _ok_code=ANY_EXIT)
            self.created_namespace = False

    def stop(self, *, remove_created: bool | None = None) -> None:
        """Stop the lab's QEMUs, dnsmasqs, libvirtd and virtlogd (by PID), delete the namespace.

        remove_created: also undefine the domains, networks, volumes and pools that appeared
        in libvirt since ``start()`` (default: ``remove_created_on_exit``). Safe to call
        twice, after a partial start, or on a namespace left by another process.
        """
        if remove_created is None:
            remove_created = self.remove_created_on_exit
        self._load_state()
        if remove_created and self._before and self._libvirtd_answers():
            with contextlib.suppress(Exception):
                self._remove_created()
        # 1. what libvirt started for the lab (QEMU, dnsmasq), 2. libvirtd, 3. virtlogd
        ns_pids = self.namespace_pids()
        children = [p for p in ns_pids if process_comm(p) in LAB_CHILDREN]
        self._kill(children)
        for daemon in ("libvirtd", "virtlogd"):
            recorded = self.pids.get(daemon)
            mine = {p for p in ns_pids if process_comm(p) == daemon}
            if recorded and process_comm(recorded) == daemon:  # not a reused PID
                mine.add(recorded)
            self._kill(sorted(mine))
        self.pids.clear()
        if self.exists():
            left = [p for p in self.namespace_pids() if _alive(p)]
            if left:
                raise NamespaceError(
                    f"namespace {self.name} still has processes not started by the lab: "
                    f"{_describe(left)}; "
                    f"stop them, then run `ip netns delete {self.name}`"
                )
            _host(["ip", "netns", "delete", self.name], _ok_code=ANY_EXIT)
        self.created_namespace = False
        self._before = {}
        self.state_file().unlink(missing_ok=True)

    def owner(self) -> str | None:
        """The checkout that started the lab in this namespace (from start()'s record)."""
        try:
            data = json.loads(self.state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        owner = data.get("owner") if isinstance(data, dict) else None
        return owner if isinstance(owner, str) else None

    # -- what the lab created in libvirt, kept across crashes --------------------------------

    def record_file(self) -> Path:
        """Persistent list of the libvirt objects runs in this namespace created and have not
        removed yet (libvirt keeps domains and volumes on disk; /run does not survive)."""
        return RECORD_DIR / f"netns-{self.name}-created.json"

    def _read_record(self) -> dict[str, set[str]]:
        try:
            data = json.loads(self.record_file().read_text(encoding="utf-8"))
            return {k: set(v) for k, v in data.items() if k in INVENTORY_KINDS}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _write_record(self, record: dict[str, set[str]]) -> None:
        path = self.record_file()
        if not any(record.values()):
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: sorted(v) for k, v in record.items()}, indent=1),
                       encoding="utf-8")
        tmp.replace(path)

    def record_created(self) -> dict[str, set[str]]:
        """Add what appeared in libvirt since start() to the persistent record, so a run that
        is killed from outside (no teardown) leaves a list of what the next run must remove.
        Call it during the run (e2e does every few seconds and after vagrant up)."""
        self._load_state()
        if not self._before or not self._libvirtd_answers():
            return {}
        now = self._inventory()
        created = {k: now.get(k, set()) - self._before.get(k, set()) for k in INVENTORY_KINDS}
        record = self._read_record()
        merged = {k: record.get(k, set()) | created[k] for k in INVENTORY_KINDS}
        self._write_record(merged)
        return created

    def _remove_leftovers(self) -> dict[str, list[str]]:
        """Remove what an earlier run in this namespace created and never removed (it was
        killed, or the machine lost power). Only objects in the record: never another lab's."""
        record = self._read_record()
        if not any(record.values()):
            return {}
        now = self._inventory()
        left = {k: record.get(k, set()) & now.get(k, set()) for k in INVENTORY_KINDS}
        self._remove(left)
        self._write_record({})
        return {k: sorted(v) for k, v in left.items() if v}

    def _load_state(self) -> None:
        """Adopt what start() recorded when this object did not start the lab itself."""
        if self._before and self.pids:
            return
        try:
            data = json.loads(self.state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not self.pids:
            self.pids = {k: int(v) for k, v in data.get("pids", {}).items()}
        if not self._before:
            self._before = {k: set(v) for k, v in data.get("before", {}).items()}

    def __enter__(self) -> LabNamespace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start -------------------------------------------------------------------------------

    def _start(self) -> None:
        if os.geteuid() != 0:
            raise NamespaceError(
                "the lab's network namespace and libvirtd need root: run as root or with sudo"
            )
        missing = [
            f"{t} (apt-get install {pkg})" for t, pkg in TOOLS.items() if not shutil.which(t)
        ]
        if missing:
            raise NamespaceError("missing host tools: " + ", ".join(missing))
        self._refuse_foreign_libvirt()
        if self.exists():
            busy = [p for p in self.namespace_pids() if _alive(p)]
            if busy:
                owner = self.owner()
                where = f" by the checkout {owner}" if owner else ""
                raise NamespaceError(
                    f"namespace {self.name} is in use{where} ({_describe(busy)}): another "
                    "lab runs there (kept by `invoke e2e --keep`, or still running). It was "
                    "left untouched. One e2e lab at a time per machine: libvirt's state "
                    "(/run/libvirt, /etc/libvirt) is machine-wide. Fix: end that lab first "
                    f"with `invoke e2e-down`{' in ' + owner if owner else ''}, or wait for it"
                )
        else:
            _host(["ip", "netns", "add", self.name])  # sh.ErrorReturnCode if it fails
            self.created_namespace = True
        _host([*self.exec_prefix(), "ip", "link", "set", "lo", "up"])
        ensure_qemu_conf_root(self.qemu_conf)
        self.pids["virtlogd"] = self._start_daemon("virtlogd")
        self.pids["libvirtd"] = self._start_daemon("libvirtd")
        self._wait_libvirt()
        self.leftovers = self._remove_leftovers() if self.remove_leftovers else {}
        self._before = self._inventory()
        self.state_file().parent.mkdir(parents=True, exist_ok=True)
        self.state_file().write_text(
            json.dumps(
                {"pids": self.pids, "owner": self.owner_dir,
                 "before": {k: sorted(v) for k, v in self._before.items()}}
            ),
            encoding="utf-8",
        )

    def _refuse_foreign_libvirt(self) -> None:
        ours = self._ns_inode()
        foreign = []
        for pid in _all_pids():
            comm = process_comm(pid)
            if comm in LIBVIRT_DAEMONS and _netns_inode(pid) != ours:
                foreign.append(f"{comm} (pid {pid})")
        if foreign:
            raise NamespaceError(
                "a libvirt daemon is already running outside the lab's namespace: "
                + ", ".join(foreign)
                + ". The lab starts its own libvirtd inside namespace "
                + f"{self.name!r} and they would share /run/libvirt. It was not stopped: stop "
                "it yourself (e.g. `systemctl stop libvirtd virtlogd` or kill that PID) and retry"
            )

    def _ns_inode(self) -> int | None:
        try:
            return os.stat(NETNS_DIR / self.name).st_ino
        except OSError:
            return None

    def _start_daemon(self, daemon: str) -> int:
        pidfile = PIDFILES[daemon]
        # `DAEMON -d` forks into the background and returns once it runs; it closes its
        # output, so waiting for the command's end is safe
        res = self.run([daemon, "-d"])
        if res.exit_code != 0:
            why = (res.stderr or res.stdout).decode(errors="replace").strip()
            raise NamespaceError(
                f"{daemon} -d failed in namespace {self.name} (exit {res.exit_code}): {why}"
            )
        ours = self._ns_inode()

        def its_pid() -> int | None:
            pid = None
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text(encoding="utf-8").split()[0])
            if pid and process_comm(pid) == daemon and _netns_inode(pid) == ours:
                return pid
            for p in self.namespace_pids():  # no pidfile (yet): look in the namespace
                if process_comm(p) == daemon:
                    return p
            return None

        try:
            return wait_until(its_pid, self.timeout, 0.2, f"{daemon}'s PID")
        except WaitTimeout:
            raise NamespaceError(
                f"{daemon} did not start in namespace {self.name} within "
                f"{self.timeout:.0f} s (see /var/log/libvirt/)"
            ) from None

    def _libvirtd_answers(self) -> bool:
        if not self.exists() or not shutil.which("virsh"):
            return False
        if not any(process_comm(p) == "libvirtd" for p in self.namespace_pids()):
            return False
        try:
            res = self.run(["virsh", "-c", LIBVIRT_URI, "version"], timeout=30)
        except sh.TimeoutException:
            return False
        return res.exit_code == 0  # type: ignore[no-any-return]

    def _wait_libvirt(self) -> None:
        def answers() -> bool:
            if self._libvirtd_answers():
                return True
            if not _alive(self.pids.get("libvirtd", 0) or 0):
                raise NamespaceError(
                    f"libvirtd exited right after starting in namespace {self.name}: "
                    "see /var/log/libvirt/libvirtd.log"
                )
            return False

        try:
            wait_until(answers, self.timeout, 0.5, "libvirtd to answer")
        except WaitTimeout:
            raise NamespaceError(
                f"libvirtd in namespace {self.name} did not answer `virsh -c {LIBVIRT_URI} "
                f"version` within {self.timeout:.0f} s"
            ) from None

    # -- stop --------------------------------------------------------------------------------

    def _inventory(self) -> dict[str, set[str]]:
        def names(*args: str) -> set[str]:
            return {ln.strip() for ln in self.virsh(*args, check=False).splitlines() if ln.strip()}

        inv = {
            "domains": names("list", "--all", "--name"),
            "networks": names("net-list", "--all", "--name"),
            "pools": names("pool-list", "--all", "--name"),
        }
        for pool in inv["pools"]:
            for ln in self.virsh("vol-list", pool, check=False).splitlines()[2:]:
                if ln.strip():
                    inv.setdefault("volumes", set()).add(f"{pool}\t{ln.split()[0]}")
        inv.setdefault("volumes", set())
        return inv

    def _remove_created(self) -> None:
        """Undefine what appeared since start() (never anything that was there before), and
        what the persistent record lists; then the record is empty."""
        now = self._inventory()
        before = self._before
        record = self._read_record()
        gone = {k: (now.get(k, set()) - before.get(k, set())) | (record.get(k, set())
                                                                 & now.get(k, set()))
                for k in INVENTORY_KINDS}
        self._remove(gone)
        self._write_record({})

    def _remove(self, what: dict[str, set[str]]) -> None:
        for dom in sorted(what.get("domains", set())):
            self.virsh("destroy", dom, check=False)
            self.virsh("undefine", dom, "--nvram", check=False)
        for vol in sorted(what.get("volumes", set())):
            pool, name = vol.split("\t", 1)
            self.virsh("vol-delete", name, "--pool", pool, check=False)
        for net in sorted(what.get("networks", set())):
            self.virsh("net-destroy", net, check=False)
            self.virsh("net-undefine", net, check=False)
        for pool in sorted(what.get("pools", set())):
            self.virsh("pool-destroy", pool, check=False)
            self.virsh("pool-undefine", pool, check=False)

    @staticmethod
    def _kill(pids: list[int], grace: float = 10.0) -> None:
        pids = [p for p in pids if _alive(p)]
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)

        def all_gone() -> bool:
            return not any(_alive(p) for p in pids)

        with contextlib.suppress(WaitTimeout):
            wait_until(all_gone, grace, 0.1, "the lab's processes to end after SIGTERM")
        for p in pids:
            if _alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        with contextlib.suppress(WaitTimeout):
            wait_until(all_gone, 5, 0.1, "the lab's processes to end after SIGKILL")
