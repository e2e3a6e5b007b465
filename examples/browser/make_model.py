"""Writes the example's model (a 2-layer MLP as ONNX), its inputs, and numpy's reference outputs.

Usage: python make_model.py [OUT_DIR]   (default: model/ beside this file)

The ONNX file is encoded here directly (a few protobuf fields), so the example needs no
`onnx` package: numpy alone computes the weights and the reference the browser must match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SEED = 20260807
SIZES = (16, 32, 4)  # inputs, hidden units, outputs
SAMPLES = 96
OPSET = 17
IR_VERSION = 8
FLOAT = 1  # TensorProto.DataType.FLOAT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = array.astype("<f4").tobytes()
    return dims + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, raw)


def _value_info(name: str, dims: tuple[int | str, ...]) -> bytes:
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _node(op: str, inputs: list[str], output: str) -> bytes:
    parts = [_bytes(1, i) for i in inputs] + [_bytes(2, output), _bytes(3, output), _bytes(4, op)]
    return b"".join(parts)


def onnx_mlp(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> bytes:
    """y = relu(x @ w1 + b1) @ w2 + b2, with a dynamic batch dimension N."""
    nodes = [
        _node("MatMul", ["x", "w1"], "h0"),
        _node("Add", ["h0", "b1"], "h1"),
        _node("Relu", ["h1"], "h2"),
        _node("MatMul", ["h2", "w2"], "h3"),
        _node("Add", ["h3", "b2"], "y"),
    ]
    weights = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    graph = b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "dtf_mlp")
    graph += b"".join(_bytes(5, _tensor(name, value)) for name, value in weights.items())
    graph += _bytes(11, _value_info("x", ("N", w1.shape[0])))
    graph += _bytes(12, _value_info("y", ("N", w2.shape[1])))
    opset = _bytes(1, "") + _int(2, OPSET)
    return _int(1, IR_VERSION) + _bytes(2, "dtf-example") + _bytes(7, graph) + _bytes(8, opset)


def build(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    n_in, n_hidden, n_out = SIZES
    w1 = rng.normal(0, 0.5, (n_in, n_hidden)).astype(np.float32)
    b1 = rng.normal(0, 0.1, n_hidden).astype(np.float32)
    w2 = rng.normal(0, 0.5, (n_hidden, n_out)).astype(np.float32)
    b2 = rng.normal(0, 0.1, n_out).astype(np.float32)
    x = rng.uniform(-1, 1, (SAMPLES, n_in)).astype(np.float32)
    # The reference in float64: the browser's float32 result must agree within a tolerance.
    y = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlp.onnx").write_bytes(onnx_mlp(w1, b1, w2, b2))
    (out / "inputs.json").write_text(json.dumps({"shape": list(x.shape), "x": x.ravel().tolist()}))
    (out / "reference.json").write_text(
        json.dumps({"shape": list(y.shape), "y": y.ravel().tolist()})
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "model"
    build(target)
    print(f"wrote {target}/mlp.onnx, inputs.json, reference.json")
