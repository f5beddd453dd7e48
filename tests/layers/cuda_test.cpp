// Devices: the layers, their caches, models and checkpoints on CUDA tensors, and mixed precision.
// TEST(Cuda, ...) needs a GPU: each is skipped, with the reason, when torch::cuda::is_available() is false
// (select them with `ctest -R '^Cuda\.'`). TEST(Devices, ...) are the same properties checked on the CPU
// (autocast to bfloat16, no host synchronisation or conversion inside forward), so they always run.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <unistd.h>

#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

#define EQNN_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU visible"

const c10::Device kCpu(c10::kCPU);
c10::Device cuda() { return c10::Device(c10::kCUDA, 0); }

/// max |x| as a double on the host; NaN when any entry is NaN or infinite (so `err < tol` fails).
double max_abs(const at::Tensor& x) {
  const at::Tensor a = x.detach().to(kCpu, at::kDouble);
  if (!at::isfinite(a).all().item<bool>()) return std::numeric_limits<double>::quiet_NaN();
  return a.numel() == 0 ? 0.0 : a.abs().max().item<double>();
}

/// max over every group element g of |f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ| / max(1, |f(x)|), computed where x
/// lives (the representation matrices are moved there). NaN if any output is not finite.
double device_equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f,
                                 const Representation& in, const Representation& out, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const at::Tensor rin = rep_matrices(in, x.scalar_type()).to(x.device());
  const at::Tensor rout = rep_matrices(out, x.scalar_type()).to(x.device());
  const at::Tensor y = f(x);
  EXPECT_EQ(y.device(), x.device());
  const double y_max = max_abs(y);
  bool finite = !std::isnan(y_max);
  const double scale = std::max(1.0, y_max);
  double worst = 0;
  for (int g = 0; g < in.group().order(); ++g) {
    const double err = max_abs(f(act(rin[g], x)) - act(rout[g], y)) / scale;
    finite = finite && !std::isnan(err);
    worst = std::max(worst, err);
  }
  return finite ? worst : std::numeric_limits<double>::quiet_NaN();
}

/// Relative difference max|a − b| / max(1, |b|), on the host, NaN-safe.
double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return max_abs(a.to(kCpu, at::kDouble) - b.to(kCpu, at::kDouble)) / std::max(1.0, max_abs(b));
}

/// Autocast on `device` to `dtype` while alive, as torch.autocast does (cache cleared on exit).
class Autocast {
 public:
  Autocast(c10::DeviceType device, at::ScalarType dtype)
      : device_(device),
        was_enabled_(at::autocast::is_autocast_enabled(device)),
        was_dtype_(at::autocast::get_autocast_dtype(device)) {
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, dtype);
  }
  ~Autocast() {
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, was_dtype_);
    at::autocast::clear_cache();
  }

 private:
  c10::DeviceType device_;
  bool was_enabled_;
  at::ScalarType was_dtype_;
};

/// The names of the ATen operators run on this thread while it lives.
class OpRecorder {
 public:
  OpRecorder() {
    names().clear();
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(&on_start).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
  }
  ~OpRecorder() { at::removeCallback(handle_); }
  static std::vector<std::string>& names() {
    static thread_local std::vector<std::string> n;
    return n;
  }

 private:
  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
    std::string name = fn.name();
    // ATen converts 0-dim scalars (an added eps, a mean's divisor) inside its own kernels: not a tensor
    // that a layer copies per call.
    const auto inputs = fn.inputs();
    if (name == "aten::_to_copy" && !inputs.empty() && inputs[0].isTensor() &&
        inputs[0].toTensor().dim() == 0)
      name += " (0-dim)";
    names().push_back(name);
    return nullptr;
  }
  at::CallbackHandle handle_;
};

/// Operators that wait for the device (a value read back to the host) or convert a tensor (a plan or basis
/// copied per call instead of once per device and dtype).
std::vector<std::string> syncs_and_conversions(const std::vector<std::string>& ops) {
  static const std::unordered_set<std::string> bad = {
      "aten::_local_scalar_dense", "aten::item",    "aten::equal",
      "aten::is_nonzero",          "aten::nonzero", "aten::_to_copy"};
  std::vector<std::string> found;
  for (const auto& op : ops)
    if (bad.count(op)) found.push_back(op);
  return found;
}

/// The layers every device test runs: each kind of shipped layer, on `rep` (a multiple of |G|); the pointwise
/// activation only when `rep` is a permutation representation in its own basis (elsewhere it is refused).
std::vector<std::pair<std::string, LayerPtr>> layer_zoo(const RepPtr& rep, bool pointwise = true) {
  std::vector<std::pair<std::string, LayerPtr>> zoo = {
      {"eLinear", make_layer("eLinear", rep, "{out_rep: \"regular + 2x trivial\"}")},
      {"eMultiheadAttention", make_layer("eMultiheadAttention", rep, "{num_heads: 2}")},
      {"eTransformerEncoderLayer",
       make_layer("eTransformerEncoderLayer", rep, "{num_heads: 2, dim_feedforward: 24, dropout: 0.0}")},
      {"eLayerNorm", make_layer("eLayerNorm", rep)},
      {"eRMSNorm", make_layer("eRMSNorm", rep)},
      {"eInvariantPool", make_layer("eInvariantPool", rep)},
      {"eNormPool", make_layer("eNormPool", rep)},
  };
  if (pointwise) zoo.emplace_back("eGELU", make_layer("eGELU", rep));
  for (auto& [name, layer] : zoo) randomise(*layer, 3, 0.3);
  return zoo;
}

// ---- on the CPU: the same properties, always run ----------------------------------------------------------

TEST(Devices, ForwardHasNoHostSyncOrConversionAfterTheFirstCall) {
  at::manual_seed(1);
  auto rep = parse_rep(group("D4"), "4x regular");
  for (auto& [name, layer] : layer_zoo(rep))
    for (bool training : {false, true}) {
      layer->train(training);
      at::Tensor x = at::randn({2, 5, rep->size()});
      layer->forward(x);  // first call: plans and bases converted for this device and dtype
      std::vector<std::string> ops;
      {
        OpRecorder recorder;
        layer->forward(x);
        ops = OpRecorder::names();
      }
      EXPECT_FALSE(ops.empty()) << name << ": the recorder saw no operator";
      EXPECT_EQ(syncs_and_conversions(ops), std::vector<std::string>())
          << name << " training=" << training << "; ops: " << fmt::format("{}", fmt::join(ops, " "));
    }
}

TEST(Devices, AutocastToBFloat16OnCpuIsFiniteAndCloseToFloat32) {
  at::manual_seed(2);
  auto rep = parse_rep(group("C4"), "4x regular");
  for (auto& [name, layer] : layer_zoo(rep)) {
    layer->eval();
    at::NoGradGuard no_grad;
    at::Tensor x = at::randn({2, 5, rep->size()});
    at::Tensor reference = layer->forward(x);
    at::Tensor y;
    {
      Autocast autocast(c10::kCPU, at::kBFloat16);
      y = layer->forward(x);
    }
    EXPECT_LT(relative_difference(y, reference), 0.1) << name << " (output " << y.scalar_type() << ")";
  }
  // The linear layers really ran in bfloat16.
  auto linear = make_layer("eLinear", rep, "{out_rep: \"4x regular\"}");
  Autocast autocast(c10::kCPU, at::kBFloat16);
  EXPECT_EQ(linear->forward(at::randn({3, rep->size()})).scalar_type(), at::kBFloat16);
}

// ---- on a GPU ---------------------------------------------------------------------------------------------

TEST(Cuda, LayersAreEquivariantOnEveryElement) {
  EQNN_REQUIRE_CUDA();
  at::manual_seed(3);
  for (const char* spec : {"D4", "Ico"}) {
    auto g = group(spec);
    for (const auto& rep : {parse_rep(g, "2x regular"), random_basis(parse_rep(g, "2x regular"), 5)}) {
      ELinear linear(ELinearOptions(rep, parse_rep(g, "regular + trivial")));
      EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2));
      auto transformer =
          make_layer("eTransformerEncoderLayer", rep, "{num_heads: 2, dim_feedforward: 40, dropout: 0.0}");
      randomise(*linear, 1, 0.3);
      randomise(*mha, 2, 0.3);
      randomise(*transformer, 3, 0.3);
      for (auto dtype : {at::kDouble, at::kFloat}) {
        const double tol = tolerance(dtype);
        const std::string what = rep->describe() + " " + c10::toString(dtype);
        const auto o = at::TensorOptions().device(cuda()).dtype(dtype);
        at::Tensor x = at::randn({2, 5, rep->size()}, o);
        linear->to(cuda(), dtype);
        mha->to(cuda(), dtype);
        transformer->to(cuda(), dtype);
        for (bool training : {false, true}) {
          linear->train(training);
          mha->train(training);
          transformer->train(training);
          const std::string w = what + (training ? " train" : " eval");
          EXPECT_LT(device_equivariance_error([&](const at::Tensor& t) { return linear->forward(t); }, *rep,
                                              *linear->out_rep(), x),
                    tol)
              << "eLinear " << w;
          EXPECT_LT(
              device_equivariance_error([&](const at::Tensor& t) { return mha->forward(t); }, *rep, *rep, x),
              tol)
              << "eMultiheadAttention " << w;
          EXPECT_LT(device_equivariance_error([&](const at::Tensor& t) { return transformer->forward(t); },
                                              *rep, *rep, x),
                    tol)
              << "eTransformerEncoderLayer " << w;
        }
        // The stock interface with masks on the device, both runtime paths (the weights are invariant).
        mha->eval();
        at::Tensor kpm = at::zeros({2, 5}, at::TensorOptions().device(cuda()).dtype(at::kBool));
        kpm.select(0, 1).narrow(0, 3, 2).fill_(true);
        at::Tensor am = at::randn({5, 5}, o);
        for (bool need_weights : {false, true}) {
          auto seq_first = [&](const at::Tensor& t) {
            at::Tensor s = t.transpose(0, 1);
            return std::get<0>(mha->forward(s, s, s, kpm, need_weights, am)).transpose(0, 1);
          };
          EXPECT_LT(device_equivariance_error(seq_first, *rep, *rep, x), tol)
              << "eMultiheadAttention with masks, need_weights=" << need_weights << " " << what;
        }
      }
    }
  }
}

TEST(Cuda, SameResultsAsOnTheCpu) {
  EQNN_REQUIRE_CUDA();
  at::manual_seed(4);
  for (const auto& rep :
       {parse_rep(group("D4"), "4x regular"), random_basis(parse_rep(group("D4"), "4x regular"), 9)})
    for (auto& [name, layer] : layer_zoo(rep, /*pointwise=*/!rep->permutation_basis().has_value()))
      for (auto dtype : {at::kDouble, at::kFloat})
        for (bool training : {false, true}) {
          layer->to(kCpu, dtype);
          layer->train(training);
          at::Tensor x = at::randn({3, 6, rep->size()}, at::TensorOptions().dtype(dtype));
          at::Tensor on_cpu = layer->forward(x);
          layer->to(cuda(), dtype);
          at::Tensor on_gpu = layer->forward(x.to(cuda()));
          EXPECT_TRUE(on_gpu.is_cuda()) << name;
          EXPECT_LT(relative_difference(on_gpu, on_cpu), dtype == at::kDouble ? 1e-10 : 1e-5)
              << name << " " << c10::toString(dtype) << (training ? " train" : " eval");
          // Gradients flow to the coefficients on the device.
          if (training && !layer->parameters().empty()) {
            layer->forward(x.to(cuda())).pow(2).sum().backward();
            for (const auto& p : layer->parameters()) {
              ASSERT_TRUE(p.grad().defined()) << name;
              EXPECT_TRUE(p.grad().is_cuda()) << name;
              EXPECT_GE(max_abs(p.grad()), 0.0) << name << ": gradient not finite";
              p.mutable_grad() = at::Tensor();
            }
          }
        }
}

TEST(Cuda, EvalCacheIsReusedAndRefreshedOnTheDevice) {
  EQNN_REQUIRE_CUDA();
  at::manual_seed(5);
  auto rep = parse_rep(group("C4"), "4x regular");
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2));
  mha->eval();
  at::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 3, 16});
  at::Tensor on_cpu = mha->forward(x);  // the cache is filled on the CPU ...
  mha->to(cuda());                      // ... and must follow the module to the device
  at::Tensor xg = x.to(cuda());
  at::Tensor first = mha->forward(xg);
  EXPECT_TRUE(mha->in_proj_weight().is_cuda());
  EXPECT_TRUE(mha->out_proj->weight().is_cuda());
  EXPECT_LT(relative_difference(first, on_cpu), 1e-5);
  const void* w = mha->in_proj_weight().data_ptr();  // device addresses, compared, never read
  const void* o = mha->out_proj->weight().data_ptr();
  mha->forward(xg);
  EXPECT_EQ(mha->in_proj_weight().data_ptr(), w);
  EXPECT_EQ(mha->out_proj->weight().data_ptr(), o);
  // An in-place edit of the coefficients is seen: the output is the freshly expanded one.
  mha->named_parameters()["out_proj.weight_coefficients"].mul_(-2.0);
  at::Tensor edited = mha->forward(xg);
  const auto& c = mha->out_proj->weight_parameter();
  at::Tensor fresh_weight = c.constraint()->expand(mha->named_parameters()["out_proj.weight_coefficients"]);
  EXPECT_LT(relative_difference(mha->out_proj->weight(), fresh_weight), 1e-6);
  EXPECT_GT(relative_difference(edited, first), 1e-3);
  // A dtype change on the device re-expands in that dtype.
  mha->to(at::kDouble);
  EXPECT_EQ(mha->forward(xg.to(at::kDouble)).scalar_type(), at::kDouble);
  EXPECT_EQ(mha->in_proj_weight().scalar_type(), at::kDouble);
  EXPECT_TRUE(mha->in_proj_weight().is_cuda());
}

TEST(Cuda, ForwardHasNoHostSyncOrConversionAfterTheFirstCall) {
  EQNN_REQUIRE_CUDA();
  at::manual_seed(6);
  auto rep = parse_rep(group("D4"), "4x regular");
  for (auto& [name, layer] : layer_zoo(rep)) {
    layer->to(cuda());
    for (bool training : {false, true}) {
      layer->train(training);
      at::Tensor x = at::randn({2, 5, rep->size()}, at::TensorOptions().device(cuda()));
      layer->forward(x);
      std::vector<std::string> ops;
      {
        OpRecorder recorder;
        layer->forward(x);
        ops = OpRecorder::names();
      }
      EXPECT_FALSE(ops.empty()) << name;
      EXPECT_EQ(syncs_and_conversions(ops), std::vector<std::string>()) << name << " training=" << training;
    }
  }
}

TEST(Cuda, AutocastForwardIsFiniteAndCloseToFloat32) {
  EQNN_REQUIRE_CUDA();
  at::manual_seed(7);
  auto rep = parse_rep(group("C8"), "4x regular");
  for (auto& [name, layer] : layer_zoo(rep)) {
    layer->to(cuda());
    layer->eval();
    at::NoGradGuard no_grad;
    at::Tensor x = at::randn({4, 16, rep->size()}, at::TensorOptions().device(cuda()));
    at::Tensor reference = layer->forward(x);
    for (auto [dtype, tol] : {std::pair<at::ScalarType, double>{at::kBFloat16, 0.1}, {at::kHalf, 0.02}}) {
      at::Tensor y;
      {
        Autocast autocast(c10::kCUDA, dtype);
        y = layer->forward(x);
      }
      EXPECT_TRUE(y.is_cuda()) << name;
      EXPECT_LT(relative_difference(y, reference), tol) << name << " " << c10::toString(dtype);
    }
  }
  // Training under autocast: gradients reach the float32 coefficients and are finite.
  auto transformer =
      make_layer("eTransformerEncoderLayer", rep, "{num_heads: 2, dim_feedforward: 64, dropout: 0.1}");
  transformer->to(cuda());
  transformer->train();
  at::Tensor x = at::randn({4, 16, rep->size()}, at::TensorOptions().device(cuda()));
  at::Tensor loss;
  {
    Autocast autocast(c10::kCUDA, at::kBFloat16);
    loss = transformer->forward(x).to(at::kFloat).pow(2).mean();
  }
  loss.backward();
  for (const auto& p : transformer->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
    EXPECT_GE(max_abs(p.grad()), 0.0) << "gradient not finite";
  }
}

constexpr const char* kModel = R"(eqnn: 1
group: D4
reps:
  x: 2x regular
  h: 4x regular
input: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eTransformerEncoderLayer, num_heads: 2, dim_feedforward: 32, dropout: 0.0}
  - {type: Residual, layers: [{type: eRMSNorm}, {type: eLinear, out_rep: h}, {type: eGELU}]}
  - {type: eLinear, out_rep: x}
)";

TEST(Cuda, ModelFromYamlRunsAndChecksOnTheDevice) {
  EQNN_REQUIRE_CUDA();
  torch::manual_seed(8);
  auto model = load_model_from_string(registry(), kModel, "<cuda test model>");
  randomise(*model, 4, 0.3);
  model->eval();
  at::Tensor x = at::randn({3, 7, model->input_size()});
  at::Tensor on_cpu;
  {
    at::NoGradGuard no_grad;
    on_cpu = model->forward(x);
  }
  model->to(cuda());
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.is_cuda());
  {
    at::NoGradGuard no_grad;
    at::Tensor on_gpu = model->forward(x.to(cuda()));
    EXPECT_TRUE(on_gpu.is_cuda());
    EXPECT_LT(relative_difference(on_gpu, on_cpu), 1e-5);
  }
  // `eqnn check` on the device: every layer and the whole model, float32 and float64.
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto results = check_model(*model, dtype, 3);
    for (const auto& p : model->parameters()) EXPECT_TRUE(p.is_cuda()) << "check_model kept the device";
    for (const auto& r : results)
      if (r.checked)
        EXPECT_LE(r.max_error, equivariance_tolerance(dtype)) << r.path << " " << c10::toString(dtype);
    EXPECT_TRUE(results.back().checked);
  }
}

TEST(Cuda, CheckpointRoundTripOnTheDevice) {
  EQNN_REQUIRE_CUDA();
  torch::manual_seed(9);
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  auto model = load_model_from_string(registry(), kModel, "<cuda test model>");
  randomise(*model, 5, 0.3);
  model->to(cuda());
  model->eval();
  at::Tensor x = at::randn({2, 4, model->input_size()}, at::TensorOptions().device(cuda()));
  at::Tensor expected;
  {
    at::NoGradGuard no_grad;
    expected = model->forward(x);
  }
  save_checkpoint(*model, registry(), path);
  // Into a fresh model on the CPU (the file holds CPU tensors) and into one already on the device.
  torch::manual_seed(10);
  auto on_cpu = load_model_from_string(registry(), kModel, "<cuda test model>");
  load_checkpoint(*on_cpu, path);
  torch::manual_seed(11);
  auto on_gpu = load_model_from_string(registry(), kModel, "<cuda test model>");
  on_gpu->to(cuda());
  on_gpu->eval();
  {
    at::NoGradGuard no_grad;
    on_gpu->forward(x);  // fills the eval cache with the old weights, which loading must invalidate
  }
  load_checkpoint(*on_gpu, path);
  on_cpu->eval();
  at::NoGradGuard no_grad;
  EXPECT_LT(relative_difference(on_cpu->forward(x.cpu()), expected), 1e-5);
  at::Tensor reloaded = on_gpu->forward(x);
  EXPECT_TRUE(reloaded.is_cuda());
  EXPECT_LT(relative_difference(reloaded, expected), 1e-6);
}

}  // namespace
}  // namespace eqnn::testing
