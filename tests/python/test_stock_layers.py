# Stock layers inside a Python-wrapped model use the nn.Parameters Python holds (forward, gradients, .to()).
import eqnn
import torch


def test_stock_layers_follow_the_python_parameters(tmp_path):
    # Stock layers inside a wrapped model must compute with, and send gradients to, the nn.Parameters
    # Python holds, also after .to(dtype).
    path = tmp_path / "stock.yaml"
    path.write_text("eqnn: 1\ngroup: C4\nreps:\n  x: regular\ninput: x\noutput: x\nlayers:\n"
                    "  - {type: Linear, out_features: 8}\n  - {type: LayerNorm}\n"
                    "  - {type: MultiheadAttention, num_heads: 2}\n  - {type: Linear, out_features: 4}\n")
    model = eqnn.load_model(str(path))
    x = torch.randn(3, 5, 4)
    before = model(x).detach()
    model(x).pow(2).sum().backward()
    names = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert names == [], f"no gradient reached {names}"
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.allclose(before, model(x).detach())
    model.double()
    assert model(x.double()).dtype == torch.float64
