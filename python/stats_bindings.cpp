// eqnn.stats and eqnn.linalg: the symmetry-constrained statistics and the equivariant linear algebra of the
// C++ core (eqnn::stats, eqnn::linalg), as functions of tensors and eqnn.Representations. The Python modules
// eqnn/stats.py and eqnn/linalg.py give them their documented signatures.
#include <optional>
#include <utility>

#include <ATen/ATen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "bindings.hpp"
#include "eqnn/group_theory/equivariant_linalg.hpp"
#include "eqnn/group_theory/statistics.hpp"
#include "group_theory_objects.hpp"

namespace eqnn::python {

void bind_stats(py::module_& m) {
  m.def(
      "stats_mean",
      [](const at::Tensor& x, const PyRep& rep) {
        py::gil_scoped_release no_gil;
        return stats::mean(x, rep.r);
      },
      py::arg("x"), py::arg("rep_x"), "The G-invariant sample mean (D,) of x (N, D) or (N, D, T).");
  m.def(
      "stats_var",
      [](const at::Tensor& x, const PyRep& rep, const std::optional<at::Tensor>& center, bool unbiased) {
        py::gil_scoped_release no_gil;
        return stats::var(x, rep.r, center, unbiased);
      },
      py::arg("x"), py::arg("rep_x"), py::arg("center") = py::none(), py::arg("unbiased") = true,
      "The variance (D,), constant on every irreducible copy of rep_x.");
  m.def(
      "stats_var_mean",
      [](const at::Tensor& x, const PyRep& rep, bool unbiased) {
        py::gil_scoped_release no_gil;
        return stats::var_mean(x, rep.r, unbiased);
      },
      py::arg("x"), py::arg("rep_x"), py::arg("unbiased") = true, "(var, mean).");
  m.def(
      "stats_cov",
      [](const at::Tensor& x, const at::Tensor& y, const PyRep& rep_x, const PyRep& rep_y, bool uncentered,
         bool unbiased) {
        py::gil_scoped_release no_gil;
        return stats::cov(x, y, rep_x.r, rep_y.r, uncentered, unbiased);
      },
      py::arg("x"), py::arg("y"), py::arg("rep_x"), py::arg("rep_y"), py::arg("uncentered") = false,
      py::arg("unbiased") = true, "The G-equivariant cross-covariance (D_y, D_x).");
  m.def(
      "linalg_invariant_projector",
      [](const PyRep& rep) {
        py::gil_scoped_release no_gil;
        return linalg::invariant_projector(rep.r);
      },
      py::arg("rep"), "The orthogonal projector onto the invariant vectors (D, D), float64.");
  m.def(
      "linalg_equivariant_projection",
      [](const at::Tensor& W, const PyRep& rep_x, const PyRep& rep_y) {
        py::gil_scoped_release no_gil;
        return linalg::equivariant_projection(W, rep_x.r, rep_y.r);
      },
      py::arg("W"), py::arg("rep_x"), py::arg("rep_y"),
      "The orthogonal projection of W (..., D_y, D_x) onto Hom_G.");
  m.def(
      "linalg_lstsq",
      [](const at::Tensor& x, const at::Tensor& y, const PyRep& rep_x, const PyRep& rep_y) {
        py::gil_scoped_release no_gil;
        return linalg::lstsq(x, y, rep_x.r, rep_y.r);
      },
      py::arg("x"), py::arg("y"), py::arg("rep_x"), py::arg("rep_y"),
      "The exact equivariance-constrained least-squares map (D_y, D_x).");
}

}  // namespace eqnn::python
