"""Run a chapter on the live lab: tier by tier, hosts of a tier in parallel, logs per host.

For each chapter: render the host files, copy ``provision/`` and each host's rendered files to
``/vagrant`` on the VMs (rsync over the lab's ssh-config, as ``vagrant rsync`` would), then run
``provision/chapter.sh NN-slug HOST`` on every host of the first tier, then the next tier.
Output goes to ``.lab/logs/HOST/NN.log``; a failure names the host, the chapter, the last lines
and the log. Chapters are idempotent, so running one again resumes where it failed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import sh
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from webfarm import paths, render
from webfarm import secrets as lab_secrets
from webfarm.chapters import Chapter
from webfarm.paths import LOG_DIR, SSH_CONFIG
from webfarm.state import State
from webfarm.topology import Host, Lab

console = Console(stderr=True)
# host commands: pipes, not sh's default pseudo-terminal; any exit code (read by the caller)
_sh = sh.bake(_tty_out=False, _ok_code=range(256), _return_cmd=True)
PARALLEL = 4  # hosts provisioned at once within a tier (TCG on 2 cores: keep it modest)
TIMEOUT = 1800  # seconds one host may take for one chapter


class ChapterFailed(Exception):
    """A chapter (or its checks) failed; ``summary`` holds what was measured until then."""

    def __init__(self, message: str, summary: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class HostRun:
    host: str
    ok: bool
    seconds: float
    changed: int | None
    log: Path
    tail: str = ""


@dataclass
class ChapterRun:
    chapter: Chapter
    hosts: list[HostRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.hosts)


def ssh_cmd(host: str, command: str, ssh_config: Path = SSH_CONFIG) -> list[str]:
    return ["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", host, command]


def _logged(cmd: list[str], log: TextIO, timeout: float) -> int:
    """Run CMD with its output (stderr included) into the open LOG; its exit code, or -1
    (noted in the log) when it was killed after TIMEOUT seconds."""
    log.flush()
    try:
        return _sh.Command(cmd[0])(*cmd[1:], _out=log, _err_to_out=True,  # type: ignore[no-any-return]
                                   _timeout=timeout).exit_code
    except sh.TimeoutException:
        log.write(f"\nwebfarm: timed out after {timeout:g} s\n")
        return -1


def sync(lab: Lab, hosts: list[Host], ssh_config: Path = SSH_CONFIG) -> None:
    """Copy provision/ and each host's rendered files to /vagrant on the host."""
    def one(h: Host) -> None:
        rsh = f"ssh -F {ssh_config} -o BatchMode=yes"
        base = ["rsync", "-a", "--delete", "-e", rsh, "--rsync-path", "sudo rsync"]
        log = LOG_DIR / h.name / "sync.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            for src, dest in ((f"{paths.PROVISION_DIR}/", f"{paths.guest('provision')}/"),
                              (f"{render.HOSTS_DIR}/{h.name}/",
                               f"{paths.guest_host_dir(h.name)}/")):
                mkdir = _logged(ssh_cmd(h.name, f"sudo mkdir -p {dest}", ssh_config), fh, 120)
                if mkdir != 0:
                    raise ChapterFailed(f"creating {dest} on {h.name} failed (ssh exit {mkdir}); "
                                        f"see {log}")
                code = _logged([*base, src, f"{h.name}:{dest}"], fh, 300)
                if code != 0:
                    raise ChapterFailed(f"copying {src} to {h.name} failed (rsync exit "
                                        f"{code}); see {log}")

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(one, hosts))


def _run_host(chapter: Chapter, host: Host, ssh_config: Path) -> HostRun:
    log = LOG_DIR / host.name / f"{chapter.tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    cmd = ssh_cmd(host.name, f"sudo bash {paths.guest('provision', 'chapter.sh')} {chapter.slug} "
                  f"{host.name}", ssh_config)
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        code = _logged(cmd, fh, TIMEOUT)
    text = log.read_text(encoding="utf-8", errors="replace")
    changed = None
    for line in reversed(text.splitlines()):
        if "changed=" in line and line.startswith("webfarm: chapter"):
            changed = int(line.rsplit("changed=", 1)[1])
            break
    tail = "".join(text.splitlines(True)[-20:])
    return HostRun(host.name, code == 0, time.monotonic() - start, changed, log, tail)


def run_chapter(lab: Lab, chapter: Chapter, state: State,
                ssh_config: Path = SSH_CONFIG) -> ChapterRun:
    """Provision one chapter on every host it concerns; raise ChapterFailed on a failure."""
    result = ChapterRun(chapter)
    start = time.monotonic()
    tiers = chapter.tiers_for(lab)
    hosts = [h for tier in tiers for h in tier]
    if not hosts:
        console.print(f"[yellow]chapter {chapter.tag}: no host of this profile has roles "
                      f"{', '.join(chapter.roles)}; nothing to do[/]")
        return result
    render.render_lab(lab, lab_secrets.load(), state)
    sync(lab, hosts, ssh_config)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        for i, tier in enumerate(tiers, 1):
            task = progress.add_task(
                f"chapter {chapter.tag} tier {i}/{len(tiers)}: "
                f"{', '.join(h.name for h in tier)}", total=len(tier))
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                futures = [pool.submit(_run_host, chapter, h, ssh_config) for h in tier]
                runs = []
                for fut in futures:
                    runs.append(fut.result())
                    progress.advance(task)
            result.hosts.extend(runs)
            failed = [r for r in runs if not r.ok]
            if failed:
                result.seconds = time.monotonic() - start
                msg = "\n".join(
                    f"chapter {chapter.tag} ({chapter.slug}) failed on {r.host}; log: {r.log}\n"
                    f"--- last lines ---\n{r.tail}" for r in failed)
                raise ChapterFailed(msg + "\nFix the cause and run the chapter again: it "
                                    "resumes (chapters are idempotent).")
    result.seconds = time.monotonic() - start
    changed = sum(r.changed or 0 for r in result.hosts)
    console.print(f"[green]chapter {chapter.tag} {chapter.title}: done on "
                  f"{len(result.hosts)} hosts in {result.seconds:.0f} s ({changed} changes)[/]")
    return result
