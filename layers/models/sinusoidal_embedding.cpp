#include "sinusoidal_embedding.hpp"

#include <cmath>

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/exp.h>
#include <c10/util/Exception.h>

namespace eqnn {

at::Tensor sinusoidal_embedding(const at::Tensor& t, int64_t dim) {
  TORCH_CHECK(dim >= 2 && dim % 2 == 0, "sinusoidal step embedding: dim must be even and >= 2, got ", dim);
  TORCH_CHECK(t.dim() <= 1, "sinusoidal step embedding: the step must be a scalar or (N), got ", t.dim(),
              " dimensions");
  const at::Tensor steps = (t.is_floating_point() ? t : t.to(at::kFloat)).reshape({-1});
  const int64_t half = dim / 2;
  const double scale = std::log(10000.0) / static_cast<double>(std::max<int64_t>(half - 1, 1));
  const at::Tensor freqs = at::exp(at::arange(half, steps.options()) * -scale);
  const at::Tensor args = steps.unsqueeze(1) * freqs.unsqueeze(0);
  return at::cat({args.sin(), args.cos()}, 1);
}

}  // namespace eqnn
