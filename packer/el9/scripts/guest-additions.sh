#!/usr/bin/env bash
# VirtualBox Guest Additions (shared folders, time sync). Only for the virtualbox-iso build:
# Packer uploads VBoxGuestAdditions.iso (guest_additions_mode = "upload"); the libvirt box
# needs nothing here.
set -euo pipefail

log() { printf '[guest-additions] %s\n' "$*" >&2; }

if [[ ${PACKER_BUILDER_TYPE:-} != virtualbox-iso ]]; then
  log "skipped (builder: ${PACKER_BUILDER_TYPE:-unknown})"
  exit 0
fi

ISO=${GUEST_ADDITIONS_ISO:-/home/vagrant/VBoxGuestAdditions.iso}
[[ -f $ISO ]] || { log "error: $ISO not found (guest_additions_mode = upload?)"; exit 1; }

# Build tools for the kernel modules; kernel-devel must match the running kernel (base.sh
# upgraded and rebooted, so the running kernel is the newest one in the repositories).
log "installing build dependencies for kernel $(uname -r)"
dnf -y install "kernel-devel-$(uname -r)" gcc make perl bzip2 elfutils-libelf-devel

MOUNT_DIR=$(mktemp -d)
cleanup() {
  umount "$MOUNT_DIR" 2>/dev/null || true
  rmdir "$MOUNT_DIR" 2>/dev/null || true
  rm -f "$ISO"
}
trap cleanup EXIT

mount -o loop,ro "$ISO" "$MOUNT_DIR"
log "running VBoxLinuxAdditions.run"
# The installer exits 2 when it cannot load the modules into the running kernel before a
# reboot (the usual case in a build VM), so judge by the result: vboxsf (shared folders)
# built by the Guest Additions, not an in-tree module of the distro kernel.
rc=0
sh "$MOUNT_DIR/VBoxLinuxAdditions.run" --nox11 || rc=$?
module=$(modinfo -F filename vboxsf 2>/dev/null || true)
if [[ -z $module || $module == */kernel/* ]]; then
  log "error: vboxsf not built (installer exit $rc); see /var/log/vboxadd-setup.log"
  exit 1
fi
log "installed $module (installer exit $rc)"
