#!/usr/bin/env bash
# Installs what eqnn needs on Debian 12, only what is missing, and says what it installs:
#   1. Debian packages (compilers, CMake, Boost, yaml-cpp, fmt, Eigen, CLI11, nlohmann-json, GoogleTest,
#      clang with its sanitizer and libFuzzer runtimes, ...);
#   2. the project virtual environment ($EQNN_VENV, default .venv/ in the repository root) with the pinned
#      torch wheel from scripts/requirements.txt, whose LibTorch eqnn builds against, and the pins of any
#      further requirements file given as an argument (scripts/docs.sh passes docs/requirements.txt).
# Usage: install-deps.sh [REQUIREMENTS_FILE...]
# Idempotent: when everything is installed it changes nothing and does not touch the network.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
requirement_files=("$root/scripts/requirements.txt" "$@")

packages=(
  cmake g++ ninja-build ccache
  python3 python3-venv
  libboost-dev libyaml-cpp-dev libfmt-dev libeigen3-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # scripts/sanitize.sh: clang for AddressSanitizer/UBSan/ThreadSanitizer and libFuzzer, llvm-symbolizer
  clang-14 libclang-rt-14-dev llvm-14
  # scripts/lint.sh
  clang-format-14
  # scripts/docs.sh: the C++ reference (Doxygen XML, read by Breathe)
  doxygen
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2> /dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The venv: Debian's python3 (not a pyenv or conda one that may be first on PATH), so the wheel's
# libraries and the build see the same interpreter everywhere.
if [ ! -x "$venv/bin/python" ]; then
  echo "install-deps: creating the project venv $venv"
  /usr/bin/python3 -m venv "$venv"
fi
# Every pinned requirement of a file already satisfied? Then nothing to do for it (no network).
for requirements in "${requirement_files[@]}"; do
  if "$venv/bin/python" - "$requirements" << 'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, wanted = line.partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if have.split("+")[0] != wanted:
        sys.exit(1)
PY
  then
    echo "install-deps: venv $venv already has the $(grep -c '==' "$requirements") pins of ${requirements#"$root"/}"
  else
    echo "install-deps: installing $(grep '==' "$requirements" | sed 's/ *#.*//' | tr '\n' ' ')into $venv"
    start=$(date +%s)
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
    echo "install-deps: venv ready in $(($(date +%s) - start)) s ($(du -sh "$venv" | cut -f1) on disk)"
  fi
done
