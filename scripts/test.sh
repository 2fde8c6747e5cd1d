#!/usr/bin/env bash
# The whole suite, as `make test` runs it: the clang-format check, the release build's tests
# (unit, scenarios, end to end), then the unit tests again under AddressSanitizer + UBSan. All
# three always run; the exit status is non-zero if any failed. The last line is the combined
# count, "N passed, N failed", summed from both ctest runs (and the format check).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
JOBS=${CTEST_JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

make --no-print-directory format-check >"$logs/format" 2>&1
format=$?
[ $format -eq 0 ] || { cat "$logs/format"; echo "format check FAILED: run 'make format'"; }

(cd "$BUILD" && ctest --output-on-failure -j "$JOBS" --timeout 900) | tee "$logs/release"
release=${PIPESTATUS[0]}

{
  cmake -S . -B "$ASAN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBASIN_SANITIZE=ON \
    -DBASIN_BUILD_BENCH=OFF >/dev/null &&
    cmake --build "$ASAN_BUILD" &&
    (cd "$ASAN_BUILD" && ctest --output-on-failure -j "$JOBS" -L unit --timeout 600)
} | tee "$logs/asan"
asan=${PIPESTATUS[0]}

# "95% tests passed, 3 tests failed out of 60" -> passed and failed counts.
count() {
  awk '/tests passed, .* tests failed out of/ {failed+=$4; total+=$NF}
       END {printf "%d %d\n", total-failed, failed}' "$1"
}
read -r release_passed release_failed < <(count "$logs/release")
read -r asan_passed asan_failed < <(count "$logs/asan")
passed=$((release_passed + asan_passed + (format == 0 ? 1 : 0)))
failed=$((release_failed + asan_failed + (format == 0 ? 0 : 1)))
# A suite that did not get as far as running counts as one failure, never as silence.
[ $release -ne 0 ] && [ "$release_failed" -eq 0 ] && failed=$((failed + 1))
[ $asan -ne 0 ] && [ "$asan_failed" -eq 0 ] && failed=$((failed + 1))
echo "format check, release suite and sanitizer suite:"
echo "$passed passed, $failed failed"
[ $format -eq 0 ] && [ $release -eq 0 ] && [ $asan -eq 0 ]
