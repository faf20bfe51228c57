"""The corpus of bad inputs: hostile CLI arguments, run state (.lab/state.yml) and secrets
(.lab/secrets.yml). Each must be refused with exit code 2, no traceback, and one line that
names the option or file, the key, and says how to fix it (``Fix:``) - before any VM,
libvirtd or network namespace starts.

Every case runs the real ``invoke`` program on a throw-away copy of the project (tasks.py, the
fixture lab.yml, the drill names, a hostile .lab/). In process, anything that could start
something (subprocess, exec, webfarm.e2e) is replaced by a trap; in the subprocess runs, PATH
holds fake vagrant/virsh/ip/sudo/ssh/... that leave a marker file, which must not exist.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from invoke import Program

ROOT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
FAKE_TOOLS = ("vagrant", "virsh", "ip", "sudo", "ssh", "packer", "libvirtd", "virtlogd",
              "qemu-system-x86_64", "unshare", "nsenter", "debootstrap")
STATE = ".lab/state.yml"
SECRETS = ".lab/secrets.yml"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]  # all on the line that says "Fix:": the option/file and the key
    state: str | None = None  # text of .lab/state.yml
    secrets: str | None = None  # text of .lab/secrets.yml
    hidden: str | None = None  # must not appear anywhere in the output (a secret's value)
    subprocess: bool = False  # also run as a real `invoke` subprocess
    layout: str | None = None  # a damaged .lab/ (see LAYOUTS)


def cli(id: str, *argv: str, expect: tuple[str, ...], sub: bool = False) -> Case:
    return Case(id, argv, expect, subprocess=sub)


def st(id: str, text: str, *argv: str, expect: tuple[str, ...], sub: bool = False) -> Case:
    return Case(id, argv, (STATE, *expect), state=text, subprocess=sub)


def sec(id: str, text: str, *argv: str, expect: tuple[str, ...], hidden: str | None = None,
        sub: bool = False) -> Case:
    return Case(id, argv, (SECRETS, *expect), secrets=text, hidden=hidden, subprocess=sub)


CASES = [
    # --- CLI arguments --------------------------------------------------------------------
    cli("upto-word", "up", "--upto", "abc", expect=("--upto", "'abc'"), sub=True),
    cli("upto-negative", "up", "--upto", "-5", expect=("--upto", "'-5'"), sub=True),
    cli("upto-zero", "up", "--upto", "0", expect=("--upto", "no chapter 0")),
    cli("upto-beyond", "up", "--upto", "99", expect=("--upto", "no chapter 99")),
    cli("upto-empty", "up", "--upto", "", expect=("--upto", "''")),
    cli("upto-underscore", "up", "--upto", "1_0", expect=("--upto", "'1_0'")),
    cli("upto-unicode-digit", "up", "--upto", "\u0663", expect=("--upto",)),
    cli("profile-empty", "up", "--profile", "", expect=("--profile", "empty"), sub=True),
    cli("profile-unknown", "up", "--profile", "nosuch",
        expect=("lab.yml", "--profile", "'nosuch'")),
    cli("profile-path", "status", "--profile", "../x", expect=("--profile", "'../x'")),
    cli("profile-markup", "status", "--profile", "[x]", expect=("--profile", "'[x]'")),
    cli("provider-unknown", "up", "--provider", "nosuch", expect=("--provider", "'nosuch'"),
        sub=True),
    cli("driver-unknown", "up", "--driver", "nosuch", expect=("--driver", "'nosuch'"), sub=True),
    cli("driver-wrong-provider", "up", "--driver", "qemu", "--provider", "virtualbox",
        expect=("--driver", "virtualbox")),
    cli("chapter-word", "chapter", "abc", expect=("invoke chapter NUMBER", "'abc'"), sub=True),
    cli("chapter-beyond", "chapter", "99", expect=("invoke chapter NUMBER", "'99'")),
    cli("chapter-negative", "chapter", "-1", expect=("invoke chapter NUMBER", "'-1'")),
    cli("chapter-markup", "chapter", "[app]", expect=("invoke chapter NUMBER", "'[app]'")),
    cli("scale-role-unknown", "scale", "web", "3", expect=("invoke scale ROLE N", "'web'"),
        sub=True),
    cli("scale-role-director", "scale", "director", "3",
        expect=("invoke scale ROLE N", "role director cannot scale")),
    cli("scale-count-word", "scale", "app", "many", expect=("invoke scale ROLE N", "'many'")),
    cli("scale-count-zero", "scale", "app", "0", expect=("invoke scale ROLE N", "out of range")),
    cli("scale-count-huge", "scale", "app", "99", expect=("invoke scale ROLE N", "out of range")),
    cli("scale-range-runs-out", "scale", "app", "12",
        expect=("lab.yml", "profiles.full.scale.app", "has only 7 free"), sub=True),
    cli("scale-below-the-pair", "scale", "app", "1",
        expect=("profiles.full.scale.app", "redundant pair")),
    cli("check-blank", "check", "x y", expect=("invoke check NUMBER", "'x y'")),
    cli("check-glob", "check", "*", expect=("invoke check NUMBER", "'*'")),
    cli("drill-glob", "drill", "*", expect=("invoke drill NAME", "'*'"), sub=True),
    cli("drill-path", "drill", "../directors", expect=("invoke drill NAME", "'../directors'")),
    cli("drill-unknown", "drill", "nosuch", expect=("invoke drill NAME", "'nosuch'")),
    cli("ssh-path", "ssh", "../lb1", expect=("invoke ssh HOST", "'../lb1'"), sub=True),
    cli("ssh-blank", "ssh", "lb 1", expect=("invoke ssh HOST", "'lb 1'")),
    cli("ssh-unknown", "ssh", "nosuch", expect=("invoke ssh HOST", "'nosuch'")),
    cli("ssh-markup", "ssh", "[/]", expect=("invoke ssh HOST", "'[/]'")),
    cli("ssh-option", "ssh", "--host=-oProxyCommand=x",
        expect=("invoke ssh HOST", "'-oProxyCommand=x'")),
    cli("e2e-profile-empty", "e2e", "--profile", "", expect=("--profile", "empty"), sub=True),
    cli("e2e-upto-word", "e2e", "--upto", "x", expect=("--upto", "'x'"), sub=True),
    cli("e2e-upto-zero", "e2e", "--upto", "0", expect=("--upto", "no chapter 0")),
    cli("box-both-unknown", "box", "--os", "nosuch", "--provider", "nosuch",
        expect=("--provider", "'nosuch'"), sub=True),
    cli("box-os-unknown", "box", "--os", "nosuch", expect=("--os", "'nosuch'")),
    cli("box-debian-virtualbox", "box", "--os", "debian12", "--provider", "virtualbox",
        expect=("--provider", "virtualbox")),
    cli("validate-lab-empty", "validate", "--lab", "", expect=("--lab", "empty"), sub=True),
    cli("validate-lab-directory", "validate", "--lab", "tests",
        expect=("--lab", "'tests'", "directory")),
    cli("validate-lab-missing", "validate", "--lab", "nope.yml",
        expect=("--lab", "'nope.yml'")),
    cli("validate-profile-empty", "validate", "--profile", "", expect=("--profile", "empty")),
    cli("bench-profile-empty", "bench", "--profile", "", expect=("--profile", "empty")),
    cli("capture-host-path", "capture", "../app1", expect=("invoke capture HOST", "'../app1'"),
        sub=True),
    cli("capture-host-unknown", "capture", "nosuch", expect=("invoke capture HOST", "'nosuch'")),
    cli("capture-count-word", "capture", "app1", "--count", "many",
        expect=("--count", "'many'"), sub=True),
    cli("capture-count-zero", "capture", "app1", "--count", "0", expect=("--count", "1 to")),
    cli("capture-count-beyond", "capture", "app1", "--count", "10001",
        expect=("--count", "10001", "10000")),
    cli("capture-seconds-beyond", "capture", "app1", "--seconds", "301",
        expect=("--seconds", "301", "300")),
    cli("capture-seconds-negative", "capture", "app1", "--seconds=-5",
        expect=("--seconds", "'-5'")),
    cli("capture-filter-quote", "capture", "app1", "--filter", "port 80' ; reboot '",
        expect=("--filter", '"\'"'), sub=True),
    cli("capture-filter-shell", "capture", "app1", "--filter", "tcp && $(reboot)",
        expect=("--filter", "'&'")),
    cli("capture-filter-option", "capture", "app1", "--filter", "-w /etc/passwd",
        expect=("--filter", "'-'")),
    cli("capture-filter-parens", "capture", "app1", "--filter", "(tcp or udp",
        expect=("--filter", "parentheses")),
    cli("capture-filter-dangling", "capture", "app1", "--filter", "tcp and",
        expect=("--filter", "operand")),
    cli("capture-iface-any", "capture", "app1", "--iface", "any", expect=("--iface", "'any'")),
    cli("capture-iface-shell", "capture", "app1", "--iface", "eth1;id",
        expect=("--iface", "'eth1;id'")),
    cli("capture-iface-unknown", "capture", "app1", "--iface", "eth9",
        expect=("--iface", "'eth9'", "eth1")),
    cli("capture-dr-profile-empty", "capture-dr", "--profile", "",
        expect=("--profile", "empty"), sub=True),
    # --- .lab/state.yml -------------------------------------------------------------------
    st("state-bad-yaml", "profile: [mini\n", "status", expect=("YAML", "line 2"), sub=True),
    st("state-list", "- profile\n- mini\n", "chapter", "1", expect=("key: value",)),
    st("state-provider-number", "provider: 5\n", "up", expect=("provider:", "a number"),
       sub=True),
    st("state-profile-list", "profile: [1]\n", "status", expect=("profile:", "[1]")),
    st("state-profile-gone", "profile: gone\n", "status", expect=("profile:", "'gone'")),
    st("state-package-source", "package_source: ftp\n", "chapter", "1",
       expect=("package_source:", "'ftp'")),
    st("state-driver", "provider: {libvirt: {driver: xen}}\n", "up",
       expect=("provider.libvirt.driver:", "'xen'"), sub=True),
    st("state-provider-name", "provider: {xen: {}}\n", "status",
       expect=("provider.xen:", "'xen'")),
    st("state-provider-options", "provider: {libvirt: [qemu]}\n", "up",
       expect=("provider.libvirt:", "a list")),
    st("state-emulator-relative", "provider: {libvirt: {emulator_path: qemu}}\n", "down",
       expect=("provider.libvirt.emulator_path:", "'qemu'")),
    st("state-namespace-path", "namespace: ../../etc\n", "ssh", "lb1",
       expect=("namespace:", "'../../etc'"), sub=True),
    st("state-namespace-type", "namespace: {a: 1}\n", "destroy", "--yes",
       expect=("namespace:",)),
    st("state-for-e2e", "package_source: [offline]\n", "e2e",
       expect=("package_source:", "['offline']")),
    # --- .lab/secrets.yml -----------------------------------------------------------------
    sec("secrets-bad-yaml", "db_app_password: hunter2SECRET: [\n", "chapter", "1",
        expect=("YAML", "line 1"), hidden="hunter2SECRET", sub=True),
    sec("secrets-list", "- vrrp_auth\n- abc\n", "up", expect=("name: value",)),
    sec("secrets-vrrp-too-long", "vrrp_auth: longSECRETvalue\n", "up",
        expect=("vrrp_auth:", "8"), hidden="longSECRETvalue", sub=True),
    sec("secrets-vrrp-number", "vrrp_auth: 12345678\n", "chapter", "1",
        expect=("vrrp_auth:", "a number"), hidden="12345678"),
    sec("secrets-tsig-not-base64", "tsig_key: 'notbase64SECRET!'\n", "check", "2",
        expect=("tsig_key:", "base64"), hidden="notbase64SECRET"),
    sec("secrets-newline", 'db_app_password: "firstSECRET\\nsecond"\n', "drill", "dns",
        expect=("db_app_password:", "line break"), hidden="firstSECRET"),
    sec("secrets-control-char", 'db_root_password: "bellSECRET\\a123"\n', "e2e",
        expect=("db_root_password:", "control character"), hidden="bellSECRET", sub=True),
    sec("secrets-quote", "db_monitor_password: \"quote'SECRET99\"\n", "up",
        expect=("db_monitor_password:",), hidden="SECRET99"),
    sec("secrets-empty", 'nagios_admin_password: ""\n', "up",
        expect=("nagios_admin_password:", "empty")),
    sec("secrets-key-number", "1: somethingSECRET\n", "chapter", "1",
        expect=("1:", "secret name"), hidden="somethingSECRET"),
    sec("secrets-mapping-value", "tsig_key: {a: innerSECRET}\n", "chapter", "2",
        expect=("tsig_key:", "a mapping"), hidden="innerSECRET"),
]

def _lab_is_a_file(proj: Path) -> None:
    (proj / ".lab").rmdir()
    (proj / ".lab").write_text("x", encoding="utf-8")


# .lab/ itself in a shape webfarm cannot use
LAYOUTS = {
    "lab-is-a-file": _lab_is_a_file,
    "state-is-a-folder": lambda proj: (proj / STATE).mkdir(),
    "secrets-is-a-folder": lambda proj: (proj / SECRETS).mkdir(),
    "state-not-utf8": lambda proj: (proj / STATE).write_bytes(b"profile: \xff\xfe\n"),
}
CASES += [
    Case("lab-is-a-file", ("up", "--driver", "qemu"), (SECRETS, ".lab is a file"),
         layout="lab-is-a-file", subprocess=True),
    Case("state-is-a-folder", ("status",), (STATE, "directory"), layout="state-is-a-folder"),
    Case("secrets-is-a-folder", ("chapter", "1"), (SECRETS, "directory"),
         layout="secrets-is-a-folder"),
    Case("state-not-utf8", ("up",), (STATE, "UTF-8"), layout="state-not-utf8"),
]
IDS = [c.id for c in CASES]


# ---------------------------------------------------------------------------------------------
# The throw-away project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """tasks.py, the fixture lab as lab.yml, the drill names and an empty .lab/."""
    proj = tmp_path / "project"
    (proj / "tests" / "drills").mkdir(parents=True)
    (proj / ".lab").mkdir()
    shutil.copy(ROOT / "tasks.py", proj / "tasks.py")
    (proj / "webfarm").symlink_to(ROOT / "webfarm")  # with lab.yml + tasks.py: the project root
    shutil.copy(ROOT / "tests" / "fixtures" / "lab.yml", proj / "lab.yml")
    for drill in (ROOT / "tests" / "drills").glob("test_*.py"):
        (proj / "tests" / "drills" / drill.name).write_text("", encoding="utf-8")
    return proj


def _prepare(project: Path, case: Case) -> None:
    if case.layout:
        LAYOUTS[case.layout](project)
    if case.state is not None:
        (project / STATE).write_text(case.state, encoding="utf-8")
    if case.secrets is not None:
        (project / SECRETS).write_text(case.secrets, encoding="utf-8")


def _trap(what: str):  # type: ignore[no-untyped-def]
    def trapped(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a refused input reached {what}: {args!r}")

    return trapped


def _run_in_process(project: Path, argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from webfarm import e2e

    monkeypatch.chdir(project)
    monkeypatch.delenv("WEBFARM_IN_NETNS", raising=False)
    for name in ("run", "Popen", "check_call", "check_output", "call"):
        monkeypatch.setattr(subprocess, name, _trap(f"subprocess.{name}"))
    for name in ("execvp", "execv", "execvpe", "execve"):
        monkeypatch.setattr(os, name, _trap(f"os.{name}"))
    monkeypatch.setattr(e2e, "main", _trap("webfarm.e2e.main"))
    monkeypatch.setattr(e2e, "down", _trap("webfarm.e2e.down"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # never a terminal
    with pytest.raises(SystemExit) as info:
        Program(version="test").run(["invoke", *argv], exit=True)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out + captured.err


def _fake_bin(tmp_path: Path) -> tuple[Path, Path]:
    """A bin/ whose tools only leave a marker; the marker path (which must stay absent)."""
    bindir, marker = tmp_path / "fakebin", tmp_path / "STARTED"
    bindir.mkdir()
    for tool in FAKE_TOOLS:
        exe = bindir / tool
        exe.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{marker}"\nexit 1\n', encoding="utf-8")
        exe.chmod(0o755)
    return bindir, marker


def _run_invoke(project: Path, argv: tuple[str, ...], bindir: Path) -> tuple[int, str]:
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(project.parent), "LANG": "C.UTF-8",
           "TERM": "dumb", "VAGRANT_HOME": str(project.parent / "vagrant.d")}
    proc = subprocess.run([str(INVOKE), *argv], cwd=project, env=env, capture_output=True,
                          text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# The checks


def _assert_refused(case: Case, code: int, output: str) -> None:
    assert code == 2, f"exit {code}, expected 2:\n{output}"
    assert "Traceback" not in output, output
    fix_lines = [line for line in output.splitlines() if "Fix:" in line]
    assert fix_lines, f"no line says how to fix it:\n{output}"
    assert any(all(part in line for part in case.expect) for line in fix_lines), (
        f"no Fix: line names all of {case.expect}:\n{output}")
    if case.hidden:
        assert case.hidden not in output, "an error message shows a secret's value"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_refused_in_process(case: Case, project: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(project, case)
    code, output = _run_in_process(project, case.argv, monkeypatch, capsys)
    _assert_refused(case, code, output)


SUBPROCESS_CASES = [c for c in CASES if c.subprocess]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_refused_by_real_invoke(case: Case, project: Path, tmp_path: Path) -> None:
    bindir, marker = _fake_bin(tmp_path)
    _prepare(project, case)
    code, output = _run_invoke(project, case.argv, bindir)
    _assert_refused(case, code, output)
    assert not marker.exists(), f"something was started: {marker.read_text()}"


def test_the_fake_tools_would_notice_a_start(project: Path, tmp_path: Path) -> None:
    """Control: good options get past the checks and reach the (fake) virsh, whose marker
    the cases above look for - so an absent marker there means a real refusal."""
    bindir, marker = _fake_bin(tmp_path)
    code, output = _run_invoke(project, ("up", "--driver", "qemu"), bindir)
    assert code == 2 and "libvirt does not answer" in output, output
    assert marker.read_text().startswith("virsh ")


def test_old_state_keys_are_ignored_with_a_warning(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from webfarm import state

    (project / STATE).write_text("profile: mini\nretired_key: 1\n"
                                 "provider: {libvirt: {driver: qemu, old_option: x}}\n",
                                 encoding="utf-8")
    monkeypatch.chdir(project)
    loaded = state.load()
    assert loaded.profile == "mini" and loaded.provider == {"libvirt": {"driver": "qemu"}}
    err = capsys.readouterr().err
    assert "retired_key" in err and "provider.libvirt.old_option" in err
