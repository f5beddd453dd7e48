// Init schemes: parsing (with a "did you mean" for typos), the stock per-entry variances, and the fill.
#include "eqnn/group_theory/init_scheme.hpp"

#include <cmath>
#include <iterator>
#include <vector>

#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

const char* const kInitSchemes[] = {"stock",          "xavier_normal",   "xavier_uniform",
                                    "kaiming_normal", "kaiming_uniform", "zeros"};

}  // namespace

InitScheme parse_init_scheme(const std::string& name) {
  for (int i = 0; i < static_cast<int>(std::size(kInitSchemes)); ++i)
    if (name == kInitSchemes[i]) return static_cast<InitScheme>(i);
  std::vector<std::string> known(std::begin(kInitSchemes), std::end(kInitSchemes));
  throw ConfigError(fmt::format("unknown init_scheme '{}'{}; known schemes: {}", name,
                                did_you_mean_clause(name, known), fmt::join(known, ", ")));
}

std::string to_string(InitScheme s) { return kInitSchemes[static_cast<int>(s)]; }

double stock_variance(InitScheme s, int64_t rows, int64_t cols) {
  switch (s) {
    // torch.nn.Linear: kaiming_uniform_(a=√5) = U(±1/√fan_in), variance 1/(3 fan_in).
    case InitScheme::stock:
      return 1.0 / (3.0 * static_cast<double>(cols));
    case InitScheme::xavier_normal:
    case InitScheme::xavier_uniform:
      return 2.0 / static_cast<double>(rows + cols);
    case InitScheme::kaiming_normal:
    case InitScheme::kaiming_uniform:
      return 2.0 / static_cast<double>(cols);
    case InitScheme::zeros:
      return 0.0;
  }
  return 0.0;
}

void fill_init(at::Tensor& t, InitScheme scheme, double variance, c10::optional<at::Generator> gen) {
  c10::NoGradGuard no_grad;
  if (t.numel() == 0) return;
  if (scheme == InitScheme::zeros) {
    t.zero_();
    return;
  }
  const double sd = std::sqrt(variance);
  if (scheme == InitScheme::xavier_normal || scheme == InitScheme::kaiming_normal)
    t.normal_(0.0, sd, gen);
  else
    t.uniform_(-std::sqrt(3.0) * sd, std::sqrt(3.0) * sd, gen);
}

}  // namespace eqnn
