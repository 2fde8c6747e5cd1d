#!/usr/bin/env bash
# Installs everything Basin needs to build, test and run on a fresh Debian 12 machine (as root).
# Idempotent and quick when already done: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

DUCKDB_VERSION=1.4.4
DUCKDB_BINDINGS_VERSION=1.4.4-r.4
# SHA-256 of the npm tarballs, pinned. Update together with the versions above.
DUCKDB_HEADER_SHA256=5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed
DUCKDB_LIB_SHA256_X64=732fac4dc6b8f198870b9c4bb6ddf13544466daca00ad28ba2f1d80de5d7aa4b

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev sqlite3 libsimdjson-dev libcli11-dev
  libzstd-dev zlib1g-dev libmagic-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 redis-server curl procps tzdata
  # Real product photos for the demo shop (Fashion-MNIST; generated images without it).
  dataset-fashion-mnist
  # Real AWS clients for the end-to-end tests of the AWS endpoint (S3, Kinesis, SigV4).
  awscli python3-boto3 s3cmd rclone
  # A real browser for the end-to-end test of the AWS Clickstream Web SDK collector.
  chromium
)
# Node.js may come from another source than Debian (with npm bundled): ask for the command.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

TP=third_party/duckdb
if [[ ! -f $TP/.installed-$DUCKDB_BINDINGS_VERSION ]]; then
  arch=$(uname -m)
  case "$arch" in
    x86_64) pkg=@duckdb/node-bindings-linux-x64; lib_sha=$DUCKDB_LIB_SHA256_X64 ;;
    *) echo "setup: no pinned DuckDB build for $arch (npm has none for $DUCKDB_BINDINGS_VERSION)" >&2; exit 1 ;;
  esac
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$pkg@$DUCKDB_BINDINGS_VERSION" "duckdb@$DUCKDB_VERSION" >/dev/null)
  lib_tgz=$(ls "$work"/duckdb-node-bindings-*.tgz)
  hdr_tgz=$work/duckdb-$DUCKDB_VERSION.tgz
  echo "$lib_sha  $lib_tgz" | sha256sum -c --quiet -
  echo "$DUCKDB_HEADER_SHA256  $hdr_tgz" | sha256sum -c --quiet -
  rm -rf "$TP" && mkdir -p "$TP/lib" "$TP/include"
  tar -xzf "$lib_tgz" -C "$work" package/libduckdb.so
  mv "$work/package/libduckdb.so" "$TP/lib/"
  tar -xzf "$hdr_tgz" -C "$work" package/src/duckdb/src/include/duckdb.h
  mv "$work/package/src/duckdb/src/include/duckdb.h" "$TP/include/"
  touch "$TP/.installed-$DUCKDB_BINDINGS_VERSION"
  echo "setup: DuckDB $DUCKDB_VERSION installed in $TP"
fi

# The browser side of the end-to-end tests (the AWS Clickstream Web SDK, esbuild, playwright-core),
# pinned by tests/e2e/web/package-lock.json into its (git-ignored) node_modules. `npm ci` starts
# from an empty node_modules, so the stamp of the lock file it was installed from goes with it.
WEB=tests/e2e/web
web_stamp=$WEB/node_modules/.installed-$(sha256sum "$WEB/package-lock.json" | cut -c1-16)
if [[ ! -f $web_stamp ]]; then
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$web_stamp"
  echo "setup: npm packages of $WEB installed"
fi

# The independent ASL linter that the test suite runs over every *.asl.json (asl-validator, ctest
# lint.asl_validator), pinned by tests/lint/package-lock.json into its (git-ignored) node_modules.
LINT=tests/lint
lint_stamp=$LINT/node_modules/.installed-$(sha256sum "$LINT/package-lock.json" | cut -c1-16)
if [[ ! -f $lint_stamp ]]; then
  (cd "$LINT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$lint_stamp"
  echo "setup: npm packages of $LINT installed"
fi
