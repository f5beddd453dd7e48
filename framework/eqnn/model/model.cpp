// The model builder: YAML description → registry factories → a stack of eqnn::Layer modules, tracking
// the representation that flows between layers. Every problem becomes `FILE:LINE:COL: error: ...`.
#include "eqnn/model/model.hpp"

#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/generator_matrices.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace eqnn {

// ---- blocks ----

BlockLayer::BlockLayer(Kind kind, std::vector<LayerPtr> layers, std::vector<std::string> types, RepPtr in,
                       RepPtr out)
    : Layer(kind == Kind::residual ? "Residual" : "Sequential"),
      kind_(kind),
      layers_(std::move(layers)),
      types_(std::move(types)),
      in_(std::move(in)),
      out_(std::move(out)) {
  list_ = register_module("block", torch::nn::ModuleList());
  for (const auto& layer : layers_) list_->push_back(layer);
}

at::Tensor BlockLayer::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (const auto& layer : layers_) h = layer->forward(h);
  if (kind_ == Kind::residual) {
    TORCH_CHECK(h.sizes() == x.sizes(), "Residual block: the block maps shape ", x.sizes(), " to ", h.sizes(),
                "; x + f(x) needs them equal");
    return x + h;
  }
  return h;
}

std::vector<std::pair<std::string, at::Tensor>> BlockLayer::effective_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (auto& [name, t] : layers_[i]->effective_parameters())
      out.emplace_back(fmt::format("block.{}.{}", i, name), t);
  }
  return out;
}

int64_t BlockLayer::unconstrained_parameter_count() {
  int64_t n = 0;
  for (const auto& layer : layers_) n += layer->unconstrained_parameter_count();
  return n;
}

// ---- model ----

Model::Model() { list_ = register_module("layers", torch::nn::ModuleList()); }

at::Tensor Model::forward(const at::Tensor& x) { return forward(x, {}); }

std::vector<ExtraInput> Model::extra_inputs() const {
  if (layers_.empty()) return {};
  const auto* multi = dynamic_cast<const ExtraInputs*>(layers_.front().get());
  return multi ? multi->extra_inputs() : std::vector<ExtraInput>{};
}

at::Tensor Model::forward(const at::Tensor& x, const std::vector<at::Tensor>& extra) {
  TORCH_CHECK(x.dim() == 2 || x.dim() == 3, "model '", name_,
              "': expected input (batch, features) or (batch, seq, features), got shape ", x.sizes());
  TORCH_CHECK(x.size(-1) == input_size(), "model '", name_, "': expected ", input_size(),
              " input features (the input rep ", rep_label(input_), "), got shape ", x.sizes());
  auto* multi = layers_.empty() ? nullptr : dynamic_cast<ExtraInputs*>(layers_.front().get());
  if (!multi) {
    TORCH_CHECK(extra.empty(), "model '", name_, "' takes one input, x (its first layer, ",
                infos_.empty() ? std::string("none") : infos_.front().type, ", takes no extra inputs), got ",
                extra.size() + 1);
  } else if (extra.empty()) {
    std::vector<std::string> required;
    for (const auto& e : multi->extra_inputs())
      if (e.required) required.push_back(e.name);
    TORCH_CHECK(required.empty(), "model '", name_, "': its first layer, ", infos_.front().type,
                ", also takes ", fmt::format("{}", fmt::join(required, ", ")), ": call forward(x, {",
                fmt::format("{}", fmt::join(required, ", ")), "}) (Python: model(x, ",
                fmt::format("{}", fmt::join(required, ", ")), "))");
  }
  at::Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i)
    h = (i == 0 && multi && !extra.empty()) ? multi->forward_with(h, extra) : layers_[i]->forward(h);
  return h;
}

std::vector<std::pair<std::string, at::Tensor>> Model::effective_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (auto& [name, t] : layers_[i]->effective_parameters())
      out.emplace_back(fmt::format("layers.{}.{}", i, name), t);
  }
  return out;
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

int64_t Model::unconstrained_parameter_count() {
  int64_t n = 0;
  for (const auto& layer : layers_) n += layer->unconstrained_parameter_count();
  return n;
}

std::string Model::rep_label(const RepPtr& rep) const {
  if (!rep) return "(no representation)";
  for (const auto& [name, r] : reps_) {
    if (r == rep) return name;
  }
  for (const auto& [name, r] : reps_) {
    if (r->same_content(*rep)) return name;
  }
  return rep->describe();
}

// ---- builder ----

namespace {

constexpr int kSchemaVersion = 1;

bool located(const YAML::Node& n) { return n.IsDefined() && !n.Mark().is_null(); }

std::string describe_rep(const RepPtr& rep) { return rep ? rep->describe() : "(no representation)"; }

std::string message_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

}  // namespace

class ModelBuilder {
 public:
  ModelBuilder(const Registry& registry, std::string file, Model& model)
      : registry_(registry), file_(std::move(file)), model_(model) {}

  void build(const std::string& text) {
    model_.source_ = text;
    model_.name_ = file_;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      throw ConfigError(file_, e.mark.line + 1, e.mark.column + 1,
                        fmt::format("YAML syntax error: {}", e.msg));
    } catch (const YAML::Exception& e) {
      throw ConfigError(file_, 0, 0, fmt::format("YAML error: {}", e.msg));
    }
    if (!root.IsDefined() || root.IsNull()) {
      throw ConfigError(file_, 1, 1,
                        "empty model description; expected a mapping with keys eqnn, group, reps, "
                        "input, layers");
    }
    if (!root.IsMap())
      fail(root, fmt::format("a model description must be a mapping, found {}", yaml::describe(root)));
    // yaml-cpp keeps both values of a key given twice and `node[key]` returns the first: refuse instead.
    guarded(root, [&] { yaml::check_unique_keys(root); });
    guarded(root, [&] {
      yaml::check_keys(root, {"eqnn", "group", "reps", "input", "output", "layers", "description"}, "model");
    });
    require(root, "eqnn", "the schema version, 'eqnn: 1'");
    const YAML::Node version = root["eqnn"];
    int64_t v = 0;
    if (!version.IsScalar() || !YAML::convert<int64_t>::decode(version, v)) {
      fail(version, fmt::format("'eqnn' must be the schema version 1, found {}", yaml::describe(version)));
    }
    if (v != kSchemaVersion) {
      fail(version,
           fmt::format("unsupported schema version {}; this eqnn reads version {}", v, kSchemaVersion));
    }
    if (root["description"] && !root["description"].IsScalar()) {
      fail(root["description"], "'description' must be a string");
    }

    require(root, "group", "a group such as 'group: D4' or 'group: {type: CyclicGroup, n: 8}'");
    const YAML::Node group_node = root["group"];
    guarded(group_node, [&] { model_.group_ = registry_.make_group(group_node, file_); });

    if (root["reps"]) {
      const YAML::Node reps = root["reps"];
      if (!reps.IsMap()) {
        fail(reps, fmt::format("'reps' must be a mapping of names to rep strings (x: \"4x regular\") or "
                               "{{matrices: [...]}} mappings, found {}",
                               yaml::describe(reps)));
      }
      for (auto it = reps.begin(); it != reps.end(); ++it) {
        const std::string name = it->first.Scalar();
        if (named_.count(name) != 0) fail(it->first, fmt::format("rep '{}' is defined twice", name));
        RepPtr rep;
        if (it->second.IsMap()) {
          rep = matrices_at(name, it->second);
        } else if (!it->second.IsScalar()) {
          fail(it->second,
               fmt::format("rep '{}' must be a rep string such as \"4x regular + trivial\" or a mapping "
                           "{{matrices: [M_0, M_1, ...]}}, found {}",
                           name, yaml::describe(it->second)));
        } else {
          rep = parse_at(it->second);
        }
        named_[name] = rep;
        model_.reps_.emplace_back(name, rep);
      }
    }

    require(root, "input", "the input representation, 'input: x' (a name from 'reps' or a rep string)");
    model_.input_ = resolve(root["input"]);

    require(root, "layers", "a list of layers, 'layers: [{type: eLinear, out_rep: h}, ...]'");
    const YAML::Node layers = root["layers"];
    if (!layers.IsSequence() || layers.size() == 0) {
      fail(layers, fmt::format("'layers' must be a non-empty list of layers, found {}",
                               layers.IsSequence() ? "an empty list" : yaml::describe(layers)));
    }
    Flow flow{model_.input_, model_.input_->size()};
    std::vector<std::string> types;
    model_.layers_ = build_list(layers, flow, "layers", 0, types);
    for (const auto& layer : model_.layers_) model_.list_->push_back(layer);

    model_.output_ = flow.rep;
    model_.output_size_ = flow.size;
    if (root["output"]) {
      const YAML::Node out_node = root["output"];
      RepPtr out = resolve(out_node);
      if (flow.rep && !flow.rep->same_content(*out)) {
        fail(out_node, fmt::format("output rep {} does not match the representation the layers produce: {}",
                                   label(out), label(flow.rep)));
      }
      if (out->size() != flow.size) {
        fail(out_node, fmt::format("output rep {} has size {}, but the layers produce {} features",
                                   label(out), out->size(), flow.size));
      }
      model_.output_ = out;
    }
  }

 private:
  struct Flow {
    RepPtr rep;  // null after a layer without a group action (a stock layer)
    int64_t size = 0;
  };

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
    if (located(at)) throw ConfigError(file_, at.Mark().line + 1, at.Mark().column + 1, message);
    throw ConfigError(file_, 0, 0, message);
  }

  void require(const YAML::Node& map, const std::string& key, const std::string& what) const {
    if (!map[key]) fail(map, fmt::format("missing required key '{}': {}", key, what));
  }

  std::string label(const RepPtr& rep) const {
    for (const auto& [name, r] : model_.reps_) {
      if (r == rep || (rep && r->same_content(*rep))) return fmt::format("'{}' = {}", name, rep->describe());
    }
    return describe_rep(rep);
  }

  // Factories usually name themselves already ("eLinear: ..."); add the prefix only when they do not.
  static std::string prefixed(const std::string& prefix, const std::string& message) {
    if (prefix.empty() || message.rfind(prefix, 0) == 0) return message;
    return prefix + message;
  }

  // Runs `body`, giving every error a location in this file (`at` when the error has none).
  template <typename F>
  void guarded(const YAML::Node& at, F&& body, const std::string& prefix = "") const {
    try {
      body();
    } catch (const ConfigError& e) {
      if (!e.file().empty() && e.line() > 0) throw;
      if (e.line() > 0) throw ConfigError(file_, e.line(), e.column(), prefixed(prefix, e.message()));
      fail(at, prefixed(prefix, e.message()));
    } catch (const Error& e) {
      fail(at, prefixed(prefix, e.what()));
    } catch (const c10::Error& e) {
      fail(at, prefixed(prefix, e.what_without_backtrace()));
    } catch (const YAML::Exception& e) {
      fail(at, prefixed(prefix, e.msg));
    } catch (const std::exception& e) {
      // Anything else (std::out_of_range, std::bad_alloc, ...) still gets a location.
      fail(at, prefixed(prefix, e.what()));
    }
  }

  // Parses a rep string held by a scalar node; errors point at the offending column of the file.
  RepPtr parse_at(const YAML::Node& node) const {
    const std::string text = node.Scalar();
    try {
      return parse_rep(model_.group_, text);
    } catch (const ConfigError& e) {
      if (!located(node)) throw ConfigError(file_, 0, 0, e.message());
      const int quote = node.Tag() == "!" ? 1 : 0;  // yaml-cpp tags quoted scalars "!"
      const int column = node.Mark().column + 1 + quote + std::max(0, e.column() - 1);
      throw ConfigError(file_, node.Mark().line + 1, column, e.message());
    } catch (const Error& e) {
      fail(node, e.what());
    } catch (const std::exception& e) {
      fail(node, message_of(e));
    }
  }

  // `NAME: {matrices: [M_0, ...]}`: ρ on the generators, one matrix (a list of rows) per generator in the
  // group's generator order. Errors point at the offending entry, row or matrix.
  RepPtr matrices_at(const std::string& name, const YAML::Node& node) const {
    guarded(node, [&] { yaml::check_unique_keys(node); });
    guarded(node, [&] { yaml::check_keys(node, {"matrices"}, fmt::format("rep '{}'", name)); });
    const YAML::Node list = node["matrices"];
    if (!list)
      fail(node, fmt::format("rep '{}': missing required key 'matrices': one matrix per generator", name));
    if (!list.IsSequence())
      fail(list, fmt::format("rep '{}': 'matrices' must be a list of matrices (lists of rows), found {}",
                             name, yaml::describe(list)));
    std::vector<Matrix> ms;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node m = list[i];
      if (!m.IsSequence() || m.size() == 0)
        fail(m, fmt::format("rep '{}': matrix {} must be a non-empty list of rows, found {}", name, i,
                            yaml::describe(m)));
      Matrix M;
      for (size_t r = 0; r < m.size(); ++r) {
        const YAML::Node row = m[r];
        if (!row.IsSequence() || row.size() == 0)
          fail(row, fmt::format("rep '{}': row {} of matrix {} must be a non-empty list of numbers, found {}",
                                name, r, i, yaml::describe(row)));
        if (r == 0) M.resize(static_cast<Eigen::Index>(m.size()), static_cast<Eigen::Index>(row.size()));
        if (static_cast<Eigen::Index>(row.size()) != M.cols())
          fail(row, fmt::format("rep '{}': row {} of matrix {} has {} entries, row 0 has {}", name, r, i,
                                row.size(), M.cols()));
        for (size_t c = 0; c < row.size(); ++c) {
          double v = 0;
          if (!row[c].IsScalar() || !YAML::convert<double>::decode(row[c], v))
            fail(row[c], fmt::format("rep '{}': entry ({}, {}) of matrix {} must be a number, found {}", name,
                                     r, c, i, yaml::describe(row[c])));
          M(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = v;
        }
      }
      ms.push_back(std::move(M));
    }
    if (auto problem = check_generator_matrices(*model_.group_, ms)) {
      const YAML::Node at = problem->generator >= 0 ? list[static_cast<size_t>(problem->generator)] : list;
      fail(at, fmt::format("rep '{}': {}", name, problem->message));
    }
    RepPtr rep;
    guarded(node, [&] { rep = Representation::from_generator_matrices(model_.group_, ms, name); });
    return rep;
  }

  // A rep name from `reps` or an inline rep string.
  RepPtr resolve(const YAML::Node& node) const {
    if (!node.IsScalar()) {
      fail(node, fmt::format("expected a rep name or a rep string such as \"4x regular\", found {}",
                             yaml::describe(node)));
    }
    const std::string text = node.Scalar();
    auto found = named_.find(text);
    if (found != named_.end()) return found->second;
    const bool identifier = !text.empty() && std::all_of(text.begin(), text.end(),
                                                         [](char c) { return std::isalnum(c) || c == '_'; });
    static const std::vector<std::string> keywords = {"regular", "trivial", "standard"};
    if (identifier && std::find(keywords.begin(), keywords.end(), text) == keywords.end()) {
      std::vector<std::string> names;
      for (const auto& [name, rep] : model_.reps_) names.push_back(name);
      fail(node, fmt::format("unknown rep '{}'{}; reps defined in 'reps': {}; or give a rep string such as "
                             "\"4x regular + trivial\"",
                             text, did_you_mean_clause(text, names),
                             names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    return parse_at(node);
  }

  std::vector<LayerPtr> build_list(const YAML::Node& list, Flow& flow, const std::string& prefix, int depth,
                                   std::vector<std::string>& types) {
    std::vector<LayerPtr> out;
    for (const auto& item : list) {
      if (!item.IsMap()) {
        fail(item, fmt::format("each layer must be a mapping such as {{type: eLinear, out_rep: h}}, found {}",
                               yaml::describe(item)));
      }
      if (!item["type"]) fail(item, "missing required key 'type': the layer type, e.g. 'type: eLinear'");
      const YAML::Node type_node = item["type"];
      if (!type_node.IsScalar())
        fail(type_node, fmt::format("'type' must be a layer type name, found {}", yaml::describe(type_node)));
      const std::string type = type_node.Scalar();
      int64_t repeat = 1;
      guarded(item, [&] { repeat = yaml::get_int(item, "repeat", 1, 1); });
      const bool block = type == "Sequential" || type == "Residual";
      const LayerFactory* factory = block ? nullptr : registry_.try_get_layer(type);
      if (!block && factory == nullptr) {
        auto names = registry_.names(Kind::layer);
        names.push_back("Sequential");
        names.push_back("Residual");
        std::sort(names.begin(), names.end());
        fail(type_node, fmt::format("unknown layer type '{}'{}; known layer types: {}", type,
                                    did_you_mean_clause(type, names), fmt::join(names, ", ")));
      }
      for (int64_t r = 0; r < repeat; ++r) {
        const std::string path = fmt::format("{}.{}", prefix, out.size());
        const size_t info_index = model_.infos_.size();
        model_.infos_.push_back({path, type, depth, nullptr, flow.size, 0, YAML::Node(YAML::NodeType::Map)});
        LayerPtr layer;
        guarded(
            type_node,
            [&] {
              layer = block ? build_block(item, type, flow, path, depth)
                            : build_layer(item, *factory, flow, model_.infos_[info_index].kwargs);
            },
            type + ": ");
        model_.infos_[info_index].layer = layer;
        model_.infos_[info_index].out_size = flow.size;
        if (const auto* multi = dynamic_cast<const ExtraInputs*>(layer.get());
            multi && (depth > 0 || !out.empty())) {
          std::vector<std::string> required;
          for (const auto& e : multi->extra_inputs())
            if (e.required) required.push_back(e.name);
          if (!required.empty())
            fail(type_node, fmt::format("{} also takes {}, which only a model's first layer can be given "
                                        "(model(x, {})): put it first",
                                        type, fmt::join(required, ", "), fmt::join(required, ", ")));
        }
        out.push_back(layer);
        types.push_back(type);
      }
    }
    return out;
  }

  // The representation a layer receives: `in_rep:` if given (checked against the flow), else the flow.
  RepPtr incoming(const YAML::Node& item, Flow& flow) const {
    if (!item["in_rep"]) return flow.rep;
    const YAML::Node node = item["in_rep"];
    RepPtr given = resolve(node);
    if (flow.rep && !flow.rep->same_content(*given)) {
      fail(node, fmt::format("in_rep {} does not match the representation flowing in: {}", label(given),
                             label(flow.rep)));
    }
    if (given->size() != flow.size) {
      fail(node, fmt::format("in_rep {} has size {}, but the previous layer produces {} features",
                             label(given), given->size(), flow.size));
    }
    return given;
  }

  LayerPtr build_layer(const YAML::Node& item, const LayerFactory& factory, Flow& flow, YAML::Node& kwargs) {
    const YAML::Node type_node = item["type"];
    const std::string type = type_node.Scalar();
    RepPtr in = incoming(item, flow);
    // After a layer without a group action the flowing rep is unknown: stock layers only need its size,
    // so they get a stand-in; an equivariant layer that takes it is refused below.
    const bool stand_in = !in;
    if (stand_in) in = Representation::trivial(model_.group_, static_cast<int>(flow.size));

    LayerArgs args;
    args.group = model_.group_;
    args.in_rep = in;
    args.kwargs = YAML::Node(YAML::NodeType::Map);
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (key != "type" && key != "repeat" && key != "in_rep") args.kwargs[it->first] = it->second;
    }
    args.registry = &registry_;
    args.resolve_rep = [this](const YAML::Node& node) { return resolve(node); };
    args.file = file_;
    kwargs = args.kwargs;

    LayerPtr layer;
    guarded(
        type_node, [&] { layer = factory(args); }, type + ": ");
    if (!layer) fail(type_node, fmt::format("{}: the layer factory returned nothing", type));
    if (stand_in && layer->in_rep()) {
      fail(type_node,
           fmt::format("{} needs the representation flowing in, but the previous layer has no group "
                       "action (a stock layer); give 'in_rep:' explicitly (size {})",
                       type, flow.size));
    }
    if (layer->in_rep() && layer->in_rep()->size() != flow.size) {
      fail(type_node, fmt::format("{}: its in rep has size {}, but {} features flow in", type,
                                  layer->in_rep()->size(), flow.size));
    }
    if (layer->out_rep()) {
      flow = {layer->out_rep(), layer->out_rep()->size()};
    } else {
      // No group action: find the output size by running the layer once.
      int64_t size = 0;
      guarded(
          type_node,
          [&] {
            torch::NoGradGuard no_grad;
            size = layer->forward(at::zeros({1, 2, flow.size})).size(-1);
          },
          type + ": ");
      flow = {nullptr, size};
    }
    return layer;
  }

  LayerPtr build_block(const YAML::Node& item, const std::string& type, Flow& flow, const std::string& path,
                       int depth) {
    guarded(item, [&] { yaml::check_keys(item, {"type", "layers", "repeat", "in_rep"}, type); });
    if (!item["layers"])
      fail(item, fmt::format("{}: missing required key 'layers' (the list of its layers)", type));
    const YAML::Node layers = item["layers"];
    if (!layers.IsSequence() || layers.size() == 0) {
      fail(layers, fmt::format("{}: 'layers' must be a non-empty list of layers, found {}", type,
                               layers.IsSequence() ? "an empty list" : yaml::describe(layers)));
    }
    Flow in{incoming(item, flow), flow.size};
    Flow inner = in;
    std::vector<std::string> types;
    auto sub = build_list(layers, inner, path + ".block", depth + 1, types);
    RepPtr out = inner.rep;
    const auto kind = type == "Residual" ? BlockLayer::Kind::residual : BlockLayer::Kind::sequential;
    if (kind == BlockLayer::Kind::residual) {
      const bool same = inner.size == in.size &&
                        ((in.rep && inner.rep && in.rep->same_content(*inner.rep)) || !in.rep || !inner.rep);
      if (!same) {
        fail(item["type"],
             fmt::format("Residual block: its layers map {} to {}; x + f(x) needs the block to end "
                         "in the representation it starts with",
                         in.rep ? label(in.rep) : fmt::format("{} features", in.size),
                         inner.rep ? label(inner.rep) : fmt::format("{} features", inner.size)));
      }
      out = in.rep && inner.rep ? in.rep : nullptr;
    }
    auto layer = std::make_shared<BlockLayer>(kind, std::move(sub), std::move(types), in.rep, out);
    flow = {out, inner.size};
    return layer;
  }

  const Registry& registry_;
  std::string file_;
  Model& model_;
  std::map<std::string, RepPtr> named_;
};

ModelPtr load_model_from_string(const Registry& registry, const std::string& text, const std::string& name) {
  auto model = std::make_shared<Model>();
  ModelBuilder(registry, name, *model).build(text);
  return model;
}

ModelPtr load_model(const Registry& registry, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, 0, "cannot open the model file (does it exist and is it readable?)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return load_model_from_string(registry, buffer.str(), path);
}

}  // namespace eqnn
