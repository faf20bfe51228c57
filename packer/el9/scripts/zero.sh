#!/usr/bin/env bash
# Fill the free space with zeros, then delete the file, so the disk image (qcow2, VDI)
# compresses well in the .box. The final `sync` makes sure the blocks are written.
set -euo pipefail

log() { printf '[zero] %s\n' "$*" >&2; }

# Every mounted xfs/ext4 filesystem of the disk (/, /boot, ...).
mapfile -t MOUNTS < <(findmnt -rn -t xfs,ext4 -o TARGET)
for mnt in "${MOUNTS[@]}"; do
  file="$mnt/zero.fill"
  log "zeroing free space of $mnt"
  # dd stops with "No space left on device": that is the point, not an error.
  dd if=/dev/zero of="$file" bs=1M status=none || true
  sync
  rm -f "$file"
done

# Swap: recreate it empty, keeping its UUID (fstab refers to it).
while read -r dev type _; do
  [[ $type == partition ]] || continue
  uuid=$(blkid -s UUID -o value "$dev" || true)
  log "zeroing swap $dev"
  swapoff "$dev"
  dd if=/dev/zero of="$dev" bs=1M status=none || true
  if [[ -n $uuid ]]; then mkswap -U "$uuid" "$dev" >/dev/null; else mkswap "$dev" >/dev/null; fi
done < <(tail -n +2 /proc/swaps)

sync
log "done"
