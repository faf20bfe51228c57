"""EL9 base boxes with Packer: AlmaLinux 9, Rocky Linux 9, CentOS Stream 9.

``check_host("libvirt")`` checks that this machine can run the build (Packer >= 1.7, a usable
``/dev/kvm`` and the QEMU binary the template runs, or VirtualBox); ``build_el9("almalinux9",
"libvirt", force=False, project_root=root)`` runs ``packer init`` and ``packer build`` on
``packer/el9`` and returns the ``.box`` it wrote. Without KVM, both take
``accelerator="tcg"`` (QEMU emulates the CPU: hours instead of tens of minutes). Adding the
box to Vagrant (``webfarm/almalinux9``...) is the caller's job (``invoke box``). Packer's output
goes to ``.lab/logs/box/DISTRO-PROVIDER.log``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import sh
from rich.console import Console

from webfarm import paths
from webfarm.boxes import run_with_status
from webfarm.preflight import KVM_DEVICE, kvm_problem

EL9_DISTROS = ("almalinux9", "rocky9", "centos-stream9")
MIN_PACKER = (1, 7)  # `packer init` and `required_plugins` appeared in Packer 1.7
TEMPLATE_DIR = Path("packer") / "el9"  # relative to the project root
LOG_SUBDIR = Path(paths.in_project(paths.BOX_LOG_DIR))  # relative to the project root
# Vagrant provider -> the Packer source that builds a box for it
SOURCES: dict[str, str] = {"libvirt": "qemu.el9", "virtualbox": "virtualbox-iso.el9"}
ACCELERATORS = ("kvm", "tcg")  # the template's `accelerator` validation
# The template's `qemu_binary` default (variables.pkr.hcl): what qemu.el9 runs
QEMU_BINARY = "qemu-system-x86_64"
TCG_ADVICE = (
    "without KVM, build with accelerator=tcg (packer build -var accelerator=tcg ...): QEMU "
    "then emulates the 'max' CPU model (EL9 needs x86-64-v2, which QEMU's default qemu64 "
    "lacks, and 'host' needs KVM), waits longer at the boot menu and for SSH; expect hours "
    "instead of tens of minutes"
)

INSTALL_PACKER = (
    "install Packer >= 1.7 from HashiCorp: their apt repository "
    "(https://apt.releases.hashicorp.com, package 'packer') or a release zip from "
    "https://releases.hashicorp.com/packer/ put first on PATH"
)

console = Console(stderr=True)
# host commands: pipes, not sh's default pseudo-terminal (no colours, no tty-only behaviour)
_sh = sh.bake(_tty_out=False, _decode_errors="replace")


class PackerError(Exception):
    """The EL9 box cannot be built; the message says what is wrong and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Host checks


def _version_output(packer: str) -> str:
    """What ``packer version`` prints (stdin is an empty pipe: cracklib's ``packer`` reads
    stdin)."""
    try:
        res = _sh.Command(packer)("version", _timeout=60, _ok_code=range(256), _return_cmd=True)
    except sh.TimeoutException:
        raise PackerError(f"'{packer} version' did not finish within 60 s. "
                          f"Fix: {INSTALL_PACKER}") from None
    except (OSError, sh.CommandNotFound) as err:
        raise PackerError(f"cannot run '{packer} version': {err}. Fix: {INSTALL_PACKER}") from err
    return (res.stdout + res.stderr).decode(errors="replace")


def parse_packer_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) from ``packer version`` output such as ``Packer v1.11.2``."""
    match = re.search(r"Packer v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        first = text.strip().splitlines()[0] if text.strip() else "(no output)"
        raise PackerError(
            f"the 'packer' on PATH is not HashiCorp Packer ('packer version' printed: {first}; "
            f"cracklib also installs a 'packer'). Fix: {INSTALL_PACKER}"
        )
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def packer_version(packer: str = "packer") -> tuple[int, int, int]:
    return parse_packer_version(_version_output(packer))


def check_host(provider: str, *, accelerator: str = "kvm") -> None:
    """Raise PackerError unless this machine can build the EL9 box for PROVIDER.

    Needs Packer >= 1.7 (Debian 12 ships 1.6.6, which has no ``packer init``); for libvirt
    the QEMU binary the template runs (``qemu-system-x86_64``), ``qemu-img`` and, with
    ACCELERATOR kvm, a usable ``/dev/kvm``; for virtualbox ``VBoxManage``.
    """
    if provider not in SOURCES:
        raise PackerError(
            f"unknown provider {provider!r} for the EL9 box: use one of {', '.join(SOURCES)}"
        )
    if accelerator not in ACCELERATORS:
        raise PackerError(
            f"unknown accelerator {accelerator!r}: use one of {', '.join(ACCELERATORS)}"
        )
    packer = shutil.which("packer")
    if packer is None:
        raise PackerError(f"packer not found on PATH. Fix: {INSTALL_PACKER}")
    version = packer_version(packer)
    if version[:2] < MIN_PACKER:
        found = ".".join(map(str, version))
        raise PackerError(
            f"Packer {found} at {packer} is too old: the EL9 template needs Packer >= 1.7 "
            "(packer init, required_plugins). Debian 12's 'packer' package is 1.6.6. "
            f"Fix: {INSTALL_PACKER}"
        )
    if provider == "libvirt":
        if accelerator == "kvm":
            problem = kvm_problem(KVM_DEVICE)
            if problem:
                raise PackerError(f"{problem}. Or: {TCG_ADVICE}")
        # Exactly the binary qemu.el9 runs: a `qemu-kvm` on PATH does not help, the plugin
        # calls qemu-system-x86_64 unless -var qemu_binary=... says otherwise.
        if not shutil.which(QEMU_BINARY):
            raise PackerError(
                f"{QEMU_BINARY} not found on PATH (the qemu.el9 source runs it). Fix: apt-get "
                "install qemu-system-x86 qemu-utils (Debian/Ubuntu) or dnf install "
                "qemu-system-x86 qemu-img (Fedora); RHEL and its rebuilds only ship "
                "/usr/libexec/qemu-kvm: build by hand with -var qemu_binary=/usr/libexec/qemu-kvm"
            )
        if not shutil.which("qemu-img"):
            raise PackerError(
                "qemu-img not found. Fix: apt-get install qemu-utils (Debian/Ubuntu) or "
                "dnf install qemu-img (EL/Fedora)"
            )
    elif not (shutil.which("VBoxManage") or shutil.which("vboxmanage")):
        raise PackerError(
            "VBoxManage not found: VirtualBox is not installed (Debian 12 has no VirtualBox "
            "package). Fix: install VirtualBox from "
            "https://www.virtualbox.org/wiki/Linux_Downloads or build for libvirt instead "
            "(--provider libvirt)"
        )


# ---------------------------------------------------------------------------------------------
# Build


def box_path(distro: str, provider: str, project_root: Path) -> Path:
    """Where the vagrant post-processor writes the box (``output`` in el9.pkr.hcl)."""
    return project_root / TEMPLATE_DIR / "output" / f"webfarm-{distro}-{provider}.box"


def _packer_step(line: str) -> str | None:
    """Packer's step lines: ``==> qemu.el9: ...``."""
    return line[4:].strip() if line.startswith("==> ") else None


def _stream(cmd: list[str], *, log: Path, cwd: Path, title: str) -> None:
    """Run CMD, appending its output to LOG and showing Packer's current step."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1")  # no update check phoning home
    try:
        rc, _, tail = run_with_status(cmd, log=log, title=title, step=_packer_step, env=env,
                                      cwd=cwd)
    except (OSError, sh.CommandNotFound) as err:
        raise PackerError(f"cannot run {cmd[0]}: {err}. Fix: {INSTALL_PACKER}") from err
    if rc != 0:
        last = "\n".join(f"  {ln}" for ln in tail[-8:])
        raise PackerError(f"{' '.join(cmd[:2])} failed (exit {rc}); see {log}:\n{last}")


def build_el9(
    distro: str, provider: str, *, force: bool, project_root: Path, accelerator: str = "kvm"
) -> Path:
    """Build the DISTRO box for PROVIDER with packer/el9 and return the .box path.

    Skipped when the box file already exists, unless FORCE. Call ``check_host`` first.
    ACCELERATOR (kvm or tcg) is passed to the qemu.el9 build; VirtualBox ignores it.
    """
    if distro not in EL9_DISTROS:
        raise PackerError(f"unknown EL9 distro {distro!r}: use one of {', '.join(EL9_DISTROS)}")
    if provider not in SOURCES:
        raise PackerError(
            f"unknown provider {provider!r} for the EL9 box: use one of {', '.join(SOURCES)}"
        )
    if accelerator not in ACCELERATORS:
        raise PackerError(
            f"unknown accelerator {accelerator!r}: use one of {', '.join(ACCELERATORS)}"
        )
    project_root = project_root.resolve()
    box = box_path(distro, provider, project_root)
    if box.is_file() and not force:
        console.print(f"[green]✓[/] {box} exists (rebuild with --force)")
        return box
    template_dir = project_root / TEMPLATE_DIR
    if not (template_dir / "el9.pkr.hcl").is_file():
        raise PackerError(f"{template_dir / 'el9.pkr.hcl'} missing (is this a webfarm checkout?)")
    packer = shutil.which("packer")
    if packer is None:
        raise PackerError(f"packer not found on PATH. Fix: {INSTALL_PACKER}")

    log = project_root / LOG_SUBDIR / f"{distro}-{provider}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    box.unlink(missing_ok=True)  # a failed build must not leave an older box looking fresh
    title = f"{distro} box ({provider})"
    start = time.monotonic()
    _stream([packer, "init", str(template_dir)], log=log, cwd=project_root, title=title)
    _stream(
        [
            packer,
            "build",
            "-force",  # the output directory of an interrupted build may be left over
            "-color=false",
            "-var",
            f"distro={distro}",
            *(["-var", f"accelerator={accelerator}"] if accelerator != "kvm" else []),
            f"-only={SOURCES[provider]}",
            str(template_dir),
        ],
        log=log,
        cwd=project_root,
        title=title,
    )
    if not box.is_file():
        raise PackerError(f"packer build succeeded but wrote no {box}; see {log}")
    size = box.stat().st_size / 2**20
    console.print(f"[green]✓[/] {box} built in {time.monotonic() - start:.0f} s ({size:.0f} MiB)")
    return box
