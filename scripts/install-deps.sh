#!/usr/bin/env bash
# Installs the Debian 12 packages adapt builds against, only when some are missing.
set -eu
PKGS="build-essential pkg-config libopenblas-openmp-dev libcjson-dev libutf8proc-dev libpcre2-dev libcmocka-dev liblzma-dev xz-utils"
# --mpi: also Open MPI (build/adapt-mpi, data-parallel training; `make` and `make test` build it,
# `make demo` does not); --fuzz: also clang and its sanitizer/libFuzzer runtime (scripts/fuzz.sh;
# CI's fuzz smoke)
for option in "$@"; do
  case $option in
    --mpi) PKGS="$PKGS libopenmpi-dev openmpi-bin" ;;
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    *) echo "install-deps.sh: unknown option $option (--mpi, --fuzz)" >&2; exit 2 ;;
  esac
done
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
