// The AVX-512 change back of the isotypic product (internal::change_back) against the same sum written as an
// einsum in float64: block sizes below, at and across the 64-wide (float) and 32-wide (double) panels, token
// counts below, at and past a tile of 6, with and without bias, at a column offset inside a wider output
// whose other columns it must not touch, from a buffer that is a view of a larger one.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include <ATen/ATen.h>

#include "eqnn/group_theory/internal/change_of_basis_kernel.hpp"

namespace {

bool machine_has_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

TEST(ChangeOfBasisKernel, EqualsTheSumItComputes) {
  int served = 0, cases = 0;
  for (auto dtype : {at::kFloat, at::kDouble})
    for (int64_t r : {1, 5, 16, 17, 33, 60, 64, 65, 130})
      for (int64_t m : {1, 3})
        for (int64_t N : {1, 5, 6, 7, 13, 100})
          for (bool with_bias : {false, true}) {
            const int64_t col0 = 3, width = col0 + m * r + 2;
            const auto opt = at::TensorOptions().dtype(dtype);
            // A view: rows 1..r of a buffer of r + 2 rows, so that the strides are not those of (r, m, N).
            const at::Tensor whole = at::randn({r + 2, m, N}, opt);
            const at::Tensor buf = whole.narrow(0, 1, r);
            const at::Tensor basis = at::randn({r, r}, opt);
            const at::Tensor bias = with_bias ? at::randn({width}, opt) : at::Tensor();
            at::Tensor y = at::full({N, width}, std::numeric_limits<double>::quiet_NaN(), opt);
            const bool did = eqnn::internal::change_back(buf, basis, bias, y, col0);
            const std::string what = std::string(c10::toString(dtype)) + " r=" + std::to_string(r) +
                                     " m=" + std::to_string(m) + " N=" + std::to_string(N) +
                                     (with_bias ? " bias" : "");
            ++cases;
            EXPECT_EQ(did, machine_has_avx512()) << what;
            if (!did) {
              EXPECT_TRUE(y.isnan().all().item<bool>()) << what << ": declined but wrote";
              continue;
            }
            ++served;
            at::Tensor ref =
                at::einsum("jbn,ij->nbi", {buf.to(at::kDouble), basis.to(at::kDouble)}).reshape({N, m * r});
            if (with_bias) ref = ref + bias.to(at::kDouble).narrow(0, col0, m * r);
            const at::Tensor got = y.narrow(1, col0, m * r).to(at::kDouble);
            const double scale = std::max(1.0, ref.abs().max().item<double>());
            EXPECT_LT((got - ref).abs().max().item<double>() / scale, dtype == at::kDouble ? 1e-13 : 1e-5)
                << what;
            EXPECT_TRUE(y.narrow(1, 0, col0).isnan().all().item<bool>())
                << what << ": wrote left of its columns";
            EXPECT_TRUE(y.narrow(1, col0 + m * r, 2).isnan().all().item<bool>())
                << what << ": wrote right of its columns";
          }
  EXPECT_EQ(served, machine_has_avx512() ? cases : 0);
}

// The test hook makes it decline, and it declines what it does not serve, without writing.
TEST(ChangeOfBasisKernel, DeclinesWithoutWriting) {
  const at::Tensor buf = at::randn({20, 2, 9}), basis = at::randn({20, 20});
  auto untouched = [&](at::Tensor y) { return y.isnan().all().item<bool>(); };
  eqnn::internal::set_change_back_portable(true);
  at::Tensor y = at::full({9, 40}, std::numeric_limits<float>::quiet_NaN());
  EXPECT_FALSE(eqnn::internal::change_back(buf, basis, at::Tensor(), y, 0));
  EXPECT_TRUE(untouched(y));
  eqnn::internal::set_change_back_portable(false);
  at::Tensor h = at::full({9, 40}, std::numeric_limits<float>::quiet_NaN(), at::kHalf);
  EXPECT_FALSE(eqnn::internal::change_back(buf.to(at::kHalf), basis.to(at::kHalf), at::Tensor(), h, 0));
  EXPECT_TRUE(untouched(h.to(at::kFloat)));
}

}  // namespace
