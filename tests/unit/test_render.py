"""The generated files: the committed top-level Vagrantfile, each host's env.sh and rendered
templates, and the per-lab secrets they use."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from webfarm import chapters, cli, filters, fsutil, render, timesync
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
VAGRANTFILE = ROOT / "Vagrantfile"
FIXTURE = Path("tests/fixtures/lab.yml")  # relative: the generator names the file as given


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the project's top folder: the generator names lab.yml as given (relative)."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture(scope="module")
def generated() -> str:
    """The Vagrantfile of the frozen fixture lab (never the user-editable lab.yml)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        return render.vagrantfile(FIXTURE)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return lab_secrets.load(tmp_path_factory.mktemp("secrets") / "secrets.yml")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: it comes with vagrant (setup-host.sh test)"
    return path


# A stand-in for Vagrant: loads a Vagrantfile with real Ruby and prints, as JSON, every
# setting it makes: [path, value] for `x.y = value`, [path, args, options] for calls.
RECORDER = r"""
require "json"
class WebfarmRecorder
  def initialize(log, path)
    @log = log
    @path = path
  end

  def method_missing(name, *args, **kw, &blk)
    key = (@path + [name.to_s.chomp("=")]).join(".")
    if name.to_s.end_with?("=")
      @log << [key, args.first]
      return args.first
    end
    sub = WebfarmRecorder.new(@log, @path + [name.to_s] + args.map(&:to_s))
    @log << [key, args, kw] unless args.empty? && kw.empty?
    blk&.call(*Array.new([blk.arity, 1].max) { sub })
    sub
  end

  def respond_to_missing?(*) = true
end

module Vagrant
  LOG = []
  def self.configure(_version)
    yield WebfarmRecorder.new(LOG, ["config"])
  end
end

at_exit { puts JSON.generate(Vagrant::LOG) if $!.nil? }
load ARGV.fetch(0)
"""


def _load(text: str, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Evaluate a Vagrantfile ``text`` with Ruby (Vagrant stubbed), in folder ``tmp``."""
    (tmp / "Vagrantfile").write_text(text, encoding="utf-8")
    (tmp / "recorder.rb").write_text(RECORDER, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEBFARM_")}
    return subprocess.run([_tool("ruby"), "recorder.rb", "Vagrantfile"], cwd=tmp,
                          capture_output=True, text=True, check=False, env=clean | env)


def _settings(text: str, tmp: Path, **env: str) -> list[list[Any]]:
    result = _load(text, tmp, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _value(settings: list[list[Any]], key: str) -> Any:
    found = [s[1] for s in settings if s[0] == key and len(s) == 2]
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


def _calls(settings: list[list[Any]], key: str) -> list[tuple[list[Any], dict[str, Any]]]:
    return [(s[1], s[2]) for s in settings if s[0] == key and len(s) == 3]


def _ruby_syntax_ok(text: str, tmp: Path) -> None:
    f = tmp / "Vagrantfile"
    f.write_text(text, encoding="utf-8")
    result = subprocess.run([_tool("ruby"), "-c", str(f)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# Vagrantfile: the committed one, and what the generator gives


def test_committed_vagrantfile_is_generated_from_lab_yml(in_root: Path) -> None:
    """Same check as `invoke render --check`: the one test that reads the real lab.yml."""
    assert VAGRANTFILE.exists(), "Vagrantfile is missing: run invoke render (and commit it)"
    drift = render.vagrantfile_drift(Path("lab.yml"), Path("Vagrantfile"))
    assert not drift, "the committed Vagrantfile differs from lab.yml: run invoke render\n" + drift


def test_vagrantfile_generation_is_deterministic(generated: str, in_root: Path) -> None:
    assert render.vagrantfile(FIXTURE) == generated


def test_vagrantfile_header_says_it_is_generated(generated: str) -> None:
    head = "\n".join(generated.splitlines()[:8])
    assert f"GENERATED from {FIXTURE} by `invoke render`" in head
    assert "Do not edit" in head


def test_vagrantfile_is_valid_ruby(generated: str, tmp_path: Path) -> None:
    _ruby_syntax_ok(generated, tmp_path)


def test_vagrantfile_carries_the_model_as_data(generated: str, labs: dict[str, Lab]) -> None:
    data = render.embedded_data(generated)
    assert list(data["profiles"]) == list(labs)
    for name, lab in labs.items():
        rows = {h["name"]: h for h in data["profiles"][name]}
        assert list(rows) == list(lab.hosts), name
        for host in lab.hosts.values():
            row = rows[host.name]
            assert (row["box"], row["memory"], row["cpus"]) == (host.os.box, host.memory,
                                                               host.cpus)
            assert row["roles"] == list(host.roles)
            assert row["networks"] == [[n, str(a), lab.networks[n].netmask]
                                       for n, a in host.addresses.items()]


@pytest.mark.parametrize("profile_name", ["full", "mini"])
def test_each_profile_defines_its_vms(generated: str, labs: dict[str, Lab], tmp_path: Path,
                                      profile_name: str) -> None:
    """Loaded by Ruby: the VMs, boxes, sizes and networks of the profile, nothing else."""
    lab = labs[profile_name]
    got = _settings(generated, tmp_path, WEBFARM_PROFILE=profile_name)
    assert [args[0] for args, _ in _calls(got, "config.vm.define")] == list(lab.hosts)
    for host in lab.hosts.values():
        node = f"config.vm.define.{host.name}"
        assert _value(got, f"{node}.vm.box") == host.os.box
        assert _value(got, f"{node}.vm.hostname") == host.name
        for provider in ("libvirt", "virtualbox"):
            assert _value(got, f"{node}.vm.provider.{provider}.memory") == host.memory
            assert _value(got, f"{node}.vm.provider.{provider}.cpus") == host.cpus
        assert _value(got, f"{node}.vm.provider.virtualbox.name") == f"{lab.name}-{host.name}"
        networks = _calls(got, f"{node}.vm.network")
        assert len(networks) == len(host.addresses)
        for (args, opts), (net, addr) in zip(networks, host.addresses.items(), strict=True):
            assert args == ["private_network"]
            assert opts == {"ip": str(addr), "netmask": lab.networks[net].netmask,
                            "libvirt__network_name": f"{lab.name}-{net}",
                            "libvirt__dhcp_enabled": False, "libvirt__forward_mode": "none",
                            "virtualbox__intnet": False}


@pytest.mark.parametrize("profile_name", ["full", "mini"])
def test_chapters_are_named_provisioners_that_run_only_when_asked(
        generated: str, labs: dict[str, Lab], tmp_path: Path, profile_name: str) -> None:
    lab = labs[profile_name]
    got = _settings(generated, tmp_path, WEBFARM_PROFILE=profile_name)
    for host in lab.hosts.values():
        want = [c.slug for c in chapters.CHAPTERS if host in c.hosts(lab)]
        assert "01-base" in want
        provisioners = _calls(got, f"config.vm.define.{host.name}.vm.provision")
        assert [args for args, _ in provisioners] == [[slug] for slug in want]
        for args, opts in provisioners:
            assert opts == {"type": "shell", "run": "never",
                            "inline": f"bash /vagrant/provision/chapter.sh {args[0]}"}


def test_provider_settings(generated: str, labs: dict[str, Lab], tmp_path: Path) -> None:
    lab = labs["full"]
    got = _settings(generated, tmp_path)
    assert [a[0] for a, _ in _calls(got, "config.vm.define")] == list(lab.hosts), "default"
    lv = "config.vm.provider.libvirt"
    assert _value(got, f"{lv}.driver") == lab.provider["libvirt"]["driver"]
    assert _value(got, f"{lv}.management_network_name") == "webfarm-mgmt"
    assert _value(got, f"{lv}.management_network_address") == "192.168.121.0/24"
    assert _value(got, f"{lv}.default_prefix") == f"{lab.name}_"
    assert _value(got, f"{lv}.graphics_type") == "none"
    assert _value(got, f"{lv}.video_type") == "none"
    assert not [s for s in got if s[0] == f"{lv}.emulator_path"]
    assert _value(got, "config.vm.provider.virtualbox.linked_clone") is True
    assert _value(got, f"{lv}.vm.boot_timeout") == 1200
    assert _value(got, "config.vm.provider.virtualbox.vm.boot_timeout") == 600
    [(args, opts)] = _calls(got, "config.vm.synced_folder")
    assert args == [".", "/vagrant"]
    assert opts["type"] == "rsync"
    assert {".git/", ".venv/", ".lab/*.yml", "tests/", "webfarm/"} <= set(opts["rsync__exclude"])


def test_environment_overrides(generated: str, tmp_path: Path) -> None:
    got = _settings(generated, tmp_path, WEBFARM_LIBVIRT_DRIVER="qemu",
                    WEBFARM_EMULATOR_PATH="/opt/qemu-wrapper", WEBFARM_BOOT_TIMEOUT="90")
    assert _value(got, "config.vm.provider.libvirt.driver") == "qemu"
    assert _value(got, "config.vm.provider.libvirt.emulator_path") == "/opt/qemu-wrapper"
    assert _value(got, "config.vm.provider.libvirt.vm.boot_timeout") == 90
    assert _value(got, "config.vm.provider.virtualbox.vm.boot_timeout") == 90


@pytest.mark.parametrize(("env", "message"), [
    ({"WEBFARM_PROFILE": "huge"}, f"unknown WEBFARM_PROFILE=huge; profiles in {FIXTURE}: "
                                  "full, mini"),
    ({"WEBFARM_BOOT_TIMEOUT": "5m"}, "WEBFARM_BOOT_TIMEOUT=5m is not a whole number of seconds"),
    ({"WEBFARM_BOOT_TIMEOUT": "0"}, "WEBFARM_BOOT_TIMEOUT=0 is not a whole number of seconds"),
])
def test_bad_environment_aborts(generated: str, tmp_path: Path, env: dict[str, str],
                                message: str) -> None:
    result = _load(generated, tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_boot_timeout_comes_from_lab_yml(labs: dict[str, Lab], tmp_path: Path) -> None:
    lab = labs["mini"].with_provider("libvirt", boot_timeout=3000)
    lab = lab.with_provider("virtualbox", boot_timeout=900)
    got = _settings(render.vagrantfile_text(render.vagrant_data(lab, {"mini": lab})), tmp_path)
    assert _value(got, "config.vm.provider.libvirt.vm.boot_timeout") == 3000
    assert _value(got, "config.vm.provider.virtualbox.vm.boot_timeout") == 900


@pytest.mark.parametrize("bad", ["600", 0, True, 1.5])
def test_bad_boot_timeout_is_a_clear_error(labs: dict[str, Lab], bad: Any) -> None:
    lab = labs["mini"].with_provider("virtualbox", boot_timeout=bad)
    with pytest.raises(render.RenderError, match=r"provider\.virtualbox\.boot_timeout.*Fix:"):
        render.vagrant_data(lab, {"mini": lab})


def test_vagrantfile_for_another_lab_file(tmp_path: Path, in_root: Path) -> None:
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    data["lab"]["profile"] = "mini"
    data["provider"]["libvirt"]["driver"] = "qemu"
    f = tmp_path / "other.yml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    text = render.vagrantfile(f)
    assert f"GENERATED from {f}" in text
    got = render.embedded_data(text)
    assert (got["source"], got["default_profile"], got["libvirt"]["driver"]) == (
        str(f), "mini", "qemu")


def test_write_vagrantfile_reports_change(tmp_path: Path, in_root: Path) -> None:
    out = tmp_path / "Vagrantfile"
    assert render.write_vagrantfile(FIXTURE, out) is True
    assert render.write_vagrantfile(FIXTURE, out) is False
    assert render.vagrantfile_drift(FIXTURE, out) == ""
    out.write_text(out.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert "# edited" in render.vagrantfile_drift(FIXTURE, out)


# ---------------------------------------------------------------------------------------------
# Vagrantfile: nothing from lab.yml can become Ruby code
#
# The validator refuses such names; the generator must be safe by construction anyway, so
# these tests hand it a model built without validation.

MARKER = "@MARKER@"  # replaced by a per-test path
EVIL = [
    "#{`touch @MARKER@`}",
    '"; system("touch @MARKER@"); "',
    "a\nsystem('touch @MARKER@')\n#",
    "'''",
    "#@x #$0 \\",
    render.HEREDOC_END,
    "x\n" + render.HEREDOC_END + "\nsystem('touch @MARKER@')",
    "\u2028%x(touch @MARKER@)",
]


def _evil_lab(lab: Lab, text: str) -> Lab:
    """``lab`` with ``text`` in every string the Vagrantfile takes from lab.yml (the hosts
    keep their names: a VM name is checked by Vagrant itself)."""
    box = dataclasses.replace(next(iter(lab.hosts.values())).os, box=text)
    hosts = {n: dataclasses.replace(h, os=box, roles=(*h.roles, text))
             for n, h in lab.hosts.items()}
    provider = {"libvirt": {"driver": text, "management_network_name": text,
                            "management_network_address": text, "emulator_path": text},
                "virtualbox": {}}
    return dataclasses.replace(lab, name=text, profile=text, hosts=hosts, provider=provider,
                               source=Path(text))


def _outside_heredoc(text: str) -> list[str]:
    """The lines of a Vagrantfile before and after the heredoc (opener to terminator)."""
    start = text.rindex("\n", 0, text.index(f"<<~'{render.HEREDOC_END}'"))
    end = text.index(f"\n{render.HEREDOC_END}\n", start) + len(render.HEREDOC_END) + 1
    return (text[:start] + text[end:]).splitlines()


@pytest.mark.parametrize("evil", EVIL)
def test_lab_strings_reach_ruby_only_as_data(labs: dict[str, Lab], tmp_path: Path,
                                            evil: str) -> None:
    marker = tmp_path / "pwned"
    evil = evil.replace(MARKER, str(marker))
    lab = _evil_lab(labs["mini"], evil)
    data = render.vagrant_data(lab, {evil: lab, "mini": labs["mini"]})
    text = render.vagrantfile_text(data)
    assert render.embedded_data(text) == data
    _ruby_syntax_ok(text, tmp_path)
    for line in _outside_heredoc(text):  # outside the data, only in one-line comments
        if evil in line or json.dumps(evil)[1:-1] in line:
            assert line.startswith("#"), line
    got = _settings(text, tmp_path, WEBFARM_PROFILE=evil)
    assert not marker.exists(), "a lab.yml string ran as code"
    first = next(iter(labs["mini"].hosts))
    assert _value(got, f"config.vm.define.{first}.vm.box") == evil
    assert _value(got, "config.vm.provider.libvirt.driver") == evil
    assert _value(got, "config.vm.provider.libvirt.default_prefix") == evil + "_"
    result = _load(text, tmp_path, WEBFARM_PROFILE="nope")
    assert result.returncode != 0 and "unknown WEBFARM_PROFILE=nope" in result.stderr
    assert not marker.exists()


def test_vagrant_itself_loads_a_hostile_lab_without_running_it(labs: dict[str, Lab],
                                                               tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    lab = labs["mini"]
    name = f"#{{`touch {marker}`}}\"; system(\"touch {marker}\"); \""
    evil = dataclasses.replace(lab, name=name, profile=name)
    text = render.vagrantfile_text(render.vagrant_data(evil, {name: evil}))
    (tmp_path / "Vagrantfile").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFARM_")}
    result = subprocess.run([_tool("vagrant"), "validate"], cwd=tmp_path, capture_output=True,
                            text=True, check=False,
                            env=env | {"VAGRANT_DEFAULT_PROVIDER": "libvirt"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists(), "a lab name ran as code in vagrant"


def test_heredoc_terminator_never_ends_the_data() -> None:
    data = {"lab": render.HEREDOC_END, "profiles": {render.HEREDOC_END: []}}
    text = render.lab_json(data)
    assert all(line.strip() != render.HEREDOC_END for line in text.splitlines())
    assert json.loads(text) == data
    assert text.isascii()


def test_ruby_comment_cannot_end_the_line() -> None:
    assert filters.ruby_comment("full") == "full"
    for text in ("a\nb", "a\rb", "a\u2028b", "a\x85b"):
        shown = filters.ruby_comment(text)
        assert shown.isascii() and shown.isprintable(), shown


# ---------------------------------------------------------------------------------------------
# Rendering is all or nothing, and every file is replaced atomically


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_failed_render_leaves_every_file_as_it_was(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    lab_yml = tmp_path / "lab.yml"
    shutil.copy(ROOT / FIXTURE, lab_yml)
    monkeypatch.chdir(tmp_path)
    cli.render_files(lab_file="lab.yml")
    before = _files(tmp_path)
    assert "Vagrantfile" in before and any(k.startswith(".lab/hosts/") for k in before)
    # a change that would rewrite the Vagrantfile, and a host whose chrony.conf cannot render
    text = lab_yml.read_text(encoding="utf-8")
    lab_yml.write_text(text.replace("name: webfarm", "name: otherfarm", 1), encoding="utf-8")
    before["lab.yml"] = lab_yml.read_bytes()
    real = timesync.upstream
    monkeypatch.setattr(timesync, "upstream", lambda lab, host: (
        "10.0.0.1; evil" if host.name == "client1" else real(lab, host)))
    with pytest.raises(SystemExit):
        cli.render_files(lab_file="lab.yml")
    said = " ".join(capsys.readouterr().err.split())
    assert "nothing was written: 01-base/all/chrony.conf.j2 for host client1: " in said
    assert "'10.0.0.1; evil' is not an IPv4 address. Fix:" in said
    assert _files(tmp_path) == before, "a failed render changed a file"


def test_write_atomic_keeps_the_old_file_when_it_fails(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "Vagrantfile"
    target.write_text("old\n", encoding="utf-8")

    def boom(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        fsutil.write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Vagrantfile"], "temporary file left"


def test_write_atomic_modes(tmp_path: Path) -> None:
    secret = tmp_path / "sub" / "tsig.key"
    fsutil.write_atomic(secret, "k\n", 0o600)
    assert _mode(secret) == 0o600
    plain = tmp_path / "Vagrantfile"
    plain.write_text("x", encoding="utf-8")
    plain.chmod(0o644)
    fsutil.write_atomic(plain, "y")
    assert (plain.read_text(encoding="utf-8"), _mode(plain)) == ("y", 0o644)


# ---------------------------------------------------------------------------------------------
# Template filters: a value that does not fit its config file stops the render


def _filter(name: str, value: Any) -> Any:
    return render.environment().from_string("{{ v | " + name + " }}").render(v=value)


@pytest.mark.parametrize(("name", "good"), [
    ("hostname", "app1-db"), ("dnsname", "webfarm.test"), ("ipv4", "192.168.56.10"),
    ("oneline", "public side, where visitors live"),
])
def test_filters_pass_good_values_unchanged(name: str, good: str) -> None:
    assert _filter(name, good) == good


@pytest.mark.parametrize(("name", "bad"), [
    ("hostname", "app 1"), ("hostname", "-app"), ("hostname", "a.b"), ("hostname", "a;b"),
    ("hostname", "x" * 64), ("hostname", ""),
    ("dnsname", "webfarm.test."), ("dnsname", "a..b"), ("dnsname", "a_b.test"),
    ("dnsname", "x.test\nzone"), ("dnsname", 'x"; };'),
    ("ipv4", "192.168.56.300"), ("ipv4", "10.0.0.1; evil"),
    ("oneline", "one\ntwo"), ("oneline", "bell\a"),
])
def test_filters_refuse_bad_values(name: str, bad: str) -> None:
    with pytest.raises(filters.TemplateValueError, match=r"is not .*Fix:"):
        _filter(name, bad)


def test_a_bad_domain_stops_the_dns_templates(labs: dict[str, Lab], secrets: dict[str, str],
                                              tmp_path: Path) -> None:
    lab = dataclasses.replace(labs["full"], domain='webfarm.test"; }; zone "x')
    with pytest.raises(render.RenderError, match=r"for host ns1: .*DNS name.*Fix:"):
        render.render_host(lab, lab.hosts["ns1"], secrets, State(), tmp_path)
    assert not list(tmp_path.rglob("*")), "nothing may be written"


def test_env_sh_refuses_a_variable_name_the_shell_cannot_take(labs: dict[str, Lab],
                                                              secrets: dict[str, str],
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    lab = labs["mini"]
    real = render.host_env
    monkeypatch.setattr(render, "host_env", lambda *a: real(*a) | {"WF_X;id": "1"})
    with pytest.raises(render.RenderError, match="not a shell variable name"):
        render.render_host(lab, lab.hosts["app1"], secrets, State(), tmp_path)
    assert not list(tmp_path.rglob("*"))


# ---------------------------------------------------------------------------------------------
# Host files


def _env(path: Path) -> dict[str, str]:
    """The variables of an env.sh as bash sees them after sourcing it."""
    script = f'set -eu; . "{path}"; env -0'
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("WF_")}


def test_env_sh_of_an_app_server(labs: dict[str, Lab], secrets: dict[str, str],
                                 tmp_path: Path) -> None:
    lab = labs["mini"]
    host = lab.hosts["app1"]
    render.render_host(lab, host, secrets, State(), tmp_path)
    env_sh = tmp_path / "app1" / "env.sh"
    text = env_sh.read_text(encoding="utf-8")
    assert text.startswith("# generated by webfarm from lab.yml")
    assert "export WF_ADDR_FRONT=192.168.56.41\n" in text
    assert "export WF_ADDR_DB=192.168.57.41\n" in text
    assert "export WF_ROLES='app media'\n" in text  # shell-quoted
    env = _env(env_sh)
    assert env["WF_HOST"] == "app1"
    assert env["WF_PROFILE"] == "mini"
    assert env["WF_FQDN"] == "app1.webfarm.test"
    assert env["WF_ROLES"] == "app media"
    assert env["WF_NETWORKS"] == "front db"
    assert env["WF_ADDR_FRONT"] == "192.168.56.41"
    assert env["WF_ADDR_DB"] == "192.168.57.41"
    assert env["WF_CIDR_FRONT"] == "192.168.56.0/24"
    assert env["WF_PREFIX_DB"] == "24"
    assert env["WF_IFACE_FRONT"] == "eth1"
    assert env["WF_IFACE_DB"] == "eth2"
    assert env["WF_OS_FAMILY"] == "debian12"
    assert env["WF_FILES"] == "/vagrant/.lab/hosts/app1/files"


def test_env_sh_of_a_db_only_host(labs: dict[str, Lab], secrets: dict[str, str],
                                  tmp_path: Path) -> None:
    lab = labs["full"]
    render.render_host(lab, lab.hosts["sql1"], secrets, State(package_source="offline"),
                       tmp_path)
    env = _env(tmp_path / "sql1" / "env.sh")
    assert env["WF_ADDR_DB"] == "192.168.57.61"
    assert env["WF_IFACE_DB"] == "eth1"
    assert "WF_ADDR_FRONT" not in env
    assert env["WF_PACKAGE_SOURCE"] == "offline"


def test_every_env_sh_line_round_trips_through_bash(labs: dict[str, Lab],
                                                   secrets: dict[str, str],
                                                   tmp_path: Path) -> None:
    """Every value (package lists with spaces included) survives sourcing unchanged."""
    for lab in labs.values():
        for host in lab.hosts.values():
            want = render.host_env(lab, host, State())
            out = tmp_path / lab.profile
            render.render_host(lab, host, secrets, State(), out)
            assert _env(out / host.name / "env.sh") == want, host.name


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("profile_name", ["full", "mini"])
def test_render_lab_is_deterministic_and_private(labs: dict[str, Lab], secrets: dict[str, str],
                                                 tmp_path: Path, profile_name: str) -> None:
    lab = labs[profile_name]
    a, b = tmp_path / "a", tmp_path / "b"
    written = render.render_lab(lab, secrets, State(), a)
    assert set(written) == set(lab.hosts)
    render.render_lab(lab, secrets, State(), b)
    first = _tree(a)
    assert first == _tree(b), "rendering twice must give the same bytes"
    render.render_lab(lab, secrets, State(), a)  # again, in place
    assert _tree(a) == first
    for paths in written.values():
        for path in paths:
            assert path.exists()
            assert _mode(path) == 0o600, f"{path} is {oct(_mode(path))}"
    assert not list(a.rglob("*.tmp")), "temporary files left behind"


def test_render_host_lists_what_it_wrote(labs: dict[str, Lab], secrets: dict[str, str],
                                         tmp_path: Path) -> None:
    lab = labs["full"]
    host = lab.hosts["ns1"]
    written = render.render_host(lab, host, secrets, State(), tmp_path)
    assert written[0] == tmp_path / "ns1" / "env.sh"
    on_disk = {p for p in (tmp_path / "ns1").rglob("*") if p.is_file()}
    assert set(written) == on_disk
    for name, rel in render.template_sources(host):
        assert name.endswith(".j2")
        assert (tmp_path / "ns1" / "files" / rel) in on_disk


def test_template_sources_follow_the_hosts_roles(labs: dict[str, Lab]) -> None:
    lab = labs["full"]
    for host in lab.hosts.values():
        for name, rel in render.template_sources(host):
            slug, part = name.split("/")[:2]
            assert part == "all" or part in host.roles, (host.name, name)
            assert rel.startswith(slug + "/")
            assert chapters.get(slug).slug == slug


def test_rendered_files_carry_no_placeholder_secrets(labs: dict[str, Lab],
                                                     secrets: dict[str, str],
                                                     tmp_path: Path) -> None:
    """Rendered with real secrets, no redacted placeholder leaks into a host file."""
    render.render_lab(labs["mini"], secrets, State(), tmp_path)
    for rel, content in _tree(tmp_path).items():
        assert b"from .lab/secrets.yml>" not in content, rel


# ---------------------------------------------------------------------------------------------
# Secrets


def test_secrets_are_generated_once_and_stable(tmp_path: Path) -> None:
    path = tmp_path / ".lab" / "secrets.yml"
    first = lab_secrets.load(path)
    assert set(first) == set(lab_secrets.GENERATORS)
    assert all(first.values())
    assert path.exists()
    assert _mode(path) == 0o600
    mtime = path.stat().st_mtime_ns
    assert lab_secrets.load(path) == first
    assert path.stat().st_mtime_ns == mtime, "a complete file must not be rewritten"
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == first


def test_secrets_differ_between_labs(tmp_path: Path) -> None:
    a = lab_secrets.load(tmp_path / "a.yml")
    b = lab_secrets.load(tmp_path / "b.yml")
    assert all(a[k] != b[k] for k in a)


def test_missing_secret_is_added_and_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    first = lab_secrets.load(path)
    kept = {k: v for k, v in first.items() if k != "tsig_key"}
    path.write_text(yaml.safe_dump(kept), encoding="utf-8")
    again = lab_secrets.load(path)
    assert {k: again[k] for k in kept} == kept
    assert again["tsig_key"] and again["tsig_key"] != first["tsig_key"]
    assert _mode(path) == 0o600


def test_vrrp_auth_fits_keepalived(tmp_path: Path) -> None:
    for i in range(5):
        value = lab_secrets.load(tmp_path / f"{i}.yml")["vrrp_auth"]
        assert 1 <= len(value) <= 8
        assert value.isalnum()


def test_bad_secrets_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="delete the file"):
        lab_secrets.load(path)


def test_redacted_has_no_real_values(tmp_path: Path) -> None:
    real = lab_secrets.load(tmp_path / "secrets.yml")
    shown = lab_secrets.redacted()
    assert set(shown) == set(real)
    for name, value in shown.items():
        assert name in value
        assert real[name] not in value
        assert all(r not in value for r in real.values())
