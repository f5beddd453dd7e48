// Plugin entry point: registers the "eLayerNorm" and "eRMSNorm" factories (keyword arguments eps,
// elementwise_affine, affine, normalize; see e_norm.hpp) and "eBatchNorm1d" (eps, momentum — a number, or
// null / "cumulative" for the cumulative average —, affine, track_running_stats, channels_last; see
// e_batch_norm.hpp).
#include "e_batch_norm.hpp"
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
  y::check_keys(kw, {"eps", "elementwise_affine", "affine", "normalize"}, what);
  if (!args.in_rep) y::fail(kw, what + ": no in_rep (give in_rep or put the layer after one)");
  // Every default is the Options' own: a key that is not given keeps it.
  if (kind == Kind::layer) {
    eqnn::ELayerNormOptions options(args.in_rep);
    options.eps(y::get_double(kw, "eps", options.eps()))
        .elementwise_affine(y::get_bool(kw, "elementwise_affine", options.elementwise_affine()))
        .affine(y::get_string(kw, "affine", options.affine()))
        .normalize(y::get_string(kw, "normalize", options.normalize()))
        .registry(args.registry);
    return make<eqnn::ELayerNormImpl>(kw, options);
  }
  eqnn::ERMSNormOptions options(args.in_rep);
  options.eps(y::get_double(kw, "eps", options.eps()))
      .elementwise_affine(y::get_bool(kw, "elementwise_affine", options.elementwise_affine()))
      .affine(y::get_string(kw, "affine", options.affine()))
      .normalize(y::get_string(kw, "normalize", options.normalize()));
  return make<eqnn::ERMSNormImpl>(kw, options);
}

std::shared_ptr<eqnn::Layer> make_batch_norm(const eqnn::LayerArgs& args) {
  const std::string what = "eBatchNorm1d";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"eps", "momentum", "affine", "track_running_stats", "channels_last"}, what);
  if (!args.in_rep) y::fail(kw, what + ": no in_rep (give in_rep or put the layer after one)");
  eqnn::EBatchNorm1dOptions options(args.in_rep);
  options.eps(y::get_double(kw, "eps", options.eps()))
      .affine(y::get_bool(kw, "affine", options.affine()))
      .track_running_stats(y::get_bool(kw, "track_running_stats", options.track_running_stats()))
      .channels_last(y::get_bool(kw, "channels_last", options.channels_last()));
  if (kw.IsMap() && kw["momentum"]) {
    const YAML::Node m = kw["momentum"];
    if (m.IsNull() || (m.IsScalar() && m.Scalar() == "cumulative"))
      options.momentum(std::nullopt);  // torch's momentum=None: the cumulative average
    else
      options.momentum(y::get_double(kw, "momentum"));
  }
  return make<eqnn::EBatchNorm1dImpl>(kw, options);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eLayerNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::layer, a); });
  r.add_layer("eRMSNorm", [](const eqnn::LayerArgs& a) { return make_norm(Kind::rms, a); });
  r.add_layer("eBatchNorm1d", make_batch_norm);
}

}  // namespace

EQNN_PLUGIN("normalization_layers", "0.1.0", register_all)
