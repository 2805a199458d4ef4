#!/usr/bin/env bash
# Installs what ablate needs on Debian 12 (run as root, or with sudo available), then the npm packages.
#   g++, make, python3     build the native CPU engine (node-gyp)
#   libdnnl-dev            oneDNN: the convolution and batch-norm kernels of the native engine
#   dataset-fashion-mnist  Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist (configs/*.yaml)
#   chromium               headless browser for the HTML report test
#   python3-torch, python3-numpy   PyTorch 1.13 (CPU) for the torch engine's tests (a GPU needs pip install torch)
#   slurmctld, slurmd, slurm-client   Slurm 22.05: the tests start a one-node cluster to run the slurm executor on
# Set ABLATE_SKIP_APT=1 to skip the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "setup: ablate needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none)); Debian 12's nodejs package is 18, so install Node.js 20 first" >&2
  exit 1
fi
packages=(g++ make python3 libdnnl-dev dataset-fashion-mnist chromium python3-torch python3-numpy slurmctld slurmd slurm-client)
if [ "${ABLATE_SKIP_APT:-}" != 1 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
npm ci --no-audit --no-fund
