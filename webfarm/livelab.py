"""The lab a task acts on: lab.yml's profile with the run state applied, its secrets checked,
and (for a lab that is up) its network namespace entered."""

from __future__ import annotations

from pathlib import Path

from webfarm import args, labns, paths, topology
from webfarm import state as lab_state
from webfarm.args import UserError
from webfarm.topology import Lab


def load_lab(profile: str | None = None, lab_file: Path | str = paths.LAB_FILE,
             st: lab_state.State | None = None) -> Lab:
    """The lab for ``profile``, else the profile that is up (.lab/state.yml), else lab.yml's.
    ``st`` is the run state to apply (default: .lab/state.yml, checked)."""
    st = st if st is not None else lab_state.load()
    if profile is None and st.profile is not None:
        known = topology.load(lab_file).profiles
        if st.profile not in known:
            raise UserError(f"{lab_state.STATE_FILE}: profile: {args.shown(st.profile)} is not "
                            f"a profile of {lab_file} (profiles: {', '.join(known)}). Fix: pass "
                            f"--profile NAME, or delete {lab_state.STATE_FILE} (it is run state "
                            "and is rebuilt)")
    lab = topology.load(lab_file, profile or st.profile)
    for provider, options in st.provider.items():
        lab = lab.with_provider(provider, **options)
    return lab


def check_secrets() -> None:
    """Refuse a damaged .lab/secrets.yml now, before anything starts (generates nothing)."""
    from webfarm import secrets as lab_secrets

    lab_secrets.read()


def live_lab(profile: str | None, secrets: bool = True) -> Lab:
    """For tasks on a lab that is up: check the profile option, the run state and (when the
    task uses them) the secrets, load the lab, then enter its network namespace if it lives
    in one."""
    lab = load_lab(args.profile_name(profile))
    if secrets:
        check_secrets()
    labns.enter_lab_namespace()
    return lab
