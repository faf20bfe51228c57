#!/usr/bin/env bash
# Run one provisioning chapter on this host:  chapter.sh NN-name HOST
#
# Sources the host's rendered env.sh and the shared helpers, then the chapter's scripts in a
# fixed order: all.sh (every host), ROLE.sh for each of the host's roles, finish.sh. Every
# step is idempotent: running a chapter again resumes or changes nothing (changed=0).
set -euo pipefail

chapter=${1:?usage: chapter.sh NN-name HOST}
host=${2:-$(hostname -s)}
root=${WF_ROOT:-/vagrant}
env_file="$root/.lab/hosts/$host/env.sh"
dir="$root/provision/$chapter"

if [ ! -f "$env_file" ]; then
  echo "chapter.sh: $env_file is missing: run 'invoke render' on the workstation, then" \
       "'vagrant rsync $host' (invoke chapter does both)" >&2
  exit 2
fi
if [ ! -d "$dir" ]; then
  echo "chapter.sh: no chapter $chapter in $root/provision" >&2
  exit 2
fi

# shellcheck source=/dev/null
source "$env_file"
# shellcheck source=provision/lib/common.sh
source "$root/provision/lib/common.sh"
export WF_CHAPTER=$chapter

wf_log "chapter $chapter starts (roles: $WF_ROLES)"
steps=("$dir/all.sh")
for role in $WF_ROLES; do
  steps+=("$dir/$role.sh")
done
steps+=("$dir/finish.sh")
for step in "${steps[@]}"; do
  if [ -f "$step" ]; then
    wf_log "running ${step#"$root"/}"
    # shellcheck source=/dev/null
    source "$step"
  fi
done
wf_restart_pending

mkdir -p /var/lib/webfarm/chapters
printf 'chapter=%s\nhost=%s\nchanged=%s\nfinished=%s\n' "$chapter" "$host" "$WF_CHANGES" \
  "$(date -u +%FT%TZ)" >"/var/lib/webfarm/chapters/$chapter.done"
echo "webfarm: chapter $chapter on $host done, changed=$WF_CHANGES"
