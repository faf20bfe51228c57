#!/usr/bin/env bash
# Build a Debian 12 (bookworm) Vagrant box for the libvirt provider from Debian's archive alone
# (no ISO, no Packer, no internet beyond the Debian mirror).
#
# Usage: build-box.sh OUTPUT.box [PACKAGE...]
#
#   OUTPUT.box   where to write the box (a tar of metadata.json, Vagrantfile, box.img)
#   PACKAGE...   extra Debian packages for the box's offline package cache (added to the list
#                in $PACKAGES_FILE)
#
# Environment (all optional):
#   MIRROR           Debian mirror (default: first URIs: of /etc/apt/sources.list.d/debian.sources,
#                    else http://deb.debian.org/debian)
#   SECURITY_MIRROR  Debian security mirror (default: the bookworm-security URIs: of the same
#                    file, else http://deb.debian.org/debian-security; "none" to skip)
#   PACKAGES_FILE    package-cache list, one name per line, '#' comments
#                    (default: packages.txt next to this script; "none" for no cache)
#   DISK_SIZE        virtual disk size in GiB (default: 8)
#   WORK_DIR         scratch directory (default: a new one under /var/tmp, removed at the end)
#
# The box:
#   * debootstrap --variant=minbase, cloud kernel (IP_VS module, virtio in the initrd), grub on
#     an msdos disk, root by LABEL=root, net.ifnames=0 (eth0, eth1, ...);
#   * systemd-networkd: DHCP on every NIC through 99-webfarm-dhcp.network (sorts after
#     Vagrant's 50-vagrant-ethN.network), systemd-networkd-wait-online masked, resolved on;
#   * SSH host keys (ECDSA, Ed25519) generated at first boot, empty machine-id;
#   * user vagrant (password vagrant), passwordless sudo, Vagrant's insecure RSA key;
#   * an offline package cache: the packages of the list, with every dependency not already
#     installed, in /var/lib/webfarm/debs/ with a Packages index. It is NOT in sources.list; a
#     guest opts in with:  deb [trusted=yes] file:/var/lib/webfarm/debs ./
set -euo pipefail

# The whole script is one { ... } block: bash parses it before running, so editing this file
# during a build cannot derail the build. (No `exit` after the block: ShellCheck 0.11 then
# takes the EXIT trap's function for dead code, SC2329; the block's last command sets the
# status.)
{
SUITE=bookworm
BASE_PACKAGES=(
  systemd systemd-sysv systemd-resolved dbus libpam-systemd
  openssh-server openssh-sftp-server sudo
  initramfs-tools grub-pc-bin grub2-common
  iproute2 iputils-ping kmod netbase ca-certificates procps udev
  python3 rsync less
)
# installed after the updates are known, so that only the newest kernel is in the box
KERNEL_PACKAGE=linux-image-cloud-amd64 # has IP_VS as a module, virtio in the initrd
# Installed in the box, not only cached: packages whose postinst runs ucf for every one of
# their config files; every ucf call starts debconf's Perl frontend, which costs 5-15 s under
# TCG. Measured on a mini lab (8 VMs at once): Nagios's plugins (chapter 08-monitor) 225 s
# (-basic) + 275 s (-standard) per VM, PHP's common modules (chapters 03, 07, 08) 175 s. Here,
# at native speed, seconds. Programs and config only: no daemon starts from these.
PREINSTALLED_PACKAGES=(monitoring-plugins-basic monitoring-plugins-standard php-cli)
CACHE_DIR_IN_BOX=/var/lib/webfarm/debs

log() { printf '[build-box %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'build-box: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

# ---------------------------------------------------------------------------------------------
# Arguments and environment
# ---------------------------------------------------------------------------------------------
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  usage
  [[ $# -ge 1 ]] && exit 0
  exit 2
fi
OUTPUT=$1
shift
EXTRA_PACKAGES=("$@")

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKAGES_FILE=${PACKAGES_FILE:-$SCRIPT_DIR/packages.txt}
DISK_SIZE=${DISK_SIZE:-8}
SOURCES_FILE=/etc/apt/sources.list.d/debian.sources

# sources_uri SUITE_PATTERN: URIs: of the first deb822 stanza whose Suites: matches the pattern
sources_uri() {
  [[ -r $SOURCES_FILE ]] || return 0
  awk -v pat="$1" '
    /^[[:space:]]*$/ { if (uri != "" && suites ~ pat) { print uri; done = 1; exit } uri = ""; suites = ""; next }
    /^URIs:/   { uri = $2 }
    /^Suites:/ { suites = $0 }
    END { if (!done && uri != "" && suites ~ pat) print uri }
  ' "$SOURCES_FILE"
}
MIRROR=${MIRROR:-$(sources_uri "$SUITE( |$)")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(sources_uri "$SUITE-security")}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

[[ $(id -u) -eq 0 ]] || die "building the debian12 box needs root (debootstrap, loop devices, chroot): run as root or with sudo"
[[ $DISK_SIZE =~ ^[0-9]+$ ]] || die "DISK_SIZE must be a whole number of GiB, got '$DISK_SIZE'"

missing=()
for tool_pkg in debootstrap:debootstrap sfdisk:fdisk losetup:mount partx:util-linux \
  mkfs.ext4:e2fsprogs qemu-img:qemu-utils dpkg-scanpackages:dpkg-dev tar:tar; do
  command -v "${tool_pkg%%:*}" >/dev/null 2>&1 || missing+=("${tool_pkg%%:*} (apt-get install ${tool_pkg##*:})")
done
[[ ${#missing[@]} -eq 0 ]] || die "missing host tools: ${missing[*]}"

# Vagrant's insecure RSA key (Vagrant < 2.3.8 only offers the RSA one)
VAGRANT_PUB=${VAGRANT_PUB:-}
if [[ -z $VAGRANT_PUB ]]; then
  for candidate in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
    /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    [[ -r $candidate ]] && VAGRANT_PUB=$candidate && break
  done
fi
[[ -n $VAGRANT_PUB && -r $VAGRANT_PUB ]] ||
  die "Vagrant's insecure public key (keys/vagrant.pub in the vagrant gem) not found: apt-get install vagrant, or set VAGRANT_PUB=FILE"

CACHE_PACKAGES=()
if [[ $PACKAGES_FILE != none ]]; then
  [[ -r $PACKAGES_FILE ]] || die "package list $PACKAGES_FILE not readable (set PACKAGES_FILE=none for no cache)"
  while read -r line; do
    line=${line%%#*}
    for word in $line; do CACHE_PACKAGES+=("$word"); done
  done <"$PACKAGES_FILE"
fi
CACHE_PACKAGES+=("${EXTRA_PACKAGES[@]}")

OUTPUT_DIR=$(dirname "$OUTPUT")
mkdir -p "$OUTPUT_DIR"
OUTPUT=$(cd "$OUTPUT_DIR" && pwd)/$(basename "$OUTPUT")

# ---------------------------------------------------------------------------------------------
# Scratch space and cleanup (safe after a failure at any step)
# ---------------------------------------------------------------------------------------------
OWN_WORK_DIR=0
if [[ -z ${WORK_DIR:-} ]]; then
  WORK_DIR=$(mktemp -d /var/tmp/webfarm-box.XXXXXX)
  OWN_WORK_DIR=1
fi
mkdir -p "$WORK_DIR"
ROOTFS=$WORK_DIR/rootfs
MNT=$WORK_DIR/mnt
RAW=$WORK_DIR/disk.raw
LOOP=

cleanup() {
  local rc=$?
  set +e
  for m in "$MNT/sys" "$MNT/proc" "$MNT/dev" "$MNT" "$ROOTFS/sys" "$ROOTFS/proc" "$ROOTFS/dev/pts" "$ROOTFS/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  if [[ -n $LOOP ]]; then
    partx -d "$LOOP" 2>/dev/null
    losetup -d "$LOOP"
  fi
  if [[ $OWN_WORK_DIR -eq 1 ]]; then
    rm -rf --one-file-system "$WORK_DIR"
  fi
  [[ $rc -eq 0 ]] || log "FAILED (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root "$@"; }

mount_api() { # mount_api DIR: /dev, /dev/pts, /proc, /sys for a chroot
  mount --bind /dev "$1/dev"
  mount -t devpts devpts "$1/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null || true
  mount -t proc proc "$1/proc"
  mount --bind /sys "$1/sys"
}
umount_api() {
  local m
  for m in "$1/sys" "$1/proc" "$1/dev/pts" "$1/dev"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
}

log "mirror $MIRROR, security ${SECURITY_MIRROR}, work dir $WORK_DIR"
log "package cache: ${#CACHE_PACKAGES[@]} packages"

# ---------------------------------------------------------------------------------------------
# 1. Root filesystem
# ---------------------------------------------------------------------------------------------
log "debootstrap $SUITE (minbase)"
include=$(
  IFS=,
  echo "${BASE_PACKAGES[*]}"
)
debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOTFS" "$MIRROR" >&2

mount_api "$ROOTFS"
# DNS and apt settings for the build only (removed at the end)
rm -f "$ROOTFS/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cat >"$ROOTFS/etc/apt/apt.conf.d/99webfarm-build" <<'EOF'
// build time only: mirrors may be snapshots whose Release files have expired
Acquire::Check-Valid-Until "false";
EOF
# policy-rc.d: no daemon starts inside the chroot
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"

{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [[ $SECURITY_MIRROR == none ]] || echo "deb $SECURITY_MIRROR $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"

log "apt-get update + dist-upgrade (updates, security)"
in_root apt-get update -q >&2
in_root apt-get -q -y -o Dpkg::Options::=--force-confold dist-upgrade >&2
log "installing the kernel ($KERNEL_PACKAGE)"
in_root apt-get -q -y install "$KERNEL_PACKAGE" >&2
log "installing ${PREINSTALLED_PACKAGES[*]} (slow to configure under TCG; no daemon)"
in_root apt-get -q -y --no-install-recommends install "${PREINSTALLED_PACKAGES[@]}" >&2

# ---------------------------------------------------------------------------------------------
# 2. Offline package cache (downloaded against this root's installed set, not installed)
# ---------------------------------------------------------------------------------------------
if [[ ${#CACHE_PACKAGES[@]} -gt 0 ]]; then
  log "downloading the package cache (${CACHE_PACKAGES[*]})"
  in_root apt-get clean
  in_root apt-get -q -y --download-only install "${CACHE_PACKAGES[@]}" >&2
  mkdir -p "$ROOTFS$CACHE_DIR_IN_BOX"
  find "$ROOTFS/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec mv -t "$ROOTFS$CACHE_DIR_IN_BOX" {} +
  (cd "$ROOTFS$CACHE_DIR_IN_BOX" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
  gzip -9kn "$ROOTFS$CACHE_DIR_IN_BOX/Packages"
  cat >"$ROOTFS$CACHE_DIR_IN_BOX/README" <<EOF
Offline package cache of the webfarm lab's debian12 box: the packages below, with every
dependency the box does not already have, downloaded at build time ($(date -u +%Y-%m-%dT%H:%M:%SZ))
from $MIRROR. Not used unless a source points at it:

  echo 'deb [trusted=yes] file:$CACHE_DIR_IN_BOX ./' >/etc/apt/sources.list.d/webfarm-offline.list

Packages: ${CACHE_PACKAGES[*]}
EOF
  n_debs=$(find "$ROOTFS$CACHE_DIR_IN_BOX" -name '*.deb' | wc -l)
  log "package cache: $n_debs .deb files, $(du -sh "$ROOTFS$CACHE_DIR_IN_BOX" | cut -f1)"
fi

# ---------------------------------------------------------------------------------------------
# 3. System configuration
# ---------------------------------------------------------------------------------------------
log "configuring the system"
echo debian12 >"$ROOTFS/etc/hostname"
cat >"$ROOTFS/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	debian12

::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
cat >"$ROOTFS/etc/fstab" <<'EOF'
# <file system>	<mount point>	<type>	<options>		<dump>	<pass>
LABEL=root	/		ext4	errors=remount-ro	0	1
EOF

# network: DHCP on every NIC unless a file sorting earlier (Vagrant's 50-vagrant-*) says otherwise
cat >"$ROOTFS/etc/systemd/network/99-webfarm-dhcp.network" <<'EOF'
# Catch-all: DHCP on every Ethernet NIC. Vagrant's static addresses go in
# 50-vagrant-ethN.network, which sorts first and wins for its interface.
[Match]
Name=eth* en*

[Network]
DHCP=yes
EOF
in_root systemctl enable systemd-networkd.service systemd-resolved.service >&2
ln -sf /dev/null "$ROOTFS/etc/systemd/system/systemd-networkd-wait-online.service"
# no background apt runs (they would hold the dpkg lock while a chapter installs, and fail
# offline) and no e2scrub (25 s of the first boot under TCG)
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done

# SSH: host keys made at first boot (each VM its own), ECDSA and Ed25519 only: an RSA key
# (what ssh-keygen -A adds) is a search for two 1536-bit primes, 9-18 s of CPU under TCG
# (measured in a guest) for every VM of a boot that starts them all at once, and nothing here
# needs it (OpenSSH and Vagrant's net-ssh take an ECDSA host key). sshd -t must run after the
# keys exist; systemd reads $$ as one $.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
mkdir -p "$ROOTFS/etc/systemd/system/ssh.service.d"
cat >"$ROOTFS/etc/systemd/system/ssh.service.d/10-webfarm-host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'for t in ecdsa ed25519; do k=/etc/ssh/ssh_host_$${t}_key; [ -s "$$k" ] || ssh-keygen -q -t "$$t" -N "" -f "$$k"; done'
ExecStartPre=/usr/sbin/sshd -t
EOF
mkdir -p "$ROOTFS/etc/ssh/sshd_config.d"
cat >"$ROOTFS/etc/ssh/sshd_config.d/10-webfarm.conf" <<'EOF'
UseDNS no
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
EOF

# vagrant user
in_root useradd --create-home --shell /bin/bash --user-group vagrant
echo 'vagrant:vagrant' | in_root chpasswd
echo 'root:vagrant' | in_root chpasswd
install -d -m 0700 "$ROOTFS/home/vagrant/.ssh"
install -m 0600 "$VAGRANT_PUB" "$ROOTFS/home/vagrant/.ssh/authorized_keys"
in_root chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$ROOTFS/etc/sudoers.d/vagrant"
chmod 0440 "$ROOTFS/etc/sudoers.d/vagrant"

# boot loader defaults (update-grub runs later on the real disk)
cat >"$ROOTFS/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
echo 'RESUME=none' >"$ROOTFS/etc/initramfs-tools/conf.d/resume"

# apt: the normal Debian sources (a chapter may switch to the offline cache); no build settings
{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [[ $SECURITY_MIRROR == none ]] || echo "deb $SECURITY_MIRROR $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"
in_root apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/*
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
rm -f "$ROOTFS/etc/apt/apt.conf.d/99webfarm-build" "$ROOTFS/usr/sbin/policy-rc.d"

# identity: every clone gets its own machine-id (and so its own DHCP client id)
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$ROOTFS/var/lib/dbus/machine-id"
rm -f "$ROOTFS/etc/resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
rm -rf "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/var/log/*.log "$ROOTFS"/root/.bash_history
umount_api "$ROOTFS"

# ---------------------------------------------------------------------------------------------
# 4. Bootable disk
# ---------------------------------------------------------------------------------------------
log "making a ${DISK_SIZE} GiB disk"
rm -f "$RAW"
truncate -s "${DISK_SIZE}G" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$RAW" >&2
LOOP=$(losetup -f --show -P "$RAW")
# This host's kernel may not parse MSDOS partitions itself: add them by hand
[[ -e /sys/block/${LOOP#/dev/}/${LOOP#/dev/}p1 ]] || partx -a "$LOOP"
PART=${LOOP}p1
if [[ ! -b $PART ]]; then # no udev: make the node from sysfs
  devnum=$(cat "/sys/block/${LOOP#/dev/}/${LOOP#/dev/}p1/dev")
  mknod "$PART" b "${devnum%%:*}" "${devnum##*:}"
fi

log "mkfs.ext4 -L root -d (copying the root filesystem)"
mkfs.ext4 -q -F -L root -d "$ROOTFS" "$PART" >&2
mkdir -p "$MNT"
mount "$PART" "$MNT"
mount_api "$MNT"
log "grub-install + update-grub"
chroot "$MNT" grub-install --target=i386-pc --recheck "$LOOP" >&2
chroot "$MNT" update-grub >&2
# grub-probe saw the loop device: boot by label instead (only on linux lines)
sed -i -E '/^[[:space:]]*linux[[:space:]]/ s#root=[^[:space:]]+#root=LABEL=root#' "$MNT/boot/grub/grub.cfg"
grep -q 'root=LABEL=root' "$MNT/boot/grub/grub.cfg" || die "grub.cfg: no root=LABEL=root after the rewrite"
if grep -E '^[[:space:]]*linux[[:space:]]' "$MNT/boot/grub/grub.cfg" | grep -q '/dev/loop'; then
  die "grub.cfg still names a loop device on a linux line"
fi
umount_api "$MNT"
umount "$MNT"
partx -d "$LOOP" 2>/dev/null || true
losetup -d "$LOOP"
LOOP=

# ---------------------------------------------------------------------------------------------
# 5. The box
# ---------------------------------------------------------------------------------------------
log "qemu-img convert -c -O qcow2"
BOX_DIR=$WORK_DIR/box
mkdir -p "$BOX_DIR"
qemu-img convert -c -O qcow2 "$RAW" "$BOX_DIR/box.img"
rm -f "$RAW"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$DISK_SIZE" >"$BOX_DIR/metadata.json"
cat >"$BOX_DIR/Vagrantfile" <<'EOF'
# Box defaults (webfarm debian12): TCG works everywhere, KVM where it works
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", type: "rsync"
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "qemu"
  end
end
EOF
tmp_box=$OUTPUT.tmp.$$
tar -C "$BOX_DIR" -cf "$tmp_box" metadata.json Vagrantfile box.img
mv -f "$tmp_box" "$OUTPUT"
log "done: $OUTPUT ($(du -h "$OUTPUT" | cut -f1))"
}
