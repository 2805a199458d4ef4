"""One trial on torch, step for step the loop of src/experiments/trial.ts: the same data order and augmentation
(rng.py), SGD with momentum and L2 weight decay as torch.optim.SGD (PyTorch semantics, which ablate's own
optimizer follows), the learning rate set every iteration, NaN detection, mid-epoch checkpoints in ablate's
format, and the same events.
"""
from __future__ import annotations

import math
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from .net import Net, from_ts, named_tensors, to_ts
from .rng import augment_draws, epoch_order, hash_seed


class EngineError(Exception):
    """The machine cannot run this engine as asked (no GPU where one was asked, torch too old)."""


def learning_rate(train: dict, progress: float) -> float:
    """src/experiments/schedule.ts: per-iteration schedule; `progress` is the epoch position (2.5 = mid third epoch)."""
    base = train["optimizer"]["lr"]
    s = train["schedule"]
    warm = s.get("warmup_epochs", 0)
    if warm > 0 and progress < warm:
        return base * (0.1 + 0.9 * (progress / warm))
    if s["name"] == "constant":
        return base
    if s["name"] == "multistep":
        return base * math.pow(s["gamma"], len([m for m in s["milestones"] if progress >= m]))
    t = (progress - warm) / max(1e-9, train["epochs"] - warm)
    return s["min_lr"] + 0.5 * (base - s["min_lr"]) * (1 + math.cos(math.pi * min(1.0, t)))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def engine_info(device: torch.device, threads: int, autotune: bool) -> dict:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "requested": "torch", "name": "torch", "backend": device.type, "threads": threads,
        "versions": {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": str(cudnn) if cudnn else None,
                     "python": platform.python_version(), "cpu": cpu_name()},
        "autotune": autotune,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
    }


def resolve_device(job: dict) -> torch.device:
    if job.get("device") == "cuda":
        if not torch.cuda.is_available():
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            where = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
            raise EngineError(f"the torch engine was asked for a CUDA GPU but torch {torch.__version__} sees none{where}")
        return torch.device("cuda", 0)
    return torch.device("cpu")


_data_cache: dict = {}


def load_data(file: str, device: torch.device) -> dict:
    """The normalised NHWC splits the coordinator wrote (ablate's own loaders and normalisation), on `device`."""
    key = (file, str(device))
    if key not in _data_cache:
        _data_cache.clear()
        raw, _ = ckpt.load(file)
        if raw is None:
            raise FileNotFoundError(f"dataset cache {file} is missing")
        t = raw["tensors"]
        to = lambda a, dtype: torch.from_numpy(np.array(a, dtype=dtype)).to(device)  # noqa: E731
        _data_cache[key] = {
            "train_x": to(t["train/x"], np.float32), "train_y": to(t["train/y"], np.int64),
            "test_x": to(t["test/x"], np.float32), "test_y": to(t["test/y"], np.int64),
        }
    return _data_cache[key]


def js_number(v: float) -> str:
    """A number as JavaScript prints it in messages (NaN, Infinity)."""
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity") if math.isinf(v) else repr(v)


def finite_or_none(v):
    return v if v is not None and math.isfinite(v) else None


class Trial:
    def __init__(self, job: dict, should_stop, emit):
        self.job, self.should_stop, self.emit = job, should_stop, emit
        self.spec = job["spec"]
        self.train = self.spec["train"]
        self.device = resolve_device(job)
        self.threads = int(job.get("threads") or 1)
        torch.set_num_threads(self.threads)
        deterministic = bool(job.get("deterministic"))
        torch.backends.cudnn.benchmark = self.device.type == "cuda" and not deterministic
        torch.backends.cudnn.deterministic = deterministic
        self.bf16 = self.train.get("precision") == "bf16"
        self.channels_last = self.device.type == "cuda"
        self.dropout = any(b.get("dropout", 0) > 0 for b in job["layout"]["blocks"])
        # On a GPU the loss of step s is read after step s+1 is queued, so the host never waits for the device.
        self.lazy = self.device.type == "cuda"
        # On a GPU (torch 2.4 or newer) the optimizer is one fused kernel whose learning rate lives on the device,
        # so that the whole training step (forward, backward, update) can be replayed as one CUDA graph: small
        # networks are otherwise bound by the host launching several hundred kernels a step.
        fused = self.device.type == "cuda" and torch.__version__ >= (2, 4)  # TorchVersion compares with tuples
        self.graphs = (fused and not job.get("compile") and not self.dropout
                       and os.environ.get("ABLATE_CUDA_GRAPHS", "1") != "0")
        info = engine_info(self.device, self.threads, torch.backends.cudnn.benchmark)
        if self.device.type == "cuda":
            info["versions"]["training step"] = "CUDA graph" if self.graphs else "eager"
        emit({"type": "engine", "engine": info, "pid": os.getpid(), "device": os.environ.get("CUDA_VISIBLE_DEVICES")})

        self.data = load_data(job["data"]["file"], self.device)
        # The training batch size; batches of another size (an epoch's last) run eagerly.
        self.full_batch = min(self.train["batch_size"], self.data["train_x"].shape[0])
        torch.manual_seed(self.spec["seed"])
        net = Net(job["layout"]).to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.forward = net
        if job.get("compile"):
            if not hasattr(torch, "compile"):
                raise EngineError(f"resources.compile needs PyTorch 2 or newer; found torch {torch.__version__}")
            self.forward = torch.compile(net)
        opt = self.train["optimizer"]
        momentum = opt["momentum"]
        sgd = dict(momentum=momentum, weight_decay=opt["weight_decay"], nesterov=bool(opt.get("nesterov")) and momentum > 0)
        if fused:
            self.lr = torch.tensor(float(opt["lr"]), dtype=torch.float32, device=self.device)
            self.sgd = torch.optim.SGD(net.parameters(), lr=self.lr, fused=True, **sgd)
        else:
            self.lr = None
            self.sgd = torch.optim.SGD(net.parameters(), lr=opt["lr"], **sgd)
        self.graph = None
        self.graph_io = None  # (static images, static labels, loss, wrong) of the captured step
        self.warm_steps = 0
        self.side = torch.cuda.Stream(self.device) if self.graphs else None

    # --- checkpoints -------------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        out, momentum = {}, {}
        for key, module, name, t, trainable in named_tensors(self.net):
            a = to_ts(module, name, t.detach()).float().cpu().numpy()
            if trainable:
                out["param/" + key] = a
                buf = self.sgd.state.get(t, {}).get("momentum_buffer")
                momentum["momentum/" + key] = (to_ts(module, name, buf.detach()).float().cpu().numpy() if buf is not None
                                               else np.zeros_like(a))
            else:
                out["state/" + key] = a
        out.update(momentum)
        return out

    def restore(self, tensors: dict) -> None:
        with torch.no_grad():
            for key, module, name, t, trainable in named_tensors(self.net):
                prefixes = ("param/", "momentum/") if trainable else ("state/",)
                for prefix in prefixes:
                    want = tuple(to_ts(module, name, t).shape)
                    a = tensors.get(prefix + key)
                    if a is None or tuple(a.shape) != want:
                        got = "is missing" if a is None else f"has shape {'x'.join(map(str, a.shape))}, expected {'x'.join(map(str, want))}"
                        raise ValueError(f"checkpoint does not match the model: {prefix + key} {got}")
                    value = from_ts(module, name, torch.from_numpy(np.array(a))).to(self.device)
                    if prefix == "momentum/":
                        self.sgd.state[t]["momentum_buffer"] = value.contiguous(memory_format=torch.channels_last) \
                            if self.channels_last and value.dim() == 4 else value.contiguous()
                    else:
                        t.copy_(value)

    # --- batches -----------------------------------------------------------------------------------------
    def images(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    def batch(self, order: torch.Tensor, aug, start: int, n: int):
        idx = order[start:start + n]
        x = self.data["train_x"].index_select(0, idx)
        y = self.data["train_y"].index_select(0, idx)
        if aug is not None:
            # Crop of the zero-padded image at (dy, dx), mirrored when flipped (src/data/batches.ts cropFlip).
            dy, dx, flip, pad = aug
            _, h, w, _ = x.shape
            xp = F.pad(x, (0, 0, pad, pad, pad, pad))
            ar_h = torch.arange(h, device=x.device)
            ar_w = torch.arange(w, device=x.device)
            rows = ar_h[None, :] + dy[start:start + n, None]
            cols = torch.where(flip[start:start + n, None], (w - 1 - ar_w)[None, :], ar_w[None, :]) + dx[start:start + n, None]
            b = torch.arange(n, device=x.device)
            x = xp[b[:, None, None], rows[:, :, None], cols[:, None, :]]
        return self.images(x), y

    def epoch_plan(self, epoch: int, n: int):
        order = torch.from_numpy(epoch_order(n, self.spec["seed"], epoch)).to(self.device)
        augment = self.spec["dataset"].get("augment")
        padding = int(augment.get("crop_padding", 0)) if augment else 0
        flip_on = bool(augment.get("flip", False)) if augment else False
        if not (padding > 0 or flip_on):
            return order, None
        dy, dx, flip = augment_draws(self.spec["seed"], epoch, n, padding)
        dev = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return order, (dev(dy), dev(dx), dev(flip & flip_on), padding)

    # --- training ----------------------------------------------------------------------------------------
    def autocast(self):
        # No cache of cast weights: a CUDA graph cannot capture it, and eager steps should compute as replays do.
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=False)

    def forward_backward(self, x, y):
        self.net.train()
        with self.autocast():
            logits = self.forward(x)
        logits = logits.float()
        loss = F.cross_entropy(logits, y)
        wrong = (logits.argmax(1) != y).sum()
        self.sgd.zero_grad(set_to_none=True)
        loss.backward()
        return loss, wrong

    # A few eager steps on a side stream (cuDNN and the allocator settle), then one step is captured and every
    # full batch after it replays the capture with its images copied in. The same kernels run either way, so
    # a trial's numbers are those of eager steps; batches of another size (an epoch's last) run eagerly.
    GRAPH_WARMUP_STEPS = 3

    def graph_step(self, x, y):
        current = torch.cuda.current_stream(self.device)
        if self.graph is None and self.warm_steps < self.GRAPH_WARMUP_STEPS:
            self.warm_steps += 1
            self.side.wait_stream(current)
            with torch.cuda.stream(self.side):
                loss, wrong = self.forward_backward(x, y)
                self.sgd.step()
            current.wait_stream(self.side)
            return loss.detach(), wrong
        if self.graph is None:
            sx, sy = x.clone(), y.clone()
            graph = torch.cuda.CUDAGraph()
            self.side.wait_stream(current)
            with torch.cuda.graph(graph, stream=self.side):
                loss, wrong = self.forward_backward(sx, sy)
                self.sgd.step()
            current.wait_stream(self.side)
            self.graph, self.graph_io = graph, (sx, sy, loss.detach(), wrong)
        else:
            self.graph_io[0].copy_(x)
            self.graph_io[1].copy_(y)
        self.graph.replay()
        # The captured outputs are overwritten by the next replay; the caller reads them one step later.
        return self.graph_io[2].clone(), self.graph_io[3].clone()

    def step(self, x, y, lr: float, seed: int):
        if self.dropout:
            torch.manual_seed(seed)
        if self.lr is not None:
            self.lr.fill_(lr)
        else:
            for g in self.sgd.param_groups:
                g["lr"] = lr
        if self.graphs and x.shape[0] == self.full_batch:
            return self.graph_step(x, y)
        loss, wrong = self.forward_backward(x, y)
        if self.lazy:
            self.sgd.step()
            return loss.detach(), wrong
        value = loss.item()
        if math.isfinite(value):
            self.sgd.step()
        return value, wrong.item()

    def evaluate(self, batch_size: int) -> tuple[float, float]:
        x_all, y_all = self.data["test_x"], self.data["test_y"]
        n = x_all.shape[0]
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        wrong = torch.zeros((), dtype=torch.int64, device=self.device)
        self.net.eval()
        with torch.no_grad():
            for start in range(0, n, batch_size):
                x = self.images(x_all[start:start + batch_size])
                y = y_all[start:start + batch_size]
                with self.autocast():
                    logits = self.forward(x)
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y).double() * y.shape[0]
                wrong += (logits.argmax(1) != y).sum()
        return loss_sum.item() / n, wrong.item() / n

    def run(self) -> dict:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        outcome = self._train()
        if self.device.type == "cuda":
            outcome["peakDeviceMemoryMb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return outcome

    def _train(self) -> dict:
        train, spec, emit = self.train, self.spec, self.emit
        n = self.data["train_x"].shape[0]
        batch_size = self.full_batch
        drop_last = n % batch_size == 1
        steps = n // batch_size if drop_last else -(-n // batch_size)
        file = self.job.get("checkpointFile")
        identity = self.job.get("checkpointIdentity")
        resume, ignored = ckpt.load(file, identity) if file else (None, None)
        if ignored:
            emit({"type": "checkpoint-ignored", "file": file, "reason": ignored})
        if resume:
            self.restore(resume["tensors"])
            emit({"type": "resumed", "epoch": resume["epoch"], "step": resume["step"]})
        history = list(resume["history"]) if resume else []
        for row in history:
            emit({"type": "epoch", "row": row})

        def checkpoint(epoch: int, step: int, partial: dict | None = None):
            if file:
                ckpt.save(file, epoch, step, partial, history, self.snapshot(), identity)

        every_ms = self.job.get("progressEveryMs", 1000)
        last_progress = 0.0
        for epoch in range(resume["epoch"] if resume else 0, train["epochs"]):
            start_step = resume["step"] if resume and epoch == resume["epoch"] else 0
            acc = dict(resume["partial"]) if start_step > 0 and resume.get("partial") else \
                {"lossSum": 0.0, "errSum": 0.0, "seen": 0, "seconds": 0.0}
            lr = learning_rate(train, epoch)
            order, aug = self.epoch_plan(epoch, n)
            t0 = time.perf_counter()
            pending = None  # (loss, wrong, n, step, lr) of a step whose loss is not read yet (GPU)

            def settle(p) -> dict | None:
                loss, wrong, bn, at_step, at_lr = p
                loss = loss.item() if torch.is_tensor(loss) else loss
                wrong = wrong.item() if torch.is_tensor(wrong) else wrong
                if not math.isfinite(loss):
                    acc["seconds"] += time.perf_counter() - t0
                    history.append({"epoch": epoch + 1, "train_loss": None, "train_err": None, "test_loss": None,
                                    "test_err": None, "lr": at_lr, "seconds": acc["seconds"], "images_per_sec": None})
                    emit({"type": "epoch", "row": history[-1]})
                    return {"status": "diverged", "epochs": epoch + 1,
                            "error": f"loss became {js_number(loss)} at epoch {epoch + 1}, step {at_step}"}
                acc["lossSum"] += loss * bn
                acc["errSum"] += wrong
                acc["seen"] += bn
                return None

            for step in range(start_step, steps):
                start = step * batch_size
                bn = min(batch_size, n - start)
                lr = learning_rate(train, epoch + step / steps)
                x, y = self.batch(order, aug, start, bn)
                loss, wrong = self.step(x, y, lr, hash_seed(spec["seed"], epoch, step))
                done_steps = step + 1
                current = (loss, wrong, bn, done_steps, lr)
                if self.lazy:
                    current, pending = pending, current
                if current is not None:
                    outcome = settle(current)
                    if outcome:
                        return outcome
                now = time.perf_counter() * 1000
                if now - last_progress > every_ms and acc["seen"] > 0:
                    last_progress = now
                    emit({"type": "progress", "epoch": epoch + 1, "step": done_steps, "steps": steps,
                          "loss": acc["lossSum"] / acc["seen"] if self.lazy else float(current[0]),
                          "imagesPerSec": acc["seen"] / (acc["seconds"] + (time.perf_counter() - t0))})
                if done_steps < steps and self.should_stop():
                    if pending is not None:
                        outcome = settle(pending)
                        pending = None
                        if outcome:
                            return outcome
                    acc["seconds"] += time.perf_counter() - t0
                    checkpoint(epoch, done_steps, acc)
                    return {"status": "stopped", "epochs": epoch}
            if pending is not None:
                outcome = settle(pending)
                if outcome:
                    return outcome
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            acc["seconds"] += time.perf_counter() - t0
            test_loss, test_err = self.evaluate(batch_size)
            row = {"epoch": epoch + 1, "train_loss": acc["lossSum"] / acc["seen"], "train_err": acc["errSum"] / acc["seen"],
                   "test_loss": finite_or_none(test_loss), "test_err": test_err, "lr": lr, "seconds": acc["seconds"],
                   "images_per_sec": acc["seen"] / acc["seconds"]}
            history.append(row)
            last = epoch + 1 == train["epochs"]
            stop = not last and self.should_stop()
            every = train.get("checkpoint_every", 1)
            if last or stop or (every > 0 and (epoch + 1) % every == 0):
                checkpoint(epoch + 1, 0)
            emit({"type": "epoch", "row": row})
            if not math.isfinite(test_loss):
                return {"status": "diverged", "epochs": epoch + 1, "error": f"test loss became {js_number(test_loss)} at epoch {epoch + 1}"}
            if stop:
                return {"status": "stopped", "epochs": epoch + 1}
        return {"status": "done", "epochs": train["epochs"]}
