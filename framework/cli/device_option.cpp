// The shared --device option (see device_option.hpp).
#include "device_option.hpp"

#include <fmt/format.h>
#include <torch/cuda.h>

#include "commands.hpp"
#include "eqnn/registry/version.hpp"

namespace eqnn::cli {

CLI::Option* add_device_option(CLI::App* command, std::string& name) {
  return command->add_option("--device", name, "Compute on cpu or cuda (cuda:N for GPU N)")
      ->type_name("DEVICE")
      ->capture_default_str();
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  int64_t index = -1;
  bool ok = name == "cuda";
  if (!ok && name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() < 9) {
    ok = name.find_first_not_of("0123456789", 5) == std::string::npos;
    if (ok) index = std::stoll(name.substr(5));
  }
  if (!ok)
    throw UsageError(fmt::format("--device must be cpu, cuda or cuda:N (N a GPU index), found '{}'", name));
  const std::string version =
      fmt::format("LibTorch {} ({})", torch_version(), torch_has_cuda() ? "built with CUDA" : "CPU only");
  if (!torch_has_cuda())
    throw UsageError(fmt::format(
        "--device {}: this eqnn was built against a LibTorch without CUDA ('eqnn --version' reports {}); "
        "rebuild against a CUDA build of LibTorch (the torch wheel with CUDA) or use --device cpu",
        name, version));
  const int64_t count = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  if (count == 0)
    throw UsageError(fmt::format(
        "--device {}: no CUDA GPU is visible to this process ('eqnn --version' reports {}, CUDA GPUs "
        "visible: none); check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or use --device cpu",
        name, version));
  if (index >= count)
    throw UsageError(fmt::format("--device {}: there is no GPU {}; {} GPU{} visible (cuda:0{})", name, index,
                                 count, count == 1 ? " is" : "s are",
                                 count == 1 ? "" : fmt::format(" to cuda:{}", count - 1)));
  return index < 0 ? c10::Device(c10::kCUDA) : c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

}  // namespace eqnn::cli
