"""ablate's torch worker: one process per slot, started by the coordinator (src/experiments/torch-executor.ts).

Protocol, one JSON object per line:
  stdin   {"type": "run", "job": {...}}   a resolved trial plus its layout, data file and device
          {"type": "stop"}                checkpoint at the next step, send the `stopped` result, exit
  stdout  the trial events of every engine ({"type": "engine" | "progress" | "epoch", ...}), then exactly one
          {"type": "result", "outcome": {...}} or {"type": "error", "message": ..., "code": ...}
SIGUSR1 and SIGTERM mean the same as `stop`; SIGINT is left to the coordinator. End of stdin (the coordinator
is gone) ends the worker. Anything else written to stdout by libraries goes to stderr, which the coordinator
keeps with the trial.

  python3 -m ablate_torch --probe    prints what this Python offers (torch, CUDA, GPUs) as one JSON line
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import traceback

# The protocol owns the real stdout; everything else printed goes to stderr.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
_lock = threading.Lock()


def emit(message: dict) -> None:
    line = json.dumps(message, allow_nan=False, default=str)
    with _lock:
        _proto.write(line + "\n")
        _proto.flush()


def probe() -> dict:
    import platform
    out: dict = {"python": platform.python_version(), "executable": sys.executable}
    try:
        import numpy  # noqa: F401
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means the engine is unavailable
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    out.update(torch=torch.__version__, cuda=torch.version.cuda,
               cudnn=str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None,
               compile=hasattr(torch, "compile"))
    try:
        available = torch.cuda.is_available()
        out["cuda_available"] = available
        out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else []
    except Exception as e:  # noqa: BLE001 - a broken driver is a reason, not a crash
        out["cuda_available"] = False
        out["gpus"] = []
        out["cuda_error"] = f"{type(e).__name__}: {e}"
    return out


def describe_error(e: BaseException, job: dict) -> dict:
    message = f"{type(e).__name__}: {e}".strip()
    text = str(e)
    oom = type(e).__name__ == "OutOfMemoryError" or "out of memory" in text
    if oom:
        train = job.get("spec", {}).get("train", {})
        first = text.splitlines()[0] if text else "out of memory"
        return {"type": "error", "code": "EOOM",
                "message": f"{first} (batch_size {train.get('batch_size')}); lower train.batch_size or resources.trials_per_gpu"}
    from .train import EngineError
    if isinstance(e, EngineError):
        return {"type": "error", "code": "EENGINE", "message": text}
    if isinstance(e, OSError) and e.errno is not None:
        import errno
        return {"type": "error", "code": errno.errorcode.get(e.errno), "message": message}
    return {"type": "error", "message": message}


def main() -> int:
    if "--probe" in sys.argv[1:]:
        emit(probe())
        return 0
    stop = threading.Event()
    jobs: queue.Queue = queue.Queue()

    def on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def read_stdin():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            msg = json.loads(line)
            if msg.get("type") == "stop":
                stop.set()
            elif msg.get("type") == "run":
                jobs.put(msg["job"])
        # The coordinator is gone: nobody would read what this worker has to say.
        os._exit(0)

    threading.Thread(target=read_stdin, daemon=True).start()

    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001
        job = jobs.get()
        emit({"type": "error", "code": "EENGINE",
              "message": f"the torch engine needs PyTorch and numpy in {sys.executable} ({type(e).__name__}: {e}); "
                         "pip install torch numpy, or set ABLATE_PYTHON to a Python that has them"})
        return 3
    from .train import Trial

    while True:
        job = jobs.get()
        try:
            outcome = Trial(job, stop.is_set, emit).run()
            emit({"type": "result", "outcome": outcome})
            if outcome["status"] == "stopped":
                return 0
        except BaseException as e:  # noqa: BLE001 - every failure becomes one error message
            traceback.print_exc(file=sys.stderr)
            emit(describe_error(e, job))
            # After a CUDA error the context may be unusable: a fresh worker takes the next trial.
            if "cuda" in str(e).lower() or "CUDA" in type(e).__name__:
                return 4
        if stop.is_set():
            return 0


if __name__ == "__main__":
    sys.exit(main())
