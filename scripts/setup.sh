#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for mykvm: the guest toolchain, the reference emulators and the real
# guests from Debian packages, then builds the in-repo guest kernels. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(make gcc gcc-multilib nasm binutils cpio qemu-system-x86 busybox-static memtest86+ libunicorn2 gdb acpica-tools grub-common tmux)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null; then
    echo "setup: the .NET 10 SDK is required (dotnet on PATH)" >&2
    exit 1
fi

make -C guests -s -j"$(nproc)"
echo "setup: done" >&2
