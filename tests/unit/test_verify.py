"""Verify blocks (issues 12 and 15): the registry of Verify commands resolves for every profile,
names checks that exist, and types no address; a capture (made here with a fake runner, as
`invoke verify-capture` makes it on the lab) redacts secrets and trims output; a stale capture
is flagged; the chapter page shows the real output, or says there is none; and a strict docs
build passes with a capture in place."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _sitecopy import build_strict, copy_site

from webfarm import chapters, docsprofiles, recording, topology, verify

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"
LABS = [*docsprofiles.labs(ROOT / "lab.yml"), *docsprofiles.labs(FIXTURE)]
SECRETS = {"db_root_password": "Sup3rSecretRootPw_x", "vrrp_auth": "ab12cd34",
           "tsig_key": "c2VjcmV0LWtleS1mb3ItdGhlLWxhYi1vbmx5IQ=="}
CHAPTER = chapters.get(4)
ALL_STEPS = [(n, s) for n, found in verify.STEPS.items() for s in found]
STEP_IDS = [f"{n:02d}-{s.id}" for n, s in ALL_STEPS]
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


def mini() -> topology.Lab:
    return topology.load(FIXTURE, "mini")


# ---------------------------------------------------------------------------------------------
# The registry


def test_every_chapter_has_a_few_steps_with_unique_ids() -> None:
    for chapter in chapters.CHAPTERS:
        if chapter.number > 8:
            continue
        found = verify.steps(chapter)
        assert 3 <= len(found) <= 6, f"chapter {chapter.tag}: {len(found)} steps"
        ids = [s.id for s in found]
        assert len(ids) == len(set(ids)), ids
    assert set(verify.STEPS) <= {c.number for c in chapters.CHAPTERS}


@pytest.mark.parametrize("lab", LABS, ids=[f"{lab.source.parent.name}-{lab.profile}"
                                           for lab in LABS])
def test_hosts_and_placeholders_resolve_in_every_profile(lab: topology.Lab) -> None:
    for number, step in ALL_STEPS:
        r = verify.resolve(lab, step)
        assert r.host in lab.hosts
        role = step.host.split("[")[0].split("|")
        assert set(role) & set(lab.hosts[r.host].roles), (number, step.id, r.host)
        for text in (r.command, r.look_for):
            assert "{{" not in text and "}}" not in text, (number, step.id, text)


def test_selectors_follow_lab_yml_order() -> None:
    lab = topology.load(FIXTURE, "full")
    assert verify.host_for(lab, "director[1]").name == "lb2"
    assert verify.host_for(lab, "dns[0]").name == "ns1"
    assert verify.host_for(mini(), "dns[0]").name == "lb1"
    assert verify.host_for(mini(), "db_data|db_sql[1]").name == "db2"
    for bad in ("director", "director[9]", "nosuchrole[0]", "dns[-1]"):
        with pytest.raises(verify.VerifyError):
            verify.host_for(mini(), bad)


def test_placeholders_come_from_the_lab_model() -> None:
    lab = mini()
    host = lab.hosts["client1"]
    assert verify.render(lab, host, "dig @{{ addr.dns.0.front }} www.{{ lab.domain }}") == \
        f"dig @{lab.hosts['lb1'].addresses['front']} www.{lab.domain}"
    assert verify.render(lab, lab.hosts["mon1"], "{{ os.paths.nagios_bin }}") == \
        "/usr/sbin/nagios4"
    assert verify.render(lab, host, "{{ os.monitor.paths.nagios_url }}") == "/nagios4"
    for bad in ("{{ os.paths.nope }}", "{{ os.what.x }}", "{{ addr.dns.0.db }}",
                "{{ lab.vips.wwww.address }}"):
        with pytest.raises(verify.VerifyError):
            verify.render(lab, host, bad)


@pytest.mark.parametrize(("number", "step"), ALL_STEPS, ids=STEP_IDS)
def test_no_address_or_domain_typed_by_hand(number: int, step: verify.Step) -> None:
    for text in (step.command, step.look_for):
        assert not IPV4.search(text), (step.id, text)
        assert "webfarm.test" not in text, (step.id, text)


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize(("number", "step"), ALL_STEPS, ids=STEP_IDS)
def test_every_referenced_check_exists(number: int, step: verify.Step) -> None:
    path, name = verify.check_parts(step)
    chapter = chapters.get(number)
    assert path == f"tests/chapters/test_{chapter.tag}_{chapter.slug[3:]}.py", path
    checks = [f.path for f in chapters.files(chapter) if f.kind == "check"]
    assert path in checks, (path, checks)
    assert name in _test_functions(ROOT / path), f"{path} has no {name}"


# ---------------------------------------------------------------------------------------------
# Capturing


def test_tidy_redacts_trims_and_shows_control_characters() -> None:
    text = ("\x1b[32mok\x1b[0m pw=Sup3rSecretRootPw_x key "
            "c2VjcmV0LWtleS1mb3ItdGhlLWxhYi1vbmx5IQ==\r\nbell\x07\n"
            + "".join(f"line {i}\n" for i in range(100)) + "x" * 500)
    out = verify.tidy(text, SECRETS)
    lines = out.split("\n")
    assert lines[0] == "ok pw=<redacted: db_root_password> key <redacted: tsig_key>"
    assert lines[1] == "bell?"
    assert len(lines) == verify.MAX_LINES
    assert lines[-1] == f"… ({103 - verify.MAX_LINES + 1} more lines)"
    assert "Sup3rSecret" not in out
    assert verify.tidy("", SECRETS) == "" and verify.tidy("\n", SECRETS) == ""
    assert len(verify.tidy("y" * 500, {})) == verify.MAX_WIDTH


def _fake_runner(calls: list[tuple[str, str, float]]) -> verify.Runner:
    def run(host: str, command: str, timeout: float) -> tuple[int | None, str]:
        calls.append((host, command, timeout))
        if "--daemon" in command:
            return None, "partial"
        if "ipvsadm -Ln" in command:
            return 0, "TCP  vip:80 wrr\n  -> app1:80 Route 1 0 0\nsecret Sup3rSecretRootPw_x\n"
        return 1 if host == "lb2" else 0, f"{{{{ on {host} }}}}\n"
    return run


def _copy_project_files(root: Path, chapter: chapters.Chapter) -> None:
    for f in chapters.files(chapter):
        if f.kind in recording.HASHED_KINDS:
            (root / f.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / f.path, root / f.path)


def test_capture_runs_each_step_on_its_host_and_keeps_what_it_printed(tmp_path: Path) -> None:
    calls: list[tuple[str, str, float]] = []
    lab = mini()
    data = verify.capture(CHAPTER, lab, _fake_runner(calls), SECRETS)
    assert [c[0] for c in calls] == [verify.resolve(lab, s).host for s in verify.steps(CHAPTER)]
    assert all(c[2] == verify.TIMEOUT_S for c in calls)
    assert data["profile"] == "mini" and data["chapter"] == "04-lvs"
    assert data["files"] == recording.hashes(CHAPTER)
    first = data["steps"][0]
    assert first["command"] == "sudo ipvsadm -Ln" and first["host"] == "lb1"
    assert first["exit"] == 0 and first["profile"] == "mini" and first["selector"] == "director[0]"
    assert "<redacted: db_root_password>" in first["output"]
    assert "Sup3rSecret" not in json.dumps(data)
    daemon = next(s for s in data["steps"] if s["id"] == "sync-daemon")
    assert daemon["timed_out"] and daemon["exit"] is None and daemon["output"] == "partial"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", first["date"])
    path = verify.write(CHAPTER, data, tmp_path)
    assert path == tmp_path / "04-lvs.json"
    assert verify.read(CHAPTER, tmp_path) == json.loads(path.read_text(encoding="utf-8"))


def test_capture_refuses_when_ssh_reaches_no_host() -> None:
    def unreachable(host: str, command: str, timeout: float) -> tuple[int | None, str]:
        return verify.SSH_FAILED, "ssh: connect to host lb1 port 22: No route to host"
    with pytest.raises(verify.VerifyError, match="could not reach"):
        verify.capture(CHAPTER, mini(), unreachable, SECRETS)


def test_staleness(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "verify"
    _copy_project_files(root, CHAPTER)
    assert verify.stale(CHAPTER, out, root) is None
    data = verify.capture(CHAPTER, mini(), _fake_runner([]), SECRETS, root=root)
    verify.write(CHAPTER, data, out)
    assert verify.stale(CHAPTER, out, root) == []
    script = root / "provision" / "04-lvs" / "director.sh"
    script.write_text(script.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert verify.stale(CHAPTER, out, root) == ["provision/04-lvs/director.sh"]
    page = verify.place("# 4. LVS\n\n## Verify\n\ntext\n", CHAPTER, FIXTURE, out, root)
    assert '!!! warning "Captured before changes to: provision/04-lvs/director.sh"' in page


# ---------------------------------------------------------------------------------------------
# The page


def _synthetic(tmp_path: Path) -> Path:
    out = tmp_path / "verify"
    data = verify.capture(CHAPTER, mini(), _fake_runner([]), SECRETS)
    data["steps"] = [s for s in data["steps"] if s["id"] != "through-the-vip"]  # not captured
    data["steps"][1]["command"] = "ip addr"  # captured before the command changed
    verify.write(CHAPTER, data, out)
    return out


def test_block_shows_the_real_output_next_to_the_command_and_the_check(tmp_path: Path) -> None:
    out = _synthetic(tmp_path)
    page = verify.place("# 4. LVS\n\n## Verify\n\nby hand\n\n```bash\n## not a heading\n```\n\n"
                        "## Drill\n", CHAPTER, FIXTURE, out)
    head, _, rest = page.partition("### What the real run printed")
    assert "by hand" in head and "## not a heading" in head and "## Drill" in rest
    block = rest.split("## Drill")[0]
    assert "What these commands printed on the `mini` lab" in block
    assert "**1. On `lb1`** (`invoke ssh lb1`; the first director host)" in block
    assert "```bash\nsudo ipvsadm -Ln\n```" in block
    assert '```text title="output"\nTCP  vip:80 wrr' in block
    assert "<redacted: db_root_password>" in block and "Sup3rSecret" not in block
    assert ("Asserted by [`test_ipvs_balances_every_pool_in_dr_mode`]"
            "(../files/tests/chapters/test_04_lvs.py.md)") in block
    assert "Look for: TCP " in block
    assert "Exit code 1 in the captured run." in block  # lb2's step
    assert "The command timed out" in block
    assert '!!! warning "The command changed since this capture"' in block
    assert '!!! note "Not captured yet"' in block
    # output that looks like a placeholder is shown as is, not filled
    assert '{{ "{{" }} on client1 }}' not in block  # client step not captured
    assert '{{ "{{" }} on lb2 }}' in block
    filled, problems = __import__("webfarm.docsgen", fromlist=["fill"]).fill(block, mini())
    assert not problems and "{{ on lb2 }}" in filled


def test_block_without_a_capture_says_so_and_shows_no_output(tmp_path: Path) -> None:
    page = verify.place("# 4. LVS\n\ntext\n", CHAPTER, FIXTURE, tmp_path)
    assert page.startswith("# 4. LVS\n\ntext\n\n## Verify it yourself")
    assert '!!! note "No captured output yet"' in page
    assert 'title="output"' not in page and "invoke verify-capture --chapter 4" in page


def test_marker_is_replaced(tmp_path: Path) -> None:
    page = verify.place(f"# 4\n\n{verify.MARKER}\n\n## Verify\n\nend\n", CHAPTER, FIXTURE,
                        tmp_path)
    assert verify.MARKER not in page and "What the real run printed" not in page
    assert page.index("## Verify it yourself") < page.index("## Verify\n")


def test_other_profiles_hosts_and_commands_are_named(tmp_path: Path) -> None:
    dns = chapters.get(2)
    page = verify.place("# 2\n", dns, FIXTURE, tmp_path)
    assert '??? note "The same on the full profile"' in page  # ns1's address on full
    assert verify.place("# 2\n", chapters.get(2), FIXTURE, tmp_path).count("**") >= 10


def test_option_errors_exit_2_with_a_fix(capsys: pytest.CaptureFixture[str]) -> None:
    for chapter, profile, says in (("99", None, "--chapter: no chapter '99'"),
                                   ("-x", None, "--chapter"),
                                   ("4", "bad name!", "--profile")):
        with pytest.raises(SystemExit) as info:
            verify.verify_capture(chapter, profile)
        assert info.value.code == 2
        text = capsys.readouterr()
        output = text.out + text.err
        assert says in output and "Fix:" in output and "Traceback" not in output


def test_the_task_is_there() -> None:
    invoke = Path(sys.executable).parent / "invoke"
    run = subprocess.run([str(invoke), "--help", "verify-capture"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "--chapter" in run.stdout and "--profile" in run.stdout


def test_strict_build_with_a_capture(tmp_path: Path) -> None:
    """A real ``mkdocs build --strict`` of a copy of the site with a capture of chapter 04."""
    copy_site(tmp_path)
    target = tmp_path / "docs" / "assets" / "verify"
    for old in target.glob("*.json"):
        old.unlink()
    verify.write(CHAPTER, verify.capture(CHAPTER, mini(), _fake_runner([]), SECRETS), target)
    run = build_strict(tmp_path, FIXTURE)
    assert run.returncode == 0, run.stdout + run.stderr
    site = tmp_path / "site" / "chapters"
    lvs = (site / "04-lvs" / "index.html").read_text(encoding="utf-8")
    assert "What the real run printed" in lvs and "&lt;redacted: db_root_password&gt;" in lvs
    assert "Sup3rSecret" not in lvs and "{{ on lb2 }}" in lvs
    base = (site / "01-base" / "index.html").read_text(encoding="utf-8")
    assert "No captured output yet" in base


def test_ssh_runner_uses_the_lab_ssh_config_and_its_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "ssh"
    fake.write_text('#!/bin/sh\nfor a; do last=$a; done\necho "args: $*"; echo err >&2\n'
                    'case "$last" in slow) sleep 5;; fail) exit 3;; esac\n', encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, out = verify.ssh_runner("lb1", "uptime", 10)
    assert code == 0 and "-o BatchMode=yes lb1 uptime" in out and "err" in out
    assert verify.ssh_runner("lb1", "fail", 10)[0] == 3
    code, out = verify.ssh_runner("lb1", "slow", 0.5)
    assert code is None and "args:" in out
