#!/usr/bin/env bash
# qemu-system-x86_64 wrapper for libvirt under TCG (no KVM): caps QEMU's translation-block
# cache. QEMU 7.2 gives TCG a 1 GiB cache by default, so a 512 MB guest costs ~1.5 GB of host
# RAM; with tb-size=128 it costs ~0.45 GB. vagrant-libvirt has no knob for this, but its
# `emulator_path` can point here.
#
# Rewrites (every other argument passes through untouched, so libvirt's capability probes work):
#   -accel tcg[,opts]                 -> -accel tcg[,opts],tb-size=N   (unless tb-size given)
#   -machine TYPE,...,accel=tcg,...   -> -machine TYPE,... -accel tcg,tb-size=N
#   (also -M / --machine / --accel; accel lists such as accel=kvm:tcg are left alone)
#
# Settings:
#   WEBFARM_TCG_TB_SIZE   cache size in MiB (default: the first line of
#                         $WEBFARM_TCG_TB_SIZE_FILE, else 128). libvirtd clears the environment
#                         of the QEMU it starts, so under libvirt use the file.
#   WEBFARM_TCG_TB_SIZE_FILE  default /etc/webfarm/tcg-tb-size
#   WEBFARM_QEMU_BIN      the real QEMU (default /usr/bin/qemu-system-x86_64)
set -euo pipefail

qemu=${WEBFARM_QEMU_BIN:-/usr/bin/qemu-system-x86_64}
tb_size=${WEBFARM_TCG_TB_SIZE:-}
tb_file=${WEBFARM_TCG_TB_SIZE_FILE:-/etc/webfarm/tcg-tb-size}
if [[ -z $tb_size && -r $tb_file ]]; then
  read -r tb_size <"$tb_file" || true
fi
tb_size=${tb_size:-128}
if ! [[ $tb_size =~ ^[1-9][0-9]*$ ]]; then
  echo "qemu-tcg-wrapper: WEBFARM_TCG_TB_SIZE must be a positive number of MiB, got '$tb_size'" >&2
  exit 1
fi

# add_tb_size OPTS: OPTS of a tcg -accel, with tb-size=N unless it already has one
add_tb_size() {
  if [[ ,$1, == *,tb-size=* ]]; then
    printf '%s' "$1"
  else
    printf '%s,tb-size=%s' "$1" "$tb_size"
  fi
}

out=()
extra_accel=0
args=("$@")
i=0
while [[ $i -lt ${#args[@]} ]]; do
  arg=${args[$i]}
  case $arg in
  -accel | --accel)
    if [[ $((i + 1)) -lt ${#args[@]} ]]; then
      val=${args[$((i + 1))]}
      if [[ $val == tcg || $val == tcg,* || $val == accel=tcg || $val == accel=tcg,* ]]; then
        val=$(add_tb_size "$val")
      fi
      out+=("$arg" "$val")
      i=$((i + 2))
      continue
    fi
    ;;
  -machine | --machine | -M)
    if [[ $((i + 1)) -lt ${#args[@]} ]]; then
      val=${args[$((i + 1))]}
      if [[ ,$val, == *,accel=tcg,* ]]; then
        # drop accel=tcg from -machine (QEMU refuses -accel together with -machine accel=)
        IFS=, read -r -a parts <<<"$val"
        kept=()
        for p in "${parts[@]}"; do
          [[ $p == accel=tcg ]] || kept+=("$p")
        done
        val=$(
          IFS=,
          printf '%s' "${kept[*]}"
        )
        extra_accel=1
        if [[ -z $val ]]; then # it was only accel=tcg
          i=$((i + 2))
          continue
        fi
      fi
      out+=("$arg" "$val")
      i=$((i + 2))
      continue
    fi
    ;;
  esac
  out+=("$arg")
  i=$((i + 1))
done
if [[ $extra_accel -eq 1 ]]; then
  out+=(-accel "tcg,tb-size=$tb_size")
fi

exec "$qemu" "${out[@]}"
