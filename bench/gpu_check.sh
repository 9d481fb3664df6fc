#!/usr/bin/env bash
# Issue 18's GPU checks in one call on a machine with a GPU (whose python3 holds torch with CUDA):
# the NumPy BatchNorm2d on that machine's CPU, the GPU rows of the bench, the CUDA parity tests of
# the fast paths, the NCCL smoke test and the bytes the compiled twins move there.
# Needs only torch, numpy and pytest there (not the test extras): tipslib is run from this tree.
#   bash bench/gpu_check.sh            results in $OUT (or /tmp/gpu_check): gpu.txt, batchnorm.txt,
#                                      bench.txt, tests.txt, traffic.txt
#
# A device call has a hard time limit and one try, so each part has its own budget (together
# 520 s by default: run it with a call limit of about 560 s), stops with SIGINT at its budget,
# and writes as it goes: the bench and the byte counts print each row when it is done, pytest
# prints each test's result and, interrupted, its summary. A part cut short keeps what it did.
set -u
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

python3 - > "$out/gpu.txt" 2>&1 <<'PY'
import importlib.util
import torch
triton = importlib.util.find_spec("triton") and __import__("triton").__version__
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA"
print("torch", torch.__version__, "| triton", triton or "absent", "|", gpu, "|", torch.cuda.device_count(), "GPU(s)")
PY

# The NumPy reference's BatchNorm2d against torch's, one thread of this machine's CPU (about 5 s).
timeout -s INT -k 10 "${BATCHNORM_S:-30}" python3 bench/bench_batchnorm.py > "$out/batchnorm.txt" 2>&1
echo "batchnorm rc=$?" >> "$out/batchnorm.txt"

# Then, on an idle GPU: the timings.
timeout -s INT -k 10 "${BENCH_S:-290}" python3 bench/bench_gpu_twins.py --cuda-only > "$out/bench.txt" 2>&1
echo "bench rc=$?" >> "$out/bench.txt"

# Every test that runs on CUDA: the device fixture's [cuda] cases, the fused optimizers', the
# fast paths' and the NCCL smoke test. -o addopts="": the project's options name nbval, which a
# bare GPU image lacks; modules that need the notebook extras fail to collect and are skipped over.
# Their time is compiling (Triton, on the CPU), so with pytest-xdist they run on 8 workers.
workers=$(python3 -c "import xdist" 2>/dev/null && echo "-n 8")
timeout -s INT -k 10 "${TESTS_S:-160}" python3 -m pytest -v -o addopts="" -p no:cacheprovider -ra \
  --durations=10 --continue-on-collection-errors $workers -k "cuda or nccl" tests > "$out/tests.txt" 2>&1
echo "tests rc=$?" >> "$out/tests.txt"

# The bytes each compiled twin moves, as inductor counts its Triton kernels (the CPU count is in CI's bench).
timeout -s INT -k 10 "${TRAFFIC_S:-40}" python3 bench/bench_traffic.py --device cuda > "$out/traffic.txt" 2>&1
echo "traffic rc=$?" >> "$out/traffic.txt"
grep -E "passed|failed|error" "$out/tests.txt" | tail -n 3; cat "$out/batchnorm.txt" "$out/bench.txt" "$out/traffic.txt"
