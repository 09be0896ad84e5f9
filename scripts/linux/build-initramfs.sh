#!/usr/bin/env bash
# Builds the Linux guest's initramfs from busybox-static: a gzip'd cpio "newc" archive (the format the kernel
# unpacks, Documentation/driver-api/early-userspace/buffer-format.rst) holding
#
#   /bin/busybox                    the static busybox (BUSYBOX, default /bin/busybox)
#   /bin, /sbin, /usr/bin, /usr/sbin symlinks to it for every applet (busybox --list-full)
#   /init                           scripts/linux/initramfs/init: mounts proc, sys, devtmpfs; prints MYKVM-INIT-OK;
#                                   runs "setsid cttyhack sh" on the console; powers off when the shell exits
#   /bin/mykvm-poweroff             scripts/linux/initramfs/mykvm-poweroff (works with acpi=off too)
#   /dev/console, /proc, /sys, /tmp, /root, /etc
#
# The archive is written here rather than by cpio(1), so that it is reproducible without root (the /dev/console
# node needs no mknod) and byte-for-byte deterministic: entries sorted, owner root, mtime SOURCE_DATE_EPOCH
# (default 0), inode numbers in order, gzip -n. The output is replaced only when its content changes.
#
# Usage: build-initramfs.sh [-o OUTPUT]   (default .artifacts/linux/initramfs.img, or $MYKVM_LINUX_DIR/initramfs.img)
# Prints the output path on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
output="${MYKVM_LINUX_DIR:-$repo/.artifacts/linux}/initramfs.img"
busybox="${BUSYBOX:-/bin/busybox}"
mtime="${SOURCE_DATE_EPOCH:-0}"

while [ $# -gt 0 ]; do
    case "$1" in
        -o) output="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-initramfs: unknown argument $1" >&2; exit 2 ;;
    esac
done

[ -x "$busybox" ] || { echo "build-initramfs: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
# A dynamically linked busybox (Debian's "busybox" package) would need a libc the initramfs does not have.
if command -v readelf >/dev/null && readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    echo "build-initramfs: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi
command -v gzip >/dev/null || { echo "build-initramfs: gzip is required" >&2; exit 1; }

# The entry list, one per line: TYPE PATH MODE [ARG...], paths relative to the archive root.
entries="$(mktemp)"
archive="$(mktemp)"
trap 'rm -f "$entries" "$archive"' EXIT
{
    for d in bin dev etc proc root sbin sys usr usr/bin usr/sbin; do echo "dir $d 755"; done
    echo "dir tmp 1777"
    echo "nod dev/console 600 5 1"
    echo "file init 755 $here/initramfs/init"
    echo "file bin/busybox 755 $busybox"
    echo "file bin/mykvm-poweroff 755 $here/initramfs/mykvm-poweroff"
    echo "file etc/passwd 644 -root:x:0:0:root:/root:/bin/sh"
    echo "file etc/group 644 -root:x:0:"
    # linuxrc (no directory) is an init replacement; /init is ours.
    "$busybox" --list-full | grep / | grep -v '^bin/busybox$' | while read -r applet; do
        echo "slink $applet 777 /bin/busybox"
    done
} | LC_ALL=C sort -k2,2 -u > "$entries"

ino=0
# newc header: magic 070701 then 13 fields of 8 hex digits (ino, mode, uid, gid, nlink, mtime, filesize,
# devmajor, devminor, rdevmajor, rdevminor, namesize incl. NUL, check), the name and NUL padded to 4 bytes,
# then the data padded to 4 bytes.
header() {  # NAME MODE NLINK SIZE RDEVMAJOR RDEVMINOR
    local name="$1" namesize=$(( ${#1} + 1 ))
    ino=$((ino + 1))
    printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
        "$ino" "$2" 0 0 "$3" "$mtime" "$4" 0 0 "$5" "$6" "$namesize" 0
    printf '%s\0' "$name"
    pad $(( 110 + namesize ))
}
pad() {  # LENGTH: NULs up to the next multiple of 4 (printf is a builtin: no process per entry)
    case $(( $1 % 4 )) in 1) printf '\0\0\0' ;; 2) printf '\0\0' ;; 3) printf '\0' ;; esac
}

{
    while read -r type path mode arg1 arg2; do
        perm=$((8#$mode))
        case "$type" in
            dir)   header "$path" $((8#040000 | perm)) 2 0 0 0 ;;
            nod)   header "$path" $((8#020000 | perm)) 1 0 "$arg1" "$arg2" ;;
            slink) header "$path" $((8#120000 | perm)) 1 ${#arg1} 0 0; printf '%s' "$arg1"; pad ${#arg1} ;;
            file)
                if [ "${arg1:0:1}" = "-" ]; then     # inline content: one line
                    content="${arg1:1}"$'\n'
                    header "$path" $((8#100000 | perm)) 1 ${#content} 0 0; printf '%s' "$content"; pad ${#content}
                else
                    size=$(stat -L -c %s "$arg1")
                    header "$path" $((8#100000 | perm)) 1 "$size" 0 0; cat "$arg1"; pad "$size"
                fi ;;
        esac
    done < "$entries"
    header "TRAILER!!!" 0 1 0 0 0
} | gzip -n -9 > "$archive"

mkdir -p "$(dirname "$output")"
if ! cmp -s "$archive" "$output" 2>/dev/null; then
    tmp="$(mktemp "$output.XXXXXX")"     # a private name, so concurrent builds never mix their bytes
    cp "$archive" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$output"
    echo "build-initramfs: wrote $output ($(stat -c %s "$output") bytes, $(wc -l < "$entries") entries)" >&2
fi
echo "$output"
