// Plugin entry point: registers the "eLayerNorm" and "eRMSNorm" factories (keyword arguments eps,
// elementwise_affine; see e_norm.hpp).
#include "e_norm.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

enum class Kind { layer, rms };

/// The layer from `options`, or the first problem of validate(options) located at its key.
template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> make(const YAML::Node& kw, const Options& options) {
  if (auto error = eqnn::validate(options))
    y::fail(kw.IsMap() && kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<Impl>(options);
}

std::shared_ptr<eqnn::Layer> make_norm(Kind kind, const eqnn::LayerArgs& args) {
  const std::string what = kind == Kind::layer ? "eLayerNorm" : "eRMSNorm";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"eps", "elementwise_affine"}, what);
  if (!args.in_rep) y::fail(kw, what + ": no in_rep (give in_rep or put the layer after one)");
  // Every default is the Options' own: a key that is not given keeps it.
  if (kind == Kind::layer) {
    eqnn::ELayerNormOptions options(args.in_rep);
    options.eps(y::get_double(kw, "eps", options.eps()))
        .elementwise_affine(y::get_bool(kw, "elementwise_affine", options.elementwise_affine()))
        .registry(args.registry);
    return make<eqnn::ELayerNormImpl>(kw, options);
  }
  eqnn::ERMSNormOptions options(args.in_rep);
  options.eps(y::get_double(kw, "eps", options.eps()))
      .elementwise_affine(y::get_bool(kw, "elementwise_affine", options.elementwise_affine()));
  return make<eqnn::ERMSNormImpl>(kw, options);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eLayerNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::layer, a); });
  r.add_layer("eRMSNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::rms, a); });
}

}  // namespace

EQNN_PLUGIN("normalization_layers", "0.1.0", register_all)
