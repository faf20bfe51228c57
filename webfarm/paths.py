"""Every path webfarm uses, anchored at the project's top folder (one place, no ``".lab"``
spelled anywhere else).

The top folder (:data:`ROOT`) is found the way git finds ``.git``: from the working directory
upwards, the first folder that holds ``lab.yml``, ``tasks.py`` and ``webfarm/``; failing that,
the folder this package sits in. So ``invoke status`` works from ``docs/`` or
``provision/02-dns/`` as from the top.

The paths are fixed when webfarm is first imported. One that lies under the working directory
is given relative to it (from the top folder: ``.lab/state.yml``, as every message has always
read), any other is absolute. A lab file the user names on the command line (``--lab FILE``)
is not one of these: it stays relative to the working directory, as a user expects.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

MARKERS = ("lab.yml", "tasks.py", "webfarm")  # what makes a folder the project's top
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    lab.yml, tasks.py and webfarm/; else the folder the webfarm package sits in."""
    try:
        here = (start if start is not None else Path.cwd()).resolve()
    except OSError:  # the working directory was removed
        return PACKAGE_PARENT
    for folder in (here, *here.parents):
        if ((folder / "lab.yml").is_file() and (folder / "tasks.py").is_file()
                and (folder / "webfarm").is_dir()):
            return folder
    return PACKAGE_PARENT


def near(path: Path) -> Path:
    """``path`` relative to the working directory when it lies under it, else absolute."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return path


def in_project(path: Path | str) -> str:
    """``path`` as the project names it: relative to ROOT when it lies there, else as given
    (the generated Vagrantfile names its lab file this way, wherever the generator ran)."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except (ValueError, OSError):
        return str(path)


ROOT = find_root()


def _at(*parts: str) -> Path:
    return near(ROOT.joinpath(*parts))


# --- the project's own files ------------------------------------------------------------------
LAB_FILE = _at("lab.yml")  # the default lab (``--lab FILE`` overrides it, relative to the cwd)
VAGRANTFILE = _at("Vagrantfile")  # generated from lab.yml, committed
VAGRANT_MACHINES = _at(".vagrant", "machines")  # Vagrant's own state for this checkout
PACKER_DIR = _at("packer")
PROVISION_DIR = _at("provision")  # chapter scripts, synced to every VM
CHAPTER_TESTS = _at("tests", "chapters")
DRILL_TESTS = _at("tests", "drills")
LOCK_FILE = _at("requirements.lock")
PYPROJECT = _at("pyproject.toml")

# --- run state: .lab/ (never committed) -------------------------------------------------------
LAB_DIR = _at(".lab")
STATE_FILE = LAB_DIR / "state.yml"  # which profile is up, and how
SECRETS_FILE = LAB_DIR / "secrets.yml"  # generated once, stable afterwards
HOSTS_DIR = LAB_DIR / "hosts"  # rendered host files: hosts/HOST/env.sh, files/...
LOG_DIR = LAB_DIR / "logs"  # vagrant-up.log, HOST/NN.log, box-*.log
BOX_LOG_DIR = LOG_DIR / "box"  # Packer: DISTRO-PROVIDER.log
BOX_DIR = LAB_DIR / "boxes"  # built .box files
CHECKS_DIR = LAB_DIR / "checks"  # JUnit reports of the chapter checks and drills
DRILLS_DIR = LAB_DIR / "drills"  # drill results: NAME.json
E2E_DIR = LAB_DIR / "e2e"  # report.json, inner.json
E2E_REPORT = E2E_DIR / "report.json"
BENCH_FILE = LAB_DIR / "bench.json"
SCALE_FILE = LAB_DIR / "scale.json"  # a scale in progress (invoke scale: resume or undo)
SCALE_REPORT = LAB_DIR / "scale-report.json"  # what the last invoke scale did, step by step
SSH_CONFIG = LAB_DIR / "ssh-config"  # from `vagrant ssh-config`

# --- on the guests ----------------------------------------------------------------------------
GUEST_ROOT = "/vagrant"  # where the project is synced on every VM (rsync)


def guest(*parts: str) -> str:
    """A path under the project's copy on a VM: ``guest("provision", "chapter.sh")``."""
    return str(PurePosixPath(GUEST_ROOT, *parts))


def guest_host_dir(host: str) -> str:
    """Where a host's rendered files (``.lab/hosts/HOST``) live on that host."""
    return guest(".lab", "hosts", host)

