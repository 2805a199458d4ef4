#!/usr/bin/env bash
# The GPU check of the torch engine, for a host with Python + CUDA PyTorch + numpy, no Node.js, no network.
# Needs the working tree plus dist/ (npx tsc -p tsconfig.json) and bench/gpu-bundle/ (bench/gpu-bundle.sh).
# Prints: the device; parameter/MAC parity for every preset; ResNet-20 and ResNet-56 training images/s at
# batch 128 and 512 in fp32 and bf16; aggregate images/s with trials_per_gpu 1, 2, 4; configs/depth-sweep.yaml
# end to end with its report and wall time. About 8 minutes on one GPU.
#   bash bench/gpu-check.sh
#   ABLATE_GPU_CHECK_TINY=1 bash bench/gpu-check.sh     # tiny sizes: a check of the check, in minutes on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bundle=$root/bench/gpu-bundle
py=${ABLATE_PYTHON:-python3}
tiny=${ABLATE_GPU_CHECK_TINY:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
section() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

[ -d dist/src ] || { echo "gpu-check: dist/ is missing; build with npx tsc -p tsconfig.json and carry dist/" >&2; exit 1; }
[ -f "$bundle/node.xz" ] || { echo "gpu-check: $bundle is missing; make it with bench/gpu-bundle.sh and carry it" >&2; exit 1; }
# Node.js and the dependencies from the bundle (Python unpacks them: no xz or tar needed).
"$py" - "$bundle" "$work" "$root" <<'PY'
import lzma, os, shutil, sys, tarfile
bundle, work, root = sys.argv[1:]
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
ablate() { node bin/run.js "$@"; }
bench() { node dist/bench/train.js --engine torch --repeats 1 --no-torch "$@"; }

if [ "$tiny" = 1 ]; then batches=(16 32); models=resnet20; steps=2; epochs=2; aggregate=(1 2); else batches=(128 512); models=resnet20,resnet56; steps=30; epochs=3; aggregate=(1 2 4); fi

section "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
ablate engines

section "parameter and MAC parity, every preset"
node dist/bench/parity.js | tail -1

section "training throughput (torch engine, one trial)"
for precision in fp32 bf16; do
  for batch in "${batches[@]}"; do
    bench --models "$models" --batch "$batch" --precision "$precision" --steps "$steps" --epochs "$epochs"
  done
done

section "aggregate throughput, trials per GPU (ResNet-20, batch ${batches[0]}, fp32)"
for k in "${aggregate[@]}"; do
  bench --models resnet20 --batch "${batches[0]}" --steps "$steps" --epochs $((epochs + 2)) --trials-per-gpu "$k"
done

section "configs/depth-sweep.yaml end to end"
study=$work/depth-sweep.yaml
sed "s|dataset: {name: fashion-mnist,|dataset: {name: fashion-mnist, path: $bundle/fashion-mnist,|" configs/depth-sweep.yaml > "$study"
if [ "$tiny" = 1 ]; then
  sed -i 's/train_size: [0-9]*, test_size: [0-9]*/train_size: 256, test_size: 128/; s/epochs: 4/epochs: 2/; s/milestones: \[3\]/milestones: [1]/' "$study"
fi
db=$work/ablate.db
start=$(date +%s.%N)
ablate run "$study" --engine torch --db "$db" | grep -v ': epoch ' || true
end=$(date +%s.%N)
ablate report --db "$db" --pivot model.depth,model.residual
"$py" -c "print(f'depth-sweep wall time: {float($end) - float($start):.1f} s')"
