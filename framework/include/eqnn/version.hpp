// Version numbers of libeqnn and of its plugin ABI, and the build fingerprint plugins must match.
#pragma once

#include <string>

#include <torch/version.h>

#define EQNN_DETAIL_STR2(x) #x
#define EQNN_DETAIL_STR(x) EQNN_DETAIL_STR2(x)
#ifdef _GLIBCXX_USE_CXX11_ABI
#define EQNN_DETAIL_CXX11_ABI EQNN_DETAIL_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define EQNN_DETAIL_CXX11_ABI "none"
#endif
#ifndef EQNN_TORCH_CUDA
#define EQNN_TORCH_CUDA 0
#endif
#if EQNN_TORCH_CUDA
#define EQNN_DETAIL_TORCH_DEVICE "cuda"
#else
#define EQNN_DETAIL_TORCH_DEVICE "cpu"
#endif
/// Build fingerprint, expanded where it is used: in a plugin it describes the plugin's own build.
/// The loader refuses a plugin whose fingerprint differs from libeqnn's.
#define EQNN_BUILD_FINGERPRINT                                                             \
  "eqnn " EQNN_DETAIL_STR(EQNN_VERSION_MAJOR) "." EQNN_DETAIL_STR(EQNN_VERSION_MINOR)     \
  "; torch " EQNN_DETAIL_STR(TORCH_VERSION_MAJOR) "." EQNN_DETAIL_STR(TORCH_VERSION_MINOR) "."  \
  EQNN_DETAIL_STR(TORCH_VERSION_PATCH) " " EQNN_DETAIL_TORCH_DEVICE                           \
  "; compiler gcc " EQNN_DETAIL_STR(__GNUC__) "." EQNN_DETAIL_STR(__GNUC_MINOR__)          \
  "; cxx11abi " EQNN_DETAIL_CXX11_ABI

#define EQNN_VERSION_MAJOR 0
#define EQNN_VERSION_MINOR 1
#define EQNN_VERSION_PATCH 0
#define EQNN_VERSION_STRING "0.1.0"
/// Bumped whenever PluginInfo, Registrar or an interface class changes layout.
#define EQNN_PLUGIN_ABI_VERSION 1

namespace eqnn {

/// "0.1.0"
std::string version();
/// Version of the LibTorch libeqnn was built against, e.g. "2.11.0".
std::string torch_version();
/// The fingerprint libeqnn itself was built with (EQNN_BUILD_FINGERPRINT expanded in libeqnn).
std::string build_fingerprint();
/// Whether the LibTorch libeqnn was built against has CUDA.
bool torch_has_cuda();

}  // namespace eqnn
