"""``invoke test``: the project's own test suite, no VM. Each step runs from the project's top
folder (so it works from any subfolder); the first failing step stops the run (exit 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from webfarm import paths

SHELL_GLOBS = ("provision/**/*.sh", "packer/**/*.sh", "webfarm/scripts/*.sh")
SHELL_EXTRA = (".ci/run",)
DOCS_LAB = "tests/fixtures/lab.yml"  # the docs build from the frozen fixture lab
SITE = "site"  # where the docs step builds; the browser test opens that build


def shell_files(root: Path = paths.ROOT) -> list[str]:
    """Every shell script shellcheck checks, relative to ``root``."""
    found = [str(p.relative_to(root)) for pattern in SHELL_GLOBS
             for p in sorted(root.glob(pattern))]
    return found + list(SHELL_EXTRA)


def steps(fast: bool = False) -> list[tuple[str, list[str]]]:
    """(title, command) of each step: ruff, shellcheck, the generated-Vagrantfile check, unit
    and config tests; unless ``fast``, the docs build, the browser test of the site it built
    and `vagrant validate`."""
    py = sys.executable
    shellcheck = shutil.which("shellcheck") or str(Path(py).parent / "shellcheck")
    found = [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("shellcheck", [shellcheck, "-x", *shell_files()]),
        ("Vagrantfile is generated from lab.yml", [py, "-m", "invoke", "render", "--check"]),
        ("unit and config tests", [py, "-m", "pytest", "-q", "tests/unit", "tests/configs"]),
    ]
    if not fast:
        found.append(("docs build (mkdocs --strict)",
                      [py, "-m", "mkdocs", "build", "--strict", "-d", SITE]))
        # every page of that site/ in headless Chromium (WEBFARM_BROWSER_SITE, set in run())
        found.append(("browser test of the built site (headless Chromium)",
                      [py, "-m", "pytest", "-q", "-m", "browser", "tests/browser"]))
        if shutil.which("vagrant"):
            found.append(("vagrant validate", ["vagrant", "validate"]))
    return found


def run(console: Console, fast: bool = False) -> None:
    """Run every step from the project's top folder; exit 1 on the first failure."""
    # a reader's lab.yml never turns the docs build red: it uses the fixture lab
    env = dict(os.environ, VAGRANT_DEFAULT_PROVIDER="libvirt", NO_MKDOCS_2_WARNING="1",
               WEBFARM_DOCS_LAB=DOCS_LAB, WEBFARM_BROWSER_SITE=SITE)
    # `vagrant validate` checks the Vagrantfile, not a lab: with no machine state it never asks
    # libvirt about VMs (a lab that was killed leaves state that would make it fail)
    dotfiles = tempfile.TemporaryDirectory(prefix="webfarm-validate-")
    env["VAGRANT_DOTFILE_PATH"] = dotfiles.name
    for title, cmd in steps(fast):
        console.rule(title)
        if subprocess.run(cmd, check=False, env=env, cwd=paths.ROOT).returncode != 0:
            console.print(f"[bold red]FAILED:[/] {title}")
            sys.exit(1)
    console.print("[bold green]all project tests passed[/]")
