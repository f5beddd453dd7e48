"""Whole equivariant models, each one C++ layer built from eqnn's single layers (one call into C++ per forward):
symm_learning's eMLP, iMLP and eTimeCNNEncoder with its arguments, order and submodule names (``net.{i}``).

A model's activation is a pointwise function name (relu, gelu, silu, tanh, sigmoid, mish, softplus, elu,
leaky_relu) or torch's module of that name with its default parameters (``torch.nn.ReLU()``); the hidden
representations are copies of ``hidden_rep`` (default: the regular representation), which must be a
permutation representation so that the activation is equivariant.
"""

from typing import Any, Optional

import torch

from .nn import Layer, Representation, _document_defaults, _given

__all__ = [
    "ECondTransformer",
    "EMLP",
    "ETimeCNNEncoder",
    "IMLP",
]

# torch's activation modules the models accept, by the pointwise function name they compute (with their
# default parameters: a module with other parameters computes another function and is refused).
_ACTIVATION_MODULES = {
    torch.nn.ReLU: "relu",
    torch.nn.GELU: "gelu",
    torch.nn.SiLU: "silu",
    torch.nn.Tanh: "tanh",
    torch.nn.Sigmoid: "sigmoid",
    torch.nn.Mish: "mish",
    torch.nn.Softplus: "softplus",
    torch.nn.ELU: "elu",
    torch.nn.LeakyReLU: "leaky_relu",
}


def _activation_name(activation: Any, what: str) -> Optional[str]:
    """The function name of ``activation`` (a name, None, or torch's module of that name with default
    parameters); TypeError for anything else."""
    if activation is None or isinstance(activation, str):
        return activation
    name = _ACTIVATION_MODULES.get(type(activation))
    if name is not None and repr(activation) == repr(type(activation)()):
        return name
    known = ", ".join(sorted(set(_ACTIVATION_MODULES.values())))
    raise TypeError(f"{what}: activation must be a pointwise function name ({known}) or torch's module of that "
                    f"name with its default parameters (torch.nn.ReLU()), got {activation!r}")


def _units(hidden_units: Any, what: str) -> list[int]:
    if isinstance(hidden_units, (int, str)) or not hasattr(hidden_units, "__iter__"):
        raise TypeError(f"{what}: hidden_units must be a list of widths (e.g. [64, 64]), got {hidden_units!r}")
    units = list(hidden_units)
    for u in units:
        if isinstance(u, bool) or not isinstance(u, int):
            raise TypeError(f"{what}: hidden_units must be integers, got {u!r} in {units!r}")
    return units


@_document_defaults("eMLP")
class EMLP(Layer):
    """Equivariant MLP (symm_learning's eMLP): eLinear maps through hidden copies of ``hidden_rep`` with a
    pointwise activation (and Dropout) after each, ``net = [eLinear, act, (Dropout), ..., eLinear]``.

    Args:
        in_rep: the representation of the input features.
        out_rep: the representation of the output features (same group).
        hidden_units: the hidden widths, each rounded up to whole copies of hidden_rep:
            ``hidden_rep^max(1, ceil(u / hidden_rep.size))``.
        activation: a pointwise function name or torch's module of that name (default {activation!r}).
        dropout: Dropout probability after each activation, none at 0 (default {dropout}).
        bias: invariant biases in every eLinear (default {bias}).
        hidden_rep: the base of the hidden representations (default: the regular representation); must be a
            permutation representation in its own basis.
        init_scheme: for every eLinear (default {init_scheme!r}: torch.nn.Linear's own initialisation;
            symm_learning's default is xavier_normal).
        device, dtype: as torch.nn.Linear.

    An argument left at None takes the default of the C++ ``EMLPOptions``. forward: (..., in_rep.size) ->
    (..., out_rep.size).

    Example:
        >>> G = eqnn.group("C5")
        >>> mlp = eqnn.models.EMLP(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), [64, 64])
        >>> mlp(torch.randn(8, 5)).shape
        torch.Size([8, 10])
        >>> mlp.hidden_sizes                                   # 13 regular copies each
        [65, 65]
        >>> eqnn.check_equivariance(mlp, mlp.in_rep, mlp.out_rep) < 1e-10
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        hidden_units: list[int],
        activation: Optional[Any] = None,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        *,
        hidden_rep: Optional[Representation] = None,
        init_scheme: Optional[str] = None,
        device=None,
        dtype=None,
    ):
        activation = _activation_name(activation, "EMLP")
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, out_rep=out_rep,
                         hidden_units=_units(hidden_units, "EMLP"),
                         **_given(activation=activation, dropout=dropout, bias=bias, hidden_rep=hidden_rep,
                                  init_scheme=init_scheme))

        self.hidden_sizes = _hidden_sizes(in_rep, self.options["hidden_units"], hidden_rep)


def _hidden_sizes(in_rep: Representation, units: list[int], hidden_rep: Optional[Representation]) -> list[int]:
    """The sizes of the hidden representations: whole copies of hidden_rep (default regular) per width."""
    base = hidden_rep.size if hidden_rep is not None else in_rep.group.order
    return [max(1, -(-u // base)) * base for u in units]


@_document_defaults("iMLP")
class IMLP(Layer):
    """Invariant MLP (symm_learning's iMLP): the eMLP backbone, whose last eLinear maps to the last hidden
    width, then the activation, eNormPool (the norm of every irreducible copy: invariant) and an unconstrained
    torch Linear head to out_dim, ``net = [eLinear, act, (Dropout), ..., eLinear, act, eNormPool, Linear]``.

    Args:
        in_rep: the representation of the input features.
        out_dim: the number of invariant outputs (out_rep is out_dim x trivial).
        hidden_units: the hidden widths, each rounded up to whole copies of hidden_rep.
        activation: a pointwise function name or torch's module of that name (default {activation!r}).
        dropout: Dropout probability after each backbone activation (default {dropout}).
        bias: biases in every eLinear and the head (default {bias}).
        hidden_rep: the base of the hidden representations (default: the regular representation); must be a
            permutation representation in its own basis.
        init_scheme: for every eLinear (default {init_scheme!r}); the head keeps torch's default with stock
            and zeros, and draws its weight as symm_learning does with the xavier and kaiming schemes.
        device, dtype: as torch.nn.Linear.

    An argument left at None takes the default of the C++ ``IMLPOptions``. forward: (..., in_rep.size) ->
    (..., out_dim).

    Example:
        >>> G = eqnn.group("D4")
        >>> x = eqnn.rep(G, "2x regular")
        >>> mlp = eqnn.models.IMLP(x, 3, [32], activation=torch.nn.SiLU())
        >>> v = torch.randn(4, 16)
        >>> mlp(v).shape
        torch.Size([4, 3])
        >>> g = torch.as_tensor(x.matrix(3), dtype=v.dtype)   # any group element
        >>> torch.allclose(mlp(v @ g.T), mlp(v), atol=1e-5)
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        out_dim: int,
        hidden_units: list[int],
        activation: Optional[Any] = None,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        *,
        hidden_rep: Optional[Representation] = None,
        init_scheme: Optional[str] = None,
        device=None,
        dtype=None,
    ):
        activation = _activation_name(activation, "IMLP")
        if isinstance(out_dim, bool) or not isinstance(out_dim, int):
            raise TypeError(f"IMLP: out_dim must be an int, got {out_dim!r}")
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, out_dim=out_dim,
                         hidden_units=_units(hidden_units, "IMLP"),
                         **_given(activation=activation, dropout=dropout, bias=bias, hidden_rep=hidden_rep,
                                  init_scheme=init_scheme))
        self.out_dim = out_dim
        self.hidden_sizes = _hidden_sizes(in_rep, self.options["hidden_units"], hidden_rep)


@_document_defaults("eTimeCNNEncoder")
class ETimeCNNEncoder(Layer):
    """Equivariant time-series encoder (symm_learning's eTimeCNNEncoder): conv blocks that halve the horizon,
    then a flattened (time-major) feature vector into an eMLP head, or an iMLP head when out_rep is all
    trivial.

    Each block is an EConv1d(kernel 3, padding 1) with stride 2 (downsample "stride": H -> ceil(H/2)) or stride
    1 followed by MaxPool1d(2) after the activation ("pooling": H -> floor(H/2)), with an optional channel
    eRMSNorm (per-copy scales, eps 1e-6) before the activation.

    Args:
        in_rep: the representation of the input channels.
        out_rep: the representation of the output.
        hidden_channels: the channels of each block, rounded up to whole copies of hidden_rep.
        time_horizon: the input length H.
        activation: a pointwise function name or torch's module of that name (default {activation!r}).
        batch_norm: the channel eRMSNorm in every block (default {batch_norm}).
        bias: in the convolutions and the head (default {bias}).
        mlp_hidden: the head's hidden widths (default {mlp_hidden}).
        downsample: "stride" or "pooling" (default {downsample!r}).
        append_last_frame: append the input's last frame to the head's input (default {append_last_frame}).
        init_scheme: for the convolutions and the head's eLinear maps (default {init_scheme!r}; symm_learning's
            is xavier_uniform).
        hidden_rep: the base of the hidden representations (default: the regular representation).
        device, dtype: as torch.nn.Conv1d.

    forward: (N, in_rep.size, time_horizon) -> (N, out_rep.size), as symm_learning (in a model file the layer
    takes (N, time_horizon, in_rep.size), features last).

    Example:
        >>> G = eqnn.group("C5")
        >>> enc = eqnn.models.ETimeCNNEncoder(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), [20], 16,
        ...                                   mlp_hidden=[32])
        >>> enc(torch.randn(4, 5, 16)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        hidden_channels: list[int],
        time_horizon: int,
        activation: Optional[Any] = None,
        batch_norm: Optional[bool] = None,
        bias: Optional[bool] = None,
        mlp_hidden: Optional[list[int]] = None,
        downsample: Optional[str] = None,
        append_last_frame: Optional[bool] = None,
        init_scheme: Optional[str] = None,
        *,
        hidden_rep: Optional[Representation] = None,
        device=None,
        dtype=None,
    ):
        activation = _activation_name(activation, "ETimeCNNEncoder")
        if isinstance(time_horizon, bool) or not isinstance(time_horizon, int):
            raise TypeError(f"ETimeCNNEncoder: time_horizon must be an int, got {time_horizon!r}")
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, out_rep=out_rep, time_horizon=time_horizon,
            hidden_channels=_units(hidden_channels, "ETimeCNNEncoder"),
            **_given(activation=activation, batch_norm=batch_norm, bias=bias,
                     mlp_hidden=None if mlp_hidden is None else _units(mlp_hidden, "ETimeCNNEncoder"),
                     downsample=downsample, append_last_frame=append_last_frame, init_scheme=init_scheme,
                     hidden_rep=hidden_rep))
        self.time_horizon = time_horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_rep.size, time_horizon) -> (N, out_rep.size)."""
        if x.dim() != 3:
            raise RuntimeError("ETimeCNNEncoder: expected input of shape (N, C, time_horizon) = "
                               f"(N, {self.in_rep.size}, {self.time_horizon}), got {tuple(x.shape)}")
        return self._eqnn_ready().forward(x.transpose(1, 2))


# --- eConditionalUnet1D (issue 20 §2) ---------------------------------------------------------------------

__all__ += ["EConditionalResidualBlock1D", "EConditionalUnet1D"]


@_document_defaults("eConditionalResidualBlock1D")
class EConditionalResidualBlock1D(Layer):
    """The U-Net's conditional residual block (symm_learning's eConditionalResidualBlock1D), features last:
    f(x, cond) with x (N, L, in_rep.size) and cond (N, cond_rep.size) -> (N, L, out_rep.size).

    o = σ(n₁(conv₁ x)); FiLM o by the scales and biases Mish(Linear(eNormPool(cond))) predicts (one scale per
    irreducible copy of out_rep, one bias per trivial copy); o = σ(n₂(conv₂ o)); y = o + (a 1x1 eConv1d of x
    where in_rep and out_rep differ or residual_conv is "always", else x). Equivariant: f(g x, g c) = g f(x, c).

    Args:
        in_rep, out_rep: the representations of x's and the output's features.
        cond_rep: the representation of the conditioning vector.
        kernel_size: of the two convolutions, odd (default {kernel_size}).
        cond_predict_scale: must be True, symm_learning's only mode (default {cond_predict_scale}).
        activation: a pointwise function name or torch's module of that name (default {activation!r}).
        normalize: the per-copy eRMSNorm after each convolution (default {normalize}).
        init_scheme: for the convolutions (default {init_scheme!r}; symm_learning's is xavier_uniform).
        residual_conv: "auto" (a learned 1x1 residual eConv1d where in_rep and out_rep differ, x itself where
            they are equal) or "always" (the learned convolution between equal reps too, as symm_learning
            builds it between reps with different names) (default {residual_conv!r}).
        device, dtype: as torch.nn.Conv1d.

    forward(x, cond): x (N, L, in_rep.size) features last (symm_learning takes (N, C, L)), cond
    (N, cond_rep.size).

    Example:
        >>> G = eqnn.group("C4")
        >>> block = eqnn.models.EConditionalResidualBlock1D(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"),
        ...                                                 eqnn.rep(G, "regular"))
        >>> block(torch.randn(3, 5, 4), torch.randn(3, 4)).shape
        torch.Size([3, 5, 8])
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        cond_rep: Representation,
        kernel_size: Optional[int] = None,
        cond_predict_scale: Optional[bool] = None,
        activation: Optional[Any] = None,
        normalize: Optional[bool] = None,
        init_scheme: Optional[str] = None,
        *,
        residual_conv: Optional[str] = None,
        device=None,
        dtype=None,
    ):
        what = "EConditionalResidualBlock1D"
        activation = _activation_name(activation, what)
        for name, value in (("out_rep", out_rep), ("cond_rep", cond_rep)):
            if not isinstance(value, Representation):
                raise TypeError(f"{what}: {name} must be an eqnn.Representation, got {value!r}")
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, out_rep=out_rep, cond_rep=cond_rep,
            **_given(kernel_size=kernel_size, cond_predict_scale=cond_predict_scale, activation=activation,
                     normalize=normalize, init_scheme=init_scheme, residual_conv=residual_conv))
        self.cond_rep = cond_rep

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(N, L, in_rep.size), (N, cond_rep.size) -> (N, L, out_rep.size)."""
        return self._eqnn_ready().forward_with(x, [cond])


@_document_defaults("eConditionalUnet1D")
class EConditionalUnet1D(Layer):
    """Equivariant conditional 1D U-Net (symm_learning's eConditionalUnet1D; diffusion_policy's
    ConditionalUnet1D made equivariant): the denoiser of a diffusion policy, f(x, t, local_cond, global_cond).

    Every level holds two conditional residual blocks (EConv1d -> eRMSNorm -> activation -> FiLM -> EConv1d ->
    eRMSNorm -> activation, plus a residual), FiLM-conditioned on [global_cond, step embedding] through the
    norms of its irreducible copies; the down path halves the length at each level, the up path doubles it
    back and concatenates the skips. Equivariant: f(g x, g l, g c, t) = g f(x, l, c, t); the step t is
    invariant.

    Args:
        in_rep: the representation of the sample's features (and of the output).
        local_cond_rep: the representation of a conditioning sequence as long as the sample (None: no such input).
        global_cond_rep: the representation of a conditioning vector (None: no such input).
        diffusion_step_embed_dim: the width E of the step embedding, even (default {diffusion_step_embed_dim}).
        down_dims: the widths of the levels, rounded up to whole copies of hidden_rep (default {down_dims}).
        kernel_size: of the blocks' convolutions, odd (default {kernel_size}).
        cond_predict_scale: must be True, symm_learning's only mode (default {cond_predict_scale}).
        activation: a pointwise function name or torch's module of that name (default {activation!r}).
        normalize: the per-copy eRMSNorm in the blocks (default {normalize}).
        downsample: "stride" (stride-2 convolutions, transposed ones up) or "pooling" (MaxPool1d(2), nearest
            upsampling) (default {downsample!r}).
        init_scheme: for every convolution (default {init_scheme!r}; symm_learning's is xavier_uniform).
        hidden_rep: the base of the hidden representations (default: the regular representation).
        layout: "diffusion_policy" (the output keeps the input's length, which must be a multiple of
            2^(levels-1)) or "symm_learning_0.8.1" (symm_learning 0.8.1's up path, for converted models)
            (default {layout!r}).
        residual_conv: "auto" or "always", passed to the blocks that change representation (local_cond_encoder's
            and every level's res1): "always" keeps their learned 1x1 residual eConv1d where their input and
            output reps are equal (down_dims[0] giving in_rep's size, say), as symm_learning does; res2 and the
            mid blocks map a rep to itself and add x (default {residual_conv!r}).
        device, dtype: as torch.nn.Conv1d.

    forward(sample, timestep, local_cond=None, global_cond=None): sample (N, L, in_rep.size) features last
    (diffusion_policy's layout; symm_learning takes (N, C, L)), timestep a number, a scalar tensor or (N),
    local_cond (N, L, local_cond_rep.size), global_cond (N, global_cond_rep.size); each conditioning input is
    required where the model has its representation and refused where it has none. Returns
    (N, L, in_rep.size).

    Example:
        >>> G = eqnn.group("C2")
        >>> unet = eqnn.models.EConditionalUnet1D(eqnn.rep(G, "regular"), None, eqnn.rep(G, "2x regular"),
        ...                                       diffusion_step_embed_dim=8, down_dims=[4, 8])
        >>> unet(torch.randn(3, 8, 2), 10, global_cond=torch.randn(3, 4)).shape
        torch.Size([3, 8, 2])
    """

    def __init__(
        self,
        in_rep: Representation,
        local_cond_rep: Optional[Representation] = None,
        global_cond_rep: Optional[Representation] = None,
        diffusion_step_embed_dim: Optional[int] = None,
        down_dims: Optional[list[int]] = None,
        kernel_size: Optional[int] = None,
        cond_predict_scale: Optional[bool] = None,
        activation: Optional[Any] = None,
        normalize: Optional[bool] = None,
        downsample: Optional[str] = None,
        init_scheme: Optional[str] = None,
        *,
        hidden_rep: Optional[Representation] = None,
        layout: Optional[str] = None,
        residual_conv: Optional[str] = None,
        device=None,
        dtype=None,
    ):
        what = "EConditionalUnet1D"
        activation = _activation_name(activation, what)
        for name, value in (("local_cond_rep", local_cond_rep), ("global_cond_rep", global_cond_rep)):
            if value is not None and not isinstance(value, Representation):
                raise TypeError(f"{what}: {name} must be an eqnn.Representation or None, got {value!r}")
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype,
            **_given(local_cond_rep=local_cond_rep, global_cond_rep=global_cond_rep,
                     diffusion_step_embed_dim=diffusion_step_embed_dim,
                     down_dims=None if down_dims is None else _units(down_dims, what), kernel_size=kernel_size,
                     cond_predict_scale=cond_predict_scale, activation=activation, normalize=normalize,
                     downsample=downsample, init_scheme=init_scheme, hidden_rep=hidden_rep, layout=layout,
                     residual_conv=residual_conv))
        self.local_cond_rep = local_cond_rep
        self.global_cond_rep = global_cond_rep

    @property
    def extra_inputs(self) -> list:
        """What forward takes after the sample, in order: ``(name, kind, rep, required, length)`` tuples
        (``timestep``, then ``local_cond`` and ``global_cond`` where the model has their reps), as a model
        file's :attr:`eqnn.nn.Model.extra_inputs`."""
        return list(self._eqnn_handle.extra_inputs())

    def forward(self, sample: torch.Tensor, timestep: Any, local_cond: Optional[torch.Tensor] = None,
                global_cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N, L, in_rep.size), the step, the conditioning -> (N, L, in_rep.size)."""
        if not torch.is_tensor(timestep):
            timestep = torch.tensor(timestep, device=sample.device)
        extra = [timestep]
        for name, rep_, value in (("local_cond", self.local_cond_rep, local_cond),
                                  ("global_cond", self.global_cond_rep, global_cond)):
            if rep_ is not None:
                extra.append(value)
            elif value is not None:
                raise ValueError(f"EConditionalUnet1D: got {name}, but the model has no {name}_rep")
        return self._eqnn_ready().forward_with(sample, extra)


# ---- eCondTransformer (issue 20 §2) ----


@_document_defaults("eCondTransformer")
class ECondTransformer(Layer):
    """Equivariant conditional encoder/decoder transformer (symm_learning's eCondTransformer): the backbone of a
    diffusion or flow-matching policy, V = f(X, k, Z), with f(g·X, k, g·Z) = g·f(X, k, Z) for every group element.

    X (N, Tx, in_rep.size) is the noisy sample (Tx <= in_horizon tokens), k the step (a number, a scalar tensor
    or (N)), Z (N, Tz, cond_rep.size) the conditioning, oldest first (1 <= Tz <= cond_horizon). Every token lives
    in E = (embedding_dim / |G|) copies of hidden_rep (the regular representation by default). The memory is
    [P_inv SinEmb(k); cond_emb(Z)] (the step's sinusoidal embedding projected onto E's invariant vectors), refined
    by ``num_cond_layers`` encoder layers (or eLinear-Mish-eLinear with 0); the decoder (``num_layers`` layers)
    attends from input_emb(X) to it; then layer_norm and head. The layers use dim_feedforward 4·embedding_dim,
    GELU, dropout p_drop_attn and per-copy norm scales.

    Args:
        in_rep: the representation of X's features.
        cond_rep: the representation of Z's features.
        out_rep: the representation of the output (None: in_rep).
        in_horizon: the longest X.
        cond_horizon: the longest Z (the step token comes on top).
        num_layers: decoder layers.
        num_attention_heads: must divide embedding_dim / |G|.
        embedding_dim: a multiple of the group order.
        p_drop_emb: dropout on the embeddings (default {p_drop_emb}).
        p_drop_attn: dropout in the transformer layers (default {p_drop_attn}).
        causal_attn: target t attends to targets s <= t and to the step and observations 1..t + 1 of the memory
            (default {causal_attn}); the masks are built for each call's lengths.
        num_cond_layers: encoder layers over the memory (default {num_cond_layers}).
        pos_encoding: "additive_absolute", "additive_relative", "none" (symm_learning's), or "rope" (eqnn's
            equivariant rotary attention, beyond symm_learning's model) (default {pos_encoding!r}).
        norm_first: pre-norm transformer layers (default {norm_first}).
        norm_module: "rmsnorm" or "layernorm" (default {norm_module!r}).
        init_scheme: for every eLinear and attention (default {init_scheme!r}; symm_learning's is xavier_uniform).
        hidden_rep: the base of the embedding (default: eqnn's regular representation; any rep with the regular
            representation's irreps, e.g. escnn's through ``eqnn.interop.rep_from_escnn``).
        rope_base: the RoPE base with pos_encoding "rope" (default {rope_base}).
        device, dtype: as torch.nn.Linear.

    Differences from symm_learning 0.8.1: the causal masks follow the inputs' lengths (symm_learning's are sized
    for the horizons, so shorter inputs fail); the masks are always applied (symm_learning's causal hint drops the
    decoder's self-attention mask, and with it the relative position bias); the step is embedded in the model's
    dtype (symm_learning rounds it to float32, and its float64 model fails); ``get_optim_groups`` works
    (symm_learning's raises on its own parameters).

    Example:
        >>> G = eqnn.group("C4")
        >>> x, z = eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular")
        >>> model = eqnn.models.ECondTransformer(x, z, None, in_horizon=6, cond_horizon=3, num_layers=2,
        ...                                      num_attention_heads=1, embedding_dim=8)
        >>> X, Z = torch.randn(5, 6, 4), torch.randn(5, 2, 8)
        >>> model(X, 10.0, Z).shape
        torch.Size([5, 6, 4])
        >>> model = model.eval()
        >>> g_x = torch.as_tensor(x.matrix(1), dtype=X.dtype)
        >>> g_z = torch.as_tensor(z.matrix(1), dtype=Z.dtype)
        >>> torch.allclose(model(X @ g_x.T, 10.0, Z @ g_z.T), model(X, 10.0, Z) @ g_x.T, atol=1e-5)
        True
        >>> opt = model.configure_optimizers(learning_rate=1e-4)
        >>> type(opt).__name__, [g["weight_decay"] for g in opt.param_groups]
        ('AdamW', [0.001, 0.0])
    """

    def __init__(
        self,
        in_rep: Representation,
        cond_rep: Representation,
        out_rep: Optional[Representation],
        in_horizon: int,
        cond_horizon: int,
        num_layers: int,
        num_attention_heads: int,
        embedding_dim: int,
        p_drop_emb: Optional[float] = None,
        p_drop_attn: Optional[float] = None,
        causal_attn: Optional[bool] = None,
        num_cond_layers: Optional[int] = None,
        pos_encoding: Optional[str] = None,
        norm_first: Optional[bool] = None,
        norm_module: Optional[str] = None,
        init_scheme: Optional[str] = None,
        *,
        hidden_rep: Optional[Representation] = None,
        rope_base: Optional[float] = None,
        device=None,
        dtype=None,
    ):
        if not isinstance(cond_rep, Representation):
            raise TypeError(f"ECondTransformer: cond_rep must be an eqnn.Representation, got {cond_rep!r}")
        for name, value in (("in_horizon", in_horizon), ("cond_horizon", cond_horizon), ("num_layers", num_layers),
                            ("num_attention_heads", num_attention_heads), ("embedding_dim", embedding_dim),
                            ("num_cond_layers", num_cond_layers)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"ECondTransformer: {name} must be an int, got {value!r}")
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, cond_rep=cond_rep, in_horizon=in_horizon,
            cond_horizon=cond_horizon, num_layers=num_layers, num_attention_heads=num_attention_heads,
            embedding_dim=embedding_dim,
            **_given(out_rep=out_rep, p_drop_emb=p_drop_emb, p_drop_attn=p_drop_attn, causal_attn=causal_attn,
                     num_cond_layers=num_cond_layers, pos_encoding=pos_encoding, norm_first=norm_first,
                     norm_module=norm_module, init_scheme=init_scheme, hidden_rep=hidden_rep, rope_base=rope_base))
        self.cond_rep = cond_rep
        self.in_horizon = in_horizon
        self.cond_horizon = cond_horizon
        self.embedding_dim = embedding_dim

    def forward(self, X: torch.Tensor, opt_step: Any, Z: torch.Tensor) -> torch.Tensor:
        """(N, Tx, in_rep.size), a step (number, scalar or (N)) and (N, Tz, cond_rep.size) -> (N, Tx, out_rep.size)."""
        if not isinstance(opt_step, torch.Tensor):
            if isinstance(opt_step, bool) or not isinstance(opt_step, (int, float)):
                raise TypeError(f"ECondTransformer: opt_step must be a number or a tensor, got {opt_step!r}")
            opt_step = torch.tensor(float(opt_step), dtype=X.dtype, device=X.device)
        return self._eqnn_ready().forward_with(X, [opt_step, Z])

    def get_optim_groups(self, weight_decay: float = 1e-3) -> list:
        """AdamW's two parameter groups: the weights of the linear maps and attention projections with
        ``weight_decay``, everything else (biases, norm scales, position tables) without
        (``eqnn.optim.parameter_groups``)."""
        from .optim import parameter_groups

        return parameter_groups(self, weight_decay=weight_decay)

    def configure_optimizers(self, learning_rate: float = 1e-4, weight_decay: float = 1e-3,
                             betas: tuple = (0.9, 0.95)) -> torch.optim.AdamW:
        """torch.optim.AdamW over ``get_optim_groups(weight_decay)``, as symm_learning's (which raises)."""
        return torch.optim.AdamW(self.get_optim_groups(weight_decay), lr=learning_rate, betas=betas)
