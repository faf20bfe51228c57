"""Run a chapter on the live lab: tier by tier, hosts of a tier in parallel, logs per host.

For each chapter: render the host files, copy ``provision/`` and each host's rendered files to
``/vagrant`` on the VMs (rsync over the lab's ssh-config, as ``vagrant rsync`` would), then run
``provision/chapter.sh NN-slug HOST`` on every host of the first tier, then the next tier.
Output goes to ``.lab/logs/HOST/NN.log``; a failure names the host, the chapter, the last lines
and the log. Chapters are idempotent, so running one again resumes where it failed.

For the recordings (webfarm.recording) the same output is also kept with its timing:
``.lab/logs/HOST/NN.timing.jsonl`` holds one ``[seconds since the chapter started, text]``
line per chunk sh delivered, and ``.lab/logs/chapter-NN.json`` the chapter's start and end,
its tiers and each host's start, end and result. The plain log is unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
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
    started: float = 0.0  # seconds since the chapter started


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


class _Timed:
    """A text log that sh writes to (its ``_out``), which also appends each chunk, with the
    seconds since ``t0`` (time.monotonic()), as one JSON line to ``timing``.

    sh treats an object with ``write`` like a file: it decodes each chunk (a line: sh's
    default ``_out_bufsize=1``) with our ``encoding``, writes it, then flushes."""

    def __init__(self, log: TextIO, timing: TextIO, t0: float) -> None:
        self.log, self.timing, self.t0 = log, timing, t0
        self.encoding = log.encoding

    def write(self, text: str) -> int:
        written = self.log.write(text)
        self.timing.write(json.dumps([round(time.monotonic() - self.t0, 3), text]) + "\n")
        return written

    def flush(self) -> None:
        self.log.flush()
        self.timing.flush()


def _logged(cmd: list[str], log: TextIO | _Timed, timeout: float) -> int:
    """Run CMD with its output (stderr included) into the open LOG; its exit code, or -1
    (noted in the log) when it was killed after TIMEOUT seconds."""
    log.flush()
    try:
        return _sh.Command(cmd[0])(*cmd[1:], _out=log, _err_to_out=True,  # type: ignore[no-any-return]
                                   _timeout=timeout).exit_code
    except sh.TimeoutException:
        log.write(f"\nwebfarm: timed out after {timeout:g} s\n")
        return -1


def sync_command(host: str, ssh_config: Path = SSH_CONFIG) -> list[str]:
    """One rsync that copies provision/ and the host's rendered files to /vagrant on it:
    ``-R`` keeps each source's path below the ``/./`` marker (``provision/``,
    ``.lab/hosts/HOST/``), ``--delete`` works inside each, and the remote side creates
    /vagrant first. One ssh session per host: under TCG every process the guest starts
    costs, and this was four (two ``mkdir`` and two rsyncs)."""
    root = paths.ROOT.resolve()
    sources = [f"{root}/./{d.resolve().relative_to(root).as_posix()}/"
               for d in (paths.PROVISION_DIR, render.HOSTS_DIR / host)]
    rsh = f"ssh -F {ssh_config} -o BatchMode=yes"
    return ["rsync", "-aR", "--delete", "-e", rsh, "--rsync-path",
            f"sudo mkdir -p {paths.GUEST_ROOT} && sudo rsync", *sources,
            f"{host}:{paths.GUEST_ROOT}/"]


def sync(lab: Lab, hosts: list[Host], ssh_config: Path = SSH_CONFIG) -> None:
    """Copy provision/ and each host's rendered files to /vagrant on the host."""
    def one(h: Host) -> None:
        log = LOG_DIR / h.name / "sync.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            code = _logged(sync_command(h.name, ssh_config), fh, 300)
        if code != 0:
            raise ChapterFailed(f"copying provision/ and .lab/hosts/{h.name}/ to {h.name}:"
                                f"{paths.GUEST_ROOT} failed (rsync exit {code}); see {log}")

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(one, hosts))


def timing_file(host: str, chapter: Chapter) -> Path:
    """The timed copy of ``.lab/logs/HOST/NN.log`` (see the module docstring)."""
    return LOG_DIR / host / f"{chapter.tag}.timing.jsonl"


def run_file(chapter: Chapter) -> Path:
    """The chapter's last run: start, end, tiers and hosts (see the module docstring)."""
    return LOG_DIR / f"chapter-{chapter.tag}.json"


def _run_host(chapter: Chapter, host: Host, ssh_config: Path,
              t0: float | None = None) -> HostRun:
    log = LOG_DIR / host.name / f"{chapter.tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    cmd = ssh_cmd(host.name, f"sudo bash {paths.guest('provision', 'chapter.sh')} {chapter.slug} "
                  f"{host.name}", ssh_config)
    with log.open("w", encoding="utf-8") as fh, \
            timing_file(host.name, chapter).open("w", encoding="utf-8") as timing:
        fh.write(f"$ {' '.join(cmd)}\n")
        code = _logged(cmd, _Timed(fh, timing, start if t0 is None else t0), TIMEOUT)
    text = log.read_text(encoding="utf-8", errors="replace")
    changed = None
    for line in reversed(text.splitlines()):
        if "changed=" in line and line.startswith("webfarm: chapter"):
            changed = int(line.rsplit("changed=", 1)[1])
            break
    tail = "".join(text.splitlines(True)[-20:])
    return HostRun(host.name, code == 0, time.monotonic() - start, changed, log, tail,
                   start - (start if t0 is None else t0))


def _save_run(chapter: Chapter, record: dict[str, object], runs: list[HostRun]) -> None:
    """Write the chapter's run record (start, end, tiers, hosts) for webfarm.recording."""
    record["hosts"] = {r.host: {"start": round(r.started, 3),
                                "end": round(r.started + r.seconds, 3),
                                "ok": r.ok, "changed": r.changed} for r in runs}
    path = run_file(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def run_chapter(lab: Lab, chapter: Chapter, state: State,
                ssh_config: Path = SSH_CONFIG, only: Collection[str] | None = None) -> ChapterRun:
    """Provision one chapter on every host it concerns (``only``: on those of these hosts,
    still tier by tier: ``invoke scale``); raise ChapterFailed on a failure."""
    result = ChapterRun(chapter)
    start = time.monotonic()
    tiers = chapter.tiers_for(lab)
    if only is not None:
        tiers = [t for t in ([h for h in tier if h.name in only] for tier in tiers) if t]
    hosts = [h for tier in tiers for h in tier]
    if not hosts and only is not None:
        return result
    if not hosts:
        console.print(f"[yellow]chapter {chapter.tag}: no host of this profile has roles "
                      f"{', '.join(chapter.roles)}; nothing to do[/]")
        return result
    record: dict[str, object] = {
        "chapter": chapter.slug, "number": chapter.number, "profile": lab.profile,
        "started": time.time() - (time.monotonic() - start), "ended": None, "ok": None,
        "tiers": [[h.name for h in tier] for tier in tiers]}
    _save_run(chapter, record, [])
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
                futures = [pool.submit(_run_host, chapter, h, ssh_config, start) for h in tier]
                runs = []
                for fut in futures:
                    runs.append(fut.result())
                    progress.advance(task)
            result.hosts.extend(runs)
            failed = [r for r in runs if not r.ok]
            record |= {"ended": time.time(), "ok": not failed}  # so far; the last tier's stays
            _save_run(chapter, record, result.hosts)
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
