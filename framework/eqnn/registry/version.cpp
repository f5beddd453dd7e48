// Version numbers and the build fingerprint of libeqnn, expanded here so plugins compare against the
// values libeqnn was built with, not the ones in the headers they happen to include.
#include "eqnn/registry/version.hpp"

namespace eqnn {

std::string version() { return EQNN_VERSION_STRING; }

std::string torch_version() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return EQNN_DETAIL_STR(TORCH_VERSION_MAJOR) "." EQNN_DETAIL_STR(TORCH_VERSION_MINOR) "." EQNN_DETAIL_STR(
      TORCH_VERSION_PATCH);
#endif
}

std::string build_fingerprint() { return EQNN_BUILD_FINGERPRINT; }

bool torch_has_cuda() { return EQNN_TORCH_CUDA != 0; }

}  // namespace eqnn
