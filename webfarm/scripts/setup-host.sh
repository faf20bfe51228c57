#!/usr/bin/env bash
# Set up a Debian/Ubuntu workstation for webfarm lab. Run from the project's top folder:
#
#   bash webfarm/scripts/setup-host.sh lab    # Vagrant + libvirt + QEMU: to run the lab
#   bash webfarm/scripts/setup-host.sh test   # validators + tools: to run the test suite
#   bash webfarm/scripts/setup-host.sh lab test
#
# As root it runs as it is; as a user it re-runs itself through sudo. Both also create .venv
# with webfarm and its Python dependencies from requirements.lock (owned by the sudo user).
# Daemons installed only for their config validators (named, nginx, keepalived, haproxy,
# chrony) are not started, and not enabled unless they were already installed.
set -euo pipefail

modes=("$@")
[ "${#modes[@]}" -gt 0 ] || modes=(lab)
for m in "${modes[@]}"; do
  case "$m" in
    lab | test) ;;
    *) echo "setup-host.sh: unknown mode '$m' (use: lab, test)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  # Not root: go through sudo when there is one (the venv stays owned by the caller).
  if command -v sudo >/dev/null; then
    exec sudo --preserve-env=PIP_INDEX_URL,PIP_EXTRA_INDEX_URL,PIP_CERT bash "$0" "$@"
  fi
  echo "setup-host.sh installs packages with apt-get: run it as root (sudo is not installed)" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-host.sh supports Debian/Ubuntu (apt-get). Elsewhere install: vagrant," \
       "vagrant-libvirt, libvirt, qemu, python3 >= 3.11 with venv; see README" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
[ -f lab.yml ] || { echo "setup-host.sh: run it from the webfarm project" >&2; exit 2; }

lab_pkgs=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86
          qemu-utils dnsmasq-base iptables ebtables bridge-utils debootstrap rsync fdisk
          dpkg-dev openssh-client iproute2 procps
          chromium)  # headless: invoke screenshot (chapter 08's Nagios page)
# Validators the config tests run (the real daemons' own checkers), plus vagrant validate.
test_pkgs=(bind9 bind9-utils nginx-light php-cli php-mysql keepalived haproxy chrony iproute2
           vagrant vagrant-libvirt rsync openssh-client
           nagios4-core monitoring-plugins-basic)  # nagios4 -v (08); no daemon: no unit
test_pkgs+=(chromium)  # headless: tests/browser opens every built page of the site
validator_services=(named bind9 nginx keepalived haproxy chrony php8.2-fpm)
base_pkgs=(python3 python3-venv python3-pip git ca-certificates)

pkgs=("${base_pkgs[@]}")
for m in "${modes[@]}"; do
  if [ "$m" = lab ]; then pkgs+=("${lab_pkgs[@]}"); else pkgs+=("${test_pkgs[@]}"); fi
done

# Remember which validator daemons were there before, so we only disable what we added.
had=()
for svc in "${validator_services[@]}"; do
  if systemctl list-unit-files "$svc.service" >/dev/null 2>&1 &&
     systemctl list-unit-files "$svc.service" | grep -q "^$svc.service"; then
    had+=("$svc")
  fi
done

echo "setup-host: apt-get install ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  # Keep package scripts from starting daemons we only need for their validators.
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
cleanup
created_policy=0

if [ -d /run/systemd/system ]; then
  for svc in "${validator_services[@]}"; do
    case " ${had[*]:-} " in *" $svc "*) continue ;; esac
    systemctl disable --quiet "$svc" 2>/dev/null || true
  done
  for m in "${modes[@]}"; do
    if [ "$m" = lab ]; then
      systemctl enable --now --quiet libvirtd || true
      if [ -n "${SUDO_USER:-}" ]; then usermod -aG libvirt "$SUDO_USER" || true; fi
    fi
  done
fi

# Python environment, owned by the user who ran sudo.
owner=${SUDO_USER:-root}
run_as() { if [ "$owner" = root ]; then "$@"; else sudo -u "$owner" -- "$@"; fi; }
python=python3
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python=$candidate
    break
  fi
done
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "setup-host.sh: Python >= 3.11 is needed (found $("$python" --version))" >&2; exit 2; }
[ -x .venv/bin/python ] || run_as "$python" -m venv .venv
# Only what requirements.lock names, at its versions and hashes (nothing resolved today);
# then webfarm itself, without build isolation so no unpinned build tool is fetched.
# Upgrading the lock is a deliberate step: .venv/bin/invoke lock (see README).
run_as .venv/bin/pip install -q --require-hashes --no-deps -r requirements.lock
run_as .venv/bin/pip install -q --no-deps --no-build-isolation -e .
echo "setup-host: done (${modes[*]}). Next: .venv/bin/invoke --list"
