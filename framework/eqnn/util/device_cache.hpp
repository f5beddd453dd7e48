// Per-(dtype, device) copies of tensors kept as float64 CPU masters: a forward pass asks for its inputs'
// options and gets the converted copy, made once and kept until clear(). Thread-safe; used by Hom spaces,
// invariant spaces and the layers that precompute bases (normalization, pooling).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <c10/core/TensorOptions.h>

namespace eqnn {

/// The key one (dtype, device) pair is cached under: the dtype's description, "/", the device ("cpu",
/// "cuda:0"). Equal for equal dtype and device, different otherwise.
std::string device_key(const at::TensorOptions& options);

/// What a master converts to, once per (dtype, device).
///
///   DeviceCache<at::Tensor> converted_;
///   const at::Tensor& b = converted_.get(x.options(), [&](const at::TensorOptions& o) { return basis_.to(o);
///   });
///
/// References returned by get() stay valid until clear() (std::map never moves its nodes).
template <class T>
class DeviceCache {
 public:
  DeviceCache() = default;
  DeviceCache(const DeviceCache&) = delete;
  DeviceCache& operator=(const DeviceCache&) = delete;

  /// The entry for `options`, made by `convert(options)` the first time.
  template <class Convert>
  const T& get(const at::TensorOptions& options, Convert&& convert) const {
    const std::string key = device_key(options);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(key, convert(options)).first;
    return it->second;
  }

  /// Forgets every entry (after the masters change).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::string, T> entries_;
};

}  // namespace eqnn
