// DeviceCache (util/device_cache.hpp): one conversion per (dtype, device), stable references, clear(),
// and a single conversion when many threads ask at once.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/util/device_cache.hpp"

namespace eqnn {
namespace {

TEST(DeviceCache, KeysTellDtypesAndDevicesApart) {
  const std::string f = device_key(at::TensorOptions().dtype(at::kFloat));
  const std::string d = device_key(at::TensorOptions().dtype(at::kDouble));
  EXPECT_NE(f, d);
  EXPECT_EQ(f, device_key(at::zeros({2}, at::kFloat).options()));  // a tensor's options: the same key
  EXPECT_EQ(f.substr(f.size() - 4), "/cpu");
  EXPECT_NE(f, device_key(at::TensorOptions().dtype(at::kFloat).device(at::Device("cuda:0"))));
}

TEST(DeviceCache, ConvertsOncePerOptionsUntilCleared) {
  const at::Tensor master = at::arange(4, at::kDouble);
  DeviceCache<at::Tensor> cache;
  int conversions = 0;
  auto convert = [&](const at::TensorOptions& o) {
    ++conversions;
    return master.to(o);
  };
  const at::Tensor& f1 = cache.get(at::TensorOptions().dtype(at::kFloat), convert);
  const at::Tensor& f2 = cache.get(at::TensorOptions().dtype(at::kFloat), convert);
  EXPECT_EQ(&f1, &f2);
  EXPECT_EQ(conversions, 1);
  EXPECT_EQ(f1.scalar_type(), at::kFloat);
  const at::Tensor& d = cache.get(at::TensorOptions().dtype(at::kDouble), convert);
  EXPECT_EQ(conversions, 2);
  EXPECT_EQ(d.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(f1, master.to(at::kFloat)));  // the first entry survived the second insertion
  cache.clear();
  cache.get(at::TensorOptions().dtype(at::kFloat), convert);
  EXPECT_EQ(conversions, 3);
}

TEST(DeviceCache, ManyThreadsConvertOnce) {
  DeviceCache<int> cache;
  std::atomic<int> conversions{0};
  std::vector<std::thread> threads;
  std::vector<const int*> seen(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      seen[t] = &cache.get(at::TensorOptions().dtype(at::kHalf), [&](const at::TensorOptions&) {
        ++conversions;
        return 42;
      });
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(conversions.load(), 1);
  for (const int* p : seen) {
    EXPECT_EQ(p, seen[0]);
    EXPECT_EQ(*p, 42);
  }
}

}  // namespace
}  // namespace eqnn
