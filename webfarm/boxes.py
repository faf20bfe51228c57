"""Base boxes: build them (Debian 12 from Debian's archive, EL9 with Packer), add them to Vagrant.

``ensure_box("debian12", "webfarm/debian12")`` builds ``.lab/boxes/debian12.box`` with
``packer/debian12/build-box.sh`` unless a box built from the same inputs (script, package
list, mirror) is already there, then ``vagrant box add``s it unless Vagrant already has that
very build. Each OS has one builder in ``BUILDERS``; the EL9 ones live in ``webfarm.packer``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sh
import vagrant as pyvagrant
from rich.console import Console

from webfarm import paths
from webfarm import vagrant as lab_vagrant

REPO_ROOT = paths.ROOT
BOX_DIR = paths.BOX_DIR
LOG_DIR = paths.LOG_DIR
DEBIAN12_DIR = REPO_ROOT / "packer" / "debian12"
DEBIAN12_SCRIPT = DEBIAN12_DIR / "build-box.sh"
DEBIAN12_PACKAGES = DEBIAN12_DIR / "packages.txt"
EL9_OSES = ("almalinux9", "rocky9", "centos-stream9")

# tool -> Debian package that provides it, per OS whose box we build
HOST_TOOLS: dict[str, dict[str, str]] = {
    "debian12": {
        "debootstrap": "debootstrap",
        "sfdisk": "fdisk",
        "losetup": "mount",
        "partx": "util-linux",
        "mkfs.ext4": "e2fsprogs",
        "qemu-img": "qemu-utils",
        "dpkg-scanpackages": "dpkg-dev",
        "tar": "tar",
        "vagrant": "vagrant",
    },
    **{
        os_name: {
            "packer": "packer",
            "qemu-img": "qemu-utils",
            "qemu-system-x86_64": "qemu-system-x86",
            "vagrant": "vagrant",
        }
        for os_name in EL9_OSES
    },
}

console = Console(stderr=True, log_path=False)
# host commands: pipes, not sh's default pseudo-terminal (no colours, no tty-only behaviour)
_sh = sh.bake(_tty_out=False, _decode_errors="replace")


class BoxError(Exception):
    """A box cannot be built or added; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BoxBuild:
    """What a box is built from; its digest decides whether a rebuild is needed."""

    script: Path
    packages: tuple[str, ...]
    mirror: str | None

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(b"script\0" + self.script.read_bytes() + b"\0")
        h.update(b"packages\0" + "\n".join(self.packages).encode() + b"\0")
        h.update(b"mirror\0" + (self.mirror or "").encode() + b"\0")
        return h.hexdigest()


def inputs_file(box_path: Path) -> Path:
    """Where the digest of a box's inputs is kept: next to the box."""
    return box_path.with_name(box_path.name + ".sha256-inputs")


def added_file(box_path: Path) -> Path:
    """Records which build of the box was last added to Vagrant (box name + digest)."""
    return box_path.with_name(box_path.name + ".added")


def read_package_list(path: Path = DEBIAN12_PACKAGES) -> list[str]:
    """Package names from a list file: one or more per line, '#' starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BoxError(f"{path}: cannot read the package list ({e.strerror})") from e
    names: list[str] = []
    for line in text.splitlines():
        names.extend(line.split("#", 1)[0].split())
    return names


def check_host_tools(os_name: str) -> None:
    """Raise BoxError naming the apt package of every host tool missing to build OS_NAME's box."""
    if os_name not in HOST_TOOLS:
        raise BoxError(f"unknown OS {os_name!r}: boxes exist for {', '.join(sorted(HOST_TOOLS))}")
    missing = {tool: pkg for tool, pkg in HOST_TOOLS[os_name].items() if not shutil.which(tool)}
    if not missing:
        return
    what = ", ".join(f"{tool} not found" for tool in missing)
    pkgs = " ".join(sorted(set(missing.values())))
    raise BoxError(f"{what}: apt-get install {pkgs}")


def run_with_status(cmd: list[str], *, log: Path, title: str, step: Callable[[str], str | None],
                    env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, list[str]]:
    """Run CMD (a box build: build-box.sh, Packer) with its output, stderr included, appended
    to LOG, under a rich status showing the current step and the time. STEP(line) returns a
    new step name (also logged to the console) or None. Returns (exit code, last step, last
    20 lines). An error or Ctrl-C here terminates CMD and waits for it: build-box.sh's trap
    unmounts and frees the loop device, Packer stops its VM and deletes its output."""
    start = time.monotonic()
    current = "starting"
    tail: list[str] = []
    with log.open("a", encoding="utf-8") as out, console.status(f"{title}: {current}") as status:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = _sh.Command(cmd[0])(*cmd[1:], _env=env, _cwd=cwd, _iter=True, _err_to_out=True,
                                   _ok_code=range(256))
        try:
            for line in proc:
                out.write(line)
                out.flush()
                tail = [*tail[-19:], line.rstrip()]
                if (new := step(line)) is not None:
                    current = new
                    console.log(current, highlight=False)
                elapsed = time.monotonic() - start
                status.update(f"{title}: {current} [dim]({elapsed:.0f} s, log: {log})[/]")
        except BaseException:
            proc.terminate()
            with contextlib.suppress(sh.ErrorReturnCode):  # killed by the signal: expected
                proc.wait()
            raise
    return proc.exit_code, current, tail


def box_is_current(box_path: Path, build: BoxBuild) -> bool:
    """True when BOX_PATH exists and was built from exactly BUILD's inputs."""
    stamp = inputs_file(box_path)
    if not box_path.is_file() or not stamp.is_file():
        return False
    return stamp.read_text(encoding="utf-8").strip() == build.digest()


def build_debian12(
    box_path: Path,
    *,
    packages: list[str],
    mirror: str | None,
    force: bool,
    log: Path,
    script: Path = DEBIAN12_SCRIPT,
) -> Path:
    """Build the Debian 12 libvirt box at BOX_PATH with build-box.sh (output to LOG).

    PACKAGES go into the box's offline package cache; MIRROR is the Debian mirror (None: the
    host's). Skipped when a box built from the same script, packages and mirror exists,
    unless FORCE.
    """
    build = BoxBuild(script=script, packages=tuple(packages), mirror=mirror)
    if not force and box_is_current(box_path, build):
        console.print(f"[green]✓[/] {box_path} is up to date (same script, packages, mirror)")
        return box_path
    check_host_tools("debian12")
    if os.geteuid() != 0:
        raise BoxError("building the debian12 box needs root: run as root or sudo")
    if not script.is_file():
        raise BoxError(f"{script}: build script missing (is this a webfarm checkout?)")

    env = dict(os.environ, PACKAGES_FILE="none")
    if mirror:
        env["MIRROR"] = mirror
    box_path.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    inputs_file(box_path).unlink(missing_ok=True)  # a half-built box is never "current"
    cmd = ["bash", str(script), str(box_path), *packages]
    start = time.monotonic()
    log.write_text("", encoding="utf-8")

    def build_step(line: str) -> str | None:  # build-box.sh's "[build-box HH:MM:SS] step"
        return line.split("] ", 1)[-1].strip() if line.startswith("[build-box") else None

    rc, step, tail = run_with_status(cmd, log=log, title="debian12 box", step=build_step, env=env)
    if rc != 0:
        last = "\n".join(f"  {ln}" for ln in tail[-8:])
        raise BoxError(
            f"building the debian12 box failed (exit {rc}) at step '{step}'; see {log}:\n{last}"
        )
    inputs_file(box_path).write_text(build.digest() + "\n", encoding="utf-8")
    size = box_path.stat().st_size / 2**20
    console.print(
        f"[green]✓[/] {box_path} built in {time.monotonic() - start:.0f} s ({size:.0f} MiB)"
    )
    return box_path


VAGRANT_LOG = "vagrant-box"  # .lab/logs/vagrant-box.log: box add output, box list errors


def _as_invoking_user() -> list[str]:
    """Under ``sudo``, Vagrant runs as the user who ran sudo, so the box lands in *their*
    ~/.vagrant.d where their ``invoke up`` looks for it."""
    user = os.environ.get("SUDO_USER")
    return ["sudo", "-u", user, "-H"] if os.geteuid() == 0 and user and user != "root" else []


def _client() -> lab_vagrant.LabVagrant:
    """python-vagrant for the box commands (as the invoking user; stderr to the log)."""
    try:
        lab_vagrant.require_vagrant()
    except lab_vagrant.VagrantError as err:
        raise BoxError(str(err)) from None
    vg = lab_vagrant.LabVagrant(Path("."), None, _as_invoking_user())
    log = lab_vagrant.LOG_DIR / f"{VAGRANT_LOG}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    vg.err_cm = pyvagrant.make_file_cm(str(log))
    return vg


def _vagrant(*args: str) -> int:
    """``vagrant ARGS`` through python-vagrant (as the invoking user), its output streamed to
    .lab/logs/vagrant-box.log; returns the exit code."""
    try:
        return lab_vagrant.stream(None, list(args), VAGRANT_LOG, prefix=_as_invoking_user())
    except lab_vagrant.VagrantError as err:
        raise BoxError(str(err)) from None


def box_added(name: str, provider: str = "libvirt") -> bool:
    """Whether Vagrant has box NAME for PROVIDER (python-vagrant's ``box_list``)."""
    try:
        boxes = _client().box_list()
    except subprocess.CalledProcessError as err:
        raise BoxError(f"vagrant box list failed (exit {err.returncode}); last lines of "
                       f"{lab_vagrant.LOG_DIR / f'{VAGRANT_LOG}.log'}:\n"
                       f"{lab_vagrant.log_tail(VAGRANT_LOG)}") from None
    return (name, provider) in {(b.name, b.provider) for b in boxes}


def add_box(name: str, path: Path, force: bool = False, provider: str = "libvirt") -> None:
    """``vagrant box add --name NAME PATH`` (replacing a box of that name when FORCE)."""
    if not path.is_file():
        raise BoxError(f"{path}: no such box file (build it first: invoke box)")
    if not force and box_added(name, provider):
        return
    with console.status(f"vagrant box add {name} {path}"):
        code = _vagrant("box", "add", "--force", "--name", name, str(path))
    if code != 0:
        raise BoxError(f"vagrant box add --name {name} {path} failed (exit {code}); last lines "
                       f"of {lab_vagrant.LOG_DIR / f'{VAGRANT_LOG}.log'}:\n"
                       f"{lab_vagrant.log_tail(VAGRANT_LOG)}")
    console.print(f"[green]✓[/] box {name} added to Vagrant")


def _ensure_debian12(box_name: str, force: bool, provider: str) -> None:
    if provider != "libvirt":
        raise BoxError(f"the debian12 box is built for libvirt only (asked: {provider}). Fix: "
                       "--provider libvirt, or use an EL9 box with VirtualBox")
    box_path = BOX_DIR / "debian12.box"
    packages = read_package_list(DEBIAN12_PACKAGES)
    build_debian12(
        box_path, packages=packages, mirror=None, force=force, log=LOG_DIR / "box-debian12.log"
    )
    stamp = f"{box_name} {inputs_file(box_path).read_text(encoding='utf-8').strip()}"
    marker = added_file(box_path)
    already = marker.is_file() and marker.read_text(encoding="utf-8").strip() == stamp
    if already and box_added(box_name):
        console.print(f"[green]✓[/] box {box_name} is in Vagrant (this build)")
        return
    add_box(box_name, box_path, force=True)
    marker.write_text(stamp + "\n", encoding="utf-8")


def _ensure_el9(os_name: str) -> Callable[[str, bool, str], None]:
    def build(box_name: str, force: bool, provider: str) -> None:
        from webfarm import packer

        if not force and box_added(box_name, provider):
            console.print(f"[green]✓[/] box {box_name} ({provider}) is in Vagrant")
            return
        packer.check_host(provider)
        path = packer.build_el9(os_name, provider, force=force,
                                project_root=Path(__file__).resolve().parent.parent)
        add_box(box_name, path, force=True, provider=provider)

    return build


# OS name -> builder(box_name, force, provider): builds the box if needed, adds it to Vagrant
BUILDERS: dict[str, Callable[[str, bool, str], None]] = {
    "debian12": _ensure_debian12,
    **{os_name: _ensure_el9(os_name) for os_name in EL9_OSES},
}


def ensure_box(os_name: str, box_name: str, *, force: bool = False,
               provider: str = "libvirt") -> None:
    """Make sure Vagrant has BOX_NAME built for OS_NAME (build and add it when needed)."""
    try:
        builder = BUILDERS[os_name]
    except KeyError:
        raise BoxError(
            f"unknown OS {os_name!r}: boxes can be built for {', '.join(sorted(BUILDERS))}"
        ) from None
    builder(box_name, force, provider)
