#!/bin/sh
# Fuzzes capdb's libFuzzer targets for MINUTES each (all targets in parallel).
#
#   fuzz/run.sh [-b BUILD_DIR] [-m] MINUTES [TARGET...]
#
#   -b DIR   fuzz build (default /tmp/build-fuzz), made with
#            CC=clang CXX=clang++ meson setup DIR . -Dfuzzers=true -Db_lundef=false
#   -m       afterwards, add to fuzz/corpus/<target>/ the inputs found that
#            add coverage (libFuzzer -merge=1), for committing
#   TARGET   decode, ingest, args, page, postings, expr (default: all six)
#
# Each target fuzzes a scratch copy of fuzz/corpus/<target> under
# $FUZZ_WORK (default /tmp/capdb-fuzz). A crash or failed invariant stops that
# target and leaves the input in $FUZZ_WORK/artifacts/<target>/crash-*; copy
# it into fuzz/corpus/<target>/ as crash-<what> once the bug is fixed. The
# last lines print the executions per target (libFuzzer's final stats).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=/tmp/build-fuzz
merge=0
while getopts b:m opt; do
    case $opt in
        b) build=$OPTARG ;;
        m) merge=1 ;;
        *) sed -n '2,17p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,17p' "$0"; exit 2; }
minutes=$1
shift
targets=${*:-decode ingest args page postings expr}
work=${FUZZ_WORK:-/tmp/capdb-fuzz}
seconds=$((minutes * 60))

if ! out=$(ninja -C "$build" 2>&1); then
    printf '%s\n' "$out" | tail -20
    echo "run.sh: cannot build the fuzz targets in $build" >&2
    exit 1
fi

for t in $targets; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    cp -n "$here/corpus/$t"/* "$work/corpus/$t/" 2>/dev/null || true
    # Ingest runs one SQLite database per input: allow it more time per input.
    timeout=10
    [ "$t" = ingest ] && timeout=60
    echo "fuzzing $t for $minutes min (log: $work/$t.log)"
    "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        "$work/corpus/$t" >"$work/$t.log" 2>&1 &
done
status=0
wait || status=$?

for t in $targets; do
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -1)
    crashes=$(ls "$work/artifacts/$t" | wc -l)
    printf '%-8s executions %-10s exec/s %-8s findings %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
    if [ "$merge" = 1 ]; then
        # Adds to the committed corpus only the inputs that add coverage.
        "$build/fuzz/fuzz_$t" -merge=1 "$here/corpus/$t" "$work/corpus/$t" >"$work/$t.merge.log" 2>&1
        echo "  merged: $(ls "$here/corpus/$t" | wc -l) files in fuzz/corpus/$t"
    fi
done
exit $status
