"""torch modules built from ablate's layout data (src/models/layout.ts, sent as JSON in the job).

There is no model zoo here: every convolution, batch norm, shortcut and the classifier comes from the
layout the TypeScript builder and the parameter/MAC accounting use, with the same stable names
(`stage2.block3.conv1`). Tensors are laid out as torch wants them; `ts_key`/`to_ts`/`from_ts` map them to
the TypeScript names and shapes of ablate's checkpoints (conv filters [kh, kw, in/groups, out], fc [in, classes]).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# PyTorch's BatchNorm2d defaults, as src/models/builder.ts uses them.
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def _key(name: str) -> str:
    # Module names may not contain dots; the layout's names do.
    return name.replace(".", "/")


class Net(nn.Module):
    def __init__(self, layout: dict, device=None):
        """`device="meta"` builds shapes without memory (counting parameters and MACs of large nets)."""
        super().__init__()
        self.layout = layout
        self.factory = {"device": device} if device is not None else {}
        self.layers = nn.ModuleDict()
        stem = layout["stem"]
        self._conv(stem["conv"])
        self._bn(stem.get("bn"))
        for block in layout["blocks"]:
            for c in block["convs"]:
                self._conv(c)
            for b in block["bns"]:
                self._bn(b)
            sc = block["shortcut"]
            if sc["kind"] == "projection":
                self._conv(sc["conv"])
                self._bn(sc.get("bn"))
        final = layout.get("final")
        if final:
            self._bn(final.get("bn"))
        fc = layout["fc"]
        self.layers[_key("fc")] = nn.Linear(fc["inFeatures"], fc["classes"], **self.factory)

    def _conv(self, c: dict) -> None:
        conv = nn.Conv2d(c["inChannels"], c["outChannels"], c["kernel"], stride=c["stride"], padding=c["pad"],
                         groups=c["groups"], bias=c["bias"], **self.factory)
        # He et al. 2015 normal initialisation, fan-out mode (as the TypeScript builder and torchvision).
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if c.get("zeroInit"):
            nn.init.zeros_(conv.weight)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        self.layers[_key(c["name"])] = conv

    def _bn(self, b: dict | None) -> None:
        if not b:
            return
        bn = nn.BatchNorm2d(b["channels"], eps=BN_EPS, momentum=BN_MOMENTUM, **self.factory)
        if b["zeroInit"]:
            nn.init.zeros_(bn.weight)
        self.layers[_key(b["name"])] = bn

    def _apply_conv(self, x, c):
        return self.layers[_key(c["name"])](x)

    def _apply_bn(self, x, b):
        return self.layers[_key(b["name"])](x) if b else x

    def _shortcut(self, x, pre, sc):
        kind = sc["kind"]
        if kind == "none":
            return None
        if kind == "identity":
            return x
        if kind == "pad":
            # Option A: subsample, then zero channels in front and behind.
            s = sc["stride"]
            sub = x[:, :, ::s, ::s] if s > 1 else x
            return F.pad(sub, (0, 0, 0, 0, sc["before"], sc["after"]))
        # Projection: pre-activation blocks project their normalised input, the others their raw input.
        return self._apply_bn(self._apply_conv(pre, sc["conv"]), sc.get("bn"))

    def _post_activation(self, x, block):
        out = x
        convs, bns = block["convs"], block["bns"]
        for i, c in enumerate(convs):
            out = self._apply_conv(out, c)
            if bns:
                out = self._apply_bn(out, bns[i])
            if i < len(convs) - 1:
                out = F.relu(out)
        sc = self._shortcut(x, x, block["shortcut"])
        return F.relu(out + sc if sc is not None else out)

    def _pre_activation(self, x, block):
        bns = block["bns"]
        pre = F.relu(self._apply_bn(x, bns[0] if bns else None))
        out = self._apply_conv(pre, block["convs"][0])
        out = F.relu(self._apply_bn(out, bns[1] if bns else None))
        if block["dropout"] > 0:
            out = F.dropout(out, block["dropout"], self.training)
        out = self._apply_conv(out, block["convs"][1])
        sc = self._shortcut(x, pre, block["shortcut"])
        return out + sc if sc is not None else out

    def forward(self, x):
        stem = self.layout["stem"]
        h = self._apply_bn(self._apply_conv(x, stem["conv"]), stem.get("bn"))
        if stem["relu"]:
            h = F.relu(h)
        if stem["maxPool"]:
            h = F.max_pool2d(h, 3, 2, 1)
        for block in self.layout["blocks"]:
            h = self._pre_activation(h, block) if block["kind"] == "preact" else self._post_activation(h, block)
        final = self.layout.get("final")
        if final:
            h = F.relu(self._apply_bn(h, final.get("bn")))
        return self.layers["fc"](h.mean(dim=(2, 3)))


# --- mapping to the TypeScript names and shapes of checkpoints -------------------------------------------

_BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}


def ts_key(module_key: str, module: nn.Module, tensor_name: str) -> str:
    base = module_key.replace("/", ".")
    if isinstance(module, nn.BatchNorm2d):
        return f"{base}.{_BN_NAMES[tensor_name]}"
    return f"{base}.{tensor_name}"


def to_ts(module: nn.Module, tensor_name: str, t: torch.Tensor) -> torch.Tensor:
    if tensor_name == "weight" and isinstance(module, nn.Conv2d):
        return t.permute(2, 3, 1, 0)
    if tensor_name == "weight" and isinstance(module, nn.Linear):
        return t.t()
    return t


def from_ts(module: nn.Module, tensor_name: str, t: torch.Tensor) -> torch.Tensor:
    if tensor_name == "weight" and isinstance(module, nn.Conv2d):
        return t.permute(3, 2, 0, 1)
    if tensor_name == "weight" and isinstance(module, nn.Linear):
        return t.t()
    return t


def named_tensors(net: Net):
    """(ts_key, module, tensor_name, tensor, trainable) for every parameter and BN running statistic."""
    for key, module in net.layers.items():
        for name, p in module.named_parameters(recurse=False):
            yield ts_key(key, module, name), module, name, p, True
        if isinstance(module, nn.BatchNorm2d):
            for name in ("running_mean", "running_var"):
                yield ts_key(key, module, name), module, name, getattr(module, name), False


def count_params(net: Net) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def count_macs(net: Net, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of the convolutions and the classifier for one image, counted by forward hooks."""
    macs = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal macs
        kh, kw = m.kernel_size
        macs += out.shape[2] * out.shape[3] * kh * kw * (m.in_channels // m.groups) * m.out_channels

    def fc_hook(m: nn.Linear, _inp, _out):
        nonlocal macs
        macs += m.in_features * m.out_features

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(fc_hook))
    h, w, c = input_shape
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(1, c, h, w, device=next(net.parameters()).device))
    finally:
        for hk in hooks:
            hk.remove()
        net.train(was_training)
    return macs
