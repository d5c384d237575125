#!/usr/bin/env bash
# Installs the Debian packages minidl needs. Idempotent: when everything is present it only checks, in about
# a second.
#   tools/setup.sh          everything: also the tests' packages (GoogleTest, OpenMPI, clang for fuzzing,
#                           PyTorch and torchvision for the reference tests, the safetensors and tensorboard wheels)
#   tools/setup.sh --run    only what building minidl_train and running the demo need (tools/quickstart.sh):
#                           on a fresh machine it fetches a fraction of the bytes (PyTorch alone is most of them)
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, NCCL) is not a Debian package: it is looked for in
# /usr/local/cuda and Python's nvidia/ wheels (docs/building.md); without it minidl builds for the CPU.
set -euo pipefail

RUN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-dev libdnnl-dev zlib1g-dev libstb-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  ocl-icd-opencl-dev  # libdnnl-dev only recommends it, but oneDNN's CMake config fails without OpenCL
  libprotobuf-dev protobuf-compiler  # TensorBoard event files (--tensorboard; optim/event_file.h)
  dataset-fashion-mnist
  python3 python3-matplotlib  # the demo reads the range test's JSON and draws its plots
)
TEST_PACKAGES=(
  git libgtest-dev libfmt-dev openmpi-bin libopenmpi-dev
  clang libclang-rt-14-dev  # tools/fuzz.sh: clang with libFuzzer, ASan and UBSan (its runtimes)
  python3-pip python3-numpy python3-torch python3-torchvision
  python3-protobuf python3-absl  # what TensorBoard's event reader imports (the reference tests)
)
case "${1:-}" in
  --run) PACKAGES=("${RUN_PACKAGES[@]}"); with_tests=0 ;;
  "") PACKAGES=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"); with_tests=1 ;;
  *) echo "setup: unknown argument '$1' (expected nothing or --run)" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# safetensors (the Python library) is not packaged in Debian 12: the interchange tests check that files it
# writes load in minidl and the other way round. pip installs that one wheel, pinned, without dependencies.
SAFETENSORS=safetensors==0.8.0
need_safetensors() { [ "$with_tests" = 1 ] && ! /usr/bin/python3 -c "import safetensors" 2>/dev/null; }
# tensorboard (PyPI; Debian 12 has no package): the reference tests read minidl's event files back with
# its own reader. Its reader needs only protobuf and absl (Debian's, above), so the wheel comes alone.
TENSORBOARD=tensorboard==2.15.1
need_tensorboard() {
  [ "$with_tests" = 1 ] &&
    ! /usr/bin/python3 -c "import tensorboard.backend.event_processing.event_accumulator" 2>/dev/null
}

if [ ${#missing[@]} -eq 0 ] && ! need_safetensors && ! need_tensorboard; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]} $SAFETENSORS $TENSORBOARD" >&2; exit 1; }
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
if need_tensorboard; then
  echo "setup: pip installing $TENSORBOARD for /usr/bin/python3"
  $SUDO /usr/bin/python3 -m pip install -q --no-deps --break-system-packages "$TENSORBOARD"
fi
echo "setup: done"
