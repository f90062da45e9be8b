#!/usr/bin/env bash
# The whole GPU check in one command, from a clean checkout on an NVIDIA GPU machine:
#
#   bench/gpu_check.sh
#
# 1. Preflight (seconds, before installing anything): nvidia-smi must exist and list a GPU,
#    python3 must be >= 3.11. On a machine without a GPU it stops here with exit status 2.
# 2. Creates a venv ($GPU_CHECK_VENV, default out/venv-gpu; --system-site-packages, so a
#    preinstalled cupy/tensorrt is used) and installs '.[gpu,dev]' (PyPI plus
#    https://pypi.nvidia.com, where the TensorRT libraries really live). Offline machines:
#    point WHEELHOUSE at a directory of wheels (pip --no-index --find-links).
# 3. Checks that cupy sees the device (exit 3 if not).
# 4. Runs the GPU tests: pytest -m gpu with FACEWIRE_REQUIRE_GPU=1, so a skip is a failure.
# 5. Runs bench/gpu_bench.py (1, 64, 256, 1024, 2048 streams, as time allows) and prints
#    its table. The plan built in step 4 is cached in $FACEWIRE_CACHE_DIR and reused here.
#
# Everything runs under one time budget (GPU_CHECK_BUDGET_S, default 470 s, < 8 minutes);
# each step gets `timeout` with what is left. Exit status: 0 all passed, 2 no GPU / bad
# python, 3 cupy cannot see the GPU, 4 install failed, 5 GPU tests failed, 6 bench failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

BUDGET_S=${GPU_CHECK_BUDGET_S:-470}
START=$SECONDS
left() {
  local s=$((BUDGET_S - (SECONDS - START)))
  echo $((s > 1 ? s : 1)) # timeout 0 would mean no limit
}
say() { printf 'gpu_check: %s\n' "$*"; }
fail() {
  local code=$1
  shift
  say "FAIL: $*" >&2
  exit "$code"
}

# --- 1. preflight: nothing is installed before this passes --------------------------------
command -v nvidia-smi >/dev/null 2>&1 ||
  fail 2 "nvidia-smi not found: no NVIDIA driver here, so there is no GPU to check"
GPUS=$(timeout 30 nvidia-smi -L 2>&1) || fail 2 "nvidia-smi -L failed: ${GPUS}"
grep -q '^GPU ' <<<"$GPUS" || fail 2 "nvidia-smi lists no GPU: ${GPUS}"
say "found: $(head -n 1 <<<"$GPUS")"
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  fail 2 "$PYTHON missing or older than 3.11"

# --- 2. venv + install ---------------------------------------------------------------------
mkdir -p out
VENV=${GPU_CHECK_VENV:-out/venv-gpu}
if [ ! -x "$VENV/bin/python" ]; then
  timeout "$(left)" "$PYTHON" -m venv --system-site-packages "$VENV" || fail 4 "venv failed"
fi
PIP_ARGS=(-q --disable-pip-version-check)
if [ -n "${WHEELHOUSE:-}" ]; then
  PIP_ARGS+=(--no-index --find-links "$WHEELHOUSE")
else
  # tensorrt-cu12-libs on PyPI is a stub that fetches the real wheel from NVIDIA's index.
  PIP_ARGS+=(--extra-index-url https://pypi.nvidia.com)
fi
say "installing .[gpu,dev] into $VENV ($(left) s left)"
timeout "$(left)" "$VENV/bin/pip" install "${PIP_ARGS[@]}" -e '.[gpu,dev]' ||
  fail 4 "pip install -e '.[gpu,dev]' failed or timed out (offline? set WHEELHOUSE)"

# --- 3. cupy must see the device ------------------------------------------------------------
timeout 120 "$VENV/bin/python" - <<'EOF' || fail 3 "cupy cannot use the GPU (see above)"
import cupy
n = cupy.cuda.runtime.getDeviceCount()
name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
print(f"gpu_check: cupy {cupy.__version__} sees {n} device(s), first: {name!r}")
x = cupy.arange(10, dtype=cupy.float32)
assert float((x * 2).sum()) == 90.0
EOF

# --- 4. GPU tests ---------------------------------------------------------------------------
export FACEWIRE_CACHE_DIR=${FACEWIRE_CACHE_DIR:-$PWD/out/gpu-cache}
export FACEWIRE_REQUIRE_GPU=1
say "pytest -m gpu ($(left) s left; plan cache $FACEWIRE_CACHE_DIR)"
timeout "$(left)" "$VENV/bin/python" -m pytest -m gpu -q -rs -p no:cacheprovider tests/
TESTS=$?
[ "$TESTS" = 0 ] || say "GPU tests failed (status $TESTS); running the bench anyway"

# --- 5. capacity / latency bench ------------------------------------------------------------
BENCH_BUDGET=$(($(left) - 60)) # leave a minute for the last size in flight
if [ "$BENCH_BUDGET" -lt 10 ]; then
  fail 6 "no time left for the bench"
fi
say "bench ($(left) s left)"
timeout "$(left)" "$VENV/bin/python" bench/gpu_bench.py --engine tensorrt \
  --streams 1,64,256,1024,2048 --budget-s "$BENCH_BUDGET" --json out/gpu_bench.json
BENCH=$?

say "done in $((SECONDS - START)) s: tests status $TESTS, bench status $BENCH"
[ "$TESTS" = 0 ] || exit 5
[ "$BENCH" = 0 ] || exit 6
exit 0
