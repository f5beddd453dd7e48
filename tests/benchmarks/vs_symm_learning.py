"""eqnn's EMultiheadAttention side by side with symm_learning's eMultiheadAttention, in one run.

    python tests/benchmarks/vs_symm_learning.py [--json out.json] [--reps 20]

Installs symm-learning==0.8.1 and escnn==1.0.11 into the reference venv (scripts/reference_venv.py;
$EQNN_BENCH_VENV, default build-python/reference-venv) that sees this interpreter's packages (torch, eqnn)
through a .pth file, then re-runs itself there. For C8 4x regular (D=32) and Ico 2x regular
(D=120), 2 heads, batch 64, sequence 32, batch_first, one thread, it measures: construction time (first
construction in the process, caches cold), eval forward (no_grad), train step (forward + backward of a
mean-square loss) and the equivariance error on every group element (float64, relative to max|f(x)|),
and prints a table, the ratios (symm_learning / eqnn) and JSON. The project's tests never need it.
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
    for name, order, text, copies in CASES:
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
    out = {"environment": env, "results": results}
    print(json.dumps(out))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the JSON here")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        return inner(args)
    venv = pathlib.Path(os.environ.get("EQNN_BENCH_VENV", ROOT / "build-python" / "reference-venv"))
    python = ensure_venv(venv)
    cmd = [str(python), str(pathlib.Path(__file__).resolve()), "--inner", "--reps", str(args.reps)]
    if args.json:
        cmd += ["--json", args.json]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()
