"""ablate's checkpoint file (src/experiments/checkpoint.ts), so that a trial stopped on one engine resumes on
any other: "ABLCKPT1" | uint32 LE header length | header JSON | zero padding to 4 bytes | float32 data.
Written atomically: temp file, fsync, rename, fsync of the folder.

A checkpoint belongs to one trial, (store id, sweep id, trial key): the header names it, and a checkpoint
that names another owner, or none, is never resumed from (as on the TypeScript side).
"""
from __future__ import annotations

import json
import os
import struct
import time

import numpy as np

MAGIC = b"ABLCKPT1"


def _identity_text(i: dict) -> str:
    return f"store {i['store']}, sweep {i['sweep']}, trial {i['trial']}"


def save(file: str, epoch: int, step: int, partial: dict | None, history: list, tensors: dict[str, np.ndarray],
         identity: dict | None = None) -> None:
    os.makedirs(os.path.dirname(file) or ".", exist_ok=True)
    entries, offset = [], 0
    for name, a in tensors.items():
        entries.append({"name": name, "shape": list(a.shape), "offset": offset, "length": int(a.size)})
        offset += int(a.size)
    header_obj = {"epoch": epoch, "step": step, "history": history, "tensors": entries}
    if identity is not None:
        header_obj["identity"] = identity
    if partial is not None:
        header_obj["partial"] = partial
    header = json.dumps(header_obj, separators=(",", ":")).encode()
    pad = (4 - (len(MAGIC) + 4 + len(header)) % 4) % 4
    tmp = f"{file}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header + b"\0" * pad)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)
    fd = os.open(os.path.dirname(file) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(file: str, expected: dict | None = None) -> tuple[dict | None, str | None]:
    """(state, None) where state is {epoch, step, partial, history, tensors: {name: float32 array}};
    (None, why) when the checkpoint belongs to another trial or names no owner (not to be resumed from);
    (None, None) when there is no file. Without `expected` any intact checkpoint is taken."""
    if not os.path.exists(file):
        return None, None
    with open(file, "rb") as f:
        buf = f.read()
    if len(buf) < len(MAGIC) + 4 or buf[: len(MAGIC)] != MAGIC:
        raise ValueError(f"checkpoint {file} is damaged (bad header); delete it to restart this trial from scratch")
    (n,) = struct.unpack_from("<I", buf, len(MAGIC))
    header = json.loads(buf[len(MAGIC) + 4 : len(MAGIC) + 4 + n].decode())
    if expected is not None:
        owner = header.get("identity")
        if owner is None:
            return None, (f"checkpoint {file} names no owner (written by an older ablate); "
                          f"this trial ({_identity_text(expected)}) starts from scratch")
        if any(owner.get(k) != expected[k] for k in ("store", "sweep", "trial")):
            return None, (f"checkpoint {file} belongs to {_identity_text(owner)}, not to this trial "
                          f"({_identity_text(expected)}); it starts from scratch")
    start = len(MAGIC) + 4 + n + (4 - (len(MAGIC) + 4 + n) % 4) % 4
    floats = np.frombuffer(buf, dtype="<f4", offset=start)
    tensors = {}
    for t in header["tensors"]:
        if t["offset"] + t["length"] > floats.size:
            raise ValueError(f"checkpoint {file} is truncated; delete it to restart this trial from scratch")
        tensors[t["name"]] = floats[t["offset"] : t["offset"] + t["length"]].reshape(t["shape"])
    return {"epoch": header["epoch"], "step": header["step"], "partial": header.get("partial"),
            "history": header["history"], "tensors": tensors}, None
