"""eqnn's layers side by side with symm_learning's, in one run: EMultiheadAttention against
eMultiheadAttention, and every layer eqnn.interop converts against its symm_learning original.

    python tests/benchmarks/vs_symm_learning.py [--json out.json] [--reps 20] [--only attention|layers]

Installs symm-learning==0.8.1 and escnn==1.0.11 into the reference venv (scripts/reference_venv.py;
$EQNN_BENCH_VENV, default build-python/reference-venv) that sees this interpreter's packages (torch, eqnn)
through a .pth file, then re-runs itself there. For C8 4x regular (D=32) and Ico 2x regular
(D=120), 2 heads, batch 64, sequence 32, batch_first, one thread, it measures: construction time (first
construction in the process, caches cold), eval forward (no_grad), train step (forward + backward of a
mean-square loss) and the equivariance error on every group element (float64, relative to max|f(x)|),
and prints a table, the ratios (symm_learning / eqnn) and JSON.

Converted layers (InvariantBias, eAffine, eRMSNorm, eLayerNorm, eBatchNorm1d, eConv1d, eConvTranspose1d,
Change2DisentangledBasis, eMultivariateNormal, eTransformerEncoderLayer: symm_learning's defaults, pre-norm RMSNorm
and GELU, 2 heads, dim_feedforward 2D; eTransformerDecoderLayer, the same, its memory the input reversed in time;
eAdditiveRelMultiheadAttention (max_distance 8) and eAdditivePosMultiheadAttention (max_len 32), 2 heads,
self-attention at the default positions; the models eMLP (hidden [64, 64], on (64, D)), iMLP (the same, 4 invariant
outputs), eTimeCNNEncoder (hidden [64], horizon 16, batch norm, MLP [32, 32], last frame appended, on
(64, D, 16)) and eConditionalUnet1D (down_dims [2D, 2D, 4D], step embedding 16, global conditioning the time mean
of the sample, on (64, D, 30), symm_learning's layout), eCondTransformer (embedding D, 2 decoder layers and 1 encoder
layer, 2 heads, relative positions, causal, on (64, 16, D) with a step and a (64, 4, D) conditioning; symm_learning's
float64 model fails, so its equivariance error is nan)) on C8 4x regular and Ico 2x regular (--groups picks
others, e.g. C4,D4;
--layer one layer): construction (symm_learning's
constructor on the escnn rep; eqnn's constructor on the converted rep, each the first in the process), then,
with the same weights (the eqnn module is eqnn.interop.from_symm_learning of the symm_learning one): eval
forward, train step (forward + backward of a mean-square loss, or -log_prob for the normal; the input requires
grad) on batch 64 × sequence 32 (the convolutions: (64, D, 32)), and the eval-mode equivariance error in
float64 on every group element (for the normal: of log_prob, which should be invariant). eBatchNorm1d is
measured after 3 training steps of its running statistics; a module eqnn.interop refuses is listed as
refused with the reason. The project's tests never need it.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from reference_venv import REFERENCE, ensure_venv  # noqa: E402  (the one builder of the reference venv)

CASES = [("C8", 8, "4x regular", 4), ("Ico", 60, "2x regular", 2)]


def median_time(fn, reps):
    fn()  # warm-up (caches, allocator)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def equivariance_error(module, x, matrices_in):
    """max_g max|f(x ρ(g)ᵀ) − f(x) ρ(g)ᵀ| / max|f(x)| with out = in (attention maps in_rep to itself)."""
    import torch

    with torch.no_grad():
        y = module(x, x, x, need_weights=False)[0]
        if not torch.isfinite(y).all():
            return float("inf")
        scale = float(y.abs().max())
        worst = 0.0
        for M in matrices_in:
            gx = x @ M.T
            gy = module(gx, gx, gx, need_weights=False)[0]
            err = float((gy - y @ M.T).abs().max()) / scale
            if not err <= worst:
                worst = err if err == err else float("inf")
    return worst


def measure(build, matrices, D, reps):
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    module = build()
    construction = time.perf_counter() - t0
    x = torch.randn(64, 32, D)
    module.eval()
    with torch.no_grad():
        eval_forward = median_time(lambda: module(x, x, x, need_weights=False), reps)
    module.train()

    def step():
        module.zero_grad()
        module(x, x, x, need_weights=False)[0].square().mean().backward()

    train_step = median_time(step, reps)
    module64 = module.double().eval()
    x64 = torch.randn(2, 5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    err = equivariance_error(module64, x64, [m.to(torch.float64) for m in matrices])
    return {"construction_s": construction, "eval_forward_s": eval_forward, "train_step_s": train_step,
            "equivariance_error": err}


def _layer_cases():
    """(name, symm_learning builder (escnn rep), eqnn builder (eqnn rep), kind): kind picks the input layout
    and the call ("seq": (B, L, D); "conv": (B, D, L); "normal": (B, L, D + copies) -> log_prob; the whole
    models: "flat": (B, D) -> (B, D), "invariant": (B, D) -> (B, 4) invariant, "series": (B, D, 16) -> (B, D);
    "pair": decoder(x, memory = x reversed in time); "attn": attention(x, x, x), default positions)."""
    import eqnn
    import symm_learning.models as slm
    import symm_learning.nn as sln

    enn = eqnn.nn
    return [
        ("InvariantBias", lambda r: sln.InvariantBias(r), lambda r: enn.EInvariantBias(r), "seq"),
        ("eAffine", lambda r: sln.eAffine(r), lambda r: enn.EAffine(r), "seq"),
        ("eRMSNorm", lambda r: sln.eRMSNorm(r), lambda r: enn.ERMSNorm(r, affine="per_copy"), "seq"),
        ("eLayerNorm", lambda r: sln.eLayerNorm(r),
         lambda r: enn.ELayerNorm(r, affine="per_copy", normalize="per_copy"), "seq"),
        ("eBatchNorm1d", lambda r: sln.eBatchNorm1d(r), lambda r: enn.EBatchNorm1d(r, channels_last=True), "seq"),
        ("eConv1d", lambda r: sln.eConv1d(r, r, 3, padding=1), lambda r: enn.EConv1d(r, r, 3, padding=1), "conv"),
        ("eConvTranspose1d", lambda r: sln.eConvTranspose1d(r, r, 4, stride=2, padding=1),
         lambda r: enn.EConvTranspose1d(r, r, 4, stride=2, padding=1), "conv"),
        ("Change2DisentangledBasis", lambda r: sln.Change2DisentangledBasis(r), lambda r: enn.EIsotypicBasis(r),
         "seq"),
        ("eMultivariateNormal", lambda r: sln.eMultivariateNormal(r), lambda r: enn.EMultivariateNormal(r),
         "normal"),
        ("eTransformerEncoderLayer",
         lambda r: sln.eTransformerEncoderLayer(r, sln.eMultiheadAttention(r, 2, dropout=0.1),
                                                dim_feedforward=2 * r.size),
         lambda r: enn.ETransformerEncoderLayer(r, 2, dim_feedforward=2 * r.size, activation="gelu", batch_first=True,
                                                norm_first=True, norm="rms_norm", norm_affine="per_copy"), "seq"),
        ("eTransformerDecoderLayer",
         lambda r: sln.eTransformerDecoderLayer(r, sln.eMultiheadAttention(r, 2, dropout=0.1),
                                                sln.eMultiheadAttention(r, 2, dropout=0.1), dim_feedforward=2 * r.size),
         lambda r: enn.ETransformerDecoderLayer(r, 2, dim_feedforward=2 * r.size, activation="gelu", batch_first=True,
                                                norm_first=True, norm="rms_norm", norm_affine="per_copy"), "pair"),
        ("eAdditiveRelMultiheadAttention", lambda r: sln.eAdditiveRelMultiheadAttention(r, 2, max_distance=8),
         lambda r: enn.EAdditiveRelMultiheadAttention(r, 2, max_distance=8), "attn"),
        ("eAdditivePosMultiheadAttention", lambda r: sln.eAdditivePosMultiheadAttention(r, 2, max_len=32),
         lambda r: enn.EAdditivePosMultiheadAttention(r, 2, max_len=32), "attn"),
        # symm_learning's models at the sizes of its own tests
        ("eMLP", lambda r: slm.eMLP(r, r, [64, 64]), lambda r: eqnn.models.EMLP(r, r, [64, 64]), "flat"),
        ("iMLP", lambda r: slm.iMLP(r, 4, [64, 64]), lambda r: eqnn.models.IMLP(r, 4, [64, 64]), "invariant"),
        ("eTimeCNNEncoder",
         lambda r: slm.eTimeCNNEncoder(r, r, [64], 16, batch_norm=True, mlp_hidden=[32, 32], append_last_frame=True),
         lambda r: eqnn.models.ETimeCNNEncoder(r, r, [64], 16, batch_norm=True, mlp_hidden=[32, 32],
                                               append_last_frame=True), "series"),
        # a diffusion-policy denoiser: 3 levels, step embedding 16, global conditioning of the sample's rep
        ("eConditionalUnet1D",
         lambda r: _sl_unet()(r, None, r, diffusion_step_embed_dim=16, down_dims=[2 * r.size, 2 * r.size, 4 * r.size]),
         lambda r: eqnn.models.EConditionalUnet1D(r, None, r, diffusion_step_embed_dim=16,
                                                  down_dims=[2 * r.size, 2 * r.size, 4 * r.size]), "unet"),
        # (B, 16, D) with the step (B) and the conditioning (B, 4, D); 2 decoder layers, 1 encoder layer
        ("eCondTransformer", lambda r: _cond_transformer(r, slm_cond(), **_COND),
         lambda r: _cond_transformer(r, eqnn.models.ECondTransformer, **_COND), "cond"),
    ]


_COND = dict(in_horizon=16, cond_horizon=4, num_layers=2, num_attention_heads=2, num_cond_layers=1,
             pos_encoding="additive_relative", causal_attn=True)


def slm_cond():
    from symm_learning.models.control.econd_transformer import eCondTransformer

    return eCondTransformer


def _cond_transformer(r, cls, in_horizon, cond_horizon, num_layers, num_attention_heads, **kw):
    return cls(r, r, None, in_horizon, cond_horizon, num_layers, num_attention_heads, r.size, **kw)


_COND_STEP = {}  # kind "cond": the step and the conditioning of an input x (B, L, D), made once per shape


def _cond_extra(x):
    import torch

    key = (tuple(x.shape), x.dtype)
    if key not in _COND_STEP:
        g = torch.Generator().manual_seed(3)
        _COND_STEP[key] = (torch.randint(0, 100, (x.shape[0],), generator=g).to(x.dtype),
                           torch.randn(x.shape[0], 4, x.shape[-1], generator=g, dtype=x.dtype))
    return _COND_STEP[key]


def _sl_unet():
    from symm_learning.models.diffusion.cond_eunet1d import eConditionalUnet1D

    return eConditionalUnet1D


# name -> (escnn's group function, its arguments, copies of the regular representation)
LAYER_GROUPS = {"C8": ("cyclic_group", (8,), 4), "Ico": ("ico_group", (), 2), "C4": ("cyclic_group", (4,), 4),
                "D4": ("dihedral_group", (4,), 4)}


def _call(module, x, kind, y=None):
    if kind == "unet":
        # x (B, D, L) as symm_learning takes it; the step 10; the global conditioning the time mean of x (so
        # acting on x acts on it by the same rep). eqnn's U-Net takes (B, L, D).
        import eqnn
        import torch

        t = torch.full((x.shape[0],), 10.0, dtype=x.dtype)
        if isinstance(module, eqnn.models.EConditionalUnet1D):
            return module(x.transpose(1, 2), t, global_cond=x.mean(-1)).transpose(1, 2)
        return module(x, t, film_cond=x.mean(-1))
    if kind == "normal":
        return module(x).log_prob(y)
    if kind == "pair":
        return module(x, x.flip(1))
    if kind == "attn":
        return module(x, x, x)[0]
    if kind == "cond":
        k, z = _cond_extra(x)
        return module(x, k, z if y is None else y)
    return module(x)


def _layer_equivariance(module, kind, mats_in, mats_out, D):
    """float64, eval: max_g max|f(ρ(g)x) − ρ(g)f(x)| / max|f(x)| (log_prob: |lp(gu, gy) − lp(u, y)|)."""
    import torch

    g = torch.Generator().manual_seed(1)
    if kind in ("conv", "series", "unet"):
        # (symm_learning's 3-level U-Net takes 13: 13 -> 7 -> 4 -> 7)
        x = torch.randn(2, D, {"conv": 9, "series": 16, "unet": 13}[kind], dtype=torch.float64, generator=g)
    elif kind in ("flat", "invariant"):
        x = torch.randn(2, D, dtype=torch.float64, generator=g)
    else:
        x = torch.randn(2, 5, mats_in[0].shape[0], dtype=torch.float64, generator=g)
    y = torch.randn(2, 5, D, dtype=torch.float64, generator=g) if kind == "normal" else None
    worst = 0.0
    with torch.no_grad():
        try:
            f = _call(module, x, kind, y)
        except RuntimeError:  # symm_learning's eCondTransformer fails in float64 (float32 step embedding)
            return float("nan")
        scale = max(float(f.abs().max()), 1e-300)
        for A, B in zip(mats_in, mats_out):
            if kind in ("conv", "unet"):
                err = (_call(module, (x.transpose(1, 2) @ A.T).transpose(1, 2), kind) - (f.transpose(1, 2) @ B.T)
                       .transpose(1, 2))
            elif kind == "series":
                err = _call(module, (x.transpose(1, 2) @ A.T).transpose(1, 2), kind) - f @ B.T
            elif kind == "normal":
                err = _call(module, x @ A.T, kind, y @ B.T) - f
            elif kind == "cond":
                err = _call(module, x @ A.T, kind, _cond_extra(x)[1] @ A.T) - f @ B.T
            else:
                err = _call(module, x @ A.T, kind) - f @ B.T
            e = float(err.abs().max()) / scale
            worst = e if not e <= worst else worst
    return worst


def measure_layer(module, kind, D, in_size, reps, mats_in, mats_out):
    import torch

    torch.manual_seed(0)
    if kind in ("conv", "series", "unet"):
        # (symm_learning's 3-level U-Net takes 30: 30 -> 15 -> 8 -> 15)
        x = torch.randn(64, D, {"conv": 32, "series": 16, "unet": 30}[kind])
    elif kind in ("flat", "invariant"):
        x = torch.randn(64, D)
    elif kind == "cond":
        x = torch.randn(64, 16, D)
    else:
        x = torch.randn(64, 32, in_size)
    y = torch.randn(64, 32, D) if kind == "normal" else None
    module.eval()
    with torch.no_grad():
        eval_forward = median_time(lambda: _call(module, x, kind, y), reps)
    module.train()
    xg = x.clone().requires_grad_(True)

    def step():
        module.zero_grad()
        xg.grad = None
        out = _call(module, xg, kind, y)
        (-out.mean() if kind == "normal" else out.square().mean()).backward()

    train_step = median_time(step, reps)
    module.eval()
    for sub in module.modules():  # symm_learning caches matrices on its reps in the dtype of the first use
        for rep in (getattr(sub, "in_rep", None), getattr(sub, "_rep_x", None)):
            attributes = getattr(rep, "attributes", None)
            if isinstance(attributes, dict):
                for key in [k for k, v in attributes.items() if isinstance(v, torch.Tensor)]:
                    del attributes[key]
    err = _layer_equivariance(module.double(), kind, mats_in, mats_out, D)
    return {"eval_forward_s": eval_forward, "train_step_s": train_step, "equivariance_error": err}


def layer_results(reps, groups=("C8", "Ico"), only_layer=None):
    import escnn.group as eg
    import numpy as np
    import torch
    from eqnn.interop import from_symm_learning, rep_from_escnn
    from symm_learning.representation_theory import direct_sum

    results = []
    for gname in groups:
        make, make_args, copies = LAYER_GROUPS[gname]
        EG = getattr(eg, make)(*make_args)
        for name, build_theirs, build_ours, kind in _layer_cases():
            if only_layer is not None and name != only_layer:
                continue
            # a rep object per layer: symm_learning caches matrices on it in the dtype of the first use
            ref_rep = direct_sum([EG.regular_representation] * copies, name=f"bench-{gname}-{name}")
            D = ref_rep.size
            t0 = time.perf_counter()
            theirs = build_theirs(ref_rep)
            construct_theirs = time.perf_counter() - t0
            r = rep_from_escnn(ref_rep)
            t0 = time.perf_counter()
            build_ours(r)
            construct_ours = time.perf_counter() - t0
            with torch.no_grad():
                for p in theirs.parameters():  # away from the identity init (scales 1, biases 0)
                    p.uniform_(0.5, 1.5)
            for sub in theirs.modules():
                if hasattr(sub, "invalidate_cache"):
                    sub.invalidate_cache()
            if name == "eBatchNorm1d":
                theirs.train()
                with torch.no_grad():
                    for _ in range(3):
                        theirs(2 * torch.randn(64, D) + 1)
            theirs.eval()
            row = {"case": f"{gname} {copies}x regular", "layer": name, "D": D}
            try:
                ours = from_symm_learning(theirs)
            except (TypeError, ValueError) as e:
                row["refused"] = str(e)
                results.append(row)
                continue
            in_size = theirs.in_rep.size if kind == "normal" else D
            mats_out = [torch.tensor(np.asarray(ref_rep(g)), dtype=torch.float64) for g in EG.elements]
            mats_in = ([torch.tensor(np.asarray(theirs.in_rep(g)), dtype=torch.float64) for g in EG.elements]
                       if kind == "normal" else mats_out)
            if kind == "invariant":
                mats_out = [torch.eye(4, dtype=torch.float64)] * len(mats_out)
            if name == "Change2DisentangledBasis":
                mats_out = [torch.tensor(np.asarray(theirs.out_rep(g)), dtype=torch.float64) for g in EG.elements]
            for sub in theirs.modules():
                if hasattr(sub, "invalidate_cache"):
                    sub.invalidate_cache()
            # (eval forward is timed before the train steps, which move eBatchNorm1d's running statistics)
            row["eqnn"] = measure_layer(ours, kind, D, in_size, reps, mats_in, mats_out)
            row["symm_learning"] = measure_layer(theirs, kind, D, in_size, reps, mats_in, mats_out)
            row["eqnn"]["construction_s"] = construct_ours
            row["symm_learning"]["construction_s"] = construct_theirs
            row["ratio_symm_learning_over_eqnn"] = {
                k: row["symm_learning"][k] / row["eqnn"][k] if row["eqnn"][k] else float("inf")
                for k in ("construction_s", "eval_forward_s", "train_step_s")}
            results.append(row)
    return results


def print_layers(results, reps):
    print(f"\nconverted layers, same weights; batch 64 x seq 32 (conv: 64 x D x 32); median of {reps}; "
          "equivariance error: eval, float64")
    head = (f"{'case':<16} {'layer':<25} {'':<14} {'construct':>11} {'eval fwd':>11} {'train step':>11} "
            f"{'equiv err':>10}")
    print(head)
    print("-" * len(head))
    for res in results:
        if "refused" in res:
            print(f"{res['case']:<16} {res['layer']:<25} refused: {res['refused'][:90]}...")
            continue
        for who in ("eqnn", "symm_learning"):
            m = res[who]
            print(f"{res['case']:<16} {res['layer']:<25} {who:<14} {m['construction_s'] * 1e3:>9.2f}ms "
                  f"{m['eval_forward_s'] * 1e3:>9.3f}ms {m['train_step_s'] * 1e3:>9.3f}ms "
                  f"{m['equivariance_error']:>10.1e}")
        q = res["ratio_symm_learning_over_eqnn"]
        print(f"{res['case']:<16} {res['layer']:<25} {'ratio ref/eqnn':<14} {q['construction_s']:>10.1f}x "
              f"{q['eval_forward_s']:>10.2f}x {q['train_step_s']:>10.2f}x")


def inner(args):
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import eqnn
    import escnn.group as eg
    import symm_learning
    from symm_learning.nn import eMultiheadAttention
    from symm_learning.representation_theory import direct_sum

    results = []
    for name, order, text, copies in CASES if args.only in (None, "attention") else []:
        G = eqnn.group(name)
        r = eqnn.rep(G, text)
        ours = measure(lambda r=r: eqnn.nn.EMultiheadAttention(r, 2, batch_first=True), list(r.matrices().float()),
                       r.size, args.reps)
        EG = eg.cyclic_group(8) if name == "C8" else eg.ico_group()
        ref_rep = direct_sum([EG.regular_representation] * copies)
        ref_mats = [torch.tensor(np.asarray(ref_rep(g)), dtype=torch.float32) for g in EG.elements]
        # symm_learning 0.8.1 is always batch_first (its constructor has no such argument).
        theirs = measure(lambda ref_rep=ref_rep: eMultiheadAttention(ref_rep, 2), ref_mats, ref_rep.size,
                         args.reps)
        results.append({"case": f"{name} {text}", "D": r.size, "order": order, "eqnn": ours,
                        "symm_learning": theirs,
                        "ratio_symm_learning_over_eqnn": {k: theirs[k] / ours[k] if ours[k] else float("inf")
                                                           for k in ours if k != "equivariance_error"}})
    env = {"torch": torch.__version__, "eqnn": eqnn.__version__,
           "symm_learning": getattr(symm_learning, "__version__", REFERENCE[0].split("==")[1]), "threads": 1,
           "batch": 64, "seq": 32, "heads": 2, "reps": args.reps}
    layers = layer_results(args.reps, args.groups.split(","), args.layer) if args.only in (None, "layers") else []
    print(f"torch {env['torch']}, eqnn {env['eqnn']}, symm_learning {env['symm_learning']}; 1 thread, "
          f"batch 64, seq 32, 2 heads, batch_first; median of {args.reps}")
    head = f"{'case':<18} {'':<14} {'construct':>11} {'eval fwd':>11} {'train step':>11} {'equiv err':>10}"
    print(head)
    print("-" * len(head))
    for res in results:
        for who in ("eqnn", "symm_learning"):
            m = res[who]
            print(f"{res['case']:<18} {who:<14} {m['construction_s'] * 1e3:>9.2f}ms "
                  f"{m['eval_forward_s'] * 1e3:>9.2f}ms "
                  f"{m['train_step_s'] * 1e3:>9.2f}ms {m['equivariance_error']:>10.1e}")
        q = res["ratio_symm_learning_over_eqnn"]
        print(f"{res['case']:<18} {'ratio ref/eqnn':<14} {q['construction_s']:>10.1f}x {q['eval_forward_s']:>10.2f}x "
              f"{q['train_step_s']:>10.2f}x")
    if layers:
        print_layers(layers, args.reps)
    out = {"environment": env, "results": results, "layers": layers}
    print(json.dumps(out))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the JSON here")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--only", choices=["attention", "layers"], help="run one part only (default both)")
    p.add_argument("--groups", default="C8,Ico", help="groups of the converted layers: " + ",".join(LAYER_GROUPS))
    p.add_argument("--layer", help="one converted layer only (its symm_learning name)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        return inner(args)
    venv = pathlib.Path(os.environ.get("EQNN_BENCH_VENV", ROOT / "build-python" / "reference-venv"))
    python = ensure_venv(venv)
    cmd = [str(python), str(pathlib.Path(__file__).resolve()), "--inner", "--reps", str(args.reps)]
    if args.only:
        cmd += ["--only", args.only]
    cmd += ["--groups", args.groups] + (["--layer", args.layer] if args.layer else [])
    if args.json:
        cmd += ["--json", args.json]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()
