#!/usr/bin/env bash
# Runs the integer benchmark (guests/cpu-bench) on mykvm's software CPU, under qemu-system-i386 -accel tcg and
# natively on the host, each a few times (best run kept), checks the checksums agree, and writes the ratios
# to BENCHMARKS.md at the repository root.
#
# Times are CPU seconds, not wall time, so a busy machine does not distort them:
#   native: the process's CPU time around bench_run() (same C source, built for the host with -O2);
#   mykvm:  the vCPU thread's CPU time around the run loop (bench/Runner, Release build);
#   qemu:   user+sys CPU time of the whole qemu process minus that of booting guests/build/hello.elf.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-3}
art=${MYKVM_ARTIFACTS:-$PWD/.artifacts/bench}

make -C guests -s build/cpu-bench.elf build/hello.elf
gcc -m64 -O2 -fno-pie -no-pie -Iguests/cpu-bench bench/native.c guests/cpu-bench/bench_core.c -o "$art-native" 2>/dev/null || {
    mkdir -p "$(dirname "$art")"; gcc -m64 -O2 -fno-pie -no-pie -Iguests/cpu-bench bench/native.c guests/cpu-bench/bench_core.c -o "$art-native"; }
MYKVM_ARTIFACTS="$art" dotnet build bench/Runner -c Release --nologo -v quiet >/dev/null
runner=$(find "$art/bin/Runner" -name mykvm-bench.dll | head -1)

min() { printf '%s\n' "$@" | sort -g | head -1; }

native=() ; mykvm=() ; mykvm_wall=() ; qemu=()
for ((i = 0; i < runs; i++)); do
    out=$("$art-native" 2>/tmp/bench-native.$$)
    native+=("$(awk '/native_seconds/ {print $2}' /tmp/bench-native.$$)")
    sum_native=$(echo "$out" | awk '{print $NF}')

    out=$(dotnet "$runner" guests/build/cpu-bench.elf 2>/tmp/bench-mykvm.$$)
    mykvm+=("$(awk '/^mykvm_seconds/ {print $2}' /tmp/bench-mykvm.$$)")
    mykvm_wall+=("$(awk '/^mykvm_wall_seconds/ {print $2}' /tmp/bench-mykvm.$$)")
    insns=$(awk '/^mykvm_instructions/ {print $2}' /tmp/bench-mykvm.$$)
    sum_mykvm=$(echo "$out" | awk '{print $NF}')

    qemu_cmd=(qemu-system-i386 -accel tcg -display none -serial stdio -monitor none -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel)
    TIMEFORMAT='%U %S'
    t_bench=$( { time "${qemu_cmd[@]}" guests/build/cpu-bench.elf >/tmp/bench-qemu.$$ || true; } 2>&1 )
    t_hello=$( { time "${qemu_cmd[@]}" guests/build/hello.elf >/dev/null || true; } 2>&1 )
    qemu+=("$(echo "$t_bench $t_hello" | awk '{ v = ($1 + $2) - ($3 + $4); if (v < 0.001) v = 0.001; printf "%.6f", v }')")
    sum_qemu=$(tr -d '\r' </tmp/bench-qemu.$$ | awk '/checksum/ {print $NF}')
done
rm -f /tmp/bench-native.$$ /tmp/bench-mykvm.$$ /tmp/bench-qemu.$$

if [ "$sum_native" != "$sum_mykvm" ] || [ "$sum_qemu" != "$sum_mykvm" ]; then
    echo "bench: checksums differ: native $sum_native mykvm $sum_mykvm qemu $sum_qemu" >&2
    exit 1
fi

n=$(min "${native[@]}"); m=$(min "${mykvm[@]}"); mw=$(min "${mykvm_wall[@]}"); q=$(min "${qemu[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
mips=$(awk -v i="$insns" -v t="$m" 'BEGIN { printf "%.0f", i / t / 1e6 }')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

cat > BENCHMARKS.md <<MD
# Benchmarks

The integer workload in \`guests/cpu-bench\` (arithmetic with multiply/divide, a Collatz branch storm, strided
memory reads, CRC-32 over 64 KiB, a 4096-element quicksort; checksum \`$sum_mykvm\`), run by \`bench/run.sh\`:
best of $runs runs, CPU seconds (see the script for how each is measured).

| | CPU seconds | × native |
|---|---:|---:|
| native (host, gcc -O2, x86-64) | $n | 1.0 |
| qemu-system-i386 -accel tcg | $q | $(ratio "$q" "$n") |
| mykvm software CPU | $m | $(ratio "$m" "$n") |

- mykvm / QEMU TCG: **$(ratio "$m" "$q")×** (goal: within 2×; interim target: within 30× of native).
- mykvm ran $insns guest instructions at $mips MIPS (vCPU thread CPU time); wall time of that run $mw s.
- Machine: $cpu, $(nproc) cores; commit $commit; $(date -u +%Y-%m-%d).
MD
cat BENCHMARKS.md
