#!/usr/bin/env bash
# Issue 18's GPU checks in one call on a machine with a GPU (whose python3 holds torch with CUDA):
# the CUDA parity tests of the fast paths, the NCCL smoke test, the GPU rows of the bench and
# the bytes the compiled twins move there.
# Needs only torch, numpy and pytest there (not the test extras): tipslib is run from this tree.
#   bash bench/gpu_check.sh            results in $OUT (or /tmp/gpu_check): gpu.txt, tests.txt, bench.txt, traffic.txt
set -u
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name())" > "$out/gpu.txt" 2>&1

# Every test that runs on CUDA: the device fixture's [cuda] cases, the fused optimizers', the
# fast paths' and the NCCL smoke test. -o addopts="": the project's options name nbval, which a
# bare GPU image lacks; modules that need the notebook extras fail to collect and are skipped over.
timeout "${TESTS_S:-300}" python3 -m pytest -q -o addopts="" -p no:cacheprovider -ra \
  --continue-on-collection-errors -k "cuda or nccl" tests > "$out/tests.txt" 2>&1
echo "tests rc=$?" >> "$out/tests.txt"

timeout "${BENCH_S:-300}" python3 bench/bench_gpu_twins.py --cuda-only > "$out/bench.txt" 2>&1
echo "bench rc=$?" >> "$out/bench.txt"

# The bytes each compiled twin moves, as inductor counts its Triton kernels (the CPU count is in CI's bench).
timeout "${TRAFFIC_S:-120}" python3 bench/bench_traffic.py --device cuda > "$out/traffic.txt" 2>&1
echo "traffic rc=$?" >> "$out/traffic.txt"
tail -n 3 "$out/tests.txt"; cat "$out/bench.txt" "$out/traffic.txt"
