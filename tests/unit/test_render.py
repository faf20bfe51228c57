"""The generated files: the committed top-level Vagrantfile, each host's env.sh and rendered
templates, and the per-lab secrets they use."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from webfarm import chapters, render
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
VAGRANTFILE = ROOT / "Vagrantfile"


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the project's top folder: the generator names lab.yml as given (relative)."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture(scope="module")
def generated() -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        return render.vagrantfile(Path("lab.yml"))


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return lab_secrets.load(tmp_path_factory.mktemp("secrets") / "secrets.yml")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------------
# Vagrantfile


def test_committed_vagrantfile_is_generated_from_lab_yml(in_root: Path) -> None:
    """Same check as `invoke render --check`."""
    assert VAGRANTFILE.exists(), "Vagrantfile is missing: run invoke render (and commit it)"
    drift = render.vagrantfile_drift(Path("lab.yml"), Path("Vagrantfile"))
    assert not drift, "the committed Vagrantfile differs from lab.yml: run invoke render\n" + drift


def test_vagrantfile_generation_is_deterministic(generated: str, in_root: Path) -> None:
    assert render.vagrantfile(Path("lab.yml")) == generated


def test_vagrantfile_header_says_it_is_generated(generated: str) -> None:
    head = "\n".join(generated.splitlines()[:8])
    assert "GENERATED from lab.yml by `invoke render`" in head
    assert "Do not edit" in head


def _profiles_in(text: str) -> dict[str, list[str]]:
    blocks = re.findall(r'^  "([\w-]+)" => \[\n(.*?)^  \],', text, re.MULTILINE | re.DOTALL)
    return {name: re.findall(r'\{ name: "([^"]+)"', body) for name, body in blocks}


def test_every_host_of_every_profile_appears(generated: str, labs: dict[str, Lab]) -> None:
    found = _profiles_in(generated)
    assert set(found) == set(labs)
    for name, lab in labs.items():
        assert found[name] == list(lab.hosts), f"profile {name}"


def test_vagrantfile_carries_each_hosts_settings(generated: str, labs: dict[str, Lab]) -> None:
    for lab in labs.values():
        for host in lab.hosts.values():
            assert (f'{{ name: "{host.name}", box: "{host.os.box}", memory: {host.memory}, '
                    f"cpus: {host.cpus},") in generated
            for net, addr in host.addresses.items():
                assert f'["{net}", "{addr}", "{lab.networks[net].netmask}"]' in generated


def test_vagrantfile_lists_each_hosts_chapters(generated: str, labs: dict[str, Lab]) -> None:
    blocks = dict(re.findall(r'^  "([\w-]+)" => \[\n(.*?)^  \],', generated,
                             re.MULTILINE | re.DOTALL))
    for name, lab in labs.items():
        listed = dict(re.findall(r'\{ name: "([^"]+)".*?chapters: \[([^\]]*)\]', blocks[name],
                                 re.DOTALL))
        for host in lab.hosts.values():
            want = [c.slug for c in chapters.CHAPTERS if host in c.hosts(lab)]
            assert re.findall(r'"([^"]+)"', listed[host.name]) == want, (name, host.name)
            assert "01-base" in want


def test_every_chapter_provisioner_runs_only_when_asked(generated: str) -> None:
    provisioners = [line for line in generated.splitlines() if ".vm.provision " in line]
    assert provisioners, "no chapter provisioner in the Vagrantfile"
    for line in provisioners:
        assert 'run: "never"' in line, line


def test_dhcp_is_disabled_on_lab_networks(generated: str) -> None:
    networks = [line for line in generated.splitlines() if '"private_network"' in line]
    assert networks
    block = generated[generated.index('"private_network"'):]
    block = block[: block.index("\n      end")]
    assert "libvirt__dhcp_enabled: false" in block
    assert 'libvirt__forward_mode: "none"' in block
    assert "dhcp_enabled: true" not in generated


def test_vagrantfile_is_valid_ruby(generated: str, tmp_path: Path) -> None:
    ruby = subprocess.run(["which", "ruby"], capture_output=True, text=True, check=False)
    assert ruby.returncode == 0, "ruby is missing: it comes with vagrant (setup-host.sh test)"
    f = tmp_path / "Vagrantfile"
    f.write_text(generated, encoding="utf-8")
    result = subprocess.run(["ruby", "-c", str(f)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_vagrantfile_for_another_lab_file(tmp_path: Path, in_root: Path) -> None:
    data = yaml.safe_load((ROOT / "lab.yml").read_text(encoding="utf-8"))
    data["lab"]["profile"] = "mini"
    data["provider"]["libvirt"]["driver"] = "qemu"
    f = tmp_path / "other.yml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    text = render.vagrantfile(f)
    assert f"GENERATED from {f}" in text
    assert 'ENV.fetch("WEBFARM_PROFILE", "mini")' in text
    assert 'ENV.fetch("WEBFARM_LIBVIRT_DRIVER", "qemu")' in text


def test_write_vagrantfile_reports_change(tmp_path: Path, in_root: Path) -> None:
    out = tmp_path / "Vagrantfile"
    assert render.write_vagrantfile(Path("lab.yml"), out) is True
    assert render.write_vagrantfile(Path("lab.yml"), out) is False
    assert render.vagrantfile_drift(Path("lab.yml"), out) == ""
    out.write_text(out.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert "# edited" in render.vagrantfile_drift(Path("lab.yml"), out)


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
