"""Render the generated files: the top-level Vagrantfile and every host's files.

Host files land in ``.lab/hosts/HOST/``: ``env.sh`` (the WF_* variables the chapter scripts
read) and ``files/NN-slug/...`` rendered from ``webfarm/templates/NN-slug/ROLE/`` for each of
the host's roles (``all/`` for every host). The chapter scripts copy them into place on the VM.
"""

from __future__ import annotations

import ipaddress
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from webfarm import chapters, timesync, topology
from webfarm import os as osdata
from webfarm.state import State
from webfarm.topology import Host, Lab

TEMPLATES = Path(__file__).parent / "templates"
HOSTS_DIR = Path(".lab/hosts")
GUEST_ROOT = "/vagrant"  # where the project is synced on every VM (rsync)
VAGRANTFILE = Path("Vagrantfile")


def _reverse_zone(network: ipaddress.IPv4Network) -> str:
    """in-addr.arpa zone of a /24 (or wider, rounded to whole octets) network."""
    octets = str(network.network_address).split(".")[: max(network.prefixlen // 8, 1)]
    return ".".join(reversed(octets)) + ".in-addr.arpa"


def _ptr(address: ipaddress.IPv4Address, network: ipaddress.IPv4Network) -> str:
    keep = 4 - max(network.prefixlen // 8, 1)
    return ".".join(reversed(str(address).split(".")[-keep:]))


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment (built once: templates compile once per process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["reverse_zone"] = _reverse_zone
    env.filters["ptr"] = _ptr
    env.filters["shquote"] = lambda s: shlex.quote(str(s))
    env.globals["timesync"] = timesync  # who gives the time to whom (chapter 01)
    return env


# ---------------------------------------------------------------------------------------------
# Vagrantfile


def vagrantfile(lab_file: Path = topology.DEFAULT_FILE) -> str:
    """The Vagrantfile text for every profile of ``lab_file`` (deterministic)."""
    default = topology.load(lab_file)
    profiles = {p: topology.load(lab_file, p) for p in default.profiles}
    hosts_by_profile: dict[str, list[dict[str, Any]]] = {}
    for name, lab in profiles.items():
        rows = []
        for h in lab.hosts.values():
            rows.append({
                "name": h.name,
                "box": h.os.box,
                "memory": h.memory,
                "cpus": h.cpus,
                "roles": list(h.roles),
                "networks": [(n, str(a), lab.networks[n].netmask) for n, a in h.addresses.items()],
                "chapters": [c.slug for c in chapters.CHAPTERS if h in c.hosts(lab)],
            })
        hosts_by_profile[name] = rows
    return environment().get_template("Vagrantfile.j2").render(
        lab=default,
        lab_file=str(lab_file),
        profiles=hosts_by_profile,
        guest_root=GUEST_ROOT,
    )


def write_vagrantfile(lab_file: Path = topology.DEFAULT_FILE, out: Path = VAGRANTFILE) -> bool:
    """Write the Vagrantfile; True when its content changed."""
    text = vagrantfile(lab_file)
    if out.exists() and out.read_text(encoding="utf-8") == text:
        return False
    out.write_text(text, encoding="utf-8")
    return True


def vagrantfile_drift(lab_file: Path = topology.DEFAULT_FILE, out: Path = VAGRANTFILE) -> str:
    """A unified diff between the committed Vagrantfile and the generator ('' when equal)."""
    import difflib

    want = vagrantfile(lab_file)
    have = out.read_text(encoding="utf-8") if out.exists() else ""
    return "".join(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                        str(out), "generated from " + str(lab_file)))


# ---------------------------------------------------------------------------------------------
# Host files


def host_env(lab: Lab, host: Host, state: State) -> dict[str, str]:
    """The WF_* variables for one host (written to env.sh and sourced by chapter.sh)."""
    env = {
        "WF_LAB": lab.name,
        "WF_PROFILE": lab.profile,
        "WF_HOST": host.name,
        "WF_DOMAIN": lab.domain,
        "WF_FQDN": lab.fqdn(host),
        "WF_ROLES": " ".join(host.roles),
        "WF_NETWORKS": " ".join(host.networks),
        "WF_PACKAGE_SOURCE": state.package_source,
        "WF_ROOT": GUEST_ROOT,
        "WF_FILES": f"{GUEST_ROOT}/.lab/hosts/{host.name}/files",
    }
    for net, addr in host.addresses.items():
        n = lab.networks[net]
        env[f"WF_ADDR_{net.upper()}"] = str(addr)
        env[f"WF_CIDR_{net.upper()}"] = str(n.cidr)
        env[f"WF_PREFIX_{net.upper()}"] = str(n.prefixlen)
        env[f"WF_IFACE_{net.upper()}"] = host.interface(net)
    return env | osdata.get(host.os.family).env()


def context(lab: Lab, host: Host, secrets: dict[str, str], state: State) -> dict[str, Any]:
    return {
        "lab": lab,
        "host": host,
        "os": osdata.get(host.os.family),
        "secrets": secrets,
        "state": state,
        "networks": lab.networks,
        "vips": lab.vips,
        "env": host_env(lab, host, state),
    }


def template_sources(host: Host) -> list[tuple[str, str]]:
    """(template name, relative output path) for every template that applies to ``host``."""
    out: list[tuple[str, str]] = []
    for ch in chapters.CHAPTERS:
        base = TEMPLATES / ch.slug
        if not base.is_dir():
            continue
        for part in ("all", *host.roles):
            d = base / part
            if not d.is_dir():
                continue
            for src in sorted(d.rglob("*.j2")):
                rel = src.relative_to(d).with_suffix("")
                out.append((src.relative_to(TEMPLATES).as_posix(), f"{ch.slug}/{rel.as_posix()}"))
    return out


def render_host(lab: Lab, host: Host, secrets: dict[str, str], state: State,
                out_dir: Path = HOSTS_DIR) -> list[Path]:
    """Render env.sh and every template of ``host`` into ``out_dir/HOST``; return the paths."""
    env = environment()
    ctx = context(lab, host, secrets, state)
    root = out_dir / host.name
    written: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    env_sh = root / "env.sh"
    lines = ["# generated by webfarm from lab.yml; sourced by provision/chapter.sh"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ctx["env"].items())]
    _write(env_sh, "\n".join(lines) + "\n")
    written.append(env_sh)
    files = root / "files"
    for name, rel in template_sources(host):
        target = files / rel
        _write(target, env.get_template(name).render(ctx))
        written.append(target)
    return written


def render_lab(lab: Lab, secrets: dict[str, str], state: State,
               out_dir: Path = HOSTS_DIR) -> dict[str, list[Path]]:
    return {h.name: render_host(lab, h, secrets, state, out_dir) for h in lab.hosts.values()}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
