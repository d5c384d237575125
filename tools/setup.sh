#!/usr/bin/env bash
# Installs every Debian package minidl needs (build tools, libraries, Fashion-MNIST, PyTorch for the
# reference tests). Idempotent: when everything is present it only checks, in about a second.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL) is not a Debian package: it is looked for in
# /usr/local/cuda and Python's nvidia/ wheels (docs/building.md); without it minidl builds for the CPU.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build git pkg-config
  libopenblas-dev libdnnl-dev libgtest-dev zlib1g-dev libstb-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libfmt-dev openmpi-bin libopenmpi-dev
  clang libclang-rt-14-dev  # tools/fuzz.sh: clang with libFuzzer, ASan and UBSan (its runtimes)
  dataset-fashion-mnist
  python3 python3-pip python3-numpy python3-torch python3-torchvision python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# safetensors (the Python library) is not packaged in Debian 12: the interchange tests check that files it
# writes load in minidl and the other way round. pip installs that one wheel, pinned, without dependencies.
SAFETENSORS=safetensors==0.8.0
need_safetensors() { ! /usr/bin/python3 -c "import safetensors" 2>/dev/null; }

if [ ${#missing[@]} -eq 0 ] && ! need_safetensors; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]} $SAFETENSORS" >&2; exit 1; }
  SUDO=sudo
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if need_safetensors; then
  echo "setup: pip installing $SAFETENSORS for /usr/bin/python3"
  $SUDO /usr/bin/python3 -m pip install -q --no-deps --break-system-packages "$SAFETENSORS"
fi
echo "setup: done"
