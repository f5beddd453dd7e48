#!/usr/bin/env bash
# Downloads the Debian 12 packages eqnn builds with (headers, CMake configs, shared libraries) into
# third_party/debs/ (ignored by git), for a machine without network or Debian -dev packages, such as a
# GPU box that has only PyTorch, CMake and nvcc. scripts/gpu-check.sh unpacks them into a private prefix.
# Run it on a networked Debian 12 machine. About 12 MB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$root/third_party/debs
packages=(
  libboost1.74-dev libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9 libeigen3-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
)
mkdir -p "$dest"
cd "$dest"
# apt-get download drops privileges to _apt, which must be able to write here.
chown _apt "$dest" 2> /dev/null || true
apt-get download "${packages[@]}"
echo "vendor-deps: $(ls "$dest"/*.deb | wc -l) packages, $(du -sh "$dest" | cut -f1) in $dest"
