#!/usr/bin/env bash
# The whole suite, as `make test` runs it: the release build's tests (unit, scenarios, end to
# end), then the unit tests again under AddressSanitizer + UBSan. Both always run; the exit
# status is non-zero if either failed. Each ends with ctest's own summary.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
JOBS=${CTEST_JOBS:-2}

(cd "$BUILD" && ctest --output-on-failure -j "$JOBS" --timeout 900)
release=$?

cmake -S . -B "$ASAN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBASIN_SANITIZE=ON \
  -DBASIN_BUILD_BENCH=OFF >/dev/null &&
  cmake --build "$ASAN_BUILD" &&
  (cd "$ASAN_BUILD" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$JOBS" -L unit \
    --timeout 600)
asan=$?

echo "release suite: $([ $release -eq 0 ] && echo passed || echo FAILED); sanitizer suite: $([ $asan -eq 0 ] && echo passed || echo FAILED)"
[ $release -eq 0 ] && [ $asan -eq 0 ]
