"""The SO(3) demo: forces on small point clouds, an equivariant model against its stock twin, trained by
`eqnn train --data` on the same data with the same settings.

    .venv/bin/python examples/python/so3_point_forces.py [--sizes 64,256,1024] [--seeds 3] [--steps 2000]

Each sample is a cloud of P = 6 points (Gaussian, centred), and the target is the force on every point under a
Morse pair potential, F_i = -Σ_j φ'(|r_i − r_j|) (r_i − r_j)/|r_i − r_j| with φ(r) = (1 − exp(1 − r))²:
rotating the cloud rotates every force. The models (examples/models/so3_point_forces.yaml and its stock twin,
examples/models/stock/so3_point_forces.yaml) see one token per point. Prints the best validation relative error
of each (mean ± sd over seeds), their ratio, and each model's equivariance error (float64,
eqnn.check_equivariance on Haar-random rotations).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = {"equivariant (SO3)": ROOT / "examples/models/so3_point_forces.yaml",
          "stock twin": ROOT / "examples/models/stock/so3_point_forces.yaml"}


def clouds(n: int, points: int, generator: torch.Generator):
    """n centred clouds (n, points, 3) and the Morse forces on their points (n, points, 3), float32."""
    r = torch.randn(n, points, 3, generator=generator, dtype=torch.float64)
    r = r - r.mean(dim=1, keepdim=True)
    diff = r[:, :, None, :] - r[:, None, :, :]                      # r_i − r_j
    dist = diff.norm(dim=-1).clamp_min(1e-12)
    e = torch.exp(1 - dist)
    dphi = 2 * (1 - e) * e                                          # φ'(r)
    dphi = dphi * (1 - torch.eye(points, dtype=torch.float64))       # no self-interaction
    forces = -(dphi[..., None] * diff / dist[..., None]).sum(dim=2)
    return r.float(), forces.float()


def eqnn_cli() -> str:
    here = ROOT / "build" / "bin" / "eqnn"
    return str(here) if here.exists() else "eqnn"


def check_error(model: pathlib.Path) -> float:
    """max |f(R·x) − R·f(x)| / max |f(x)| in float64, on Haar-random rotations (eqnn.check_equivariance)."""
    import eqnn

    m = eqnn.load_model(str(model)).double().eval()
    rep = eqnn.rep(eqnn.group("SO3"), "standard")
    return eqnn.check_equivariance(m, rep, rep, shape=(2, 6))


def mean_sd(values, digits: int) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="64,256,1024", help="training clouds per run")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--points", type=int, default=6)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        vx, vy = clouds(512, args.points, torch.Generator().manual_seed(12345))
        torch.save({"x": vx, "y": vy}, tmp / "val.pt")
        results = {}
        for size in sizes:
            for seed in range(args.seeds):
                x, y = clouds(size, args.points, torch.Generator().manual_seed(1000 * seed + size))
                torch.save({"x": x, "y": y}, tmp / "train.pt")
                for name, model in MODELS.items():
                    cmd = [eqnn_cli(), "train", str(model), "--data", str(tmp / "train.pt"), "--val",
                           str(tmp / "val.pt"), "--steps", str(args.steps), "--batch-size", "16",
                           "--seed", str(seed), "--json"]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if out.returncode != 0:
                        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
                    best = json.loads(out.stdout)["best_val_relative_error"]
                    results.setdefault((size, name), []).append(best)
                    print(f"  {name:18s} {size:5d} clouds, seed {seed}: {best:.4f}", file=sys.stderr)
    names = list(MODELS)
    print(f"{'training clouds':>15s}  {names[0]:>18s}  {names[1]:>16s}  {'ratio':>11s}")
    for size in sizes:
        a, b = results[(size, names[0])], results[(size, names[1])]
        ratios = [u / v for u, v in zip(a, b)]
        print(f"{size:15d}  {mean_sd(a, 4):>18s}  {mean_sd(b, 4):>16s}  {mean_sd(ratios, 2):>11s}")
    for name, model in MODELS.items():
        print(f"equivariance error ({name}, float64): {check_error(model):.1e}")


if __name__ == "__main__":
    main()
