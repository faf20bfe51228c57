# shellcheck shell=bash
# Shared helpers for every chapter script. Sourced by provision/chapter.sh after the host's
# env.sh, so WF_* variables (see .lab/hosts/HOST/env.sh) are set.
#
# Every helper is idempotent and counts what it really changed in WF_CHANGES; a chapter that
# runs a second time on a host that is already right reports changed=0.
#
# Groups, in this order: run state and logging; exit handlers and temporary files; host facts;
# packages; files; services; kernel settings; firewall; SELinux; DNS (BIND).

WF_CHANGES=${WF_CHANGES:-0}
WF_PENDING_RESTART=${WF_PENDING_RESTART:-}
WF_APT_UPDATED=${WF_APT_UPDATED:-0}

# =============================================================================================
# Run state and logging: what the chapter prints and the changed=N count.

wf_log() {
  # wf_log TEXT...: one line of the chapter's log, tagged with the host and the chapter.
  printf '[%s %s] %s\n' "${WF_HOST:-?}" "${WF_CHAPTER:-?}" "$*"
}

wf_changed() {
  # Record one change (with a reason) for the chapter's changed=N summary.
  WF_CHANGES=$((WF_CHANGES + 1))
  wf_log "changed: $*"
}

# =============================================================================================
# Exit handlers and temporary files. Bash has one EXIT trap per shell, so chapter scripts never
# set `trap ... EXIT` themselves: wf_on_exit adds a command to a list that one trap runs when
# the shell exits, whether the chapter succeeds, stops on an error (set -e) or is killed by a
# signal. A subshell ($(...), a stage of a pipeline, ( ... )) runs none of its parent's
# handlers; what is registered inside a subshell runs when that subshell exits.

wf_on_exit() {
  # wf_on_exit COMMAND [ARG...]: run COMMAND ARG... when this shell exits, after the handlers
  # registered before it. The first call in a shell sets the one EXIT trap; an EXIT trap the
  # main shell already had (set with `trap`) is kept as the first handler.
  local handler previous
  printf -v handler '%q ' "$@"
  if [ "${WF_EXIT_OWNER:-}" != "$BASHPID" ]; then
    WF_EXIT_OWNER=$BASHPID
    WF_EXIT_HANDLERS=()
    if [ "$BASHPID" = "$$" ]; then # in a subshell, `trap -p` shows the parent's trap
      previous=$(trap -p EXIT)
      if [ -n "$previous" ]; then
        eval "set -- $previous" # trap -- 'COMMAND' EXIT
        if [ "$3" != wf_run_exit_handlers ]; then WF_EXIT_HANDLERS+=("$3"); fi
      fi
    fi
    trap wf_run_exit_handlers EXIT
  fi
  WF_EXIT_HANDLERS+=("${handler% }")
}

wf_cancel_exit() {
  # wf_cancel_exit COMMAND [ARG...]: forget the first handler registered with exactly these
  # words (its work is done). Nothing to do when there is none.
  local handler i
  [ "${WF_EXIT_OWNER:-}" = "$BASHPID" ] || return 0
  printf -v handler '%q ' "$@"
  for i in "${!WF_EXIT_HANDLERS[@]}"; do
    if [ "${WF_EXIT_HANDLERS[i]}" = "${handler% }" ]; then
      unset 'WF_EXIT_HANDLERS[i]'
      return 0
    fi
  done
  return 0
}

wf_run_exit_handlers() {
  # The one EXIT trap: run every handler in the order registered. A failing handler is reported
  # on stderr and the others still run; the shell exits with the status it had.
  local status=$? handler
  if [ "${WF_EXIT_OWNER:-}" = "$BASHPID" ]; then
    for handler in "${WF_EXIT_HANDLERS[@]}"; do
      eval "$handler" || wf_log "exit handler failed: $handler" >&2
    done
    WF_EXIT_HANDLERS=()
  fi
  return "$status"
}

wf_mktemp() {
  # wf_mktemp VAR: create a temporary file and put its path in the variable VAR; the file is
  # removed when the shell exits, or sooner by wf_rmtemp. Call it as `wf_mktemp tmp`, never
  # inside $(...): the removal would be registered in that subshell and run at once.
  local _wf_mktemp_path
  if [[ ! ${1:-} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ "$1" = _wf_mktemp_path ]; then
    echo "wf_mktemp: '${1:-}' is not a variable name to store the path in" >&2
    return 2
  fi
  _wf_mktemp_path=$(mktemp)
  wf_on_exit rm -f -- "$_wf_mktemp_path"
  printf -v "$1" '%s' "$_wf_mktemp_path"
}

wf_rmtemp() {
  # wf_rmtemp PATH: remove a temporary file made by wf_mktemp now, and forget its exit handler.
  rm -f -- "$1"
  wf_cancel_exit rm -f -- "$1"
}

# =============================================================================================
# Host facts: what lab.yml says about this host (WF_ROLES, WF_NETWORKS from env.sh).

wf_has_role() {
  # wf_has_role ROLE: does this host have the role?
  case " $WF_ROLES " in *" $1 "*) return 0 ;; esac
  return 1
}

wf_on_network() {
  # wf_on_network NETWORK: is this host on the lab network (front, db)?
  case " $WF_NETWORKS " in *" $1 "*) return 0 ;; esac
  return 1
}

# =============================================================================================
# Packages

wf_installed() {
  # wf_installed PKG: is the package installed?
  case "$WF_PKG_MANAGER" in
    apt) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$' ;;
    dnf) rpm -q --whatprovides "$1" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

wf_install() {
  # wf_install PKG...: install the packages that are not installed yet.
  local missing=() pkg
  for pkg in "$@"; do
    wf_installed "$pkg" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  wf_log "installing ${missing[*]}"
  case "$WF_PKG_MANAGER" in
    apt)
      if [ "$WF_APT_UPDATED" = 0 ]; then
        apt-get update -qq
        WF_APT_UPDATED=1
      fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confold "${missing[@]}"
      ;;
    dnf) dnf install -y -q "${missing[@]}" ;;
    *) echo "unknown package manager $WF_PKG_MANAGER" >&2; return 1 ;;
  esac
  wf_changed "installed ${missing[*]}"
}

# =============================================================================================
# Files: install, move and remove, only when the host differs.

wf_put() {
  # wf_put SRC DEST [MODE] [OWNER:GROUP] [SERVICE]: install SRC as DEST when it differs;
  # a change marks SERVICE (if given) for restart by wf_restart_pending.
  local src=$1 dest=$2 mode=${3:-0644} owner=${4:-root:root} service=${5:-}
  local differs=0
  if [ ! -f "$dest" ] || ! cmp -s "$src" "$dest"; then
    differs=1
  elif [ "$(stat -c '%a %U:%G' "$dest")" != "${mode#0} $owner" ]; then
    differs=1
  fi
  [ "$differs" = 0 ] && return 0
  install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest"
  if [ "$WF_SELINUX" = 1 ] && command -v restorecon >/dev/null; then
    restorecon -F "$dest" || true
  fi
  wf_changed "wrote $dest"
  [ -n "$service" ] && wf_mark_restart "$service"
  return 0
}

wf_put_text() {
  # wf_put_text DEST MODE OWNER SERVICE <<< TEXT: like wf_put, content from stdin.
  local tmp
  wf_mktemp tmp
  cat >"$tmp"
  wf_put "$tmp" "$@"
  wf_rmtemp "$tmp"
}

wf_move() {
  # wf_move SRC DEST: rename SRC to DEST when SRC exists (nothing to do otherwise). Used to set
  # a file aside as NAME.disabled (a name apt and dnf skip silently) and to bring it back.
  [ -e "$1" ] || return 0
  mv -f -- "$1" "$2"
  wf_changed "moved $1 to $2"
}

wf_absent() {
  # wf_absent PATH [SERVICE]: make sure PATH (file or symlink) does not exist; a removal
  # marks SERVICE (if given) for restart.
  local path=$1 service=${2:-}
  if [ -e "$path" ] || [ -L "$path" ]; then
    rm -f -- "$path"
    wf_changed "removed $path"
    if [ -n "$service" ]; then wf_mark_restart "$service"; fi
  fi
  return 0
}

# =============================================================================================
# Services (systemd): enabled and running, or off; restarted once when their files changed.

wf_mark_restart() {
  # wf_mark_restart SERVICE: restart SERVICE at the end of the chapter (once, however many
  # of its files changed).
  case " $WF_PENDING_RESTART " in
    *" $1 "*) ;;
    *) WF_PENDING_RESTART="$WF_PENDING_RESTART $1" ;;
  esac
}

wf_restart_pending() {
  # Restart (or reload-or-restart) every service whose files changed in this run.
  local svc
  for svc in $WF_PENDING_RESTART; do
    wf_log "restarting $svc"
    systemctl restart "$svc"
  done
  WF_PENDING_RESTART=
}

wf_service() {
  # wf_service NAME: enabled at boot and running now.
  local svc=$1
  if ! systemctl is-enabled --quiet "$svc" 2>/dev/null; then
    systemctl enable --quiet "$svc"
    wf_changed "enabled $svc"
  fi
  if ! systemctl is-active --quiet "$svc"; then
    systemctl start "$svc"
    wf_changed "started $svc"
  fi
}

wf_service_off() {
  # wf_service_off NAME: stopped now and disabled at boot. A no-op when NAME is empty (the OS
  # table has no such service) or the unit is not installed.
  local svc=$1
  [ -n "$svc" ] || return 0
  systemctl list-unit-files "$svc.service" >/dev/null 2>&1 || return 0
  if [ "$(systemctl is-enabled "$svc" 2>/dev/null)" = enabled ]; then
    systemctl disable --quiet "$svc"
    wf_changed "disabled $svc"
  fi
  if systemctl is-active --quiet "$svc"; then
    systemctl stop "$svc"
    wf_changed "stopped $svc"
  fi
}

wf_systemd_unit() {
  # wf_systemd_unit SRC NAME: install a unit file as /etc/systemd/system/NAME; when it changed,
  # reload systemd and mark the unit for restart (wf_service NAME then enables/starts it).
  local before=$WF_CHANGES
  wf_put "$1" "/etc/systemd/system/$2" 0644 root:root
  if [ "$WF_CHANGES" != "$before" ]; then
    systemctl daemon-reload
    if systemctl is-active --quiet "$2"; then wf_mark_restart "$2"; fi
  fi
  return 0
}

# =============================================================================================
# Kernel settings

wf_sysctl() {
  # wf_sysctl NAME KEY=VALUE...: persistent sysctls in /etc/sysctl.d/60-webfarm-NAME.conf.
  local name=$1
  shift
  local file="/etc/sysctl.d/60-webfarm-$name.conf" kv
  # process substitution, not a pipe: wf_put_text must run in this shell to count its change
  wf_put_text "$file" 0644 root:root < <(printf '%s\n' "# webfarm: $name" "$@" | sed 's/=/ = /')
  for kv in "$@"; do
    sysctl -q -w "$kv" >/dev/null
  done
}

# =============================================================================================
# Firewall (firewalld, where the OS runs it: EL9; no-ops elsewhere)

wf_firewall_open() {
  # wf_firewall_open PORT/PROTO...: open ports in firewalld where the OS runs it.
  [ "$WF_FIREWALL" = firewalld ] || return 0
  local port reload=0
  for port in "$@"; do
    if ! firewall-cmd --quiet --permanent --query-port="$port"; then
      firewall-cmd --quiet --permanent --add-port="$port"
      wf_changed "firewall: opened $port"
      reload=1
    fi
  done
  if [ "$reload" = 1 ]; then firewall-cmd --quiet --reload; fi
}

wf_firewall_rich() {
  # wf_firewall_rich RULE: a firewalld rich rule (e.g. to accept VRRP), where firewalld runs.
  [ "$WF_FIREWALL" = firewalld ] || return 0
  if ! firewall-cmd --quiet --permanent --query-rich-rule="$1"; then
    firewall-cmd --quiet --permanent --add-rich-rule="$1"
    firewall-cmd --quiet --reload
    wf_changed "firewall: rich rule $1"
  fi
}

# =============================================================================================
# SELinux (where the OS runs it enforcing: EL9; no-ops elsewhere)

wf_selinux_bool() {
  # wf_selinux_bool NAME: turn an SELinux boolean on persistently (SELinux stays enforcing).
  [ "$WF_SELINUX" = 1 ] || return 0
  if [ "$(getsebool "$1" | awk '{print $3}')" != on ]; then
    setsebool -P "$1" on
    wf_changed "selinux: $1 on"
  fi
}

wf_selinux_fcontext() {
  # wf_selinux_fcontext TYPE DIR: label DIR and everything below it with the SELinux file
  # type TYPE, persistently (semanage fcontext rule) and now (restorecon). No-op without
  # SELinux.
  [ "$WF_SELINUX" = 1 ] || return 0
  local type=$1 dir=${2%/} spec relabelled
  spec="$dir(/.*)?"
  if ! semanage fcontext -l -C | awk -v s="$spec" -v t="$type" \
       '$1 == s && index($NF, ":" t ":") { found = 1 } END { exit !found }'; then
    semanage fcontext -a -t "$type" "$spec"
    wf_changed "selinux: $spec labelled $type"
  fi
  if [ -e "$dir" ]; then
    relabelled=$(restorecon -R -v "$dir")
    if [ -n "$relabelled" ]; then wf_changed "selinux: relabelled files under $dir"; fi
  fi
  return 0
}

# =============================================================================================
# DNS (BIND, chapter 02-dns)

wf_next_serial() {
  # wf_next_serial OLD [YYYYMMDD]: the next SOA serial in the YYYYMMDDNN convention: today's
  # first (YYYYMMDD00), or OLD+1 when OLD is already today's or later. Serials only go up:
  # a secondary ignores a zone whose serial did not increase.
  local old=${1:-0} first
  first=${2:-$(date -u +%Y%m%d)}00
  if [ "$old" -ge "$first" ]; then
    echo $((old + 1))
  else
    echo "$first"
  fi
}

wf_zone_freeze() {
  # wf_zone_freeze ZONE: freeze a dynamic zone (rndc freeze: named writes its journal into the
  # zone file and holds updates, so the file may be replaced). From then on, until
  # wf_zone_thaw, any exit of the shell thaws the zone. Fails, with nothing frozen, when named
  # refuses (not running, no such zone).
  wf_on_exit wf_zone_thaw "$1"
  if ! rndc freeze "$1" >/dev/null 2>&1; then
    wf_cancel_exit wf_zone_thaw "$1"
    return 1
  fi
}

wf_zone_thaw() {
  # wf_zone_thaw ZONE: thaw a zone frozen by wf_zone_freeze (named loads the zone file again
  # and takes updates) and forget its exit handler.
  rndc thaw "$1" >/dev/null || return
  wf_cancel_exit wf_zone_thaw "$1"
}
