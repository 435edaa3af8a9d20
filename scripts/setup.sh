#!/usr/bin/env bash
# Installs what dlm needs (only what is missing; a no-op when all is present), then configures and
# builds dlm in Release.
#   scripts/setup.sh                 Debian's LibTorch 1.13 (CPU) into build/
#   scripts/setup.sh --torch pip     LibTorch 2.x from PyPI's torch wheel (CUDA enabled) into build-torch2/
#   --build apps                     only dtrain and dgen (what scripts/demo.sh runs)
#   --build tests                    what the tests run: everything but the benchmarks and the fixture writer
#   --build all                      everything (the default)
# The pip flavour installs a pinned torch release whose CUDA major version matches the installed CUDA
# toolkit into .venv-torch2/ (ignored by git) and builds against the LibTorch inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh

flavour=debian build=all
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) flavour="${2:-}"; shift 2 || { echo "setup: --torch needs a value (debian or pip)" >&2; exit 2; } ;;
    --torch=*) flavour="${1#--torch=}"; shift ;;
    --build) build="${2:-}"; shift 2 || { echo "setup: --build needs a value (apps, tests or all)" >&2; exit 2; } ;;
    --build=*) build="${1#--build=}"; shift ;;
    *) echo "setup: unknown option '$1' (valid: --torch debian|pip, --build apps|tests|all)" >&2; exit 2 ;;
  esac
done
case "$flavour" in debian|pip) ;; *) echo "setup: unknown LibTorch flavour '$flavour' (valid: debian, pip)" >&2; exit 2 ;; esac
# The benchmarks and the fixture writer are built only when asked for everything; apps builds two
# targets. The tests build compiles several sources as one (CMake's unity build: 250 s against 444 s
# for the all build, 1.13 on 2 cores); the all build compiles each file alone, which checks that each
# includes what it uses.
case "$build" in
  apps) extras=ON unity=OFF targets=(--target dtrain dgen) ;;
  tests) extras=OFF unity=ON targets=() ;;
  all) extras=ON unity=OFF targets=() ;;
  *) echo "setup: unknown --build '$build' (valid: apps, tests, all)" >&2; exit 2 ;;
esac

packages=(g++ cmake ninja-build libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev libsentencepiece-dev pkg-config)
if [ "$flavour" = debian ]; then
  # libsleef-dev: the header ATen's AVX2 and AVX-512 vector types include (dlm's CPU kernels use them).
  packages+=(libtorch-dev libopenblas0-openmp libgloo-dev libsleef-dev)
else
  python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv python3-pip)
fi
phase "packages ($flavour)" scripts/install_packages.sh "${packages[@]}"

if [ "$flavour" = debian ]; then
  phase "configure (1.13)" cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLM_BUILD_EXTRAS=$extras -DCMAKE_UNITY_BUILD=$unity
  phase "build (1.13, $build)" cmake --build build -j"$(nproc)" "${targets[@]}"
  exit 0
fi

# --- LibTorch 2.x from the torch wheel ---------------------------------------------------------
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  echo "setup: the pip flavour builds against the CUDA-enabled LibTorch of the torch wheel and needs the CUDA toolkit (nvcc); install it, or use the default Debian flavour" >&2
  exit 1
fi
cuda_version=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
# One pinned torch release per CUDA major version: the wheel whose CUDA runtime matches the toolkit.
case "${cuda_version%%.*}" in
  13) torch_pin=2.12.1 ;;   # built against CUDA 13.0
  12) torch_pin=2.10.0 ;;   # built against CUDA 12.8
  *) echo "setup: CUDA toolkit $cuda_version has no pinned torch wheel (supported: CUDA 12, 13)" >&2; exit 1 ;;
esac
venv=.venv-torch2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
if [ "${have%%+*}" != "$torch_pin" ]; then
  echo "setup: installing torch==$torch_pin into $venv (CUDA toolkit $cuda_version)"
  # Only LibTorch is built against: the Python files need no byte-compiling.
  phase "torch wheel" "$venv/bin/pip" install -q --disable-pip-version-check --no-compile "torch==$torch_pin"
fi
read -r torch_version torch_cuda torch_abi prefix < <("$venv/bin/python" -W ignore -c \
  'import torch; print(torch.__version__, torch.version.cuda, int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.utils.cmake_prefix_path)' 2>/dev/null)
echo "setup: LibTorch $torch_version (CUDA $torch_cuda), _GLIBCXX_USE_CXX11_ABI=$torch_abi"
# Debian's spdlog, fmt and GoogleTest are built with the C++11 ABI; a wheel with the old ABI cannot link them.
if [ "$torch_abi" != 1 ]; then
  echo "setup: the torch wheel uses the pre-C++11 string ABI and cannot be linked with Debian's libraries" >&2
  exit 1
fi
# No GPU is needed to build: compile for the architectures the wheel itself ships.
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-7.5;8.0;8.6;9.0;10.0;12.0}"
# The wheel's own folder comes first in the prefix path: without it, CMake's library search would find
# Debian's libtorch.so in /usr/lib before the wheel's.
phase "configure (2.x)" cmake -S . -B build-torch2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLM_BUILD_EXTRAS=$extras -DCMAKE_UNITY_BUILD=$unity \
  -DCMAKE_PREFIX_PATH="$(dirname "$(dirname "$prefix")");$prefix" \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCUDAToolkit_ROOT="$(dirname "$(dirname "$nvcc")")"
phase "build (2.x, $build)" cmake --build build-torch2 -j"$(nproc)" "${targets[@]}"
