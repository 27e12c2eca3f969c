#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages phijit needs to build, test and benchmark;
# does nothing (quickly and quietly) when they are all present.
set -euo pipefail

packages=(
  build-essential g++ make cmake ninja-build pkg-config
  llvm-19-dev libzstd-dev zlib1g-dev libxml2-dev libedit-dev libffi-dev libcurl4-openssl-dev
  libeigen3-dev libfmt-dev libspdlog-dev catch2 libpng-dev
  gnuplot-nox     # line plots of the examples
  liblbfgspp-dev  # benchmark baseline only (bench_minimize)
  libpetsc-real-dev openmpi-bin  # PETSc solves (methods petsc-*), mpirun for the 2-process test
  llvm-19-tools   # FileCheck, for the IR tests of the passes (tests/passes/*.phir)
  clang-format clang-tidy
)

# Optional: `install-deps.sh --fuzz` adds clang and its runtime libraries for the parser's
# libFuzzer target (fuzz/README.md); the main build needs neither.
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(clang-19 libclang-rt-19-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "phijit: installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
