// The eval-mode cache of expanded weights (ConstrainedParameter) under writes that bypass θ's version
// counter: `p.data().copy_(...)` is seen by the next forward. (Concurrency: tests/concurrency/.)
#include <gtest/gtest.h>

#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

TEST(ConstrainedParameterCache, WriteThroughDataIsSeen) {
  at::manual_seed(22);
  auto g = group("D4");
  ELinear lin(random_basis(parse_rep(g, "regular"), 4), parse_rep(g, "regular + trivial"));
  lin->eval();
  const at::Tensor x = at::randn({3, 8});
  auto eval_forward = [&] {
    at::NoGradGuard no_grad;
    return lin(x);
  };
  const at::Tensor before = eval_forward();
  at::Tensor theta = lin->named_parameters()["weight_coefficients"];
  const auto version = theta._version();
  const at::Tensor ema = at::randn_like(theta);
  theta.data().copy_(ema);  // e.g. loading an exponential moving average
  ASSERT_EQ(theta._version(), version) << "the write must bypass θ's version counter for this test";
  ASSERT_TRUE(at::equal(theta, ema));
  const at::Tensor after = eval_forward();
  const at::Tensor expected = at::linear(
      x, lin->weight_parameter().constraint()->expand(ema.clone()),
      lin->bias_parameter().constraint()->expand(lin->named_parameters()["bias_coefficients"].detach()));
  EXPECT_FALSE(at::allclose(before, after));
  EXPECT_TRUE(at::allclose(after, expected, 1e-6, 1e-6));
}

TEST(ConstrainedParameterCache, WriteThroughDataIsSeenByAttention) {
  at::manual_seed(23);
  RepPtr rep = parse_rep(group("C4"), "2x regular");
  EMultiheadAttention mha(rep, 2), twin(rep, 2);
  mha->eval();
  twin->eval();
  const at::Tensor x = at::randn({2, 3, 8});
  at::NoGradGuard no_grad;
  mha->forward(x);
  // Every coefficient of `twin` written into `mha` through .data(): no version counter moves.
  auto target = mha->named_parameters();
  for (const auto& p : twin->named_parameters()) target[p.key()].data().copy_(p.value());
  EXPECT_TRUE(at::equal(mha->forward(x), twin->forward(x)));
}

}  // namespace
}  // namespace eqnn::testing
