#!/usr/bin/env bash
# First script after the reboot provisioner of el9.pkr.hcl: fails unless the system really
# rebooted into its default kernel (the newest one after base.sh's upgrade), so the Guest
# Additions build against the running kernel and nothing below runs on the old system.
set -euo pipefail

log() { printf '[after-reboot] %s\n' "$*" >&2; }

running=$(uname -r)
default=$(grubby --default-kernel)
if [[ $default != "/boot/vmlinuz-$running" ]]; then
  log "error: running kernel $running, but the default kernel is $default (did the reboot happen?)"
  exit 1
fi
log "running the default kernel $running (up since $(uptime -s))"
