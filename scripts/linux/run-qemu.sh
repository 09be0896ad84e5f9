#!/usr/bin/env bash
# Boots Debian's kernel and the project's initramfs under QEMU (TCG), the reference for mykvm's Linux demo:
# fetches the kernel and builds the initramfs if needed, then runs QEMU with the serial console on this terminal.
#   scripts/linux/run-qemu.sh [KERNEL ARGS...]     e.g. scripts/linux/run-qemu.sh acpi=off
# The kernel command line is "console=ttyS0 panic=-1" plus the arguments. Leave with "exit" (the guest powers off)
# or Ctrl-A X. Extra QEMU options can be given in QEMU_EXTRA.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kernel="$("$here/fetch-kernel.sh")"
initrd="$("$here/build-initramfs.sh")"
# shellcheck disable=SC2086
exec qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=4 ${QEMU_EXTRA:-} \
    -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 panic=-1${*:+ $*}"
