#!/usr/bin/env bash
# Base packages every chapter relies on, a full upgrade, then a reboot into the newest kernel
# (Packer's provisioner has expect_disconnect = true; the next one waits, then reconnects).
#
# Repositories are left as the distro ships them: the chapters enable what they need
# (highavailability, CRB, EPEL, MySQL's repo...) with `dnf config-manager`, which is in
# dnf-plugins-core.
set -euo pipefail

log() { printf '[base] %s\n' "$*" >&2; }

log "installing base packages"
dnf -y install dnf-plugins-core sudo openssh-server rsync tar bzip2 python3

log "upgrading to the latest packages of $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
dnf -y upgrade --refresh

# Security stays on: the box keeps SELinux enforcing and firewalld running.
if [[ $(getenforce) != Enforcing ]]; then
  log "error: SELinux is not enforcing; check the kickstart (selinux --enforcing)"
  exit 1
fi
systemctl is-enabled --quiet firewalld || { log "error: firewalld is not enabled"; exit 1; }

log "rebooting into the newest kernel"
systemctl --no-block reboot
