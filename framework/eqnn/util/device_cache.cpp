// The key of a DeviceCache entry, as the four caches it replaces wrote it. c10::toString has no overload for
// the dtype (a TypeMeta), which converts to TensorOptions: the first part describes TensorOptions(dtype).
#include "eqnn/util/device_cache.hpp"

#include <fmt/format.h>

namespace eqnn {

std::string device_key(const at::TensorOptions& options) {
  return fmt::format("{}/{}", c10::toString(options.dtype()), options.device().str());
}

}  // namespace eqnn
