"""Parameters, MACs (by forward hooks) and checkpoint names of torch networks built from layouts.

  python3 -m ablate_torch.count < cases.json
stdin: {"cases": [{"layout": {...}, "input": [h, w, c]}, ...]}; stdout: one JSON list, per case
{"params", "macs", "tensors": [[checkpoint name, shape in ablate's layout], ...]}.
"""
from __future__ import annotations

import json
import sys

import torch

from .net import Net, count_macs, count_params, named_tensors, to_ts


def main() -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cases = json.load(sys.stdin)["cases"]
    out = []
    for case in cases:
        net = Net(case["layout"], device="meta")
        tensors = [[("param/" if trainable else "state/") + key, list(to_ts(module, name, t).shape)]
                   for key, module, name, t, trainable in named_tensors(net)]
        out.append({"params": count_params(net), "macs": count_macs(net, tuple(case["input"])), "tensors": tensors})
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
