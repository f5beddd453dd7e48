// One model, many threads: concurrent eval-mode forwards on one eMultiheadAttention give the single-thread
// answer while the threads race to fill and free the cache of expanded weights (ConstrainedParameter).
// Its own test binary, so that scripts/sanitize.sh can build just this (and what it links) under
// ThreadSanitizer.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
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

}  // namespace
}  // namespace eqnn::testing
