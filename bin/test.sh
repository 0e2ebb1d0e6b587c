#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite; then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit tests there.
# Exits non-zero on any failure.
#
#   CANAL_BUILD_DIR   build tree (default: build)
#   CANAL_SANITIZE=0  skip the sanitizer pass
#   CANAL_TEST_ARGS   extra ctest arguments, e.g. "-L unit" or "-R Config"
#   CANAL_FUZZ_SECONDS  how long the binlog fuzzer runs (default 60; 0 skips the fuzzers); the
#                       SDK's RowChange reader is fuzzed against protobuf for a quarter of it
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/bin/install-deps.sh" || exit 1

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
build=${CANAL_BUILD_DIR:-$root/build}
jobs=${CANAL_JOBS:-2}
read -r -a extra <<<"${CANAL_TEST_ARGS:-}"

configure_and_build() {  # dir, extra cmake args..., [--target name]
  local dir=$1
  shift
  local args=() target=()
  while [ $# -gt 0 ]; do
    if [ "$1" = --target ]; then target=(--target "$2"); shift 2; else args+=("$1"); shift; fi
  done
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${args[@]}" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs" "${target[@]}"
}

start=$SECONDS
mkdir -p "$build"
configure_and_build "$build" -DCANAL_SANITIZE= || { echo "test.sh: build failed" >&2; exit 1; }
echo "test.sh: build done in $((SECONDS - start)) s"

status=0
(cd "$build" && ctest -j"$jobs" --timeout 900 --output-on-failure "${extra[@]}") || status=1

if [ "${CANAL_SANITIZE:-1}" != 0 ]; then
  san="$build-asan"
  mkdir -p "$san"
  echo "test.sh: sanitizer build (address,undefined) in $san"
  # Only the unit tests (and the binaries they run) are built there: they are what runs.
  if configure_and_build "$san" -DCANAL_SANITIZE=address,undefined --target canal_unit_tests; then
    (cd "$san" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest -j"$jobs" --timeout 900 --output-on-failure -L unit "${extra[@]}") || status=1
  else
    echo "test.sh: sanitizer build failed" >&2
    status=1
  fi
fi

fuzz_seconds=${CANAL_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  fuzz="$build-fuzz"
  mkdir -p "$fuzz/corpus"
  echo "test.sh: binlog fuzzer (libFuzzer, ASan+UBSan) for $fuzz_seconds s, corpus seeded from the fixtures"
  if CC=clang CXX=clang++ configure_and_build "$fuzz" -DCANAL_FUZZ=ON -DCANAL_BUILD_TESTS=OFF \
       -DCANAL_SANITIZE=address,undefined --target binlog_fuzzer; then
    find "$root/tests/fixtures/binlog" -type f ! -name '*.txt' ! -name '*.json' ! -name '*.md' \
      -exec cp -f {} "$fuzz/corpus/" \;
    "$fuzz/bin/binlog_fuzzer" "$fuzz/corpus" -max_total_time="$fuzz_seconds" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$fuzz/" -print_final_stats=1 >"$fuzz/fuzz.log" 2>&1 ||
      { tail -60 "$fuzz/fuzz.log"; echo "test.sh: the fuzzer found a crash (input saved in $fuzz/)" >&2; status=1; }
    grep -E 'stat::number_of_executed_units' "$fuzz/fuzz.log" || true
    row_seconds=$((fuzz_seconds / 4 + 1))
    echo "test.sh: RowChange reader against protobuf (libFuzzer) for $row_seconds s"
    mkdir -p "$fuzz/row-change-corpus"
    cp -f "$root"/tests/fuzz/row_change_seeds/* "$fuzz/row-change-corpus/"
    if cmake --build "$fuzz" -j"$jobs" --target row_change_fuzzer; then
      "$fuzz/bin/row_change_fuzzer" "$fuzz/row-change-corpus" -max_total_time="$row_seconds" -max_len=4096 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$fuzz/row-change-" -print_final_stats=1 \
        >"$fuzz/row-change-fuzz.log" 2>&1 ||
        { tail -30 "$fuzz/row-change-fuzz.log"; echo "test.sh: the RowChange fuzzer failed (input saved in $fuzz/)" >&2; status=1; }
      grep -E 'stat::number_of_executed_units' "$fuzz/row-change-fuzz.log" || true
    else
      echo "test.sh: RowChange fuzzer build failed" >&2
      status=1
    fi
  else
    echo "test.sh: fuzzer build failed" >&2
    status=1
  fi
fi

echo "test.sh: total $((SECONDS - start)) s, $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
