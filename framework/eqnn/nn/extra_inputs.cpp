#include "eqnn/nn/extra_inputs.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <c10/util/Exception.h>

namespace eqnn {

namespace {

std::string expected_shape(const ExtraInput& in, int64_t batch, int64_t length) {
  switch (in.kind) {
    case ExtraInput::Kind::step:
      return fmt::format("a scalar or ({})", batch);
    case ExtraInput::Kind::vector:
      return fmt::format("({}, {})", batch, in.rep->size());
    case ExtraInput::Kind::sequence:
      return fmt::format("({}, {}, {})", batch,
                         in.length > 0 ? fmt::format("1..{}", in.length)
                                       : (length >= 0 ? std::to_string(length) : std::string("L")),
                         in.rep->size());
  }
  return "?";
}

}  // namespace

void check_extra_inputs(const std::string& layer, const std::vector<ExtraInput>& spec,
                        const std::vector<at::Tensor>& extra, int64_t batch, int64_t length) {
  if (extra.size() != spec.size()) {
    std::vector<std::string> names;
    for (const auto& in : spec) names.push_back(in.name);
    TORCH_CHECK(false, fmt::format("{} takes x and {} more input(s) ({}), got {}", layer, spec.size(),
                                   fmt::join(names, ", "), extra.size()));
  }
  for (size_t i = 0; i < spec.size(); ++i) {
    const auto& in = spec[i];
    const auto& t = extra[i];
    if (!t.defined()) {
      TORCH_CHECK(!in.required, fmt::format("{}: the input '{}' is required", layer, in.name));
      continue;
    }
    bool ok = false;
    switch (in.kind) {
      case ExtraInput::Kind::step:
        ok = t.dim() == 0 || (t.dim() == 1 && t.size(0) == batch);
        break;
      case ExtraInput::Kind::vector:
        ok = t.dim() == 2 && t.size(0) == batch && t.size(1) == in.rep->size();
        break;
      case ExtraInput::Kind::sequence:
        ok = t.dim() == 3 && t.size(0) == batch && t.size(2) == in.rep->size() &&
             (in.length > 0 ? t.size(1) >= 1 && t.size(1) <= in.length : (length < 0 || t.size(1) == length));
        break;
    }
    TORCH_CHECK(ok, fmt::format("{}: the input '{}' must be {}, got ({})", layer, in.name,
                                expected_shape(in, batch, length), fmt::join(t.sizes(), ", ")));
  }
}

std::vector<at::Tensor> random_extra_inputs(const std::vector<ExtraInput>& spec, int64_t batch,
                                            int64_t length, const at::TensorOptions& options,
                                            std::optional<at::Generator> generator) {
  std::vector<at::Tensor> extra;
  for (const auto& e : spec) {
    switch (e.kind) {
      case ExtraInput::Kind::step:
        extra.push_back(at::rand({batch}, generator, options) * 100);
        break;
      case ExtraInput::Kind::vector:
        extra.push_back(at::randn({batch, e.rep->size()}, generator, options));
        break;
      case ExtraInput::Kind::sequence:
        extra.push_back(
            at::randn({batch, e.length > 0 ? e.length : length, e.rep->size()}, generator, options));
        break;
    }
  }
  return extra;
}

}  // namespace eqnn
