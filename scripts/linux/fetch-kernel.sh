#!/usr/bin/env bash
# Fetches Debian's linux-image-amd64 kernel (the versioned linux-image-6.1.*-amd64 package it depends on) with
# apt-get download and leaves it at a stable path:
#
#   $OUT/vmlinuz          the bzImage (Linux boot protocol, 64-bit)
#   $OUT/config           its build configuration
#   $OUT/kernel-release   e.g. 6.1.0-56-amd64
#   $OUT/kernel-package   the package name and version it came from
#
# OUT is .artifacts/linux in the repository unless MYKVM_LINUX_DIR says otherwise.
# Idempotent: once vmlinuz is there nothing is fetched (pass --refresh to fetch the current package again).
# No network beyond apt (apt-get download uses the machine's configured Debian mirrors).
# Prints the path of vmlinuz on stdout; progress goes to stderr.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${MYKVM_LINUX_DIR:-$repo/.artifacts/linux}"
refresh=0
for arg in "$@"; do
    case "$arg" in
        --refresh) refresh=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fetch-kernel: unknown argument $arg" >&2; exit 2 ;;
    esac
done

if [ "$refresh" -eq 0 ] && [ -s "$out/vmlinuz" ]; then
    echo "$out/vmlinuz"
    exit 0
fi

mkdir -p "$out"
# One fetch at a time (parallel test processes may all ask); the second finds vmlinuz there.
exec 9>"$out/.fetch.lock"
flock 9
if [ "$refresh" -eq 0 ] && [ -s "$out/vmlinuz" ]; then
    echo "$out/vmlinuz"
    exit 0
fi

for tool in apt-cache apt-get dpkg-deb tar; do
    command -v "$tool" >/dev/null || { echo "fetch-kernel: $tool is required (a Debian system)" >&2; exit 1; }
done

# linux-image-amd64 is a metapackage; its one dependency is the real, versioned kernel package.
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'; }
pkg="$(resolve || true)"
if [ -z "$pkg" ]; then
    echo "fetch-kernel: apt does not know linux-image-amd64; running apt-get update" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    pkg="$(resolve || true)"
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve the package linux-image-amd64 depends on" >&2; exit 1; }

work="$(mktemp -d "$out/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; as root it warns that it runs unsandboxed, which is harmless.
echo "fetch-kernel: downloading $pkg" >&2
(cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v -e 'unsandboxed' -e '^Get:' >&2 || true)
deb="$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)"
[ -n "$deb" ] || { echo "fetch-kernel: apt-get download $pkg produced no .deb" >&2; exit 1; }

# The same files dpkg -x would give, restricted to boot/: the package's ~400 MiB of modules are of no use to a
# guest booted from an initramfs without them.
mkdir -p "$work/root"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/root" --wildcards './boot/*'
vmlinuz="$(find "$work/root/boot" -name 'vmlinuz-*' -print -quit)"
[ -n "$vmlinuz" ] || { echo "fetch-kernel: $deb has no boot/vmlinuz-*" >&2; exit 1; }
release="${vmlinuz##*/vmlinuz-}"

install -m 0644 "$vmlinuz" "$out/vmlinuz.new"
[ -f "$work/root/boot/config-$release" ] && install -m 0644 "$work/root/boot/config-$release" "$out/config"
echo "$release" > "$out/kernel-release"
dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" > "$out/kernel-package"
mv -f "$out/vmlinuz.new" "$out/vmlinuz"    # last, so a present vmlinuz means the fetch completed
echo "fetch-kernel: $out/vmlinuz is Linux $release" >&2
echo "$out/vmlinuz"
