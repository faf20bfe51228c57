"""Generated tutorial material: host tables from lab.yml and rendered configs (redacted)."""

from __future__ import annotations

from pathlib import Path

from webfarm import chapters, render, topology
from webfarm import secrets as lab_secrets
from webfarm.roles import ROLES
from webfarm.state import State


def hosts_table(lab: topology.Lab) -> str:
    rows = ["| host | roles | " + " | ".join(lab.networks) + " | memory | chapters |",
            "|---|---|" + "---|" * len(lab.networks) + "---|---|"]
    for h in lab.hosts.values():
        addrs = " | ".join(str(h.addresses.get(n, "")) for n in lab.networks)
        chs = ", ".join(c.tag for c in chapters.CHAPTERS if h in c.hosts(lab))
        rows.append(f"| `{h.name}` | {', '.join(h.roles)} | {addrs} | {h.memory} MB | {chs} |")
    return "\n".join(rows) + "\n"


def vips_table(lab: topology.Lab) -> str:
    rows = ["| VIP | address | port | held by | served by |", "|---|---|---|---|---|"]
    for v in lab.vips.values():
        holders = ", ".join(h.name for h in lab.hosts_with(v.holder))
        pool = ", ".join(h.name for h in lab.hosts_with(v.pool))
        rows.append(f"| `{v.name}` | {v.address} ({v.network}) | {v.port} | {v.holder}: "
                    f"{holders} | {v.pool}: {pool} |")
    return "\n".join(rows) + "\n"


def roles_table() -> str:
    rows = ["| role | what it is | networks | min. memory |", "|---|---|---|---|"]
    for r in ROLES.values():
        rows.append(f"| `{r.name}` | {r.title} | {', '.join(r.networks)} | {r.min_memory} MB |")
    return "\n".join(rows) + "\n"


def generate(lab_file: Path, out: Path) -> None:
    """Write tables for every profile and the default profile's rendered host files."""
    out.mkdir(parents=True, exist_ok=True)
    default = topology.load(lab_file)
    for name in default.profiles:
        lab = topology.load(lab_file, name)
        (out / f"hosts-{name}.md").write_text(hosts_table(lab), encoding="utf-8")
        (out / f"vips-{name}.md").write_text(vips_table(lab), encoding="utf-8")
    (out / "roles.md").write_text(roles_table(), encoding="utf-8")
    render.render_lab(default, lab_secrets.redacted(), State(profile=default.profile),
                      out / "hosts")
