#!/usr/bin/env bash
# Bounded fuzzing of every target: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Installs the pinned cargo-fuzz into fuzz/.tools on first use, builds all
# targets once, then runs each for SECONDS_PER_TARGET (default 20) on a
# temporary copy of its committed corpus (new finds are not written back).
# Exits non-zero on any crash, printing the crashing input's path.
#
# Stable toolchain only: cargo-fuzz passes `-Z` flags (sanitizers, coverage
# instrumentation), which RUSTC_BOOTSTRAP=1 allows on stable; see README.md.
# Environment: FUZZ_SANITIZER (address | none, default address), FUZZ_JOBS
# (parallel runs per target, default 1), FUZZ_PARALLEL (targets run at
# once, default the number of cores: each run is single-threaded),
# FUZZ_ARGS (more libFuzzer flags).

set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SECONDS_PER_TARGET="${1:-20}"
shift || true
TARGETS=(request_parse translate_request translate_response sse pii_engine token_count)
if [ $# -gt 0 ]; then TARGETS=("$@"); fi
SANITIZER="${FUZZ_SANITIZER:-address}"
JOBS="${FUZZ_JOBS:-1}"
PARALLEL="${FUZZ_PARALLEL:-$(nproc)}"

# The largest input per target: big enough for a multi-event stream or a
# request with tools, small enough that every exec stays fast.
max_len() {
    case "$1" in
        token_count|pii_engine) echo 4096 ;;
        *) echo 16384 ;;
    esac
}

dict() {
    case "$1" in
        pii_engine) echo "$FUZZ_DIR/dict/pii.dict" ;;
        token_count) ;;
        *) echo "$FUZZ_DIR/dict/json.dict" ;;
    esac
}

export RUSTC_BOOTSTRAP=1
# cargo-fuzz's own target dir under fuzz/, never the workspace's.
export CARGO_TARGET_DIR="$FUZZ_DIR/target"
TOOLS="$FUZZ_DIR/.tools"
export PATH="$TOOLS/bin:$PATH"

if ! cargo-fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
    start=$SECONDS
    # A debug build: cargo-fuzz only assembles flags and runs cargo, and its
    # unoptimised build costs 40% less CPU.
    CARGO_TARGET_DIR="$FUZZ_DIR/target/cargo-fuzz-install" \
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --debug --root "$TOOLS"
    echo "== installed in $((SECONDS - start)) s"
fi

cd "$FUZZ_DIR"
echo "== building the targets (sanitizer: $SANITIZER)"
start=$SECONDS
cargo fuzz build -O --debug-assertions --sanitizer "$SANITIZER"
echo "== built in $((SECONDS - start)) s"

BIN_DIR="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-gateway-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$FUZZ_DIR/artifacts"

# Runs one target for SECONDS_PER_TARGET; its log and exit status are left
# in $WORK for the report.
run_target() {
    local target=$1
    local corpus="$WORK/corpus/$target"
    local artifacts="$FUZZ_DIR/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    cp "$FUZZ_DIR/corpus/$target/"* "$corpus/" 2>/dev/null || true
    # Known crashers stay fixed: they are replayed as seeds.
    cp "$FUZZ_DIR/regressions/$target/"* "$corpus/" 2>/dev/null || true
    local flags=(
        "-max_total_time=$SECONDS_PER_TARGET"
        "-rss_limit_mb=2048"
        "-timeout=10"
        "-max_len=$(max_len "$target")"
        "-artifact_prefix=$artifacts"
        "-print_final_stats=1"
    )
    local d
    d="$(dict "$target")"
    if [ -n "$d" ]; then flags+=("-dict=$d"); fi
    if [ "$JOBS" -gt 1 ]; then flags+=("-jobs=$JOBS" "-workers=$JOBS"); fi
    # shellcheck disable=SC2206
    flags+=(${FUZZ_ARGS:-})
    local status=0
    "$BIN_DIR/$target" "${flags[@]}" "$corpus" >"$WORK/$target.log" 2>&1 || status=$?
    echo "$status" >"$WORK/$target.status"
}

# Prints what a finished target found; records it in `failed` if it crashed.
report_target() {
    local target=$1 log="$WORK/$1.log"
    echo "== $target: ${SECONDS_PER_TARGET} s"
    if [ "$(cat "$WORK/$target.status")" = 0 ]; then
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)|^#[0-9]+ *DONE' "$log" \
            | sed "s/^/   /" || true
        grep -E '^#[0-9]+' "$log" | tail -1 | sed "s/^/   /" || true
    else
        echo "!! $target FAILED; log follows"
        tail -60 "$log"
        local crash
        crash="$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')"
        echo "!! crashing input: ${crash:-see the log above}"
        failed+=("$target")
    fi
}

# The targets in groups of PARALLEL at once: a libFuzzer run uses one core.
failed=()
for ((i = 0; i < ${#TARGETS[@]}; i += PARALLEL)); do
    group=("${TARGETS[@]:i:PARALLEL}")
    for target in "${group[@]}"; do run_target "$target" & done
    wait
    for target in "${group[@]}"; do report_target "$target"; done
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== fuzzing found failures in: ${failed[*]} (inputs under $FUZZ_DIR/artifacts/)"
    exit 1
fi
echo "== all targets ran clean"
