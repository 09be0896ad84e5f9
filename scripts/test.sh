#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh), builds everything and runs every test project.
# Prints one closing line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1

log=$(mktemp)
dotnet test MyKvm.slnx -c Release --nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-project summaries ("Failed!  - Failed: 1, Passed: 10, Skipped: 0, Total: 11, ...").
read -r passed failed skipped < <(grep -E '(Passed|Failed)!  - Failed:' "$log" | awk -F'[:,]' '
    { f += $2; p += $4; s += $6 } END { printf "%d %d %d\n", p, f, s }')
rm -f "$log"
echo
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [ "$status" -ne 0 ] || [ "${failed:-0}" -ne 0 ]; then exit 1; fi
if [ "${passed:-0}" -eq 0 ]; then echo "tests: no test ran" >&2; exit 1; fi
exit 0
