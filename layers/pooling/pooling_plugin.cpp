// Plugin entry point: registers the "eInvariantPool" and "eNormPool" factories (no keyword arguments; see
// e_pooling.hpp).
#include "e_pooling.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

/// The pool on args.in_rep; a problem of validate(options) located at the layer's arguments.
template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> make_pool(const eqnn::LayerArgs& args, const std::string& what) {
  y::check_keys(args.kwargs, {}, what);
  if (!args.in_rep) y::fail(args.kwargs, what + ": no in_rep (give in_rep or put the layer after one)");
  const Options options(args.in_rep);
  if (auto error = eqnn::validate(options)) y::fail(args.kwargs, error->message);
  return std::make_shared<Impl>(options);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eInvariantPool", [](const eqnn::LayerArgs& a) {
    return make_pool<eqnn::EInvariantPoolImpl, eqnn::EInvariantPoolOptions>(a, "eInvariantPool");
  });
  r.add_layer("eNormPool", [](const eqnn::LayerArgs& a) {
    return make_pool<eqnn::ENormPoolImpl, eqnn::ENormPoolOptions>(a, "eNormPool");
  });
}

}  // namespace

EQNN_PLUGIN("pooling_layers", "0.1.0", register_all)
