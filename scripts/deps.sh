#!/usr/bin/env bash
# Make sure the Debian packages a task needs are installed.
#
#   scripts/deps.sh test    what the test suite needs
#   scripts/deps.sh demo    what the demo server needs
#   scripts/deps.sh bench   what the benchmarks need
#
# As root it installs what is missing with apt-get; otherwise it lists what
# is missing, with the command to install it, and fails.
set -euo pipefail

# The CPU profiler links libunwind (unwinding in signal context), libdw and
# libelf (symbols, file:line) and zlib (gzipped pprof).
build=(gcc make libc6-dev pkg-config apache2 apache2-dev apache2-utils
       libunwind-dev libdw-dev libelf-dev zlib1g-dev
       libcurl4-openssl-dev)   # OTLP export over HTTP(S)
case "${1:-test}" in
  test)  want=("${build[@]}" locales check libsubunit-dev clang libclang-rt-14-dev
               python3 python3-pytest python3-h2 curl
               chromium sqlite3 libsqlite3-dev libaprutil1-dbd-sqlite3
               libaprutil1-dbd-pgsql postgresql apache2-utils
               prometheus   # promtool and the server: metrics tests
               golang-go      # go tool pprof reads our CPU profiles
               protobuf-compiler) ;;  # protoc decodes our OTLP exports
  # The demo also builds examples/mod_profiler_example.c with apxs (in
  # apache2-dev) and uses mod_cgid and mod_proxy_http (in apache2).
  demo)  want=("${build[@]}" curl sqlite3 libaprutil1-dbd-sqlite3) ;;
  bench) want=("${build[@]}" wrk valgrind python3 curl sqlite3
               libaprutil1-dbd-sqlite3) ;;
  *) echo "usage: $0 test|demo|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "mod_profiler: missing Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install ${missing[*]}" >&2
  echo "(or run this command as root and it installs them itself)" >&2
  exit 1
fi
echo "mod_profiler: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
