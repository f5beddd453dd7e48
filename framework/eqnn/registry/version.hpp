// Version numbers of libeqnn and of its plugin ABI, and the build fingerprint plugins must match.
#pragma once

#include <string>

#include <torch/version.h>
#include <Eigen/Core>

#define EQNN_DETAIL_STR2(x) #x
#define EQNN_DETAIL_STR(x) EQNN_DETAIL_STR2(x)
#ifdef _GLIBCXX_USE_CXX11_ABI
#define EQNN_DETAIL_CXX11_ABI EQNN_DETAIL_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define EQNN_DETAIL_CXX11_ABI "none"
#endif
// The debug mode of libstdc++ changes the layout of every standard container that crosses the plugin
// boundary (std::vector, std::map, std::list, ...).
#ifdef _GLIBCXX_DEBUG
#define EQNN_DETAIL_GLIBCXX_DEBUG "on"
#else
#define EQNN_DETAIL_GLIBCXX_DEBUG "off"
#endif
#ifndef EQNN_TORCH_CUDA
#define EQNN_TORCH_CUDA 0
#endif
#if EQNN_TORCH_CUDA
#define EQNN_DETAIL_TORCH_DEVICE "cuda"
#else
#define EQNN_DETAIL_TORCH_DEVICE "cpu"
#endif
// clang defines __GNUC__ too (as 4.2): test for it first.
#if defined(__clang__)
#define EQNN_DETAIL_COMPILER "clang " EQNN_DETAIL_STR(__clang_major__) "." EQNN_DETAIL_STR(__clang_minor__)
#elif defined(__GNUC__)
#define EQNN_DETAIL_COMPILER "gcc " EQNN_DETAIL_STR(__GNUC__) "." EQNN_DETAIL_STR(__GNUC_MINOR__)
#else
#define EQNN_DETAIL_COMPILER "unknown"
#endif
// yaml-cpp's headers carry no version macro: CMake passes the version find_package(yaml-cpp) found to
// everything that links eqnn (plugins included, in-tree and through find_package(eqnn)).
#ifndef EQNN_YAML_CPP_VERSION
#define EQNN_YAML_CPP_VERSION "unknown"
#endif
/// Build fingerprint, expanded where it is used: in a plugin it describes the plugin's own build.
/// The loader refuses a plugin whose fingerprint differs from libeqnn's. It names everything whose
/// layout or ABI crosses the plugin boundary: LibTorch (at::Tensor, torch::nn::Module), Eigen matrices
/// (group elements), YAML::Node (layer and group arguments), the compiler and the libstdc++ ABI/mode.
#define EQNN_BUILD_FINGERPRINT \
  "eqnn " EQNN_DETAIL_STR(EQNN_VERSION_MAJOR) "." EQNN_DETAIL_STR(EQNN_VERSION_MINOR)                \
  "; torch " EQNN_DETAIL_STR(TORCH_VERSION_MAJOR) "." EQNN_DETAIL_STR(TORCH_VERSION_MINOR) "."       \
  EQNN_DETAIL_STR(TORCH_VERSION_PATCH) " " EQNN_DETAIL_TORCH_DEVICE                                  \
  "; eigen " EQNN_DETAIL_STR(EIGEN_WORLD_VERSION) "." EQNN_DETAIL_STR(EIGEN_MAJOR_VERSION) "."       \
  EQNN_DETAIL_STR(EIGEN_MINOR_VERSION) "; yaml-cpp " EQNN_YAML_CPP_VERSION                            \
  "; compiler " EQNN_DETAIL_COMPILER "; cxx11abi " EQNN_DETAIL_CXX11_ABI                             \
  "; glibcxx-debug " EQNN_DETAIL_GLIBCXX_DEBUG

#define EQNN_VERSION_MAJOR 0
#define EQNN_VERSION_MINOR 1
#define EQNN_VERSION_PATCH 0
#define EQNN_VERSION_STRING "0.1.0"
/// Bumped whenever PluginInfo, Registrar or an interface class changes layout.
#define EQNN_PLUGIN_ABI_VERSION 2

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
