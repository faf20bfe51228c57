# shellcheck shell=bash
# Chapter 01-base, every host: the ground every later chapter stands on.
#
#   1. Package source. WF_PACKAGE_SOURCE says where packages come from:
#        mirror   the distribution's own repositories, as the box has them (the default);
#        offline  only the package cache baked into the Debian box ($WF_PATH_PACKAGE_CACHE),
#                 for labs with no internet at all (CI). Every other apt source is set aside
#                 as NAME.disabled (apt skips that name silently) so apt never waits for a
#                 mirror it cannot reach; mirror mode brings them back.
#      This comes first: every install below depends on it.
#   2. Identity: the hostname is the host's short name from lab.yml; /etc/hosts maps the
#      host's own full name (FQDN) to its primary address, so `hostname -f` works, and lists
#      every host it shares a network with. DB-only hosts reach no name server (those sit on
#      the front network): for them /etc/hosts IS the resolver.
#   3. Common tools ($WF_PKG_BASE): chrony, curl, dig, jq, tcpdump, nc... on every host.
#   4. Time: chrony, from a time source inside the lab (see the comments in chrony.conf). A
#      host whose chrony.conf says `allow` serves time to others: on EL9 its firewall must
#      let NTP (123/udp) in.
# Every step goes through the wf_* helpers, so a second run changes nothing (changed=0).

# --- 1. package source ------------------------------------------------------------------------
if [ "$WF_PACKAGE_SOURCE" = offline ]; then
  if [ -z "$WF_PATH_PACKAGE_CACHE" ]; then
    echo "01-base: WF_PACKAGE_SOURCE=offline is not supported on $WF_OS_FAMILY ($WF_HOST): only" \
      "the debian12 box carries an offline package cache. Use the mirror package source for" \
      "EL9 hosts (it needs internet access from the VMs)." >&2
    exit 1
  fi
  if [ ! -f "$WF_PATH_PACKAGE_CACHE/Packages" ]; then
    echo "01-base: WF_PACKAGE_SOURCE=offline but this box has no package cache" \
      "($WF_PATH_PACKAGE_CACHE/Packages is missing): rebuild the box with" \
      "packer/debian12/build-box.sh, or use the mirror package source." >&2
    exit 1
  fi
fi

if [ "$WF_PKG_MANAGER" = apt ]; then
  apt_dir=/etc/apt
  has_entries() { [ -f "$1" ] && grep -Eq '^[[:space:]]*(deb|deb-src|Types:)[[:space:]]' "$1"; }
  if [ "$WF_PACKAGE_SOURCE" = offline ]; then
    # Set the distribution's sources aside (keeping them for mirror mode), then leave a note
    # in sources.list for whoever looks there first.
    if has_entries "$apt_dir/sources.list"; then
      wf_move "$apt_dir/sources.list" "$apt_dir/sources.list.disabled"
    fi
    for src in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
      [ "$src" = "$apt_dir/sources.list.d/webfarm-offline.list" ] && continue
      wf_move "$src" "$src.disabled"
    done
    wf_put_text "$apt_dir/sources.list" 0644 root:root <<EOF
# webfarm (chapter 01-base): WF_PACKAGE_SOURCE=offline. The lab has no internet, so apt uses
# only the box's package cache: see sources.list.d/webfarm-offline.list. The distribution's
# sources are kept as *.disabled; running the chapter with WF_PACKAGE_SOURCE=mirror restores them.
EOF
    wf_put_text "$apt_dir/sources.list.d/webfarm-offline.list" 0644 root:root <<EOF
# webfarm (chapter 01-base): the package cache baked into the box (packer/debian12/packages.txt
# and every dependency), indexed with dpkg-scanpackages. trusted=yes: a local flat repository
# has no signed Release file.
deb [trusted=yes] file:$WF_PATH_PACKAGE_CACHE ./
EOF
  else
    # mirror: the distribution's sources, back from an earlier offline run if need be.
    wf_absent "$apt_dir/sources.list.d/webfarm-offline.list"
    if ! has_entries "$apt_dir/sources.list"; then
      wf_move "$apt_dir/sources.list.disabled" "$apt_dir/sources.list"
    fi
    for src in "$apt_dir"/sources.list.d/*.list.disabled "$apt_dir"/sources.list.d/*.sources.disabled; do
      [ -e "${src%.disabled}" ] || wf_move "$src" "${src%.disabled}"
    done
    # No source at all (a hand-made box)? Then Debian's own archive for this release.
    # shellcheck disable=SC2016  # $(REPO_URI) is apt's format field, not a shell expansion
    if [ -z "$(apt-get indextargets --no-release-info --format '$(REPO_URI)')" ]; then
      codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
      wf_put_text "$apt_dir/sources.list" 0644 root:root <<EOF
# webfarm (chapter 01-base): Debian's archive, written because no apt source was configured.
deb http://deb.debian.org/debian $codename main
deb http://deb.debian.org/debian $codename-updates main
deb http://deb.debian.org/debian-security $codename-security main
EOF
    fi
  fi
  unset -f has_entries
fi

# --- 2. identity: hostname and /etc/hosts -------------------------------------------------------
wf_put_text /etc/hostname 0644 root:root <<<"$WF_HOST"
if [ "$(hostname)" != "$WF_HOST" ]; then
  hostname "$WF_HOST"
  wf_changed "hostname set to $WF_HOST"
fi
wf_put "$WF_FILES/01-base/hosts" /etc/hosts 0644 root:root

# --- 3. common tools ----------------------------------------------------------------------------
# shellcheck disable=SC2086  # WF_PKG_BASE is a list of packages: split it into words
wf_install $WF_PKG_BASE

# --- 4. time ------------------------------------------------------------------------------------
wf_put "$WF_FILES/01-base/chrony.conf" "$WF_PATH_CHRONY_CONF" 0644 root:root "$WF_SVC_CHRONY"
wf_service "$WF_SVC_CHRONY"
if grep -q '^allow ' "$WF_FILES/01-base/chrony.conf"; then
  wf_firewall_open 123/udp
fi
