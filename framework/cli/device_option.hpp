// `--device cpu|cuda` for the commands that compute (run, check, train, bench): one option, one parser
// and one error text for a device that is not there.
#pragma once

#include <string>

#include <c10/core/Device.h>
#include <CLI/CLI.hpp>

namespace eqnn::cli {

/// Adds `--device` to `command`, stored in `name` (default "cpu").
CLI::Option* add_device_option(CLI::App* command, std::string& name);

/// "cpu", "cuda" or "cuda:N" → the device. Throws UsageError for another name, for a LibTorch without
/// CUDA, and when no GPU is visible (saying so, and what `eqnn --version` reports).
c10::Device parse_device(const std::string& name);

/// Waits for the device's queued work (CUDA) before a clock is read; nothing on the CPU.
void synchronize(const c10::Device& device);

}  // namespace eqnn::cli
