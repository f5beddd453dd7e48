// The key of a DeviceCache entry: the dtype's and the device's own names.
#include "eqnn/util/device_cache.hpp"

#include <fmt/format.h>

namespace eqnn {

std::string device_key(const at::TensorOptions& options) {
  return fmt::format("{}/{}", c10::toString(options.dtype()), options.device().str());
}

}  // namespace eqnn
