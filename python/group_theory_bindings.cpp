// The group theory of eqnn as Python sees it: eqnn.Group, Irrep, Representation and HomSpace, read-only
// objects whose numbers come back as torch tensors; eqnn.group(spec), rep(G, text),
// rep_from_decomposition(G, irreps, Q) and hom(in, out) that make them; and equivariance_error, the check
// behind eqnn.check_equivariance.
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "bindings.hpp"
#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/generator_matrices.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/isotypic.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "group_theory_objects.hpp"
#include "plugin_registry.hpp"

namespace eqnn::python {
namespace {

at::Tensor stack(const std::vector<Matrix>& ms, int64_t rows, int64_t cols) {
  if (ms.empty()) return at::zeros({0, rows, cols}, at::kDouble);
  std::vector<at::Tensor> ts;
  ts.reserve(ms.size());
  for (const auto& m : ms) ts.push_back(to_tensor(m));
  return at::stack(ts);
}

// A square float64 matrix from a tensor (a compact group's element), refused unless 2-D and finite.
Matrix to_matrix(const at::Tensor& t) {
  if (t.dim() != 2) throw py::value_error("an element of a compact group is its defining matrix (2-D)");
  const at::Tensor d = t.detach().to(at::kCPU, at::kDouble).contiguous();
  Matrix m(d.size(0), d.size(1));
  auto a = d.accessor<double, 2>();
  for (int64_t i = 0; i < d.size(0); ++i)
    for (int64_t j = 0; j < d.size(1); ++j) m(i, j) = a[i][j];
  if (!m.allFinite()) throw py::value_error("the element's matrix has NaN or Inf");
  return m;
}

std::string type_string(IrrepType t) { return std::string(1, type_letter(t)); }

void check_element(const Group& g, int element) {
  if (element < 0 || element >= g.order())
    throw py::index_error("group element " + std::to_string(element) + " is out of range: " + g.name() +
                          " has elements 0.." + std::to_string(g.order() - 1));
}

GroupPtr make_group(const py::object& spec) {
  if (py::isinstance<py::str>(spec)) {
    try {
      return registry().make_group(spec.cast<std::string>());
    } catch (const ConfigError& e) {
      // The registry reports an unknown group name or type as a ConfigError (in a model file it carries the
      // file:line:col); asked by name from Python it is an unknown name, so a KeyError as Python expects.
      if (e.line() == 0 && e.message().rfind("unknown group", 0) == 0) throw LookupError(e.message());
      throw;
    }
  }
  throw py::type_error("eqnn.group: expected a str spec (\"C8\", \"{type: DihedralGroup, n: 6}\"), got " +
                       std::string(py::str(spec.get_type())));
}

// eqnn.rep(G, matrices=[...]): float64 2-D tensors, one per generator (Python converted them); any problem
// is a ConfigError that names the matrix (generator) and, for a relation, the residual.
RepPtr rep_from_matrices(const GroupPtr& g, const std::vector<at::Tensor>& tensors) {
  std::vector<Matrix> ms;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    if (t.dim() != 2)
      throw ConfigError("eqnn.rep(matrices=...): matrix " + std::to_string(i) + " (generator g" +
                        std::to_string(i) + ") must be 2-D, got " + std::to_string(t.dim()) + " dimensions");
    const at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
    Matrix m(c.size(0), c.size(1));
    auto a = c.accessor<double, 2>();
    for (int64_t r = 0; r < c.size(0); ++r)
      for (int64_t k = 0; k < c.size(1); ++k) m(r, k) = a[r][k];
    ms.push_back(std::move(m));
  }
  if (auto problem = check_generator_matrices(*g, ms))
    throw ConfigError("eqnn.rep(matrices=...): " + problem->message);
  return Representation::from_generator_matrices(g, ms);
}

}  // namespace

void bind_group_theory(py::module_& m) {
  py::class_<PyIrrep>(m, "Irrep", "A real irreducible representation of a group (eqnn.Group.irreps).")
      .def_property_readonly(
          "index", [](const PyIrrep& i) { return i.index; }, "Its position in Group.irreps (0: trivial).")
      .def_property_readonly(
          "name", [](const PyIrrep& i) { return i.get().name; }, "Its name, as irrep(k) or the plugin's.")
      .def_property_readonly(
          "dim", [](const PyIrrep& i) { return i.get().dim; }, "Its dimension.")
      .def_property_readonly(
          "type", [](const PyIrrep& i) { return type_string(i.get().type); },
          "'R', 'C' or 'H' (dim End_G = 1, 2, 4).")
      .def_property_readonly(
          "character",
          [](const PyIrrep& i) {
            const auto& c = i.get().character;
            return at::tensor(at::ArrayRef<double>(c), at::kDouble);
          },
          "(|G|,) float64.")
      .def_property_readonly(
          "matrices", [](const PyIrrep& i) { return stack(i.get().matrices, i.get().dim, i.get().dim); },
          "(|G|, dim, dim) float64, orthogonal.")
      .def_property_readonly(
          "endomorphism_basis",
          [](const PyIrrep& i) { return stack(i.get().endomorphism_basis, i.get().dim, i.get().dim); },
          "(S, dim, dim) float64: a Frobenius-orthogonal basis of End_G(psi), the first the identity.")
      .def("__repr__", [](const PyIrrep& i) {
        return "Irrep(" + i.get().name + ", dim=" + std::to_string(i.get().dim) +
               ", type=" + type_string(i.get().type) + ")";
      });

  py::class_<PyGroup>(m, "Group", "A finite group (eqnn.group(spec)): elements 0..order-1, 0 the identity.")
      .def_property_readonly(
          "name", [](const PyGroup& g) { return g.g->name(); }, "Its name, e.g. 'D4'.")
      .def_property_readonly(
          "order", [](const PyGroup& g) { return g.g->order(); },
          "The number of elements, |G| (a compact group has none: GroupError).")
      .def_property_readonly(
          "is_compact", [](const PyGroup& g) { return g.g->is_compact(); },
          "True for SO2, O2, SO3, O3: elements are defining matrices, irreps up to band_limit.")
      .def_property_readonly(
          "band_limit", [](const PyGroup& g) { return g.g->band_limit(); },
          "The largest band of a compact group's irreps (0 for a finite group).")
      .def(
          "sample",
          [](const PyGroup& g, int n, uint64_t seed) {
            const CompactGroupDefinition* def = g.g->compact();
            if (!def)
              throw py::value_error(g.g->name() + " is finite: its elements are 0.." +
                                    std::to_string(g.g->order() - 1));
            std::mt19937_64 rng(seed);
            std::vector<Matrix> ms;
            for (int i = 0; i < n; ++i) ms.push_back(def->sample(rng));
            return stack(ms, def->defining_dim(), def->defining_dim());
          },
          py::arg("n"), py::arg("seed") = 0,
          "(n, d, d) float64: n Haar-random elements of a compact group, as defining matrices.")
      .def_property_readonly(
          "cayley_table",
          [](const PyGroup& g) {
            const int n = g.g->order();
            at::Tensor t = at::empty({n, n}, at::kLong);
            auto a = t.accessor<int64_t, 2>();
            for (int i = 0; i < n; ++i)
              for (int j = 0; j < n; ++j) a[i][j] = g.g->mul(i, j);
            return t;
          },
          "(|G|, |G|) int64: table[a, b] = index of a*b; element 0 is the identity.")
      .def_property_readonly(
          "inverses",
          [](const PyGroup& g) {
            std::vector<int64_t> v;
            for (int i = 0; i < g.g->order(); ++i) v.push_back(g.g->inv(i));
            return at::tensor(v, at::kLong);
          },
          "(|G|,) int64: inverses[g] = index of g^-1.")
      .def_property_readonly(
          "generators",
          [](const PyGroup& g) {
            std::vector<int64_t> v(g.g->generators().begin(), g.g->generators().end());
            return at::tensor(v, at::kLong);
          },
          "Element indices of the generators (int64).")
      .def_property_readonly(
          "irreps",
          [](const PyGroup& g) {
            std::vector<PyIrrep> out;
            {
              py::gil_scoped_release no_gil;
              g.g->irreps();
            }
            for (size_t k = 0; k < g.g->irreps().size(); ++k) out.push_back({g.g, static_cast<int>(k)});
            return out;
          },
          "The real irreps; irrep 0 is trivial.")
      .def_property_readonly(
          "actions",
          [](const PyGroup& g) {
            std::vector<std::string> v;
            for (const auto& a : g.g->actions()) v.push_back(a.name);
            return v;
          },
          "Names usable in permutation(NAME).")
      .def(
          "conjugacy_classes", [](const PyGroup& g) { return g.g->conjugacy_classes(); },
          "The conjugacy classes, each a list of element indices; the first is [0].")
      // Content, never the hash alone: two groups whose 64-bit hashes collide are still told apart.
      .def(
          "__eq__", [](const PyGroup& a, const PyGroup& b) { return a.g->same_content(*b.g); },
          py::is_operator())
      .def("__hash__", [](const PyGroup& g) { return static_cast<py::ssize_t>(g.g->content_hash() >> 1); })
      // Immutable: a copy (copy.copy, copy.deepcopy of a module holding it) shares the same C++ group.
      .def("__copy__", [](const PyGroup& g) { return g; })
      .def(
          "__deepcopy__", [](const PyGroup& g, const py::dict&) { return g; }, py::arg("memo"))
      .def("__repr__", [](const PyGroup& g) {
        if (g.g->is_compact())
          return "Group(" + g.g->name() + ", compact, band_limit=" + std::to_string(g.g->band_limit()) + ")";
        return "Group(" + g.g->name() + ", order=" + std::to_string(g.g->order()) + ")";
      });

  py::class_<PyRep>(m, "Representation",
                    "A representation of a group (eqnn.rep(G, text)): rho(g) = Q (+)_k psi_k(g) Q^T.")
      .def_property_readonly(
          "group", [](const PyRep& r) { return PyGroup{r.r->group_ptr()}; }, "The group it represents.")
      .def_property_readonly(
          "size", [](const PyRep& r) { return r.r->size(); }, "The dimension of the space it acts on.")
      .def_property_readonly(
          "name", [](const PyRep& r) { return r.r->describe(); },
          "Its representation string, e.g. '4x regular'.")
      .def_property_readonly(
          "is_permutation", [](const PyRep& r) { return r.r->is_permutation(); },
          "True when every rho(g) is a permutation matrix.")
      .def_property_readonly(
          "has_permutation_structure", [](const PyRep& r) { return r.r->has_permutation_structure(); },
          "True when rho(g) = B P(g) B^T for a permutation representation P (the orbit fast path applies).")
      .def_property_readonly(
          "is_signed_permutation", [](const PyRep& r) { return r.r->has_signed_permutation_structure(); },
          "True when every rho(g) is a signed permutation matrix (rho(g) e_i = +-e_j: robot joints under a "
          "mirror; a permutation rep included). Hom between two of them takes the orbit path with signs.")
      .def_property_readonly(
          "irreps", [](const PyRep& r) { return r.r->irreps(); },
          "Irrep indices in the order of the change of basis' column blocks.")
      .def_property_readonly(
          "multiplicities", [](const PyRep& r) { return r.r->multiplicities(); },
          "multiplicities[k]: how often irrep k occurs in it.")
      .def_property_readonly(
          "change_of_basis", [](const PyRep& r) { return to_tensor(r.r->Q()); },
          "Q (float64, orthogonal): rho(g) = Q (+)_k psi_k(g) Q^T.")
      .def_property_readonly(
          "isotypic_slices",
          [](const PyRep& r) {
            py::list out;
            IsotypicBasis b;
            {
              py::gil_scoped_release no_gil;
              b = isotypic_basis(r.r);
            }
            for (const auto& s : b.slices)
              out.append(
                  py::make_tuple(s.irrep, py::slice(std::optional<py::ssize_t>(s.start),
                                                    std::optional<py::ssize_t>(s.stop), std::nullopt)));
            return out;
          },
          "[(irrep index, slice), ...]: the isotypic components in the isotypic basis (x_iso = "
          "isotypic_change_of_basis^T x), trivial first, then by ascending size m*d, ties by irrep index.")
      .def_property_readonly(
          "isotypic_change_of_basis",
          [](const PyRep& r) {
            py::gil_scoped_release no_gil;
            return to_tensor(isotypic_basis(r.r).Q_iso);
          },
          "Q_iso (float64, orthogonal): change_of_basis with its columns in the isotypic order; rho(g) = "
          "Q_iso (+) psi(g) Q_iso^T.")
      .def_property_readonly(
          "isotypic_basis_rep",
          [](const PyRep& r) {
            py::gil_scoped_release no_gil;
            return PyRep{isotypic_basis(r.r).spectral_rep};
          },
          "The representation in its isotypic basis: Q_iso^T rho(g) Q_iso, block-diagonal (what "
          "eqnn.nn.EIsotypicBasis outputs).")
      .def(
          "matrix",
          [](const PyRep& r, int g) {
            check_element(r.r->group(), g);
            return to_tensor(r.r->matrix(g));
          },
          py::arg("g"), "rho(g) (size, size) float64.")
      .def(
          "matrix", [](const PyRep& r, const at::Tensor& g) { return to_tensor(r.r->matrix(to_matrix(g))); },
          py::arg("g"),
          "rho(g) for an element of a compact group given by its defining matrix (SO3: a 3x3 rotation).")
      .def(
          "matrices",
          [](const PyRep& r) {
            std::vector<Matrix> ms;
            for (int g = 0; g < r.r->group().order(); ++g) ms.push_back(r.r->matrix(g));
            return stack(ms, r.r->size(), r.r->size());
          },
          "(|G|, size, size) float64.")
      .def(
          "character",
          [](const PyRep& r, int g) {
            check_element(r.r->group(), g);
            return r.r->character(g);
          },
          py::arg("g"), "chi(g) = trace rho(g).")
      .def(
          "__eq__", [](const PyRep& a, const PyRep& b) { return a.r->same_content(*b.r); }, py::is_operator())
      .def("__hash__", [](const PyRep& r) { return static_cast<py::ssize_t>(r.r->content_hash() >> 1); })
      // Immutable: a copy (copy.copy, copy.deepcopy of a module holding it) shares the same C++
      // representation.
      .def("__copy__", [](const PyRep& r) { return r; })
      .def(
          "__deepcopy__", [](const PyRep& r, const py::dict&) { return r; }, py::arg("memo"))
      .def("__repr__", [](const PyRep& r) {
        return "Representation(" + r.r->group().name() + ", \"" + r.r->describe() +
               "\", size=" + std::to_string(r.r->size()) + ")";
      });

  py::class_<PyHom>(
      m, "HomSpace",
      "Hom_G(in_rep, out_rep): the linear maps W (out.size x in.size) with rho_out(g) W = W rho_in(g).")
      .def_property_readonly(
          "in_rep", [](const PyHom& h) { return PyRep{h.h->in()}; }, "The representation W maps from.")
      .def_property_readonly(
          "out_rep", [](const PyHom& h) { return PyRep{h.h->out()}; }, "The representation W maps to.")
      .def_property_readonly(
          "dim", [](const PyHom& h) { return h.h->dim(); },
          "Its dimension: the number of free coefficients of an equivariant W.")
      .def_property_readonly(
          "method", [](const PyHom& h) { return h.h->method_name(); }, "'orbit' or 'isotypic'.")
      .def(
          "expand",
          [](const PyHom& h, const at::Tensor& c) {
            TORCH_CHECK(c.dim() >= 1 && c.size(-1) == h.h->dim(),
                        "HomSpace.expand: expected coefficients (..., ", h.h->dim(), "), got ", c.sizes());
            py::gil_scoped_release no_gil;
            return h.h->expand(c);
          },
          py::arg("coefficients"), "(..., dim) -> (..., out.size, in.size); differentiable.")
      .def(
          "analyse",
          [](const PyHom& h, const at::Tensor& w) {
            TORCH_CHECK(w.dim() >= 2 && w.size(-2) == h.h->out()->size() && w.size(-1) == h.h->in()->size(),
                        "HomSpace.analyse: expected (..., ", h.h->out()->size(), ", ", h.h->in()->size(),
                        "), got ", w.sizes());
            py::gil_scoped_release no_gil;
            return h.h->analyse(w);
          },
          py::arg("W"), "(..., out.size, in.size) -> (..., dim); expand(analyse(W)) = project(W).")
      .def(
          "project",
          [](const PyHom& h, const at::Tensor& w) {
            TORCH_CHECK(w.dim() >= 2 && w.size(-2) == h.h->out()->size() && w.size(-1) == h.h->in()->size(),
                        "HomSpace.project: expected (..., ", h.h->out()->size(), ", ", h.h->in()->size(),
                        "), got ", w.sizes());
            py::gil_scoped_release no_gil;
            return h.h->project(w);
          },
          py::arg("W"), "Orthogonal (Frobenius) projection onto Hom_G.")
      .def(
          "basis",
          [](const PyHom& h, at::ScalarType dtype) {
            py::gil_scoped_release no_gil;
            return h.h->expand(at::eye(h.h->dim(), at::TensorOptions().dtype(dtype)));
          },
          py::arg("dtype") = at::kDouble,
          "(dim, out.size, in.size): expand() of the unit coefficient vectors.")
      .def("__repr__", [](const PyHom& h) {
        return "HomSpace(" + h.h->in()->describe() + " -> " + h.h->out()->describe() +
               ", dim=" + std::to_string(h.h->dim()) + ", method=" + h.h->method_name() + ")";
      });

  m.def(
      "group", [](const py::object& spec) { return PyGroup{make_group(spec)}; }, py::arg("spec"));
  m.def(
      "rep", [](const PyGroup& g, const std::string& text) { return PyRep{parse_rep(g.g, text)}; },
      py::arg("group"), py::arg("text"));
  m.def(
      "rep_from_matrices",
      [](const PyGroup& g, const std::vector<at::Tensor>& matrices) {
        return PyRep{rep_from_matrices(g.g, matrices)};
      },
      py::arg("group"), py::arg("matrices"),
      "The representation with rho(generator i) = matrices[i] (float64 2-D tensors, in the order of "
      "Group.generators); ConfigError when they are not an orthogonal representation.");
  m.def(
      "hom",
      [](const PyRep& in, const PyRep& out) {
        if (!in.r->group().same_content(out.r->group()))
          throw GroupError("eqnn.hom: the representations belong to different groups (" +
                           in.r->group().name() + " and " + out.r->group().name() + ")");
        py::gil_scoped_release no_gil;
        return PyHom{HomSpace::get(in.r, out.r)};
      },
      py::arg("in_rep"), py::arg("out_rep"));

  m.def(
      "equivariance_error",
      [](const py::function& f, const PyRep& in, const PyRep& out, at::ScalarType dtype,
         const std::vector<int64_t>& shape, uint64_t seed) {
        if (!in.r->group().same_content(out.r->group()))
          throw GroupError("check_equivariance: in_rep is a representation of " + in.r->group().name() +
                           " and out_rep of " + out.r->group().name() +
                           "; both must belong to the same group");
        // `f` is Python: it runs with the GIL this thread holds (exceptions it raises come back as they
        // were).
        const EquivarianceResult r = equivariance_error(
            [&f](const at::Tensor& x) { return f(x).cast<at::Tensor>(); }, in.r, out.r, dtype, shape, seed);
        return py::make_tuple(r.max_error, r.worst_element, r.note);
      },
      py::arg("f"), py::arg("in_rep"), py::arg("out_rep"), py::arg("dtype"), py::arg("shape"),
      py::arg("seed"));
  m.def(
      "rep_from_decomposition",
      [](const PyGroup& g, const std::vector<int>& irreps, const at::Tensor& q) {
        TORCH_CHECK(q.dim() == 2, "eqnn.rep: change_of_basis must be a matrix, got shape ", q.sizes());
        const at::Tensor c = q.to(at::kDouble).cpu().contiguous();
        Matrix Q(c.size(0), c.size(1));
        const double* data = c.data_ptr<double>();
        for (int64_t i = 0; i < c.size(0); ++i)
          for (int64_t j = 0; j < c.size(1); ++j) Q(i, j) = data[i * c.size(1) + j];
        return PyRep{Representation::from_decomposition(g.g, irreps, std::move(Q))};
      },
      py::arg("group"), py::arg("irreps"), py::arg("change_of_basis"));
}

}  // namespace eqnn::python
