"""Train a YAML model on the oscillator ring in a plain PyTorch loop (CUDA when available).

    python examples/python/train_ring.py [--model examples/models/c8_transformer.yaml] [--steps 300]

The data are n = 8 coupled nonlinear oscillators on a ring (the dynamics commute with the ring's
rotations); the model sees the last 8 states (batch, 8, 8) and predicts the change of the next state at
the last token. The model is an ordinary torch.nn.Module: torch.optim, DataLoader, .to(device), state_dict.
"""

import argparse
import pathlib
import time

import eqnn
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(ROOT / "examples" / "models" / "c8_transformer.yaml"))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--save", help="write the trained state_dict here (torch.save)")
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = eqnn.load_model(args.model).to(device)
    train_x, train_y, test_x, test_y = (t.to(device) for t in eqnn.datasets.oscillator_ring(n=8, seed=0))
    print(f"{args.model}: {sum(p.numel() for p in model.parameters())} parameters on {device}; "
          f"{len(train_x)} training windows of shape {tuple(train_x.shape[1:])}")

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x, train_y),
                                         batch_size=args.batch, shuffle=True, drop_last=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, start = 0, time.perf_counter()
    model.train()
    while step < args.steps:
        for x, y in loader:
            pred = x[:, -1] + model(x)[:, -1]  # the next state = last state + predicted change
            loss = torch.nn.functional.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0 or step == args.steps:
                print(f"step {step:4d}  train mse {loss.item():.3e}")
            if step == args.steps:
                break

    model.eval()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(test_x[:, -1] + model(test_x)[:, -1], test_y).item()
        persistence = torch.nn.functional.mse_loss(test_x[:, -1], test_y).item()
    print(f"test mse {mse:.3e} (persistence baseline {persistence:.3e}); {time.perf_counter() - start:.1f} s")
    G = model.group
    err = eqnn.check_equivariance(model, model.input_rep, model.output_rep or model.input_rep)
    print(f"equivariance error over all {G.order} elements of {G.name} (float64): {err:.1e}")
    if args.save:
        torch.save(model.state_dict(), args.save)


if __name__ == "__main__":
    main()
