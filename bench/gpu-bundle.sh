#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU host that has Python with CUDA PyTorch but no Node.js and
# no network, into bench/gpu-bundle/ (git-ignored; carry it with dist/):
#   node.xz                 this machine's Node.js binary (the native modules below are built for it)
#   node_modules.tar.xz     ablate's production dependencies without TensorFlow.js (the torch engine needs none)
#   fashion-mnist/          the part of Fashion-MNIST that configs/depth-sweep.yaml reads (first 6000 + 2000 images)
# Run after `npm ci` and a build (npx tsc -p tsconfig.json).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/gpu-bundle
rm -rf "$out" && mkdir -p "$out/fashion-mnist"
xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
# The dependency closure of package.json's dependencies, TensorFlow.js left out.
mapfile -t mods < <(node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name) || name.startsWith("@tensorflow/")) return;
    const dir = path.join("node_modules", name);
    if (!fs.existsSync(path.join(dir, "package.json"))) return;
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const d of Object.keys({...pkg.dependencies, ...pkg.optionalDependencies})) visit(d);
  };
  for (const d of Object.keys(require("./package.json").dependencies)) visit(d);
  console.log([...seen].map((m) => "node_modules/" + m).join("\n"));')
# better-sqlite3: its compiled module and JavaScript, not its sources.
tar -C "$(pwd -P)" -cJf "$out/node_modules.tar.xz" --dereference \
  --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' --exclude='node_modules/better-sqlite3/build/Release/*.a' \
  --exclude='node_modules/better-sqlite3/build/deps' "${mods[@]}"
python3 - "$out/fashion-mnist" <<'PY'
import gzip, struct, sys
out = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist"
for split, n in (("train", 6000), ("t10k", 2000)):
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        data = gzip.open(f"{src}/{split}-{kind}.gz").read()
        dims = data[3]
        shape = list(struct.unpack(f">{dims}I", data[4:4 + 4 * dims]))
        item = 1
        for d in shape[1:]:
            item *= d
        shape[0] = n
        body = data[4 + 4 * dims: 4 + 4 * dims + n * item]
        with gzip.open(f"{out}/{split}-{kind}.gz", "wb") as f:
            f.write(data[:4] + struct.pack(f">{dims}I", *shape) + body)
PY
du -sh "$out"/* | sed 's/^/gpu-bundle: /'
