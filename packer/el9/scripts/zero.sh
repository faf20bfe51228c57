#!/usr/bin/env bash
# Give the free space back, so the disk image (qcow2, VDI) stays small and compresses well in
# the .box. First TRIM (fstrim): both builders expose a discarding disk (qemu: disk_discard,
# VirtualBox: hard_drive_discard), so the host frees the blocks without the image growing.
# Where TRIM fails, fill the free space with zeros and delete the file instead (qemu's
# disk_detect_zeroes = unmap turns the zeros into holes; a VDI grows to its full size first).
set -euo pipefail

log() { printf '[zero] %s\n' "$*" >&2; }

# Every mounted xfs/ext4 filesystem of the disk (/, /boot, ...).
mapfile -t MOUNTS < <(findmnt -rn -t xfs,ext4 -o TARGET)
for mnt in "${MOUNTS[@]}"; do
  sync
  if fstrim -v "$mnt"; then
    continue
  fi
  file="$mnt/zero.fill"
  log "fstrim failed on $mnt: zeroing its free space instead"
  # dd stops with "No space left on device": that is the point, not an error.
  dd if=/dev/zero of="$file" bs=1M status=none || true
  sync
  rm -f "$file"
done

# Swap: recreate it empty, keeping its UUID (fstab refers to it).
while read -r dev type _; do
  [[ $type == partition ]] || continue
  uuid=$(blkid -s UUID -o value "$dev" || true)
  log "discarding (or zeroing) swap $dev"
  swapoff "$dev"
  blkdiscard "$dev" 2>/dev/null || dd if=/dev/zero of="$dev" bs=1M status=none || true
  if [[ -n $uuid ]]; then mkswap -U "$uuid" "$dev" >/dev/null; else mkswap "$dev" >/dev/null; fi
done < <(tail -n +2 /proc/swaps)

sync
log "done"
