// The eval-mode cache of expanded weights (ConstrainedParameter) under concurrency and under writes
// that bypass θ's version counter: many threads running one model give the single-thread answer, and
// `p.data().copy_(...)` is seen by the next forward.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/rep_parser.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

// Releases every waiting thread at once, so they all reach the empty cache together.
class StartLine {
 public:
  explicit StartLine(int count) : waiting_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--waiting_ == 0) {
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return waiting_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int waiting_;
};

TEST(ConstrainedParameterThreads, ConcurrentForwardsOnOneAttentionModelGiveTheSingleThreadAnswer) {
  at::manual_seed(21);
  RepPtr rep = random_basis(parse_rep(group("C4"), "2x regular"), 3);
  EMultiheadAttention mha(rep, 2);
  mha->eval();
  const at::Tensor x = at::randn({2, 3, 8});
  // The single-thread answer in each grad mode (attention may take another kernel when grad is on).
  const at::Tensor expected[2] = {[&] {
                                    at::NoGradGuard no_grad;
                                    return mha->forward(x);
                                  }(),
                                  mha->forward(x).detach()};
  // Start from an empty cache, so the threads race to fill it.
  mha->train();
  mha->forward(x);
  mha->eval();

  constexpr int kThreads = 8, kForwards = 1000;
  std::atomic<int> wrong{0}, failed{0};
  StartLine start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Odd threads run with grad mode on (θ requires grad: no cache, and each such forward frees the
      // cache), even ones under no-grad (served from the cache, refilling it): fills and frees overlap.
      c10::AutoGradMode grad_mode(t % 2 == 1);
      start.arrive_and_wait();
      try {
        for (int i = 0; i < kForwards; ++i) {
          if (!at::equal(mha->forward(x).detach(), expected[t % 2])) ++wrong;
        }
      } catch (...) {
        ++failed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0) << "of " << kThreads * kForwards << " forwards";
}

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
  const at::Tensor expected = at::linear(x, lin->weight_parameter().constraint()->expand(ema.clone()),
                                         lin->bias_parameter().constraint()->expand(
                                             lin->named_parameters()["bias_coefficients"].detach()));
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
