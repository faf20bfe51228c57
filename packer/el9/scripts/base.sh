#!/usr/bin/env bash
# Base packages every chapter relies on and a full upgrade. No reboot here: the next
# provisioner of el9.pkr.hcl reboots into the newest kernel and expects the disconnect.
#
# Repositories are left as the distro ships them: the chapters enable what they need
# (highavailability, CRB, EPEL, MySQL's repo...) with `dnf config-manager`, which is in
# dnf-plugins-core.
set -euo pipefail

log() { printf '[base] %s\n' "$*" >&2; }

# The kickstart's %packages has --ignoremissing: if an ISO lacked dracut-config-generic, the
# initramfs already built is hostonly (only the build VM's disk driver). Install it and rebuild.
generic_before=yes
rpm -q dracut-config-generic >/dev/null 2>&1 || generic_before=no

log "installing base packages"
dnf -y install dnf-plugins-core sudo openssh-server rsync tar bzip2 python3 dracut-config-generic
if rpm -q dracut-config-rescue >/dev/null 2>&1; then
  dnf -y remove dracut-config-rescue
fi

if [[ $generic_before == no ]]; then
  log "dracut-config-generic was missing: rebuilding every initramfs without hostonly"
  dracut --force --regenerate-all
fi

log "upgrading to the latest packages of $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
dnf -y upgrade --refresh

# Security stays on: the box keeps SELinux enforcing and firewalld running.
if [[ $(getenforce) != Enforcing ]]; then
  log "error: SELinux is not enforcing; check the kickstart (selinux --enforcing)"
  exit 1
fi
systemctl is-enabled --quiet firewalld || { log "error: firewalld is not enabled"; exit 1; }

# kdump is off (kickstart: %addon com_redhat_kdump --disable); make sure, in case an ISO's
# Anaconda ignored the addon.
if systemctl cat kdump.service >/dev/null 2>&1; then
  log "disabling kdump"
  systemctl disable --now kdump.service
fi

log "done; the next provisioner reboots into the newest kernel"
