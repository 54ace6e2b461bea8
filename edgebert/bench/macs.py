"""Multiply-accumulates a bundle's ONNX graph performs per call, read from the graph itself without `onnx`.

`edgebert bench` must not import onnx (light install), so the model file is read at the protobuf wire level: only
node op types, their input/output names and the initializers' dims are decoded; weight bytes are skipped. From
those the graph's dense work is, for a batch of sequences padded to `s` tokens:

    MACs per sequence = s * linear + s**2 * attention + pooled

- linear: K*N of every MatMul-family node (MatMul, MatMulInteger, DynamicQuantizeMatMul, MatMulIntegerToFloat,
  QLinearMatMul, fused (Q)Attention's QKV weight) whose weight is an initializer: it runs once per token;
- attention: a MatMul of two activations (Q·Kᵀ, probabilities·V) costs s²·W per sequence, W being the width of the
  projection that feeds it (found by walking the graph back to the nearest weight); fused Attention counts 2·W;
- pooled: Gemm nodes (torch.onnx writes 2-D Linear layers, i.e. the pooler and classifier, as Gemm): once per sequence.
Elementwise ops, LayerNorm, Softmax and (de)quantization are not counted: they are the fixed costs that keep a
short-sequence call far from the GEMM peak, which is the point of reporting that fraction.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

LINEAR_OPS = {
    "MatMul": 1,
    "MatMulInteger": 1,
    "DynamicQuantizeMatMul": 1,
    "MatMulIntegerToFloat": 1,
    "QLinearMatMul": 3,
    "FusedMatMul": 1,
}
ATTENTION_OPS = {"Attention", "QAttention"}


@dataclass(frozen=True)
class GraphMacs:
    linear_per_token: int
    attention_per_token_per_position: int
    pooled_per_sequence: int

    def per_call(self, batch_size: int, padded_len: int) -> int:
        s = padded_len
        return batch_size * (
            s * self.linear_per_token + s * s * self.attention_per_token_per_position + self.pooled_per_sequence
        )

    def to_dict(self) -> dict:
        return {
            "linear_per_token": self.linear_per_token,
            "attention_per_token_per_position": self.attention_per_token_per_position,
            "pooled_per_sequence": self.pooled_per_sequence,
        }


# --- protobuf wire format: (field number, wire type, value or bytes) ------------------------------------------------
def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview):
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _dims(tensor: memoryview) -> tuple[str, list[int]]:
    name, dims = "", []
    for f, wire, v in _fields(tensor):
        if f == 1 and wire == 0:
            dims.append(v)
        elif f == 1 and wire == 2:  # packed
            j = 0
            while j < len(v):
                d, j = _varint(v, j)
                dims.append(d)
        elif f == 8:
            name = bytes(v).decode()
    return name, dims


def _node(node: memoryview) -> tuple[str, list[str], list[str]]:
    op, ins, outs = "", [], []
    for f, _, v in _fields(node):
        if f == 1:
            ins.append(bytes(v).decode())
        elif f == 2:
            outs.append(bytes(v).decode())
        elif f == 4:
            op = bytes(v).decode()
    return op, ins, outs


def read_graph(path: Path) -> tuple[list[tuple[str, list[str], list[str]]], dict[str, list[int]]]:
    """(nodes as (op_type, inputs, outputs), initializer name → dims) of the main graph of an ONNX file."""
    data = memoryview(Path(path).read_bytes())
    graph = next((v for f, w, v in _fields(data) if f == 7 and w == 2), None)
    if graph is None:
        raise ValueError(f"{path} holds no ONNX graph")
    nodes, inits = [], {}
    for f, w, v in _fields(graph):
        if f == 1 and w == 2:
            nodes.append(_node(v))
        elif f == 5 and w == 2:
            name, dims = _dims(v)
            inits[name] = dims
    return nodes, inits


def count_macs(path: Path) -> GraphMacs:
    nodes, weights = read_graph(path)
    for op, ins, outs in nodes:  # shared weights are reached through Identity nodes (export/onnx.py)
        if op == "Identity" and ins and ins[0] in weights:
            weights[outs[0]] = weights[ins[0]]
    producer = {o: n for n in nodes for o in n[2]}

    def weight_of(node) -> list[int] | None:
        op, ins, _ = node
        if op in LINEAR_OPS and len(ins) > LINEAR_OPS[op]:
            dims = weights.get(ins[LINEAR_OPS[op]])
            return dims if dims is not None and len(dims) == 2 else None
        if op in ATTENTION_OPS and len(ins) > 1 and len(weights.get(ins[1], [])) == 2:
            return weights[ins[1]]
        return None

    def width_feeding(node) -> int:
        """Output width of the nearest weighted node upstream of `node` (breadth first)."""
        seen, todo = set(), deque(node[1])
        while todo:
            t = todo.popleft()
            if t in seen or t in weights or t not in producer:
                continue
            seen.add(t)
            p = producer[t]
            w = weight_of(p)
            if w is not None and p[0] not in ATTENTION_OPS:
                return w[1]
            todo.extend(p[1])
        return 0

    pooled_tensors = _pooled_tensors(nodes, weights, producer)
    linear = attention = pooled = 0
    for node in nodes:
        op, ins, _ = node
        w = weight_of(node)
        if w is not None and ins[0] in pooled_tensors:  # a quantized pooler/classifier: MatMulInteger on [batch, H]
            pooled += w[0] * w[1]
        elif op in ATTENTION_OPS and w is not None:
            linear += w[0] * w[1]
            attention += 2 * (w[1] // 3)
        elif w is not None:
            linear += w[0] * w[1]
        elif op == "Gemm" and len(ins) > 1 and len(weights.get(ins[1], [])) == 2:
            pooled += weights[ins[1]][0] * weights[ins[1]][1]
        elif op == "MatMul":
            attention += width_feeding(node)
    return GraphMacs(int(linear), int(attention), int(pooled))


def _pooled_tensors(nodes, weights, producer) -> set[str]:
    """Tensors downstream of the pooling Gather (hidden states[:, 0]): one row per sequence, not per token.

    The pooling Gather is the one whose data is an activation that is not a shape; data flows on through each node's
    first input (and both inputs of Add/Mul), not through shape operands."""
    pooled: set[str] = set()
    for op, ins, outs in nodes:  # nodes are stored in topological order
        if op == "Gather" and ins and ins[0] not in weights and ins[0] in producer and producer[ins[0]][0] != "Shape":
            pooled.update(outs)
        elif ins and (ins[0] in pooled or (op in ("Add", "Mul") and any(i in pooled for i in ins))):
            pooled.update(outs)
    return pooled
