#!/usr/bin/env python3
"""Checks `eqnn export` against stock PyTorch: builds the stock torch.nn model with the structure of a
YAML model (read from `eqnn describe --json`), loads the exported weights with strict=True, and compares
its output with `eqnn run` on the same input. Also checks that a checkpoint is readable by torch.load.

usage: export_check.py EQNN MODEL.yaml WORKDIR DTYPE(float32|float64) [CHECKPOINT]
Prints 'OK max_error=...' and exits 0, or prints what differs and exits 1.
"""
import json
import math
import os
import subprocess
import sys

import torch
from torch import nn


class SelfAttention(nn.MultiheadAttention):
    """torch.nn.MultiheadAttention used as batch-first self-attention; (batch, D) = length-1 sequences."""

    def forward(self, x):
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        y = super().forward(x, x, x, need_weights=False)[0]
        return y.squeeze(1) if squeeze else y


class EncoderLayer(nn.TransformerEncoderLayer):
    def forward(self, x):
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        y = super().forward(x)
        return y.squeeze(1) if squeeze else y


class Block(nn.Module):
    def __init__(self, layers, residual):
        super().__init__()
        self.block = nn.ModuleList(layers)
        self.residual = residual

    def forward(self, x):
        h = x
        for layer in self.block:
            h = layer(h)
        return x + h if self.residual else h


class Model(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def stock_layer(info, children):
    t, kw, d_in, d_out = info["type"], info["kwargs"] or {}, info["in_size"], info["out_size"]
    if t in ("Sequential", "Residual"):
        return Block(children, t == "Residual")
    if t in ("eLinear", "Linear"):
        return nn.Linear(d_in, d_out, bias=kw.get("bias", True))
    if t == "eIsotypicBasis":  # a fixed change of basis: a stock Linear without bias
        return nn.Linear(d_in, d_out, bias=False)
    if t in ("eMultiheadAttention", "MultiheadAttention"):
        return SelfAttention(d_in, kw["num_heads"], dropout=kw.get("dropout", 0.0), bias=kw.get("bias", True),
                             batch_first=True)
    if t == "TransformerEncoderLayer":
        return EncoderLayer(d_in, kw["num_heads"], dim_feedforward=kw.get("dim_feedforward", 2048),
                            dropout=kw.get("dropout", 0.1), activation=kw.get("activation", "relu"),
                            norm_first=kw.get("norm_first", False), layer_norm_eps=kw.get("layer_norm_eps", 1e-5),
                            batch_first=True)
    if t in ("eLayerNorm", "LayerNorm"):
        return nn.LayerNorm(d_in, eps=kw.get("eps", 1e-5), elementwise_affine=kw.get("elementwise_affine", True))
    if t == "eRMSNorm":
        return nn.RMSNorm(d_in, eps=kw.get("eps", 1e-6), elementwise_affine=kw.get("elementwise_affine", True))
    if t in ("eReLU", "ReLU"):
        return nn.ReLU()
    if t in ("eGELU", "GELU"):
        return nn.GELU(approximate=kw.get("approximate", "none"))
    if t == "eSiLU":
        return nn.SiLU()
    if t == "eTanh":
        return nn.Tanh()
    if t == "eMish":
        return nn.Mish()
    if t == "eELU":
        return nn.ELU(alpha=kw.get("alpha", 1.0))
    if t == "eLeakyReLU":
        return nn.LeakyReLU(kw.get("negative_slope", 0.01))
    if t == "eSigmoid":
        return nn.Sigmoid()
    if t == "eSoftplus":
        return nn.Softplus(beta=kw.get("beta", 1.0), threshold=kw.get("threshold", 20.0))
    if t == "Dropout":
        return nn.Dropout(kw.get("p", 0.5))
    raise SystemExit(f"no stock equivalent for layer type {t}")


def build(layers, start, depth):
    """Builds the layers at `depth` from index `start`; returns (modules, next index)."""
    out = []
    i = start
    while i < len(layers) and layers[i]["depth"] == depth:
        info = layers[i]
        children, i = build(layers, i + 1, depth + 1) if info["type"] in ("Sequential", "Residual") else ([], i + 1)
        out.append(stock_layer(info, children))
    return out, i


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.stdout


def main():
    eqnn, model_path, work, dtype_name = sys.argv[1:5]
    checkpoint = sys.argv[5] if len(sys.argv) > 5 else None
    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    os.makedirs(work, exist_ok=True)
    structure = json.loads(run([eqnn, "describe", "--json", model_path]))
    source = ["--checkpoint", checkpoint] if checkpoint else ["--seed", "7"]
    weights_path = os.path.join(work, "weights.pt")
    run([eqnn, "export", model_path, *source, "--dtype", dtype_name, "--out", weights_path])

    modules, _ = build(structure["layers"], 0, 0)
    model = Model(modules).to(dtype)
    weights = torch.load(weights_path)
    if not isinstance(weights, dict):
        raise SystemExit(f"export is a {type(weights)}, expected a dict")
    model.load_state_dict(weights, strict=True)  # raises on any missing or unexpected name or shape
    model.eval()

    torch.manual_seed(0)
    worst = 0.0
    for shape in [(5, 4, structure["input_size"]), (3, structure["input_size"])]:
        x = torch.randn(*shape, dtype=dtype)
        x_path, y_path = os.path.join(work, "x.pt"), os.path.join(work, "y.pt")
        torch.save(x, x_path)
        run([eqnn, "run", model_path, *source, "--input", x_path, "--output", y_path])
        y_eqnn = torch.load(y_path)
        with torch.no_grad():
            y_stock = model(x)
        if y_eqnn.shape != y_stock.shape or y_eqnn.dtype != dtype:
            raise SystemExit(
                f"eqnn run gave {tuple(y_eqnn.shape)} {y_eqnn.dtype}, stock {tuple(y_stock.shape)} {dtype}")
        # NaN or Inf is a failure: Python's max(worst, nan) keeps `worst`, and `nan > tolerance` is False.
        for name, y in (("eqnn run", y_eqnn), ("stock PyTorch", y_stock)):
            if not bool(torch.isfinite(y).all()):
                raise SystemExit(f"{name} output is not finite (NaN or Inf) for input shape {tuple(shape)}")
        err = ((y_eqnn - y_stock).abs().max() / y_stock.abs().max().clamp_min(1e-30)).item()
        if not math.isfinite(err):
            raise SystemExit(f"the relative error is not finite ({err}) for input shape {tuple(shape)}")
        worst = max(worst, err)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-5
    if not worst <= tolerance:
        raise SystemExit(f"stock PyTorch and eqnn run differ: relative max error {worst:.3e} > {tolerance:g}")

    if checkpoint:
        ckpt = torch.load(checkpoint)
        for key in ("format", "model", "parameters", "buffers", "plugins"):
            if key not in ckpt:
                raise SystemExit(f"checkpoint has no '{key}'")
        parameters = ckpt["parameters"].values()
        if ckpt["format"] != "eqnn-checkpoint" or not all(isinstance(v, torch.Tensor) for v in parameters):
            raise SystemExit("checkpoint is not self-describing")
    print(f"OK max_error={worst:.3e} tensors={len(weights)}")


if __name__ == "__main__":
    main()
