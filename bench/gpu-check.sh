#!/usr/bin/env bash
# The GPU check of the torch engine, for a host with Python + CUDA PyTorch + numpy, no Node.js, no network.
# Needs the working tree plus dist/ (npm run build) and bench/gpu-bundle/ (bench/gpu-bundle.sh).
# Prints: the host and device; parameter/MAC parity for every preset; the GPU-only tests;
# configs/depth-sweep.yaml end to end with its report and wall time, with 4 trials per GPU and as written
# (one trial at a time on one GPU); ResNet-20 and ResNet-56 training images/s at batch 128 and 512 in fp32
# and bf16; aggregate images/s with trials_per_gpu 1, 2, 4; when named, ResNet-20 with torch.compile.
# About 7 minutes on one GPU. Each section has its own time limit; a section that fails or runs out of time
# is reported, the next one runs, and the exit code counts the failed sections.
# Where $OUT is set, everything printed is also written to $OUT/gpu-check.log.
# Sections (all but compile when none is named): host engines parity tests sweep-4 sweep throughput
# aggregate compile; `tests` runs test/engine/torch-gpu.test.ts. ABLATE_GPU_CHECK_PRECISIONS (default
# "fp32 bf16") and ABLATE_GPU_CHECK_TRIALS (trials per GPU, default "1 2 4") narrow throughput and aggregate.
#   bash bench/gpu-check.sh
#   bash bench/gpu-check.sh host tests sweep           # some sections
#   ABLATE_GPU_CHECK_TINY=1 bash bench/gpu-check.sh     # tiny sizes: a check of the check, in minutes on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bundle=$root/bench/gpu-bundle
py=${ABLATE_PYTHON:-python3}
tiny=${ABLATE_GPU_CHECK_TINY:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${OUT:-}" ]; then exec > >(tee "$OUT/gpu-check.log") 2>&1; fi
failed=0
sections=" $* "
want() { [[ "$sections" == *" $1 "* ]] || { [ "$sections" = "  " ] && [ "$1" != compile ]; }; }
section() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
# Runs "$@" with a time limit in seconds; a failure or timeout is printed and counted, and the check goes on.
limit() {
  local seconds=$1; shift
  timeout --kill-after=10 "$seconds" "$@"
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "gpu-check: stopped after ${seconds} s: $*"; failed=$((failed + 1));
  elif [ $rc -ne 0 ]; then echo "gpu-check: exit code $rc: $*"; failed=$((failed + 1)); fi
  return 0
}

[ -d dist/src ] || { echo "gpu-check: dist/ is missing; build with npm run build and carry dist/" >&2; exit 1; }
[ -f "$bundle/node.xz" ] || { echo "gpu-check: $bundle is missing; make it with bench/gpu-bundle.sh and carry it" >&2; exit 1; }
# Node.js and the dependencies from the bundle (Python unpacks them: no xz or tar needed).
"$py" - "$bundle" "$work" <<'PY' || { echo "gpu-check: could not unpack $bundle" >&2; exit 1; }
import lzma, os, shutil, sys, tarfile
bundle, work = sys.argv[1:]
os.makedirs(f"{work}/bin")
with lzma.open(f"{bundle}/node.xz") as src, open(f"{work}/bin/node", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(f"{work}/bin/node", 0o755)
with tarfile.open(f"{bundle}/node_modules.tar.xz") as t:
    t.extractall(f"{work}/modules")
PY
export PATH="$work/bin:$PATH"
# The bundle's modules (no TensorFlow.js), found where the tree has no node_modules of its own.
export NODE_PATH="$work/modules/node_modules"
bench=(node dist/bench/train.js --engine torch --repeats 1 --no-torch)

if [ "$tiny" = 1 ]; then batches=(16 32); models=resnet20; steps=2; epochs=2; agg_steps=4; agg_epochs=4; aggregate=(1 2); sweep_limit=900
else batches=(128 512); models=resnet20,resnet56; steps=40; epochs=4; agg_steps=100; agg_epochs=12; aggregate=(1 2 4); sweep_limit=200; fi
read -r -a precisions <<< "${ABLATE_GPU_CHECK_PRECISIONS:-fp32 bf16}"
[ -n "${ABLATE_GPU_CHECK_TRIALS:-}" ] && read -r -a aggregate <<< "$ABLATE_GPU_CHECK_TRIALS"

if want host; then
section "host"
uname -srm
ldd --version 2>/dev/null | head -1
node --version || { echo "gpu-check: the bundled Node.js does not run here" >&2; exit 1; }
"$py" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
fi

if want engines; then
section "engines"
limit 60 node bin/run.js engines
fi

if want parity; then
section "parameter and MAC parity, every preset"
limit 60 bash -c 'set -o pipefail; node dist/bench/parity.js | tail -1'
fi

if want tests; then
section "GPU tests (test/engine/torch-gpu.test.ts)"
limit 180 env ABLATE_REQUIRE_GPU=1 node --test --test-concurrency=1 dist/test/engine/torch-gpu.test.js
fi

# The main job, configs/depth-sweep.yaml with its resources line replaced: 4 trials at once on the GPU, or as written.
depth_sweep() {
  local label=$1 resources=$2 study=$work/depth-sweep-$1.yaml db=$work/depth-sweep-$1.db start end
  sed "s|dataset: {name: fashion-mnist,|dataset: {name: fashion-mnist, path: $bundle/fashion-mnist,|; s|^resources: .*|resources: $resources|" configs/depth-sweep.yaml > "$study"
  if [ "$tiny" = 1 ]; then sed -i 's/train_size: [0-9]*, test_size: [0-9]*/train_size: 256, test_size: 128/; s/epochs: 8/epochs: 2/; s/seeds: .*/seeds: [1, 2]/' "$study"; fi
  echo "resources: $resources"
  start=$(date +%s.%N)
  limit "$sweep_limit" bash -c "set -o pipefail; node bin/run.js run '$study' --engine torch --db '$db' | { grep -v ': epoch ' || true; }"
  end=$(date +%s.%N)
  "$py" -c "print(f'depth-sweep wall time ($label): {float($end) - float($start):.1f} s')"
  limit 60 node bin/run.js report --db "$db" --pivot model.depth,model.residual --baseline model.residual=false
}
if want sweep-4; then
section "configs/depth-sweep.yaml end to end, 4 trials per GPU"
depth_sweep four-per-gpu '{workers: 4, trials_per_gpu: 4}'
fi
if want sweep; then
section "configs/depth-sweep.yaml end to end, as written (one GPU: one trial at a time)"
depth_sweep as-written '{workers: 2}'
fi

if want throughput; then
section "training throughput (torch engine, one trial)"
for precision in "${precisions[@]}"; do
  for batch in "${batches[@]}"; do
    limit 90 "${bench[@]}" --models "$models" --batch "$batch" --precision "$precision" --steps "$steps" --epochs "$epochs"
  done
done
fi

if want aggregate; then
section "aggregate throughput, trials per GPU (ResNet-20, batch ${batches[0]}, fp32)"
for k in "${aggregate[@]}"; do
  limit 60 "${bench[@]}" --models resnet20 --batch "${batches[0]}" --steps "$agg_steps" --epochs "$agg_epochs" --trials-per-gpu "$k"
done
fi

if want compile; then
section "torch.compile (ResNet-20, batch ${batches[-1]}, fp32 and bf16; compilation is in the first epoch)"
for precision in fp32 bf16; do
  limit 150 "${bench[@]}" --models resnet20 --batch "${batches[-1]}" --precision "$precision" --steps "$steps" --epochs "$epochs" --compile
done
fi

section "done: $failed section(s) failed"
exit "$failed"
