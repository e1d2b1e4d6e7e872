#!/usr/bin/env bash
# The checks of the CuPy path on a CUDA machine, in one go (a few minutes on one GPU):
#   bash benchmarks/gpu_check.sh [OUTDIR]
# versions; the GPU tests (pytest -m gpu); a short `minideeplab train` on CuPy beside the same
# run on NumPy (their losses should agree to float32 rounding); benchmarks/bench_gpu.py.
# Uses the Python environment it finds (python3 with numpy, numba, scipy, pillow, matplotlib,
# tqdm, pytest, cupy and, for the comparison, torch) and the repository on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-out/gpu_check}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import sys, numpy, numba, scipy, cupy; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'scipy', scipy.__version__, 'cupy', cupy.__version__)"
echo "== pytest -m gpu"
python3 -m pytest -m gpu -v -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log" | grep -E "PASS|FAIL|ERROR|passed|failed|Error" | head -60
echo "== minideeplab train on CuPy and on NumPy (synthetic, 60 iterations at rate 1e-3)"
# the first losses agree to float32 rounding; later ones drift apart as rounding accumulates (on the
# CPU, one thread against two moves the 60th loss by 1%)
for b in cupy numpy; do
  s=$(date +%s.%N)
  MINIDEEPLAB_BACKEND=$b python3 -m minideeplab train --dataset synthetic --max-iter 60 --lr 1e-3 --out "/tmp/gpu_check_$b" \
    2>&1 | tr '\r' '\n' | grep -v "%|" | tail -2
  e=$(date +%s.%N)
  python3 -c "import json; l=json.load(open('/tmp/gpu_check_$b/train_log.json')); print('$b', 'losses at 1-5 and 60:', [round(r['loss'], 6) for r in l[:5] + l[-1:]], 'wall %.1f s' % ($e - $s))"
done
echo "== bench_gpu.py"
python3 benchmarks/bench_gpu.py --iters 5 2>&1 | tee "$out/bench_gpu.txt"
python3 benchmarks/bench_gpu.py --config paper w0.125 --iters 3 --layers --no-torch 2>&1 | tee "$out/bench_gpu_layers.txt"
