#!/usr/bin/env bash
# Make the image generic before it becomes a box: no package caches, no identity (machine-id,
# SSH host keys, the build VM's network profiles and hostname, DHCP leases), no logs.
# Regenerated at first boot (systemd, sshd-keygen, NetworkManager).
# SELinux and firewalld are left exactly as they are (enforcing, enabled).
set -euo pipefail

log() { printf '[cleanup] %s\n' "$*" >&2; }

log "package caches"
dnf -y autoremove
dnf clean all
rm -rf /var/cache/dnf/*

log "old kernels"
dnf -y remove --oldinstallonly || true  # exits 1 when there is no old kernel to remove

log "rescue kernel and initramfs"
# dracut-config-rescue is left out (kickstart, base.sh), but an image it made may remain.
rm -f /boot/vmlinuz-0-rescue-* /boot/initramfs-0-rescue-* /boot/loader/entries/*-0-rescue.conf

log "machine identity"
# Empty, not missing: systemd fills it in at first boot.
truncate -s 0 /etc/machine-id
if [[ -f /var/lib/dbus/machine-id && ! -L /var/lib/dbus/machine-id ]]; then
  rm -f /var/lib/dbus/machine-id
fi
rm -f /etc/ssh/ssh_host_*
rm -f /var/lib/NetworkManager/*.lease /var/lib/NetworkManager/internal-*
rm -f /var/lib/NetworkManager/secret_key /var/lib/NetworkManager/timestamps
rm -f /var/lib/systemd/random-seed

log "network identity of the build VM"
# Anaconda wrote a connection profile for the build VM's NIC (its UUID, sometimes its MAC);
# without it NetworkManager brings every NIC up with DHCP ("Wired connection N", created at
# boot), which is what Vagrant expects of eth0. The running connection stays up until the
# shutdown: NetworkManager does not watch these files.
rm -f /etc/NetworkManager/system-connections/*
find /etc/sysconfig/network-scripts -maxdepth 1 -name 'ifcfg-*' ! -name ifcfg-lo -delete 2>/dev/null || true
# No hostname: Vagrant sets each VM's (config.vm.hostname); until then systemd uses DHCP's or
# "localhost".
rm -f /etc/hostname

log "logs and temporary files"
journalctl --rotate || true
journalctl --vacuum-time=1s || true
find /var/log -type f \( -name '*.gz' -o -name '*-[0-9]*' -o -name '*.old' \) -delete
find /var/log -type f -exec truncate -s 0 {} +
rm -rf /var/log/anaconda
rm -f /root/anaconda-ks.cfg /root/original-ks.cfg /root/ks-post.log
rm -f /root/.bash_history /home/vagrant/.bash_history
rm -rf /tmp/* /var/tmp/*
