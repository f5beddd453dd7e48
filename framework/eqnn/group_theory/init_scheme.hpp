// Weight initialisation schemes ("stock", "xavier_normal", ...): their names, the per-entry variance each
// gives a dense weight, and filling a tensor with that law. HomSpace::sample and every layer's
// reset_parameters draw through here, so a scheme means the same thing for every parameter.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace eqnn {

/// Weight initialisations. `stock` is the stock module's own default per parameter: for a Hom space (a
/// Linear weight) torch.nn.Linear's kaiming_uniform_(a=√5) = U(±1/√fan_in); layers map it per parameter
/// (eLinear's bias U(±1/√fan_in), eMultiheadAttention's in_proj xavier_uniform and zero biases).
enum class InitScheme { stock, xavier_normal, xavier_uniform, kaiming_normal, kaiming_uniform, zeros };
/// Parses "stock", "xavier_normal", ...; throws ConfigError listing the known schemes (with "did you mean").
InitScheme parse_init_scheme(const std::string& name);
std::string to_string(InitScheme s);
/// The per-entry variance the stock scheme gives a dense (rows × cols) weight.
double stock_variance(InitScheme s, int64_t rows, int64_t cols);
/// Fills t in place (no grad) with i.i.d. entries of the scheme's law (normal or uniform) and `variance`.
void fill_init(at::Tensor& t, InitScheme scheme, double variance,
               c10::optional<at::Generator> generator = c10::nullopt);

}  // namespace eqnn
