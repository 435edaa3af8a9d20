# Shared by the benchmark scripts (sourced): `bench_setup NAME FLAVOUR TEXT` picks the flavour's build
# folder and Python (debian: build/ and Debian's python3-torch; pip: build-torch2/ and the wheel's
# venv), fetches the plays corpus when TEXT is missing, and sets `core` to the OpenBLAS kernel set dlm
# chose, which the PyTorch twin gets through OPENBLAS_CORETYPE (empty with MKL, which has no such switch).
bench_setup() {
  local name=$1 flavour=$2 text=$3
  case $flavour in
    debian) build=build python=/usr/bin/python3 ;;
    pip) build=build-torch2 python=.venv-torch2/bin/python ;;
    *) echo "$name: --flavour is debian or pip" >&2; exit 2 ;;
  esac
  [ -x "$build/blas_matmul" ] || { echo "$name: $build is not built (scripts/setup.sh$([ "$flavour" = pip ] && echo ' --torch pip'))" >&2; exit 1; }
  [ -s "$text" ] || scripts/fetch_plays.sh
  core=$("$build/blas_matmul" --kernels)
  core=${core:-${OPENBLAS_CORETYPE:-}}
}
