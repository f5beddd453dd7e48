"""eqnn.nn.EAffine, EInvariantBias and EMultivariateNormal: exact equivariance on every element (C4, D4, Ico),
a dense oracle Q diag(alpha) Q^T x + b built here from rep.change_of_basis, FiLM mode = learnable mode with the
same values, export to a stock torch.nn.Linear, dense loading (load_dense / load_bias), the covariance map
Sigma(rho(g) u) = rho(g) Sigma(u) rho(g)^T and invariant log-densities, symm_learning's diagonal covariance
(equivariant only on permutation reps), and the error messages."""

import copy

import eqnn
import pytest
import torch
from eqnn import nn as enn

GROUPS = ["C4", "D4", "Ico"]
REPS = ["regular", "2x regular + trivial + irrep(1)"]


def cases():
    return [(g, r) for g in GROUPS for r in REPS] + [("D4", "permutation(vertices) + 2x trivial + standard")]


def copies(rep):
    """The copy of each column of Q, the number of copies and Q's trivial columns, from rep.irreps alone."""
    copy_of, trivial, column = [], [], 0
    for c, k in enumerate(rep.irreps):
        if k == 0:
            trivial.append(column)
        d = rep.group.irreps[k].dim
        copy_of += [c] * d
        column += d
    return torch.tensor(copy_of), len(rep.irreps), torch.tensor(trivial, dtype=torch.long)


def dense(rep, alpha):
    """The oracle weight Q diag(alpha spread over each copy's columns) Q^T (float64)."""
    Q = rep.change_of_basis
    copy_of, _, _ = copies(rep)
    return Q @ torch.diag(alpha.double()[copy_of]) @ Q.T


def randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("spec,text", cases())
def test_eaffine_is_equivariant_and_equals_the_dense_formula(spec, text):
    rep = eqnn.rep(eqnn.group(spec), text)
    layer = enn.EAffine(rep, dtype=torch.float64)
    randomise(layer, 1)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        assert eqnn.check_equivariance(layer, rep, rep, dtype) < tol
    W = dense(rep, layer.scale.detach())
    params = layer.effective_parameters()
    assert sorted(params) == ["bias", "weight"]
    b = params["bias"]
    x = torch.randn(4, 3, rep.size, dtype=torch.float64)
    assert (layer(x) - (x @ W.T + b)).abs().max() < 1e-12
    assert (params["weight"] - W).abs().max() < 1e-12
    # The bias is invariant, and the scale/bias are not trivial here (the check is not vacuous).
    for g in range(rep.group.order):
        assert (rep.matrix(g) @ b - b).abs().max() < 1e-12
    assert (W - torch.eye(rep.size, dtype=torch.float64)).abs().max() > 0.1 and b.abs().max() > 0.1
    # Export: a stock Linear loads the effective parameters with strict=True and computes the same.
    stock = torch.nn.Linear(rep.size, rep.size, dtype=torch.float64)
    stock.load_state_dict(params, strict=True)
    assert (stock(x) - layer(x)).abs().max() < 1e-12


@pytest.mark.parametrize("spec,text", cases())
def test_film_equals_learnable_with_the_same_values(spec, text):
    rep = eqnn.rep(eqnn.group(spec), text)
    learnable = enn.EAffine(rep, dtype=torch.float64)
    randomise(learnable, 2)
    film = enn.EAffine(rep, learnable=False)
    assert list(film.parameters()) == [] and film.effective_parameters() == {}
    _, n, trivial = copies(rep)
    assert (film.num_copies, film.num_trivial) == (n, len(trivial))
    alpha = learnable.scale.detach()
    beta = learnable.effective_parameters()["bias"] @ rep.change_of_basis[:, trivial]  # Q_triv^T b
    x = torch.randn(2, 3, rep.size, dtype=torch.float64)
    with torch.no_grad():
        expected = learnable(x)
        assert (film(x, alpha, beta) - expected).abs().max() < 1e-12
        assert (film(x, alpha.expand(2, 1, n), beta.expand(3, len(trivial))) - expected).abs().max() < 1e-12
        # One map per row, each the dense formula with its own values; FiLM is equivariant for fixed values.
        alphas, betas = torch.randn(2, 3, n, dtype=torch.float64), torch.randn(2, 3, len(trivial), dtype=torch.float64)
        y = film(x, alphas, betas)
        for i in range(2):
            for j in range(3):
                b = rep.change_of_basis[:, trivial] @ betas[i, j]
                assert (y[i, j] - (dense(rep, alphas[i, j]) @ x[i, j] + b)).abs().max() < 1e-12
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        s, b = alphas[0, 0].to(dtype), betas[0, 0].to(dtype)
        assert eqnn.check_equivariance(lambda t, s=s, b=b: film(t, s, b), rep, rep, dtype) < tol


def test_eaffine_starts_as_the_identity_and_trains():
    rep = eqnn.rep(eqnn.group("D4"), "2x regular")
    layer = enn.EAffine(rep)
    assert torch.equal(layer.scale.detach(), torch.ones(12))
    assert torch.equal(layer.bias_coefficients.detach(), torch.zeros(2))
    x = torch.randn(5, 16)
    assert torch.equal(layer(x), x)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    target = torch.randn(5, 16)
    for _ in range(3):
        opt.zero_grad()
        loss = (layer(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
    assert layer.scale.grad is not None and layer.bias_coefficients.grad is not None
    assert eqnn.check_equivariance(layer, rep, rep) < 1e-10
    # state_dict round trip and deepcopy keep the function.
    other = enn.EAffine(rep)
    other.load_state_dict(layer.state_dict())
    with torch.no_grad():
        assert torch.equal(other(x), layer(x))
        assert torch.equal(copy.deepcopy(layer)(x), layer(x))
    assert enn.EAffine(rep, bias=False).options == {"bias": False, "learnable": True,
                                                    "bias_constraint": "InvariantConstraint"}
    assert [n for n, _ in enn.EAffine(rep, bias=False).named_parameters()] == ["scale"]


def test_eaffine_film_gradients_reach_the_conditioning():
    rep = eqnn.rep(eqnn.group("C4"), "2x regular + trivial + irrep(1)")
    film = enn.EAffine(rep, learnable=False)
    x = torch.randn(3, rep.size, dtype=torch.float64)
    s = torch.randn(3, film.num_copies, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, film.num_trivial, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, b: film(x, s, b), (s, b))


def test_eaffine_errors_name_the_mode_and_the_expected_shapes():
    rep = eqnn.rep(eqnn.group("D4"), "2x regular")
    film = enn.EAffine(rep, learnable=False)
    learnable = enn.EAffine(rep)
    x = torch.randn(5, 3, 16)
    s, b = torch.randn(12), torch.randn(2)
    with pytest.raises(RuntimeError, match=r"FiLM mode needs the scales: expected scale of shape \(5, 3, 12\), "
                                           "got none"):
        film(x)
    with pytest.raises(RuntimeError, match=r"this layer is learnable .* call forward\(x\) without scale and bias"):
        learnable(x, s, b)
    with pytest.raises(RuntimeError, match=r"expected scale of shape \(5, 3, 12\) .* got \[11\]"):
        film(x, torch.randn(11), b)
    with pytest.raises(RuntimeError, match=r"expected bias of shape \(5, 3, 2\) .* got \[4, 2\]"):
        film(x, s, torch.randn(4, 2))
    with pytest.raises(RuntimeError, match=r"this layer has a bias: expected bias coefficients of shape \(5, 3, 2\)"):
        film(x, s)
    with pytest.raises(RuntimeError, match=r"has no bias \(bias=false\), but bias coefficients were given"):
        enn.EAffine(rep, False, learnable=False)(x, s, b)
    with pytest.raises(ValueError, match="eAffine: unknown constraint 'Nope'"):
        enn.EAffine(rep, bias_constraint="Nope")
    with pytest.raises(ValueError, match=r"'learnable: false' \(FiLM mode\) takes its scales"):
        enn.Layer("eAffine", rep, learnable=False)


def test_eaffine_load_dense_sets_alpha_and_b_from_dense_values():
    rep = eqnn.rep(eqnn.group("D4"), "2x regular + trivial + irrep(1)")
    source = enn.EAffine(rep, dtype=torch.float64)
    randomise(source, 3)
    params = source.effective_parameters()
    target = enn.EAffine(rep)
    target.load_dense(params["weight"], params["bias"])
    x = torch.randn(4, rep.size)
    with torch.no_grad():
        assert (target(x).double() - source(x.double())).abs().max() < 1e-5
    assert (target.scale.detach().double() - source.scale.detach()).abs().max() < 1e-6
    with pytest.raises(ValueError, match=r"the weight is not Q diag\(alpha\) Q\^T for this rep's change of basis"):
        target.load_dense(torch.randn(rep.size, rep.size))
    with pytest.raises(ValueError, match="the bias is not invariant"):
        target.load_dense(params["weight"], torch.randn(rep.size))
    with pytest.raises(ValueError, match=r"expected a weight of shape \(18, 18\), got \(3, 3\)"):
        target.load_dense(torch.randn(3, 3))
    with pytest.raises(ValueError, match="a FiLM EAffine"):
        enn.EAffine(rep, learnable=False).load_dense(params["weight"])


@pytest.mark.parametrize("spec,text", cases())
def test_invariant_bias_is_equivariant_starts_at_zero_and_loads_dense(spec, text):
    rep = eqnn.rep(eqnn.group(spec), text)
    layer = enn.EInvariantBias(rep, dtype=torch.float64)
    x = torch.randn(3, rep.size, dtype=torch.float64)
    assert torch.equal(layer(x), x)
    assert layer.bias_coefficients.numel() == rep.multiplicities[0]
    randomise(layer, 4)
    b = layer.bias.detach()
    assert b.abs().max() > 0.1
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        assert eqnn.check_equivariance(layer, rep, rep, dtype) < tol
    assert layer.effective_parameters() == {}
    other = enn.EInvariantBias(rep)
    other.load_bias(b)
    assert (other.bias.double() - b).abs().max() < 1e-6


def test_invariant_bias_errors():
    G = eqnn.group("D4")
    with pytest.raises(ValueError, match=r"eInvariantBias: in_rep 2x irrep\(4\) \(size 4\) has no trivial part, so "
                                         "its only invariant vector is 0 and there is nothing to learn"):
        enn.EInvariantBias(eqnn.rep(G, "2x irrep(4)"))
    layer = enn.EInvariantBias(eqnn.rep(G, "regular"))
    with pytest.raises(ValueError, match="the bias is not invariant"):
        layer.load_bias(torch.arange(8.0))
    with pytest.raises(ValueError, match=r"expected a bias of shape \(8,\)"):
        layer.load_bias(torch.zeros(3))
    with pytest.raises(RuntimeError, match=r"expected input of shape \(\.\.\., 8\)"):
        layer(torch.zeros(2, 7))


def test_export_writes_a_stock_linear_for_eaffine_and_refuses_the_bias_alone(tmp_path):
    head = "eqnn: 1\ngroup: D4\nreps: {x: \"2x regular\"}\ninput: x\nlayers:\n"
    (tmp_path / "a.yaml").write_text(head + "  - {type: eAffine}\n")
    model = eqnn.load_model(str(tmp_path / "a.yaml"))
    assert sorted(model.effective_parameters()) == ["layers.0.bias", "layers.0.weight"]
    (tmp_path / "b.yaml").write_text(head + "  - {type: eInvariantBias}\n")
    model = eqnn.load_model(str(tmp_path / "b.yaml"))
    assert model.effective_parameters() == {}


# ---- EMultivariateNormal ----


def normal_cases():
    return [(g, r) for g in GROUPS for r in REPS] + [("D4", "permutation(vertices) + standard + trivial")]


@pytest.mark.parametrize("spec,text", normal_cases())
def test_multivariate_normal_is_equivariant_on_every_element(spec, text):
    rep = eqnn.rep(eqnn.group(spec), text)
    normal = enn.EMultivariateNormal(rep)
    D, n = rep.size, normal.num_copies
    assert normal.in_features == D + len(rep.irreps)
    u = torch.cat([torch.randn(4, D, dtype=torch.float64), torch.randn(4, n, dtype=torch.float64)], -1)
    y = torch.randn(4, D, dtype=torch.float64)
    dist = normal(u)
    logp = dist.log_prob(y)
    assert torch.isfinite(logp).all()
    for g in range(rep.group.order):
        R = rep.matrix(g)
        gu = torch.cat([u[:, :D] @ R.T, u[:, D:]], -1)  # the log-variances are invariant inputs
        gdist = normal(gu)
        assert (gdist.mean - dist.mean @ R.T).abs().max() < 1e-12
        assert (gdist.covariance_matrix - R @ dist.covariance_matrix @ R.T).abs().max() < 1e-12
        assert (gdist.log_prob(y @ R.T) - logp).abs().max() < 1e-10
    # The covariance is Q diag(exp(lv) + 1e-6) Q^T, written here from the rep alone.
    copy_of, _, _ = copies(rep)
    Q = rep.change_of_basis
    expected = Q @ torch.diag(torch.exp(u[0, D:])[copy_of] + 1e-6) @ Q.T
    assert (dist.covariance_matrix[0] - expected).abs().max() < 1e-12


def test_symm_learning_diagonal_covariance_is_its_diagonal_and_equivariant_only_for_permutation_reps():
    G = eqnn.group("D4")
    rep = eqnn.rep(G, "2x regular")
    normal = enn.EMultivariateNormal(rep)
    lv = torch.randn(normal.num_copies, dtype=torch.float64)
    sigma = normal.covariance(lv)
    copy_of, _, _ = copies(rep)
    Q = rep.change_of_basis
    theirs = torch.diag((Q * Q) @ (torch.exp(lv)[copy_of] + 1e-6))  # symm_learning's formula
    assert (torch.diagonal(sigma) - torch.diagonal(theirs)).abs().max() < 1e-12
    assert (sigma - theirs).abs().max() > 1e-3  # it drops the off-diagonal part
    for g in range(G.order):  # a permutation rep: the diagonal is still equivariant
        R = rep.matrix(g)
        assert (R @ theirs @ R.T - theirs).abs().max() < 1e-12
    # The same rep in another orthogonal basis B: rho'(g) = B rho(g) B^T, Q' = B Q. Ours stays equivariant,
    # the diagonal formula does not.
    generator = torch.Generator().manual_seed(0)
    B = torch.linalg.qr(torch.randn(rep.size, rep.size, dtype=torch.float64, generator=generator))[0]
    Qb = B @ Q
    ours = Qb @ torch.diag(torch.exp(lv)[copy_of] + 1e-6) @ Qb.T
    diag_b = torch.diag((Qb * Qb) @ (torch.exp(lv)[copy_of] + 1e-6))
    worst_ours = worst_theirs = 0.0
    for g in range(G.order):
        Rb = B @ rep.matrix(g) @ B.T
        worst_ours = max(worst_ours, (Rb @ ours @ Rb.T - ours).abs().max().item())
        worst_theirs = max(worst_theirs, (Rb @ diag_b @ Rb.T - diag_b).abs().max().item())
    assert worst_ours < 1e-12 and worst_theirs > 1e-3


def test_multivariate_normal_errors_and_samples():
    rep = eqnn.rep(eqnn.group("C4"), "regular")
    normal = enn.EMultivariateNormal(rep)
    assert (normal.num_copies, normal.in_features) == (3, 7)
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 7\) = \[mean \(4\) \| log-variance per "
                                         r"irreducible copy \(3\)\] for out_rep regular \(size 4\), got \(2, 6\)"):
        normal(torch.randn(2, 6))
    with pytest.raises(ValueError, match="only diagonal=True"):
        enn.EMultivariateNormal(rep, diagonal=False)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        enn.EMultivariateNormal(rep, eps=-1.0)
    dist = normal(torch.randn(2, 5, 7))
    assert dist.batch_shape == (2, 5) and dist.event_shape == (4,)
    assert dist.rsample().shape == (2, 5, 4)


def test_multivariate_normal_deep_copies_with_its_representation():
    rep = eqnn.rep(eqnn.group("D4"), "regular + trivial")
    normal = enn.EMultivariateNormal(rep)
    twin = copy.deepcopy(torch.nn.Sequential(normal))[0]  # as deepcopy of a model holding it
    assert twin is not normal and twin.out_rep == rep and copy.copy(rep) == rep
    x = torch.randn(3, normal.in_features, dtype=torch.float64)
    y = torch.randn(3, rep.size, dtype=torch.float64)
    assert torch.equal(twin(x).log_prob(y), normal(x).log_prob(y))
