// Plugin entry point: registers the "eInvariantPool" and "eNormPool" factories (no keyword arguments; see
// e_pooling.hpp).
#include "e_pooling.hpp"
#include "eqnn/error.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

/// The pool on args.in_rep; a configuration error of the constructor located at the layer's arguments.
template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> make_pool(const eqnn::LayerArgs& args, const std::string& what) {
  y::check_keys(args.kwargs, {}, what);
  if (!args.in_rep) y::fail(args.kwargs, what + ": no in_rep (give in_rep or put the layer after one)");
  try {
    return std::make_shared<Impl>(Options(args.in_rep));
  } catch (const eqnn::ConfigError& e) {
    y::fail(args.kwargs, e.message());
  }
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
