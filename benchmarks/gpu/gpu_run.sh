#!/usr/bin/env bash
# First GPU session for flexnet on CuPy. Copy the starter kit's wheels (array-api-compat,
# array-api-strict, pytest: the GPU image lacks them) into the checkout as gpu/wheels (untracked,
# not ignored, so the device tool carries them), then run from the checkout root:
#   bash benchmarks/gpu/gpu_run.sh            (WHEELS=dir to take them from elsewhere)
# Budget: ~6 min of command time; everything lands in $OUT as it is produced.
set -u
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"; DEPS=$(mktemp -d)
export PYTHONDONTWRITEBYTECODE=1 CUPY_CACHE_DIR="$OUT/cupy_kernel_cache"   # bring the NVRTC cache back
python -m pip install -q --no-index --no-deps --target "$DEPS" "${WHEELS:-gpu/wheels}"/*.whl 2>&1 | tail -2
export PYTHONPATH="$DEPS:$PWD"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; pip list 2>/dev/null | grep -i -E "cupy|torch|numpy|array|scikit|matplotlib"; } > "$OUT/env.txt" 2>&1
python -c "import cupy; cupy.show_config()" > "$OUT/cupy_config.txt" 2>&1
timeout 240 python "$(dirname "$0")"/gpu_probe.py --out "$OUT" 2>&1 | tee "$OUT/probe.log" | cut -c1-400
timeout 180 python -m pytest tests -k cupy -q -p no:cacheprovider --maxfail=30 \
  --continue-on-collection-errors --junitxml="$OUT/pytest-cupy.xml" > "$OUT/pytest.log" 2>&1
echo "pytest rc=$?"; tail -30 "$OUT/pytest.log"
