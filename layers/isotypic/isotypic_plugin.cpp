// Plugin entry point: registers the "eIsotypicBasis" factory (keyword argument `inverse`, default false; see
// e_isotypic_basis.hpp).
#include "e_isotypic_basis.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

void register_all(eqnn::Registrar& r) {
  // inverse: true maps the isotypic basis back to a representation named by `rep` (its isotypic basis must
  // be the representation flowing in, as after a forward eIsotypicBasis on `rep`).
  r.add_layer("eIsotypicBasis", [](const eqnn::LayerArgs& args) -> std::shared_ptr<eqnn::Layer> {
    y::check_keys(args.kwargs, {"inverse", "rep"}, "eIsotypicBasis");
    if (!args.in_rep) y::fail(args.kwargs, "eIsotypicBasis: no in_rep (put the layer after one)");
    const eqnn::EIsotypicBasisOptions defaults(args.in_rep);
    const bool inverse = y::get_bool(args.kwargs, "inverse", defaults.inverse());
    if (args.kwargs["rep"] && !inverse)
      y::fail(args.kwargs["rep"],
              "eIsotypicBasis: 'rep' is only for inverse: true (the representation to map back to); the "
              "forward map uses the representation flowing in");
    if (inverse && !args.kwargs["rep"])
      y::fail(args.kwargs,
              "eIsotypicBasis: inverse: true needs 'rep', the representation to map back to "
              "(the one a forward eIsotypicBasis started from)");
    eqnn::EIsotypicBasisOptions options(inverse ? args.resolve_rep(args.kwargs["rep"]) : args.in_rep);
    options.inverse(inverse);
    if (auto error = eqnn::validate(options)) y::fail(args.kwargs, error->message);
    auto layer = std::make_shared<eqnn::EIsotypicBasisImpl>(options);
    if (inverse && !layer->in_rep()->same_content(*args.in_rep))
      y::fail(args.kwargs["rep"], "eIsotypicBasis: inverse: true maps from the isotypic basis of 'rep' (" +
                                      layer->in_rep()->describe() +
                                      "), but the representation flowing in is " + args.in_rep->describe() +
                                      "; put a forward eIsotypicBasis on 'rep' before it");
    return layer;
  });
}

}  // namespace

EQNN_PLUGIN("isotypic_layers", "0.1.0", register_all)
