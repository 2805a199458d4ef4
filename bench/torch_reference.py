#!/usr/bin/env python3
"""PyTorch CPU baseline for `npm run bench`: the same CIFAR-style ResNet, batch and threads.

The network follows He et al. 2016, section 4.2 (the one ablate builds for `depth: 6n+2`): a 3x3
stem with 16 filters, three stages of n basic blocks with 16/32/64 filters, the first block of
stages 2 and 3 striding by 2, parameter-free option-A shortcuts (subsample, zero-pad the channels),
batch norm after every convolution, global average pooling and a linear classifier. Training is
SGD with momentum 0.9 and weight decay 1e-4 on a fixed random batch, as ablate's benchmark does
on synthetic data.

Prints one JSON line: images_per_sec, ms_per_step, peak_rss_mb (this process's high-water mark).

  /usr/bin/python3 bench/torch_reference.py --depth 56 --batch 128 --threads 2
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(cin, cout, stride):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout, 1), nn.BatchNorm2d(cout)
        self.stride = stride
        self.extra = cout - cin  # channels option A adds as zeros

    def shortcut(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, classes, channels):
        super().__init__()
        if (depth - 2) % 6:
            raise SystemExit(f"depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(conv3x3(channels, 16, 1), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(n):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--image", default="32x32x3", help="HxWxC")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, w, c = (int(v) for v in args.image.split("x"))
    model = CifarResNet(args.depth, args.classes, c)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(args.batch, c, h, w)
    y = torch.randint(0, args.classes, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    per_step = sum(times) / len(times)
    print(json.dumps({
        "model": f"resnet{args.depth}",
        "engine": f"pytorch-{torch.__version__}-cpu",
        "threads": args.threads,
        "batch": args.batch,
        "params": sum(p.numel() for p in model.parameters()),
        "ms_per_step": round(per_step * 1000, 1),
        "images_per_sec": round(args.batch / per_step, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
