"""Data-parallel training of an eqnn model with PyTorch's own engine (DistributedDataParallel).

Two local processes over Gloo (loopback), then the same training in one process with the same global
batch, and the largest parameter difference:

    python examples/python/ddp_train.py --spawn 2 --compare

Several machines (NCCL on GPUs, Gloo on CPUs), e.g. 2 nodes x 8 GPUs, run on every node:

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST0:29500 \\
        examples/python/ddp_train.py --steps 1000 --batch 4096

The model is examples/models/d4_mlp.yaml (a D4-equivariant MLP on the square's vertices), learning a
D4-equivariant target; each process takes its slice of every global batch.
"""

import argparse
import json
import os
import pathlib
import socket
import sys
import tempfile

import eqnn
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

MODEL = pathlib.Path(__file__).resolve().parents[1] / "models" / "d4_mlp.yaml"


def batches(args, device):
    """The global batches, identical in every process (a fixed generator)."""
    gen = torch.Generator().manual_seed(args.seed + 1)
    for _ in range(args.steps):
        x = torch.randn(args.batch, 4, generator=gen)
        # An equivariant target: each vertex minus the mean of its two neighbours, squared-ish.
        y = torch.tanh(x - 0.5 * (x.roll(1, -1) + x.roll(-1, -1))) + x.mean(-1, keepdim=True)
        yield x.to(device), y.to(device)


def train(args, rank=0, world=1, device=None):
    device = torch.device("cpu") if device is None else device
    torch.manual_seed(args.seed)  # the same initial parameters everywhere (DDP also broadcasts rank 0's)
    model = eqnn.load_model(str(MODEL)).to(device)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else model
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    per_rank = args.batch // world
    for step, (x, y) in enumerate(batches(args, device)):
        xs, ys = x[rank * per_rank:(rank + 1) * per_rank], y[rank * per_rank:(rank + 1) * per_rank]
        loss = torch.nn.functional.mse_loss(net(xs), ys)  # DDP averages the gradients over processes
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rank == 0 and (step % max(1, args.steps // 5) == 0 or step == args.steps - 1):
            print(f"step {step:4d}  loss {loss.item():.5f}", file=sys.stderr)
    return {k: v.detach().cpu() for k, v in model.named_parameters()}


def spawned(rank, world, args, port, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        state = train(args, rank, world)
        if rank == 0:
            torch.save(state, out)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spawn", type=int, default=0, help="start this many local Gloo processes (no torchrun)")
    p.add_argument("--compare", action="store_true", help="also train in one process and compare parameters")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64, help="global batch (divisible by the number of processes)")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    if "RANK" in os.environ:  # under torchrun
        cuda = torch.cuda.is_available()
        dist.init_process_group("nccl" if cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        if args.batch % world:
            raise SystemExit(f"--batch {args.batch} is not divisible by the {world} processes")
        train(args, rank, world, device)
        dist.destroy_process_group()
        return

    world = max(1, args.spawn)
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} is not divisible by --spawn {world}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ddp.pt")
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
        mp.spawn(spawned, args=(world, args, free_port(), out), nprocs=world, join=True)
        ddp_state = torch.load(out, weights_only=True)
    result = {"world_size": world, "steps": args.steps, "global_batch": args.batch}
    if args.compare:
        torch.set_num_threads(1)
        single = train(args)
        result["max_abs_param_diff"] = max(float((ddp_state[k] - single[k]).abs().max()) for k in single)
        result["parameters"] = sorted(single)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
