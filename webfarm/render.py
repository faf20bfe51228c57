"""Render the generated files: the top-level Vagrantfile and every host's files.

Host files land in ``.lab/hosts/HOST/``: ``env.sh`` (the WF_* variables the chapter scripts
read) and ``files/NN-slug/...`` rendered from ``webfarm/templates/NN-slug/ROLE/`` for each of
the host's roles (``all/`` for every host). The chapter scripts copy them into place on the VM.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from webfarm import (
    chapters,
    dblb,
    dbplan,
    dnsplan,
    firewall,
    fsutil,
    hostsfile,
    lvs,
    monitor,
    paths,
    timesync,
    topology,
    vrrp,
)
from webfarm import os as osdata
from webfarm.filters import FILTERS, TemplateValueError
from webfarm.state import State
from webfarm.topology import Host, Lab
from webfarm.validation import BOOT_TIMEOUT  # seconds, when lab.yml sets none

TEMPLATES = Path(__file__).parent / "templates"
HOSTS_DIR = paths.HOSTS_DIR
GUEST_ROOT = paths.GUEST_ROOT  # where the project is synced on every VM (rsync)
VAGRANTFILE = paths.VAGRANTFILE
HOST_FILE_MODE = 0o600  # host files carry secrets (TSIG key, VRRP password)
ENV_NAME_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")


_reverse_zone = dnsplan.reverse_zone  # (kept for tests/configs/test_02_dns.py)


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
    env.filters["reverse_zone"] = dnsplan.reverse_zone
    env.filters["ptr"] = dnsplan.ptr
    env.filters["shquote"] = lambda s: shlex.quote(str(s))
    env.filters.update(FILTERS)  # hostname, dnsname, ipv4, oneline, ruby_comment
    # The decisions live in Python (tested there); the templates call them and format.
    env.globals["timesync"] = timesync  # who gives the time to whom (chapter 01)
    env.globals["hostsfile"] = hostsfile  # who /etc/hosts lists, where (chapter 01)
    env.globals["dnsplan"] = dnsplan  # primary/secondaries, zones, records (chapter 02)
    env.globals["lvs"] = lvs  # virtual services, real servers, VIPs on lo (03, 04)
    env.globals["vrrp"] = vrrp  # VRRP instances: router ids, priorities, peers (04)
    env.globals["firewall"] = firewall  # ports the directors open, SELinux (04)
    env.globals["dbplan"] = dbplan  # engine, nodes, bootstrap, arbitrator, users (05)
    env.globals["dblb"] = dblb  # HAProxy's write and read pools, health, stats (06)
    env.globals["monitor"] = monitor  # what Nagios watches, NRPE commands (08)
    return env


# ---------------------------------------------------------------------------------------------
# Vagrantfile
#
# Every value from lab.yml reaches the Vagrantfile as data: one JSON document inside a quoted
# heredoc (no interpolation, no escapes), read by fixed Ruby code in Vagrantfile.j2. Nothing
# from lab.yml is ever pasted between Ruby quotes, so no name can run code in Vagrant.

HEREDOC_END = "WEBFARM_LAB_JSON"  # the heredoc's terminator (never a line of the JSON)


class RenderError(Exception):
    """A generated file could not be rendered; the message names the file and the fix."""


def _host_row(lab: Lab, host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "box": host.os.box,
        "memory": host.memory,
        "cpus": host.cpus,
        "roles": list(host.roles),
        "networks": [[net, str(addr), lab.networks[net].netmask]
                     for net, addr in host.addresses.items()],
        "chapters": [c.slug for c in chapters.CHAPTERS if host in c.hosts(lab)],
    }


def _boot_timeout(lab: Lab, provider: str) -> int:
    value = lab.provider.get(provider, {}).get("boot_timeout", BOOT_TIMEOUT[provider])
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RenderError(f"{lab.source}: provider.{provider}.boot_timeout: {value!r} is not a "
                          "whole number of seconds. Fix: write e.g. "
                          f"boot_timeout: {BOOT_TIMEOUT[provider]}")
    return value


def vagrant_data(default: Lab, labs: dict[str, Lab]) -> dict[str, Any]:
    """What the Vagrantfile needs from the lab, as plain JSON-able data.

    ``default``: the lab in its default profile; ``labs``: the lab in every profile."""
    libvirt = default.provider.get("libvirt", {})
    virtualbox = default.provider.get("virtualbox", {})
    return {
        "lab": default.name,
        "source": paths.in_project(default.source),
        "default_profile": default.profile,
        "guest_root": GUEST_ROOT,
        "libvirt": {
            "driver": libvirt.get("driver", "kvm"),
            "emulator_path": libvirt.get("emulator_path") or "",
            "management_network_name": libvirt["management_network_name"],
            "management_network_address": libvirt["management_network_address"],
            "storage_pool_name": libvirt.get("storage_pool_name") or "",
            "boot_timeout": _boot_timeout(default, "libvirt"),
        },
        "virtualbox": {
            "linked_clone": bool(virtualbox.get("linked_clone", True)),
            "boot_timeout": _boot_timeout(default, "virtualbox"),
        },
        "profiles": {name: [_host_row(lab, h) for h in lab.hosts.values()]
                     for name, lab in labs.items()},
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(", ", ": "))


def lab_json(data: dict[str, Any]) -> str:
    """``data`` as JSON for the heredoc: one line per setting and per host, readable.

    ASCII only, every string escaped by json (no raw line break can occur inside a value), so
    no line can be the heredoc's terminator; both facts are checked, not assumed."""
    lines = ["{"]
    lines += [f"  {_json(k)}: {_json(v)}," for k, v in data.items() if k != "profiles"]
    lines.append('  "profiles": {')
    profiles = list(data["profiles"].items())
    for i, (name, hosts) in enumerate(profiles):
        lines.append(f"    {_json(name)}: [")
        lines += [f"      {_json(h)}" + ("," if j < len(hosts) - 1 else "")
                  for j, h in enumerate(hosts)]
        lines.append("    ]" + ("," if i < len(profiles) - 1 else ""))
    lines += ["  }", "}"]
    text = "\n".join(lines)
    if any(line.strip() == HEREDOC_END for line in text.splitlines()):
        raise RenderError(f"the lab data holds a line {HEREDOC_END}: cannot embed it")
    if json.loads(text) != data:
        raise RenderError("the lab data does not survive a JSON round trip (non-string keys?)")
    return text


def embedded_data(vagrantfile_text: str) -> dict[str, Any]:
    """The lab data a generated Vagrantfile carries (what its Ruby code reads)."""
    start = vagrantfile_text.index(f"<<~'{HEREDOC_END}'")
    body = vagrantfile_text[vagrantfile_text.index("\n", start) + 1:]
    body = body[: body.index(f"\n{HEREDOC_END}\n")]
    return json.loads(body)


def vagrantfile_text(data: dict[str, Any]) -> str:
    """The Vagrantfile for ``data`` (see :func:`vagrant_data`)."""
    try:
        return environment().get_template("Vagrantfile.j2").render(
            data=data, lab_json=lab_json(data), heredoc_end=HEREDOC_END)
    except jinja2.TemplateError as err:
        raise RenderError(f"Vagrantfile.j2: {err}. Fix: correct the template") from err


def vagrantfile(lab_file: Path = topology.DEFAULT_FILE) -> str:
    """The Vagrantfile text for every profile of ``lab_file`` (deterministic)."""
    default = topology.load(lab_file)
    labs = {p: topology.load(lab_file, p) for p in default.profiles}
    return vagrantfile_text(vagrant_data(default, labs))


def write_vagrantfile(lab_file: Path = topology.DEFAULT_FILE, out: Path = VAGRANTFILE) -> bool:
    """Write the Vagrantfile (atomically, once fully generated); True when it changed."""
    return bool(write_files({out: (vagrantfile(lab_file), None)}))


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
        "WF_FILES": f"{paths.guest_host_dir(host.name)}/files",
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


def _render_template(env: jinja2.Environment, name: str, ctx: dict[str, Any], host: Host) -> str:
    try:
        return env.get_template(name).render(ctx)
    except TemplateValueError as err:  # a value that does not fit: the message has the fix
        detail = str(err).removeprefix(f"{name}: ")
        raise RenderError(f"{name} for host {host.name}: {detail}") from err
    except Exception as err:  # any other failure of any template: name it, write nothing
        raise RenderError(f"{name} for host {host.name}: {type(err).__name__}: {err}. Fix: "
                          "run invoke validate and correct lab.yml (or the template)") from err


def _env_sh(variables: dict[str, str], host: Host) -> str:
    """env.sh: one ``export NAME=VALUE`` per variable, every value shell-quoted."""
    lines = ["# generated by webfarm from lab.yml; sourced by provision/chapter.sh"]
    for key, value in sorted(variables.items()):
        if not ENV_NAME_RE.match(key):
            raise RenderError(f"env.sh of {host.name}: {key!r} is not a shell variable name. "
                              "Fix: network names in lab.yml are letters and digits only")
        lines.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def host_files(lab: Lab, host: Host, secrets: dict[str, str], state: State,
               out_dir: Path = HOSTS_DIR) -> dict[Path, str]:
    """env.sh and every template of ``host``, rendered in memory: {path under out_dir: text}.

    Raises :class:`RenderError` (naming the template and the host) before anything is
    written when a template fails."""
    env = environment()
    ctx = context(lab, host, secrets, state)
    root = out_dir / host.name
    files = {root / "env.sh": _env_sh(ctx["env"], host)}
    for name, rel in template_sources(host):
        files[root / "files" / rel] = _render_template(env, name, ctx, host)
    return files


def render_host(lab: Lab, host: Host, secrets: dict[str, str], state: State,
                out_dir: Path = HOSTS_DIR) -> list[Path]:
    """Render env.sh and every template of ``host`` into ``out_dir/HOST``; return the paths.

    Everything is rendered first, then written (atomically, mode 0600: files carry secrets)."""
    files = host_files(lab, host, secrets, state, out_dir)
    write_files({path: (text, HOST_FILE_MODE) for path, text in files.items()})
    return list(files)


def lab_files(lab: Lab, secrets: dict[str, str], state: State,
              out_dir: Path = HOSTS_DIR) -> dict[str, dict[Path, str]]:
    """Every host's files, rendered in memory: {host: {path: text}}."""
    return {h.name: host_files(lab, h, secrets, state, out_dir) for h in lab.hosts.values()}


def render_lab(lab: Lab, secrets: dict[str, str], state: State,
               out_dir: Path = HOSTS_DIR) -> dict[str, list[Path]]:
    """Render every host's files; nothing is written unless every host rendered."""
    rendered = lab_files(lab, secrets, state, out_dir)
    write_files({path: (text, HOST_FILE_MODE)
                 for files in rendered.values() for path, text in files.items()})
    return {name: list(files) for name, files in rendered.items()}


# ---------------------------------------------------------------------------------------------
# Everything `invoke render` writes


def all_files(lab_file: Path, lab: Lab, secrets: dict[str, str], state: State,
              vagrantfile_out: Path = VAGRANTFILE,
              out_dir: Path = HOSTS_DIR) -> dict[Path, tuple[str, int | None]]:
    """The Vagrantfile (every profile of ``lab_file``), the topology diagrams
    (docs/assets/topology-PROFILE.svg) and the host files of ``lab``, rendered in memory:
    {path: (text, mode)}. Nothing is written; any failure raises first."""
    files: dict[Path, tuple[str, int | None]] = {vagrantfile_out: (vagrantfile(lab_file), None)}
    from webfarm import diagram  # the README's topology diagrams, committed like the Vagrantfile

    files.update({path: (text, None) for path, text in diagram.committed(lab_file).items()})
    for host_paths in lab_files(lab, secrets, state, out_dir).values():
        files.update({path: (text, HOST_FILE_MODE) for path, text in host_paths.items()})
    return files


def write_files(files: dict[Path, tuple[str, int | None]]) -> list[Path]:
    """Write each (already rendered) file atomically, skipping those already current;
    return the paths that changed. ``mode`` None keeps an existing file's mode."""
    changed = []
    for path, (text, mode) in files.items():
        if fsutil.is_current(path, text, mode):
            continue
        fsutil.write_atomic(path, text, mode)
        changed.append(path)
    return changed
