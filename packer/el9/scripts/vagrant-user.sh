#!/usr/bin/env bash
# The vagrant user as Vagrant expects it: Vagrant's insecure public keys in authorized_keys
# (Vagrant replaces them with a per-machine key on first `vagrant up`), passwordless sudo.
set -euo pipefail

VAGRANT_USER=vagrant
VAGRANT_HOME=$(getent passwd "$VAGRANT_USER" | cut -d: -f6)

# Both insecure public keys. Vagrant < 2.3.8 (Debian 12 ships 2.3.4) only knows the RSA one,
# so the box must accept it; newer Vagrant offers the ed25519 one first.
# RSA: keys/vagrant.pub of the vagrant 2.3.4 gem (Debian's package), byte for byte.
# ed25519: keys/vagrant.pub.ed25519 of hashicorp/vagrant (added in 2.3.8).
VAGRANT_INSECURE_KEYS=(
  'ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key'
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN1YdxBpNlzxDqfJyw/QKow1F+wvG9hXGoqiysfJOn5Y vagrant insecure public key'
)

install -d -m 0700 -o "$VAGRANT_USER" -g "$VAGRANT_USER" "$VAGRANT_HOME/.ssh"
printf '%s\n' "${VAGRANT_INSECURE_KEYS[@]}" >"$VAGRANT_HOME/.ssh/authorized_keys"
chown "$VAGRANT_USER:$VAGRANT_USER" "$VAGRANT_HOME/.ssh/authorized_keys"
chmod 0600 "$VAGRANT_HOME/.ssh/authorized_keys"
# SELinux is enforcing: sshd only reads authorized_keys labelled ssh_home_t.
restorecon -R "$VAGRANT_HOME/.ssh"

# Passwordless sudo (the kickstart's %post wrote the same; idempotent).
SUDOERS=/etc/sudoers.d/vagrant
printf '%s\n' 'Defaults:vagrant !requiretty' 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$SUDOERS.tmp"
chmod 0440 "$SUDOERS.tmp"
visudo -cf "$SUDOERS.tmp"
mv -f "$SUDOERS.tmp" "$SUDOERS"
restorecon "$SUDOERS"

echo "[vagrant-user] ${#VAGRANT_INSECURE_KEYS[@]} insecure keys installed for $VAGRANT_USER" >&2
