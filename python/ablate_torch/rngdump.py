"""Data order and augmentation draws for given (seed, epoch, n, padding), for the equality test with
src/data/batches.ts. stdin: {"cases": [{"seed", "epoch", "n", "padding"}]}; stdout: a JSON list of
{"order", "dy", "dx", "flip"}.
"""
from __future__ import annotations

import json
import sys

from .rng import augment_draws, epoch_order, hash_seed


def main() -> int:
    out = []
    for c in json.load(sys.stdin)["cases"]:
        dy, dx, flip = augment_draws(c["seed"], c["epoch"], c["n"], c["padding"])
        out.append({"order": epoch_order(c["n"], c["seed"], c["epoch"]).tolist(), "dy": dy.tolist(), "dx": dx.tolist(),
                    "flip": flip.tolist(), "hash": hash_seed(c["seed"], c["epoch"], "order")})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
