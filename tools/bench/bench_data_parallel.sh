#!/usr/bin/env bash
# Data-parallel training speed (issue 14): img/s of one model trained by `minidl_train train` on 1
# rank and on N ranks (`--nproc N`: mpirun on the CPU, one process per GPU on CUDA), with the
# gradient all-reduce overlapped with backward and not. The per-rank batch is fixed (weak scaling,
# as the paper's 4 x 128), so ideal scaling multiplies img/s by N. img/s is the mean of
# metrics.csv's img_per_s over the second half of the iterations (the first ones warm up), on
# synthetic data (1x28x28, 10 classes: no file reading in the way).
#
#   tools/bench/bench_data_parallel.sh [--bin build/cpu/tools/minidl_train] [--device cpu|cuda]
#       [--ranks 2] [--model resnet56] [--batch 64] [--iterations 30]
# CPU: a rank gets cores / N compute threads (the single rank all of them), so both use the
# machine's cores; on a machine with fewer cores than that the figures say nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=build/cpu/tools/minidl_train device=cpu ranks=2 model=resnet56 batch=64 iterations=30
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2 ;;
    --device) device=$2 ;;
    --ranks) ranks=$2 ;;
    --model) model=$2 ;;
    --batch) batch=$2 ;;
    --iterations) iterations=$2 ;;
    *) echo "bench_data_parallel: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[ -x "$bin" ] || { echo "bench_data_parallel: no minidl_train at $bin (build first)" >&2; exit 2; }
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# img/s of one run: N ranks, overlap on/off.
measure() {
  local n=$1 overlap=$2 threads=$((cores / $1)) out="$work/run_$1_$2"
  [ "$threads" -ge 1 ] || threads=1
  local nproc=()
  [ "$n" -gt 1 ] && nproc=(--nproc "$n")
  "$bin" train "${nproc[@]}" --model "$model" --dataset synthetic --device "$device" \
    --batch-size "$batch" --iterations "$iterations" --threads "$threads" --workers 1 \
    --lr 0.001 --momentum 0.9 --eval-batches 1 --eval-every "$iterations" --checkpoint-every -1 \
    --log-every 1 --overlap "$overlap" --out "$out" >"$out.log" 2>&1 ||
    { echo "bench_data_parallel: run failed, see below" >&2; tail -20 "$out.log" >&2; exit 1; }
  awk -F, -v it="$iterations" 'NR > 1 && $1 > it / 2 { s += $10; k++ } END { printf "%.1f", s / k }' \
    "$out/metrics.csv"
}

echo "# minidl_train data parallel, $model, batch $batch per rank, $iterations iterations, $device"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores"
echo "| ranks | threads per rank | overlap | img/s | vs 1 rank |"
echo "|---|---|---|---|---|"
one=$(measure 1 true)
echo "| 1 | $cores | - | $one | 1.00 |"
for overlap in true false; do
  v=$(measure "$ranks" "$overlap")
  echo "| $ranks | $((cores / ranks > 0 ? cores / ranks : 1)) | $overlap | $v | $(awk -v a="$v" -v b="$one" 'BEGIN { printf "%.2f", a / b }') |"
done
