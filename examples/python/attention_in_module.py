"""EMultiheadAttention inside a user-written nn.Module: a C8-invariant classifier of point signals on a
ring of 8 sites (rotating the ring must not change the class).

    python examples/python/attention_in_module.py
"""

import eqnn
import torch
from eqnn import nn as enn
from torch import nn


class RingClassifier(nn.Module):
    """Embed each token's 8 ring values into 4 regular copies of C8, attend over the sequence, pool to
    invariants, classify with a stock Linear (anything after invariant pooling may be unconstrained)."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        G = eqnn.group("C8")
        x_rep, h_rep = eqnn.rep(G, "permutation(vertices)"), eqnn.rep(G, "4x regular")
        self.embed = enn.ELinear(x_rep, h_rep)
        self.attn = enn.EMultiheadAttention(h_rep, num_heads=2, batch_first=True)
        self.norm = enn.ELayerNorm(h_rep)
        self.act = enn.EReLU(h_rep)
        self.pool = enn.EInvariantPool(h_rep)  # (.., 32) -> (.., 4) invariants
        self.head = nn.Linear(self.pool.out_rep.size, num_classes)

    def forward(self, x, padding_mask=None):
        h = self.embed(x)
        a, _ = self.attn(h, h, h, key_padding_mask=padding_mask, need_weights=False)
        h = self.act(self.norm(h + a))
        return self.head(self.pool(h).mean(dim=1))


def make_data(n, gen):
    """Class k: a bump of width k+1 somewhere on the ring, moving around it over the sequence."""
    y = torch.randint(0, 3, (n,), generator=gen)
    start = torch.randint(0, 8, (n,), generator=gen)
    t = torch.arange(6)
    sites = torch.arange(8)
    pos = (start[:, None] + t[None, :]) % 8  # (n, T)
    dist = ((sites[None, None, :] - pos[..., None]) % 8).clamp(max=4).float()
    width = (y + 1).float()[:, None, None]
    x = torch.exp(-(dist / width) ** 2) + 0.1 * torch.randn(n, 6, 8, generator=gen)
    return x, y


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = RingClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x, y = make_data(512, gen)
    for step in range(150):
        idx = torch.randint(0, len(x), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.3f}")
    model.eval()
    xt, yt = make_data(256, gen)
    with torch.no_grad():
        acc = (model(xt).argmax(-1) == yt).float().mean().item()
        # Rotating every token's ring by one site changes nothing.
        rotated = (model(xt.roll(1, dims=-1)) - model(xt)).abs().max().item()
    print(f"test accuracy {acc:.2f}; logit change under a rotation of the ring: {rotated:.1e}")


if __name__ == "__main__":
    main()
