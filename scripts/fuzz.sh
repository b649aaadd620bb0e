#!/usr/bin/env bash
# Fuzzing the turnwire protocol core (PROTOCOL.md section 13). See fuzz/README.md.
#
#   scripts/fuzz.sh TARGET SECONDS   fuzz one target for SECONDS, growing fuzz/corpus/TARGET
#   scripts/fuzz.sh all SECONDS      every target in turn, SECONDS each
#   scripts/fuzz.sh seed             write the seed inputs and merge them into the corpus
#   scripts/fuzz.sh cmin [TARGET]    minimise the corpus of TARGET (default: every target)
#   scripts/fuzz.sh replay           replay the corpus and regressions on stable
#   scripts/fuzz.sh trace FILE       print what the session does with a session input
#
# Targets: sse event item classify backoff session http1. Runs use nightly, one process per
# target (libFuzzer's default, like -jobs=1), no sanitizer (the core forbids unsafe
# code; this doubles the speed) and debug assertions with overflow checks on.
# Set FUZZ_ARGS to pass more libFuzzer flags, e.g. FUZZ_ARGS="-max_len=16384".
# Logs go to target/fuzz-logs/TARGET.log; crashes to fuzz/artifacts/TARGET/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGETS=(sse event item classify backoff session http1)
FUZZ=(cargo +nightly fuzz)
BUILD_FLAGS=(--sanitizer none)

cd "$ROOT"

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

known() {
    local t
    for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    echo "unknown target '$1' (targets: ${TARGETS[*]})" >&2
    exit 2
}

run_target() {
    local target="$1" seconds="$2"
    known "$target"
    mkdir -p "fuzz/corpus/$target" target/fuzz-logs
    echo "fuzzing $target for ${seconds}s (log: target/fuzz-logs/$target.log)"
    # shellcheck disable=SC2086
    "${FUZZ[@]}" run "${BUILD_FLAGS[@]}" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_ARGS:-} 2>&1 | tee "target/fuzz-logs/$target.log" | grep -E '^(#[0-9]+\s+(DONE|INITED)|stat::|==[0-9]+==|SUMMARY|Done)' || true
    # cargo fuzz exits non-zero on a crash; the log and fuzz/artifacts/ tell which.
    if grep -qE 'SUMMARY|panicked|deadly signal|Test unit written' "target/fuzz-logs/$target.log"; then
        echo "$target: CRASH, see target/fuzz-logs/$target.log and fuzz/artifacts/$target/" >&2
        return 1
    fi
}

seed() {
    cargo test -p turnwire-protocol --test fuzz_corpus -- --ignored --exact write_seed_corpus
    local target
    for target in "${TARGETS[@]}"; do
        mkdir -p "fuzz/corpus/$target"
        "${FUZZ[@]}" run "${BUILD_FLAGS[@]}" "$target" "fuzz/corpus/$target" \
            "target/fuzz-seeds/$target" -- -merge=1 -timeout=10 ${FUZZ_ARGS:-}
    done
}

cmin() {
    local target
    for target in "$@"; do
        known "$target"
        # Edge coverage only, smallest covering set: every edge is kept, and the
        # replay test stays fast (hit-count features would keep many more files).
        "${FUZZ[@]}" cmin "${BUILD_FLAGS[@]}" "$target" "fuzz/corpus/$target" -- -timeout=10 \
            -use_counters=0 -set_cover_merge=1
    done
}

case "${1:-}" in
    all)
        [[ $# -eq 2 ]] || usage
        status=0
        for target in "${TARGETS[@]}"; do run_target "$target" "$2" || status=1; done
        exit "$status"
        ;;
    seed) seed ;;
    cmin)
        if [[ $# -ge 2 ]]; then cmin "${@:2}"; else cmin "${TARGETS[@]}"; fi
        ;;
    replay) cargo test -p turnwire-protocol --test fuzz_corpus ;;
    trace)
        [[ $# -eq 2 ]] || usage
        mkdir -p target/fuzz-trace
        cp "$2" target/fuzz-trace/input
        cargo test -q -p turnwire-protocol --test fuzz_corpus -- --ignored --exact \
            trace_session_input --nocapture
        ;;
    ""|-h|--help) usage ;;
    *)
        [[ $# -eq 2 ]] || usage
        run_target "$1" "$2"
        ;;
esac
