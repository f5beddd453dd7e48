// Plugin entry point: registers the "eLayerNorm" and "eRMSNorm" factories (keyword arguments eps,
// elementwise_affine; see e_norm.hpp).
#include <cmath>

#include <fmt/format.h>

#include "e_norm.hpp"
#include "eqnn/error.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

enum class Kind { layer, rms };

std::shared_ptr<eqnn::Layer> make_norm(Kind kind, const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const std::string what = kind == Kind::layer ? "eLayerNorm" : "eRMSNorm";
  y::check_keys(args.kwargs, {"eps", "elementwise_affine"}, what);
  if (!args.in_rep) y::fail(args.kwargs, what + ": no in_rep (give in_rep or put the layer after one)");
  const double stock_eps = kind == Kind::layer ? 1e-5 : 1e-6;
  const double eps = y::get_double(args.kwargs, "eps", stock_eps);
  if (!(eps > 0) || !std::isfinite(eps))
    y::fail(args.kwargs["eps"],
            fmt::format("{}: 'eps' must be a finite number > 0 (it keeps 1/sqrt(variance + eps) finite on a "
                        "constant input), found {}; the default is {:g}",
                        what, eps, stock_eps));
  const bool affine = y::get_bool(args.kwargs, "elementwise_affine", true);
  if (kind == Kind::layer)
    return std::make_shared<eqnn::ELayerNormImpl>(
        eqnn::ELayerNormOptions(args.in_rep).eps(eps).elementwise_affine(affine).registry(args.registry));
  return std::make_shared<eqnn::ERMSNormImpl>(
      eqnn::ERMSNormOptions(args.in_rep).eps(eps).elementwise_affine(affine));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eLayerNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::layer, a); });
  r.add_layer("eRMSNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::rms, a); });
}

}  // namespace

EQNN_PLUGIN("normalization_layers", "0.1.0", register_all)
