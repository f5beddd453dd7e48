# The C++ extension eqnn._C (see eqnn/__init__.py for the documented API). Generated from the binding by
# pybind11-stubgen: do not edit; run scripts/check-stubs.sh --update after changing python/*.cpp.
"""
The C++ core of eqnn (use the eqnn package, not this module)
"""
from __future__ import annotations
import collections.abc
from eqnn import ConfigError
from eqnn import Error
from eqnn import GroupError
from eqnn import PluginError
from eqnn import UnknownNameError
import torch
import typing
__all__: list[str] = ['ConfigError', 'Error', 'Group', 'GroupError', 'Handle', 'HomSpace', 'Irrep', 'PluginError', 'Representation', 'UnknownNameError', 'equivariance_error', 'group', 'group_types', 'hom', 'layer_defaults', 'layer_types', 'linalg_equivariant_projection', 'linalg_invariant_projector', 'linalg_lstsq', 'load_model', 'make_affine', 'make_attention', 'make_layer', 'make_linear', 'plugins', 'rep', 'rep_from_decomposition', 'rep_from_matrices', 'ring_task', 'shipped_plugin_directory', 'stats_cov', 'stats_mean', 'stats_var', 'stats_var_mean', 'version']
class Irrep:
    """
    A real irreducible representation of a group (eqnn.Group.irreps).
    """
    def __repr__(self) -> str:
        ...
    @property
    def character(self) -> torch.Tensor:
        """
        (|G|,) float64.
        """
    @property
    def dim(self) -> int:
        """
        Its dimension.
        """
    @property
    def endomorphism_basis(self) -> torch.Tensor:
        """
        (S, dim, dim) float64: a Frobenius-orthogonal basis of End_G(psi), the first the identity.
        """
    @property
    def index(self) -> int:
        """
        Its position in Group.irreps (0: trivial).
        """
    @property
    def matrices(self) -> torch.Tensor:
        """
        (|G|, dim, dim) float64, orthogonal.
        """
    @property
    def name(self) -> str:
        """
        Its name, as irrep(k) or the plugin's.
        """
    @property
    def type(self) -> str:
        """
        'R', 'C' or 'H' (dim End_G = 1, 2, 4).
        """
class Group:
    """
    A finite group (eqnn.group(spec)): elements 0..order-1, 0 the identity.
    """
    def __copy__(self) -> Group:
        ...
    def __deepcopy__(self, memo: dict) -> Group:
        ...
    def __eq__(self, arg0: Group) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def conjugacy_classes(self) -> list[list[int]]:
        """
        The conjugacy classes, each a list of element indices; the first is [0].
        """
    def sample(self, n: typing.SupportsInt, seed: typing.SupportsInt = 0) -> torch.Tensor:
        """
        (n, d, d) float64: n Haar-random elements of a compact group, as defining matrices.
        """
    @property
    def actions(self) -> list[str]:
        """
        Names usable in permutation(NAME).
        """
    @property
    def band_limit(self) -> int:
        """
        The largest band of a compact group's irreps (0 for a finite group).
        """
    @property
    def cayley_table(self) -> torch.Tensor:
        """
        (|G|, |G|) int64: table[a, b] = index of a*b; element 0 is the identity.
        """
    @property
    def generators(self) -> torch.Tensor:
        """
        Element indices of the generators (int64).
        """
    @property
    def inverses(self) -> torch.Tensor:
        """
        (|G|,) int64: inverses[g] = index of g^-1.
        """
    @property
    def irreps(self) -> list[Irrep]:
        """
        The real irreps; irrep 0 is trivial.
        """
    @property
    def is_compact(self) -> bool:
        """
        True for SO2, O2, SO3, O3: elements are defining matrices, irreps up to band_limit.
        """
    @property
    def name(self) -> str:
        """
        Its name, e.g. 'D4'.
        """
    @property
    def order(self) -> int:
        """
        The number of elements, |G| (a compact group has none: GroupError).
        """
class Representation:
    """
    A representation of a group (eqnn.rep(G, text)): rho(g) = Q (+)_k psi_k(g) Q^T.
    """
    def __copy__(self) -> Representation:
        ...
    def __deepcopy__(self, memo: dict) -> Representation:
        ...
    def __eq__(self, arg0: Representation) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def character(self, g: typing.SupportsInt) -> float:
        """
        chi(g) = trace rho(g).
        """
    def matrices(self) -> torch.Tensor:
        """
        (|G|, size, size) float64.
        """
    @typing.overload
    def matrix(self, g: typing.SupportsInt) -> torch.Tensor:
        """
        rho(g) (size, size) float64.
        """
    @typing.overload
    def matrix(self, g: torch.Tensor) -> torch.Tensor:
        """
        rho(g) for an element of a compact group given by its defining matrix (SO3: a 3x3 rotation).
        """
    @property
    def change_of_basis(self) -> torch.Tensor:
        """
        Q (float64, orthogonal): rho(g) = Q (+)_k psi_k(g) Q^T.
        """
    @property
    def group(self) -> Group:
        """
        The group it represents.
        """
    @property
    def has_permutation_structure(self) -> bool:
        """
        True when rho(g) = B P(g) B^T for a permutation representation P (the orbit fast path applies).
        """
    @property
    def irreps(self) -> list[int]:
        """
        Irrep indices in the order of the change of basis' column blocks.
        """
    @property
    def is_permutation(self) -> bool:
        """
        True when every rho(g) is a permutation matrix.
        """
    @property
    def is_signed_permutation(self) -> bool:
        """
        True when every rho(g) is a signed permutation matrix (rho(g) e_i = +-e_j: robot joints under a mirror; a permutation rep included). Hom between two of them takes the orbit path with signs.
        """
    @property
    def isotypic_basis_rep(self) -> Representation:
        """
        The representation in its isotypic basis: Q_iso^T rho(g) Q_iso, block-diagonal (what eqnn.nn.EIsotypicBasis outputs).
        """
    @property
    def isotypic_change_of_basis(self) -> torch.Tensor:
        """
        Q_iso (float64, orthogonal): change_of_basis with its columns in the isotypic order; rho(g) = Q_iso (+) psi(g) Q_iso^T.
        """
    @property
    def isotypic_slices(self) -> list:
        """
        [(irrep index, slice), ...]: the isotypic components in the isotypic basis (x_iso = isotypic_change_of_basis^T x), trivial first, then by ascending size m*d, ties by irrep index.
        """
    @property
    def multiplicities(self) -> list[int]:
        """
        multiplicities[k]: how often irrep k occurs in it.
        """
    @property
    def name(self) -> str:
        """
        Its representation string, e.g. '4x regular'.
        """
    @property
    def size(self) -> int:
        """
        The dimension of the space it acts on.
        """
class HomSpace:
    """
    Hom_G(in_rep, out_rep): the linear maps W (out.size x in.size) with rho_out(g) W = W rho_in(g).
    """
    def __repr__(self) -> str:
        ...
    def analyse(self, W: torch.Tensor) -> torch.Tensor:
        """
        (..., out.size, in.size) -> (..., dim); expand(analyse(W)) = project(W).
        """
    def basis(self, dtype: torch.dtype = ...) -> torch.Tensor:
        """
        (dim, out.size, in.size): expand() of the unit coefficient vectors.
        """
    def expand(self, coefficients: torch.Tensor) -> torch.Tensor:
        """
        (..., dim) -> (..., out.size, in.size); differentiable.
        """
    def project(self, W: torch.Tensor) -> torch.Tensor:
        """
        Orthogonal (Frobenius) projection onto Hom_G.
        """
    @property
    def dim(self) -> int:
        """
        Its dimension: the number of free coefficients of an equivariant W.
        """
    @property
    def in_rep(self) -> Representation:
        """
        The representation W maps from.
        """
    @property
    def method(self) -> str:
        """
        'orbit' or 'isotypic'.
        """
    @property
    def out_rep(self) -> Representation:
        """
        The representation W maps to.
        """
class Handle:
    """
    A C++ module seen from Python (used by eqnn.nn; not part of the API).
    """
    def __repr__(self) -> str:
        ...
    def affine(self, x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
        ...
    def attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_padding_mask: torch.Tensor | None, need_weights: bool, attn_mask: torch.Tensor | None, average_attn_weights: bool) -> tuple:
        ...
    def basis_records(self) -> list[tuple[str, str, torch.Tensor]]:
        ...
    def constrained_parameters(self) -> list[str]:
        ...
    def effective_parameters(self) -> list[tuple[str, torch.Tensor]]:
        ...
    def encoder(self, src: torch.Tensor, src_mask: torch.Tensor | None, src_key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        ...
    def extra_inputs(self) -> list[tuple[str, str, Representation | None, bool, int]]:
        ...
    def fit_saved(self, saved: collections.abc.Sequence[tuple[str, str, torch.Tensor, torch.Tensor]], where: str) -> list[tuple[str, torch.Tensor, bool]]:
        ...
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ...
    def forward_with(self, x: torch.Tensor, extra: collections.abc.Sequence[torch.Tensor | None]) -> torch.Tensor:
        ...
    def model_group(self) -> Group:
        ...
    def model_reps(self) -> list[tuple[str, Representation]]:
        ...
    def model_source(self) -> str:
        ...
    def named_buffers(self) -> list[tuple[str, torch.Tensor]]:
        ...
    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        ...
    def options(self) -> dict | None:
        ...
    def parameter_owners(self) -> list[tuple[str, str]]:
        ...
    def positional_attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, q_positions: torch.Tensor | None, k_positions: torch.Tensor | None, q_position_mask: torch.Tensor | None, k_position_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None, need_weights: bool, attn_mask: torch.Tensor | None, average_attn_weights: bool) -> tuple:
        ...
    def positional_parameters(self) -> list[tuple[str, torch.Tensor]]:
        ...
    def set_buffer_data(self, name: str, tensor: torch.Tensor) -> None:
        ...
    def set_parameter(self, name: str, tensor: torch.Tensor) -> None:
        ...
    def train(self, mode: bool) -> None:
        ...
    def transformer(self, tensors: collections.abc.Sequence[torch.Tensor | None]) -> torch.Tensor:
        ...
    @property
    def in_rep(self) -> Representation | None:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def out_rep(self) -> Representation | None:
        ...
    @property
    def training(self) -> bool:
        ...
def equivariance_error(f: collections.abc.Callable, in_rep: Representation, out_rep: Representation, dtype: torch.dtype, shape: collections.abc.Sequence[typing.SupportsInt], seed: typing.SupportsInt) -> tuple:
    ...
def group(spec: typing.Any) -> Group:
    ...
def group_types() -> list[str]:
    ...
def hom(in_rep: Representation, out_rep: Representation) -> HomSpace:
    ...
def layer_defaults(type: str) -> dict:
    """
    The defaults of the layer's C++ Options (required options left out): the one source of every default.
    """
def layer_types() -> list[str]:
    ...
def linalg_equivariant_projection(W: torch.Tensor, rep_x: Representation, rep_y: Representation) -> torch.Tensor:
    """
    The orthogonal projection of W (..., D_y, D_x) onto Hom_G.
    """
def linalg_invariant_projector(rep: Representation) -> torch.Tensor:
    """
    The orthogonal projector onto the invariant vectors (D, D), float64.
    """
def linalg_lstsq(x: torch.Tensor, y: torch.Tensor, rep_x: Representation, rep_y: Representation) -> torch.Tensor:
    """
    The exact equivariance-constrained least-squares map (D_y, D_x).
    """
def load_model(path: str) -> Handle:
    ...
def make_affine(in_rep: Representation, bias: bool | None = None, learnable: bool | None = None, bias_constraint: str | None = None) -> Handle:
    ...
def make_attention(in_rep: Representation, num_heads: typing.SupportsInt, dropout: typing.SupportsFloat | None = None, bias: bool | None = None, add_bias_kv: bool | None = None, add_zero_attn: bool | None = None, batch_first: bool | None = None, init_scheme: str | None = None, weight_constraint: str | None = None, bias_constraint: str | None = None, execution: str | None = None) -> Handle:
    ...
def make_layer(arg0: str, arg1: Representation, arg2: str, arg3: collections.abc.Sequence[str], arg4: collections.abc.Sequence[Representation]) -> Handle:
    ...
def make_linear(in_rep: Representation, out_rep: Representation, bias: bool | None = None, init_scheme: str | None = None, weight_constraint: str | None = None, bias_constraint: str | None = None, execution: str | None = None) -> Handle:
    ...
def plugins() -> list[tuple[str, str, str]]:
    ...
def rep(group: Group, text: str) -> Representation:
    ...
def rep_from_decomposition(group: Group, irreps: collections.abc.Sequence[typing.SupportsInt], change_of_basis: torch.Tensor) -> Representation:
    ...
def rep_from_matrices(group: Group, matrices: collections.abc.Sequence[torch.Tensor]) -> Representation:
    """
    The representation with rho(generator i) = matrices[i] (float64 2-D tensors, in the order of Group.generators); ConfigError when they are not an orthogonal representation.
    """
def ring_task(n: typing.SupportsInt, seed: typing.SupportsInt, train_size: typing.SupportsInt, test_size: typing.SupportsInt, window: typing.SupportsInt) -> tuple:
    ...
def shipped_plugin_directory() -> str:
    ...
def stats_cov(x: torch.Tensor, y: torch.Tensor, rep_x: Representation, rep_y: Representation, uncentered: bool = False, unbiased: bool = True) -> torch.Tensor:
    """
    The G-equivariant cross-covariance (D_y, D_x).
    """
def stats_mean(x: torch.Tensor, rep_x: Representation) -> torch.Tensor:
    """
    The G-invariant sample mean (D,) of x (N, D) or (N, D, T).
    """
def stats_var(x: torch.Tensor, rep_x: Representation, center: torch.Tensor | None = None, unbiased: bool = True) -> torch.Tensor:
    """
    The variance (D,), constant on every irreducible copy of rep_x.
    """
def stats_var_mean(x: torch.Tensor, rep_x: Representation, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """
    (var, mean).
    """
def version() -> str:
    ...
