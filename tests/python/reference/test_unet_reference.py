"""eqnn.models.EConditionalUnet1D against symm_learning's eConditionalUnet1D through
eqnn.interop.from_symm_learning (layout "symm_learning_0.8.1"): the converted model computes symm_learning's
function with its weights (float64 ≤ 1e-10, float32 ≤ 1e-5 relative, train and eval mode, random parameters),
on C2, C5 and Ico with a regular sample, a 2x regular global conditioning vector, step embedding 16 and down_dims
[8·|G|, 16·|G|, 16·|G|] ([2·|G|, 2·|G|] on Ico), both downsampling modes; and symm_learning's own
behaviour that eqnn's default layout differs from (its up path skips the last upsampling: the output is
shorter than the sample). Models where symm_learning learns a residual convolution between reps with equal
matrices (it compares escnn reps by name: down_dims[0] = the sample's size on C2, C5 and Ico, a local conditioning
rep, an up level's concatenation; the block on its own) convert with residual_conv "always", the same function.

symm_learning's SinusoidalPosEmb computes its frequencies in float32 whatever the step's dtype
(``torch.arange(half) * -c`` takes the default dtype), so a float64 symm_learning model embeds a step with
float32 frequencies (an error of 1.9e-6 at steps up to 100, measured below). The float64 comparisons patch its
forward with the same formula in float64 (eqnn computes the embedding in the model's dtype), so that 1e-10 tests the
rest of the network instead of symm_learning's rounding.

Ico: the per-copy operations (channel RMS norms, FiLM scales) need both libraries to cut the hidden reps into
the same irreducible copies, which is not unique where an irrep appears more than once per regular copy. The
converter builds the model with escnn's regular representation as hidden_rep (a permutation rep that keeps
escnn's change of basis), so the cut is escnn's and the converted model is exact there too.
"""

import contextlib
import math

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import TOL, default_dtype, matrices, randomise, rel
from symm_learning.models.diffusion import cond_unet1d
from symm_learning.models.diffusion.cond_eunet1d import eConditionalResidualBlock1D, eConditionalUnet1D

DTYPES = [torch.float64, torch.float32]


def _float64_embedding(self, x):
    """symm_learning's SinusoidalPosEmb.forward with its frequencies in x's dtype (float64 here)."""
    half = self.dim // 2
    c = math.log(10000) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, device=x.device, dtype=x.dtype) * -c)
    args = x[:, None] * freqs[None, :]
    return torch.cat((args.sin(), args.cos()), dim=-1)


@contextlib.contextmanager
def exact_embedding(dtype):
    if dtype != torch.float64:
        yield
        return
    old = cond_unet1d.SinusoidalPosEmb.forward
    cond_unet1d.SinusoidalPosEmb.forward = _float64_embedding
    try:
        yield
    finally:
        cond_unet1d.SinusoidalPosEmb.forward = old


def reg(G, k, tag):
    return eg.directsum([G.regular_representation] * k, name=f"{G.name}-reg{k}-{tag}")


def build(G, tag, dtype, downsample="stride"):
    n = G.order()
    dims = [2 * n, 2 * n] if n == 60 else [8 * n, 16 * n, 16 * n]
    with default_dtype(torch.float64):
        m = eConditionalUnet1D(reg(G, 1, tag), None, reg(G, 2, tag + "-g"), diffusion_step_embed_dim=16,
                               down_dims=dims, downsample=downsample)
        return randomise(m).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("downsample", ["stride", "pooling"])
@pytest.mark.parametrize("group", ["C2", "C5", "Ico"])
def test_converted_unet_equals_symm_learning(group, downsample, dtype):
    G = eg.ico_group() if group == "Ico" else eg.cyclic_group(int(group[1:]))
    theirs = build(G, f"unet-{group}-{downsample}-{dtype}", dtype, downsample)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.models.EConditionalUnet1D)
    assert ours.options["layout"] == "symm_learning_0.8.1"
    assert ours.options["residual_conv"] == "auto"  # symm_learning's residual convolutions are eqnn's "auto" ones
    length = (13 if downsample == "stride" else 16) if G.order() < 60 else 6
    x = torch.randn(3, G.order(), length, dtype=dtype)
    g = torch.randn(3, 2 * G.order(), dtype=dtype)
    t = torch.tensor([0.0, 7.0, 93.0], dtype=dtype)
    with exact_embedding(dtype):
        for mode in (True, False):
            ours.train(mode)
            theirs.train(mode)
            with torch.no_grad():
                want = theirs(x, t, film_cond=g)
                have = ours(x.transpose(1, 2), t, global_cond=g).transpose(1, 2)
            assert have.shape == want.shape  # symm_learning's length: 13 -> 7 (stride), 16 -> 8 (pooling)
            assert rel(have, want) <= TOL[dtype], mode
    # The converted model is equivariant under escnn's matrices (x and the global conditioning).
    ours.eval()
    A, B = matrices(reg(G, 1, "m"), dtype), matrices(reg(G, 2, "m2"), dtype)
    with torch.no_grad():
        y = ours(x.transpose(1, 2), t, global_cond=g)
        for a, b in zip(A, B):
            assert rel(ours(x.transpose(1, 2) @ a.T, t, global_cond=g @ b.T), y @ a.T) <= TOL[dtype] * 10


def test_symm_learning_float32_step_frequencies():
    """The size of symm_learning's float32-frequency error in a float64 embedding (why the float64 tests patch
    it): 1.9e-6 at steps up to 100, far above 1e-10."""
    emb = cond_unet1d.SinusoidalPosEmb(16)
    t = torch.tensor([1.0, 37.0, 99.0], dtype=torch.float64)
    theirs = emb(t)
    exact = _float64_embedding(emb, t)
    err = float((theirs - exact).abs().max())
    assert 1e-7 < err < 1e-5


def test_symm_learning_lengths_that_eqnn_default_layout_keeps():
    """symm_learning 0.8.1's up path (recorded here, kept by layout "symm_learning_0.8.1") shortens the sample
    and fails for lengths divisible by 4 (stride); eqnn's default layout keeps every multiple of 4."""
    G = eg.cyclic_group(2)
    theirs = build(G, "unet-lengths", torch.float64)
    g = torch.randn(2, 4, dtype=torch.float64)
    t = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        assert theirs(torch.randn(2, 2, 13, dtype=torch.float64), t, film_cond=g).shape[-1] == 7
        with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
            theirs(torch.randn(2, 2, 16, dtype=torch.float64), t, film_cond=g)
    E = eqnn.interop.group_from_escnn(G)
    ours = eqnn.models.EConditionalUnet1D(eqnn.rep(E, "regular"), None, eqnn.rep(E, "2x regular"),
                                          diffusion_step_embed_dim=16, down_dims=[16, 32, 32], dtype=torch.float64)
    assert ours(torch.randn(2, 16, 2, dtype=torch.float64), t, global_cond=g).shape == (2, 16, 2)


def test_a_custom_hidden_rep_is_refused():
    """symm_learning's U-Net always builds regular hidden reps; a model whose hidden rep is not escnn's regular
    one (here the blocks rebuilt on another rep) is refused by name rather than converted wrongly."""
    G = eg.cyclic_group(3)
    theirs = build(G, "unet-custom", torch.float64)
    from escnn.group import directsum

    other = directsum([G.irrep(0)] * (theirs.down_modules[0][0].out_rep.size), name="unet-custom-triv")
    theirs.down_modules[0][0].out_rep = other
    with pytest.raises(ValueError, match="is not escnn's regular representation repeated"):
        interop.from_symm_learning(theirs)


def _compare(ours, theirs, G, length, dtype, local=False):
    """ours(x, t, ...) against theirs in train and eval mode (symm_learning's (N, C, L) layout)."""
    x = torch.randn(3, theirs.in_rep.size, length, dtype=dtype)
    g = torch.randn(3, theirs.global_cond_rep.size, dtype=dtype)
    loc = torch.randn(3, theirs.local_cond_rep.size, length, dtype=dtype) if local else None
    t = torch.tensor([0.0, 7.0, 93.0], dtype=dtype)
    with exact_embedding(dtype):
        for mode in (True, False):
            ours.train(mode)
            theirs.train(mode)
            with torch.no_grad():
                want = theirs(x, t, loc, film_cond=g)
                have = ours(x.transpose(1, 2), t, None if loc is None else loc.transpose(1, 2),
                            global_cond=g).transpose(1, 2)
            assert have.shape == want.shape
            assert rel(have, want) <= TOL[dtype], mode


def _residual_convs(m):
    """The blocks of symm_learning's model that learn their residual convolution."""
    return sorted(name[:-len(".residual_conv")] for name, mod in m.named_modules()
                  if name.endswith("residual_conv") and not isinstance(mod, torch.nn.Identity))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("group", ["C2", "C5", "Ico"])
def test_a_residual_convolution_between_equal_reps_converts(group, dtype):
    """symm_learning compares escnn reps by name, so a one-copy regular sample under its own name followed by
    down_dims[0] = |G| (a one-copy hidden rep named "regular") gets a learned 1x1 residual convolution between
    equal matrices; the converter sets eqnn's residual_conv "always" and gives the blocks where symm_learning adds
    x (the res1 between the two equal-width levels [|G|, 2|G|, 2|G|]; [|G|, |G|] on Ico) the identity: the same
    function, train and eval mode."""
    G = eg.ico_group() if group == "Ico" else eg.cyclic_group(int(group[1:]))
    n = G.order()
    dims = [n, n] if n == 60 else [n, 2 * n, 2 * n]
    with default_dtype(torch.float64):
        theirs = eConditionalUnet1D(reg(G, 1, f"same-{group}"), None, reg(G, 2, f"same-{group}-g"),
                                    diffusion_step_embed_dim=16, down_dims=dims)
        theirs = randomise(theirs).to(dtype)
    convs = _residual_convs(theirs)
    assert "down_modules.0.0" in convs  # between a one-copy sample and a one-copy hidden rep
    assert "down_modules.1.0" not in convs if n == 60 else "down_modules.2.0" not in convs  # x itself
    ours = interop.from_symm_learning(theirs)
    assert ours.options["residual_conv"] == "always"
    keys = ours.state_dict().keys()
    assert "down_modules.0.0.residual_conv.weight_coefficients" in keys
    assert "down_modules.0.1.residual_conv.weight_coefficients" not in keys
    _compare(ours, theirs, G, 13 if n < 60 else 6, dtype)
    # The converted model is equivariant under escnn's matrices and trains its new convolution like the others.
    ours.eval()
    A, B = matrices(reg(G, 1, "m"), dtype), matrices(reg(G, 2, "m2"), dtype)
    x = torch.randn(2, 13 if n < 60 else 6, n, dtype=dtype)
    g = torch.randn(2, 2 * n, dtype=dtype)
    t = torch.tensor([3.0, 50.0], dtype=dtype)
    with torch.no_grad():
        y = ours(x, t, global_cond=g)
        for a, b in zip(A, B):
            assert rel(ours(x @ a.T, t, global_cond=g @ b.T), y @ a.T) <= TOL[dtype] * 10


@pytest.mark.parametrize("dtype", DTYPES)
def test_local_conditioning_and_up_level_residual_convolutions_convert(dtype):
    """The other places symm_learning learns a residual convolution between equal matrices: the local
    conditioning encoder (a local rep named otherwise than the first hidden rep; one level, the only depth where
    symm_learning's layout takes a local conditioning) on C5, and an up level whose concatenation
    ((regular x 2) x 2) meets its target (regular x 4) (down_dims [8, 4]) on C2. Both convert to the same
    function."""
    G = eg.cyclic_group(5)
    with default_dtype(torch.float64):
        theirs = randomise(eConditionalUnet1D(reg(G, 1, "loc-x"), reg(G, 1, "loc-l"), reg(G, 2, "loc-g"),
                                              diffusion_step_embed_dim=16, down_dims=[5])).to(dtype)
    assert {"local_cond_encoder.0", "local_cond_encoder.1", "down_modules.0.0"} <= set(_residual_convs(theirs))
    ours = interop.from_symm_learning(theirs)
    assert ours.options["residual_conv"] == "always"
    _compare(ours, theirs, G, 9, dtype, local=True)

    G = eg.cyclic_group(2)
    with default_dtype(torch.float64):
        theirs = randomise(eConditionalUnet1D(G.regular_representation, None, reg(G, 2, "up-g"),
                                              diffusion_step_embed_dim=16, down_dims=[8, 4])).to(dtype)
    assert "up_modules.0.0" in _residual_convs(theirs)
    ours = interop.from_symm_learning(theirs)
    assert ours.options["residual_conv"] == "always"
    _compare(ours, theirs, G, 13, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("group", ["C2", "C5", "Ico"])
def test_residual_block_between_equal_reps_converts(group, dtype):
    """symm_learning's block on its own between two differently named one-copy regular reps learns a residual
    convolution: it converts to eqnn's block with residual_conv "always", the same function."""
    G = eg.ico_group() if group == "Ico" else eg.cyclic_group(int(group[1:]))
    with default_dtype(torch.float64):
        theirs = randomise(eConditionalResidualBlock1D(reg(G, 1, f"eq-{group}-a"), reg(G, 1, f"eq-{group}-b"),
                                                       reg(G, 2, f"eq-{group}-c"), kernel_size=3)).to(dtype)
    assert not isinstance(theirs.residual_conv, torch.nn.Identity)
    ours = interop.from_symm_learning(theirs)
    assert ours.options["residual_conv"] == "always"
    _assert_block_matches(ours, theirs, G, dtype)


def _assert_block_matches(ours, theirs, G, dtype):
    """A converted block (input regular, conditioning 2x regular) computes symm_learning's function in train and
    eval mode."""
    n = G.order()
    x, c = torch.randn(3, n, 7, dtype=dtype), torch.randn(3, 2 * n, dtype=dtype)
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        with torch.no_grad():
            assert rel(ours(x.transpose(1, 2), c).transpose(1, 2), theirs(x, c)) <= TOL[dtype], mode


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("group", ["C2", "C5", "Ico"])
def test_converted_residual_block_equals_symm_learning(group, dtype):
    """symm_learning's eConditionalResidualBlock1D on its own (regular → 2x regular, conditioned on 2x regular),
    converted: the same function in train and eval mode (it holds no running statistics)."""
    G = eg.ico_group() if group == "Ico" else eg.cyclic_group(int(group[1:]))
    with default_dtype(torch.float64):
        theirs = randomise(eConditionalResidualBlock1D(reg(G, 1, f"blk-{group}"), reg(G, 2, f"blk-{group}-o"),
                                                       reg(G, 2, f"blk-{group}-c"), kernel_size=5)).to(dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.models.EConditionalResidualBlock1D)
    _assert_block_matches(ours, theirs, G, dtype)
