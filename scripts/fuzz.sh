#!/usr/bin/env bash
# libFuzzer campaigns (docs/testing.md "Fuzzing").
#
#   scripts/fuzz.sh TARGET SECONDS [--jobs N] [--runs N] [--merge]   one target
#   scripts/fuzz.sh all SECONDS [--jobs N] [--runs N]     every target, then a table
#   scripts/fuzz.sh list                                  the target names
#   scripts/fuzz.sh build                                 configure + build only
#
# Build: $FUZZ_BUILD_DIR (default build-fuzz), clang, everything compiled with
# -fsanitize=fuzzer-no-link,address,undefined (the parser libraries carry
# coverage + ASan/UBSan, not only the fuzzer .cc), the targets linked with
# -fsanitize=fuzzer. ccache when available.
#
# Run: first replays tests/fuzz/regressions/TARGET/ (saved crashes that were
# fixed: must pass), then fuzzes for SECONDS (-max_total_time) starting from
# the committed seed corpus tests/fuzz/TARGET_corpus/ plus the work corpus
# $FUZZ_WORK_DIR/TARGET (default build-fuzz/corpus/TARGET), into which new
# interesting inputs go (the committed corpus is only written with --merge,
# which minimises work corpus + seeds back into it). Crashes, leaks, timeouts
# and OOMs are saved under $FUZZ_CRASH_DIR (default tests/fuzz/crashes/) as
# TARGET-crash-<sha1> etc. Prints "TARGET seconds execs exec/s crashes".
# --runs N stops a target after N executions (libFuzzer -runs=N) when that
# comes before SECONDS: a campaign of "10 M executions or an hour" is
#   scripts/fuzz.sh all 3600 --runs 10000000
# Exit status: non-zero when any target crashed (or a regression input fails).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RP_DEPS=hardening "$ROOT/scripts/install_deps.sh"  # clang, sanitizer + libFuzzer runtimes
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
CRASH_DIR="${FUZZ_CRASH_DIR:-$ROOT/tests/fuzz/crashes}"
WORK_DIR="${FUZZ_WORK_DIR:-$BUILD/corpus}"
LOG_DIR="${FUZZ_LOG_DIR:-$BUILD/logs}"
RSS_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
TIMEOUT_S="${FUZZ_TIMEOUT:-10}"
MAX_LEN="${FUZZ_MAX_LEN:-}"

# Every target, in the order `all` runs them.
TARGETS=(
  snp_report_fuzzer tdx_quote_fuzzer tdx_quote_struct_fuzzer spdm_report_fuzzer
  spdm_struct_fuzzer rim_parser_fuzzer tcb_info_fuzzer qe_identity_fuzzer
  pck_extensions_fuzzer evidence_bundle_fuzzer admission_review_fuzzer
  jwt_verify_fuzzer jwe_fuzzer jwk_fuzzer policy_yaml_fuzzer
)

usage() { sed -n 2,8p "$0" | sed 's/^# \{0,1\}//'; exit 2; }

build() {
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    local gen=() launcher=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    command -v ccache >/dev/null &&
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    local flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
    flags+=" -fno-omit-frame-pointer -g -O1"
    cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" "${launcher[@]}" \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE= \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DRP_BUILD_FUZZERS=ON -DBUILD_TESTING=OFF -DRP_BUILD_BENCHMARKS=OFF >/dev/null
  fi
  # One build at a time in this tree: campaigns run several fuzz.sh at once,
  # and two ninjas in one build directory corrupt each other's objects.
  flock "$BUILD/.fuzz-build.lock" \
    cmake --build "$BUILD" -j"${FUZZ_BUILD_JOBS:-$(nproc)}" --target fuzzers
}

# run_one TARGET SECONDS JOBS -> prints the summary line; returns 1 on a crash.
run_one() {
  local t="$1" secs="$2" jobs="$3" runs="${4:-}"
  local bin="$BUILD/tests/fuzz/$t"
  [ -x "$bin" ] || { echo "no such fuzz target: $t (scripts/fuzz.sh list)" >&2; return 2; }
  local seeds="$ROOT/tests/fuzz/${t}_corpus" work="$WORK_DIR/$t" regress="$ROOT/tests/fuzz/regressions/$t"
  mkdir -p "$work" "$CRASH_DIR" "$LOG_DIR"
  local log="$LOG_DIR/$t.log"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  local common=(-rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT_S" -malloc_limit_mb="$RSS_MB")
  [ -n "$MAX_LEN" ] && common+=(-max_len="$MAX_LEN")
  # 1. Regression inputs: each must run clean.
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
    if ! "$bin" "${common[@]}" "$regress"/* >"$LOG_DIR/$t.regress.log" 2>&1; then
      echo "$t: a regression input fails (see $LOG_DIR/$t.regress.log)" >&2
      printf '%-26s %8s %12s %10s %8s\n' "$t" 0 0 0 "REGRESS"
      return 1
    fi
  fi
  # 2. The campaign. -fork keeps going after a crash when jobs > 1.
  local par=()
  [ "$jobs" -gt 1 ] && par=(-fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  [ -n "$runs" ] && par+=(-runs="$runs")
  local dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  local stamp="$LOG_DIR/$t.stamp"; : >"$stamp"
  local start=$SECONDS rc=0
  "$bin" "${common[@]}" "${par[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$CRASH_DIR/$t-" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - start))
  local execs
  execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{s+=$2} END {print s+0}')
  if [ "$jobs" -gt 1 ]; then  # fork mode: the last "#N ... exec/s" status line
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true); execs=${execs:-0}
  fi
  # crash-, leak-, timeout-, oom- files fail the run. libFuzzer's slow-unit-
  # files (an input that took over 10 s of wall time without reaching the
  # -timeout, e.g. while the machine was suspended) are reported, not counted.
  local crashes slow
  crashes=$(find "$CRASH_DIR" -maxdepth 1 -name "$t-*" ! -name "$t-slow-unit-*" -newer "$stamp" | wc -l)
  slow=$(find "$CRASH_DIR" -maxdepth 1 -name "$t-slow-unit-*" -newer "$stamp" | wc -l)
  [ "$slow" -gt 0 ] && echo "$t: $slow slow-unit report(s) under $CRASH_DIR (not crashes)" >&2
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
  local rate=0; [ "$took" -gt 0 ] && rate=$((execs / took))
  printf '%-26s %8s %12s %10s %8s\n' "$t" "$took" "$execs" "$rate" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    echo "$t: crash(es) saved under $CRASH_DIR (log $log)" >&2
    grep -E 'ERROR: |runtime error|invariant violated|Test unit written' "$log" | head -5 >&2 || true
    return 1
  fi
}

[ $# -ge 1 ] || usage
case "$1" in
  list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
  build) build; exit 0 ;;
esac
[ $# -ge 2 ] || usage
target="$1"; secs="$2"; shift 2
jobs=1 merge=0 runs=
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2
            case "$runs" in ''|*[!0-9]*) echo "--runs needs a positive integer" >&2; exit 2 ;; esac ;;
    --merge) merge=1; shift ;;
    *) usage ;;
  esac
done
build >&2
printf '%-26s %8s %12s %10s %8s\n' TARGET seconds execs exec/s crashes
if [ "$target" = all ]; then
  fail=0 total=$SECONDS
  for t in "${TARGETS[@]}"; do run_one "$t" "$secs" "$jobs" "$runs" || fail=1; done
  echo "all: ${#TARGETS[@]} targets x ${secs}s in $((SECONDS - total))s wall; crashes fail the run: $([ $fail = 0 ] && echo none || echo YES)"
  exit $fail
fi
rc=0; run_one "$target" "$secs" "$jobs" "$runs" || rc=$?
if [ "$merge" = 1 ] && [ "$rc" = 0 ]; then
  seeds="$ROOT/tests/fuzz/${target}_corpus"; mkdir -p "$seeds"
  "$BUILD/tests/fuzz/$target" -merge=1 -rss_limit_mb="$RSS_MB" "$seeds" "$WORK_DIR/$target" \
    >"$LOG_DIR/$target.merge.log" 2>&1
  echo "merged into $seeds ($(ls "$seeds" | wc -l) files)"
fi
exit $rc
