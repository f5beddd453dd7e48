// eConv1d and eConvTranspose1d: exact equivariance on every group element (ρ on the channel dimension) for
// C4, D4 and Ico, for regular, mixed, rotated and bias-free reps, with stride, 'same' padding, dilation and
// every padding mode, in float64 and float32; stock torch::nn::Conv1d / ConvTranspose1d with the copied
// weights give the same outputs and gradients; torch's output length; the stock init variances; the model
// file's features-last layout and its export; errors, located in YAML.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/nn/modules/conv.h>

#include "e_conv.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace {

using eqnn::ConvPadding;
using eqnn::EConv1dOptions;
using eqnn::EConvTranspose1dOptions;
using eqnn::RepPtr;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;

// max over g of |f(ρ_in(g) x) − ρ_out(g) f(x)| / max(1, max|f(x)|), ρ on dim -2 of (N, C, L) / (C, L).
double channel_equivariance_error(eqnn::Layer& layer, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const auto dtype = x.scalar_type();
  const at::Tensor rin = eqnn::testing::rep_matrices(*layer.in_rep(), dtype);
  const at::Tensor rout = eqnn::testing::rep_matrices(*layer.out_rep(), dtype);
  const at::Tensor y = layer.forward(x);
  const double scale = std::max(1.0, y.abs().max().item<double>());
  double worst = 0;
  for (int64_t g = 0; g < rin.size(0); ++g) {
    const at::Tensor gy = at::matmul(rout[g], y), fgx = layer.forward(at::matmul(rin[g], x));
    worst = std::max(worst, (fgx - gy).abs().max().item<double>() / scale);
  }
  return worst;
}

struct RepPair {
  std::string label;
  RepPtr in, out;
};

std::vector<RepPair> rep_pairs(const eqnn::GroupPtr& g) {
  using eqnn::parse_rep;
  std::vector<RepPair> pairs;
  pairs.push_back({"regular -> regular", parse_rep(g, "regular"), parse_rep(g, "regular")});
  pairs.push_back({"2x regular + trivial + irrep(1) -> regular",
                   parse_rep(g, "2x regular + trivial + irrep(1)"), parse_rep(g, "regular")});
  pairs.push_back({"random basis -> 2x regular",
                   eqnn::testing::random_basis(parse_rep(g, "regular + trivial"), 7),
                   parse_rep(g, "2x regular")});
  pairs.push_back({"regular -> irrep(1) (no bias)", parse_rep(g, "regular"), parse_rep(g, "irrep(1)")});
  return pairs;
}

class ConvEquivariance : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvEquivariance, EveryElementEveryRepEveryOption) {
  const auto g = eqnn::testing::group(GetParam());
  const bool small = g->order() <= 8;
  for (const auto& pair : rep_pairs(g)) {
    std::vector<std::pair<std::string, EConv1dOptions>> convs;
    const EConv1dOptions base(pair.in, pair.out, 3);
    convs.emplace_back("default", base);
    if (small) {
      convs.emplace_back("stride 2 padding 1", EConv1dOptions(base).stride(2).padding(1));
      convs.emplace_back("same", EConv1dOptions(base).padding("same"));
      convs.emplace_back("dilation 2 valid", EConv1dOptions(base).dilation(2).padding("valid"));
      for (const std::string mode : {"reflect", "replicate", "circular"}) {
        convs.emplace_back(mode, EConv1dOptions(base).padding(2).padding_mode(mode));
        convs.emplace_back(mode + " same dilation 2",
                           EConv1dOptions(base).padding("same").dilation(2).padding_mode(mode));
      }
    }
    std::vector<std::pair<std::string, EConvTranspose1dOptions>> transposes;
    const EConvTranspose1dOptions tbase(pair.in, pair.out, 3);
    transposes.emplace_back("default", tbase);
    if (small) {
      transposes.emplace_back("stride 2 padding 1 output_padding 1",
                              EConvTranspose1dOptions(tbase).stride(2).padding(1).output_padding(1));
      transposes.emplace_back("dilation 2", EConvTranspose1dOptions(tbase).dilation(2).padding(2));
    }
    std::vector<std::pair<std::string, std::shared_ptr<eqnn::EConvBase>>> layers;
    for (const auto& [label, o] : convs) layers.emplace_back("eConv1d " + label, eqnn::EConv1d(o).ptr());
    for (const auto& [label, o] : transposes)
      layers.emplace_back("eConvTranspose1d " + label, eqnn::EConvTranspose1d(o).ptr());
    for (const auto& [label, layer] : layers) {
      const std::string what = g->name() + " " + pair.label + " " + label;
      eqnn::testing::randomise(*layer, 11);
      // The bias exists exactly when out_rep has a trivial part.
      EXPECT_EQ(layer->has_bias(), pair.out->multiplicities()[0] > 0) << what;
      EXPECT_EQ(layer->bias_note().empty(), layer->has_bias()) << what;
      for (const auto dtype : eqnn::testing::float_dtypes()) {
        layer->to(dtype);
        const int64_t c = pair.in->size();
        for (const at::Tensor& x : {at::randn({2, c, 9}, at::TensorOptions().dtype(dtype)),
                                    at::randn({c, 7}, at::TensorOptions().dtype(dtype))}) {
          EXPECT_LE(channel_equivariance_error(*layer, x), eqnn::testing::tolerance(dtype))
              << what << " " << dtype << " " << x.sizes();
        }
      }
      layer->to(at::kDouble);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, ConvEquivariance, ::testing::Values("C4", "D4", "Ico"));

// Every tap of the effective weight is in Hom_G(in, out) (the transpose's taps transposed), checked against
// ρ(g) directly, not through the layer's constraint.
TEST(Conv, EveryTapCommutesWithTheGroup) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::parse_rep(g, "2x regular + trivial + irrep(1)"),
               out = eqnn::parse_rep(g, "regular");
  eqnn::EConv1d conv(EConv1dOptions(in, out, 4));
  eqnn::EConvTranspose1d tconv(EConvTranspose1dOptions(in, out, 4));
  conv->to(at::kDouble);
  tconv->to(at::kDouble);
  const at::Tensor rin = eqnn::testing::rep_matrices(*in), rout = eqnn::testing::rep_matrices(*out);
  const at::Tensor w = conv->weight().detach(), v = tconv->weight().detach();
  ASSERT_EQ(w.sizes().vec(), (std::vector<int64_t>{out->size(), in->size(), 4}));
  ASSERT_EQ(v.sizes().vec(), (std::vector<int64_t>{in->size(), out->size(), 4}));
  for (int64_t k = 0; k < 4; ++k) {
    const at::Tensor wk = w.select(2, k), vk = v.select(2, k).t();
    EXPECT_GT(wk.abs().max().item<double>(), 1e-3);
    for (int64_t e = 0; e < rin.size(0); ++e) {
      EXPECT_LE((at::matmul(rout[e], wk) - at::matmul(wk, rin[e])).abs().max().item<double>(), 1e-12);
      EXPECT_LE((at::matmul(rout[e], vk) - at::matmul(vk, rin[e])).abs().max().item<double>(), 1e-12);
    }
  }
}

void copy_into(torch::nn::Module& stock, eqnn::Layer& ours) {
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : ours.effective_parameters()) stock.named_parameters()[name].copy_(t);
}

// Outputs and gradients (input and coefficients) equal stock torch with the copied weights.
void expect_same_as_stock(eqnn::EConvBase& ours, torch::nn::Module& stock,
                          const std::function<at::Tensor(const at::Tensor&)>& stock_forward,
                          const at::Tensor& x0, const std::string& what) {
  ours.to(at::kDouble);
  stock.to(at::kDouble);
  eqnn::testing::randomise(ours, 5);
  copy_into(stock, ours);
  const at::Tensor x = x0.detach().clone().set_requires_grad(true),
                   xs = x0.detach().clone().set_requires_grad(true);
  const at::Tensor y = ours.forward(x), ys = stock_forward(xs);
  ASSERT_EQ(y.sizes(), ys.sizes()) << what;
  EXPECT_LE((y - ys).abs().max().item<double>(), 1e-12) << what;
  const at::Tensor probe = at::randn(y.sizes(), y.options());
  (y * probe).sum().backward();
  (ys * probe).sum().backward();
  EXPECT_LE((x.grad() - xs.grad()).abs().max().item<double>(), 1e-12) << what;
  // dL/dθ = Jᵀ dL/dW for the linear expansion W(θ): from stock's weight gradient.
  const at::Tensor theta = ours.weight_parameter().coefficients(ours);
  const at::Tensor stock_grad = stock.named_parameters()["weight"].grad();
  const at::Tensor expected =
      torch::autograd::grad({(ours.weight() * stock_grad).sum()}, {theta}, {}, false, false)[0];
  EXPECT_LE((theta.grad() - expected).abs().max().item<double>(), 1e-10) << what;
  if (ours.has_bias()) {
    const at::Tensor beta = ours.bias_parameter().coefficients(ours);
    const at::Tensor bias_grad = stock.named_parameters()["bias"].grad();
    const at::Tensor expected_b =
        torch::autograd::grad({(ours.bias() * bias_grad).sum()}, {beta}, {}, false, false)[0];
    EXPECT_LE((beta.grad() - expected_b).abs().max().item<double>(), 1e-10) << what;
  }
}

TEST(Conv, EqualsStockConv1dWithCopiedWeights) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::parse_rep(g, "2x regular + trivial + irrep(1)"),
               out = eqnn::parse_rep(g, "regular");
  struct Case {
    std::string label;
    EConv1dOptions ours;
    torch::nn::Conv1dOptions stock;
  };
  const int64_t ci = in->size(), co = out->size();
  const EConv1dOptions b(in, out, 3);
  const torch::nn::Conv1dOptions s(ci, co, 3);
  std::vector<Case> cases = {
      {"default", b, s},
      {"stride 2 padding 1", EConv1dOptions(b).stride(2).padding(1),
       torch::nn::Conv1dOptions(s).stride(2).padding(1)},
      {"same", EConv1dOptions(b).padding("same"), torch::nn::Conv1dOptions(s).padding(torch::kSame)},
      {"valid dilation 2", EConv1dOptions(b).padding("valid").dilation(2),
       torch::nn::Conv1dOptions(s).padding(torch::kValid).dilation(2)},
      {"no bias", EConv1dOptions(b).bias(false), torch::nn::Conv1dOptions(s).bias(false)},
      {"reflect", EConv1dOptions(b).padding(2).padding_mode("reflect"),
       torch::nn::Conv1dOptions(s).padding(2).padding_mode(torch::kReflect)},
      {"replicate same K4 dilation 3",
       EConv1dOptions(in, out, 4).padding("same").dilation(3).padding_mode("replicate"),
       torch::nn::Conv1dOptions(ci, co, 4).padding(torch::kSame).dilation(3).padding_mode(torch::kReplicate)},
      {"circular stride 3", EConv1dOptions(b).padding(1).stride(3).padding_mode("circular"),
       torch::nn::Conv1dOptions(s).padding(1).stride(3).padding_mode(torch::kCircular)},
  };
  for (auto& c : cases) {
    eqnn::EConv1d ours(c.ours);
    torch::nn::Conv1d stock(c.stock);
    for (const at::Tensor& x : {at::randn({3, ci, 11}, at::kDouble), at::randn({ci, 10}, at::kDouble)}) {
      expect_same_as_stock(
          *ours, *stock, [&](const at::Tensor& t) { return stock->forward(t); }, x,
          c.label + " " + fmt::format("{}", fmt::join(x.sizes(), "x")));
      // torch's output length.
      EXPECT_EQ(ours->output_length(x.size(-1)), stock->forward(x).size(-1)) << c.label;
    }
    for (int64_t length = 1; length < 14; ++length) {
      const at::Tensor x = at::zeros({1, ci, length}, at::kDouble);
      int64_t expected = 0;
      try {
        expected = stock->forward(x).size(-1);
      } catch (const c10::Error&) {
        expected = 0;
      }
      if (expected > 0) {
        EXPECT_EQ(ours->output_length(length), expected) << c.label << " L=" << length;
      } else {
        // Refused as stock torch refuses it (by eqnn's length check, or by at::pad for reflect padding).
        bool refused = false;
        try {
          ours->forward(x);
        } catch (const std::exception&) {
          refused = true;
        }
        EXPECT_TRUE(refused) << c.label << " L=" << length;
      }
    }
  }
}

TEST(Conv, EqualsStockConvTranspose1dWithCopiedWeights) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr in = eqnn::parse_rep(g, "2x regular + trivial + irrep(1)"),
               out = eqnn::parse_rep(g, "regular");
  const int64_t ci = in->size(), co = out->size();
  struct Case {
    std::string label;
    EConvTranspose1dOptions ours;
    torch::nn::ConvTranspose1dOptions stock;
  };
  const EConvTranspose1dOptions b(in, out, 3);
  const torch::nn::ConvTranspose1dOptions s(ci, co, 3);
  std::vector<Case> cases = {
      {"default", b, s},
      {"stride 2 padding 1 output_padding 1",
       EConvTranspose1dOptions(b).stride(2).padding(1).output_padding(1),
       torch::nn::ConvTranspose1dOptions(s).stride(2).padding(1).output_padding(1)},
      {"dilation 2 padding 2", EConvTranspose1dOptions(b).dilation(2).padding(2),
       torch::nn::ConvTranspose1dOptions(s).dilation(2).padding(2)},
      {"no bias K5 stride 3", EConvTranspose1dOptions(in, out, 5).bias(false).stride(3).output_padding(2),
       torch::nn::ConvTranspose1dOptions(ci, co, 5).bias(false).stride(3).output_padding(2)},
  };
  for (auto& c : cases) {
    eqnn::EConvTranspose1d ours(c.ours);
    torch::nn::ConvTranspose1d stock(c.stock);
    for (const at::Tensor& x : {at::randn({3, ci, 6}, at::kDouble), at::randn({ci, 5}, at::kDouble)}) {
      expect_same_as_stock(
          *ours, *stock, [&](const at::Tensor& t) { return stock->forward(t); }, x, c.label);
      EXPECT_EQ(ours->output_length(x.size(-1)), stock->forward(x).size(-1)) << c.label;
    }
  }
}

// The default init has torch's per-entry variances: Conv1d 1/(3·in·K) for the weight, 1/(3·in·K) for the
// bias; ConvTranspose1d the same with out·K (its fan_in).
TEST(Conv, StockInitHasTorchPerEntryVariance) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr in = eqnn::parse_rep(g, "4x regular"), out = eqnn::parse_rep(g, "2x regular + trivial");
  const int64_t k = 3, n = 300;
  auto mean_square = [&](auto make, const std::string& name) {
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
      auto layer = make();
      for (const auto& [key, t] : layer->effective_parameters()) {
        if (key != name) continue;
        sum += t.to(at::kDouble).pow(2).sum().template item<double>();
        count += t.numel();
      }
    }
    return sum / static_cast<double>(count);
  };
  const double fan_conv = static_cast<double>(in->size() * k), fan_t = static_cast<double>(out->size() * k);
  auto conv = [&] { return eqnn::EConv1d(EConv1dOptions(in, out, k)).ptr(); };
  auto tconv = [&] { return eqnn::EConvTranspose1d(EConvTranspose1dOptions(in, out, k)).ptr(); };
  EXPECT_NEAR(mean_square(conv, "weight") * 3 * fan_conv, 1.0, 0.05);
  EXPECT_NEAR(mean_square(tconv, "weight") * 3 * fan_t, 1.0, 0.05);
  // The bias: U(±1/√fan_in) per entry on average, as eLinear's (restricted to the invariant vectors).
  EXPECT_NEAR(mean_square(conv, "bias") * 3 * fan_conv, 1.0, 0.25);
  // xavier: 2/(K(in + out)).
  auto xavier = [&] { return eqnn::EConv1d(EConv1dOptions(in, out, k).init_scheme("xavier_normal")).ptr(); };
  EXPECT_NEAR(mean_square(xavier, "weight") * static_cast<double>(k * (in->size() + out->size())) / 2, 1.0,
              0.05);
}

TEST(Conv, BiasNoteWhenOutRepHasNoTrivialPart) {
  const auto g = eqnn::testing::group("C4");
  eqnn::EConv1d conv(EConv1dOptions(eqnn::parse_rep(g, "regular"), eqnn::parse_rep(g, "irrep(1)"), 3));
  EXPECT_FALSE(conv->has_bias());
  std::ostringstream s;
  conv->pretty_print(s);
  EXPECT_HAS(s.str(), "no bias: out_rep");
  EXPECT_HAS(s.str(), "has no trivial part");
  // Export still gives the stock state_dict: a zero bias.
  const auto params = conv->effective_parameters();
  ASSERT_EQ(params.size(), 2U);
  EXPECT_EQ(params[1].first, "bias");
  EXPECT_EQ(params[1].second.abs().max().item<double>(), 0.0);
  // An input rep without a trivial part is fine (symm_learning raises KeyError there).
  eqnn::EConv1d from_irrep(EConv1dOptions(eqnn::parse_rep(g, "irrep(1)"), eqnn::parse_rep(g, "regular"), 3));
  EXPECT_TRUE(from_irrep->has_bias());
}

// Model files: tokens features last; the layer convolves over seq. Same values as the channels-first layer,
// equivariant on the last dimension, and the export loads into stock Conv1d (float64, 1e-12).
TEST(Conv, ModelFileFeaturesLastAndExport) {
  const std::string text = R"(eqnn: 1
group: {type: DihedralGroup, n: 4}
reps: {x: 2x regular + trivial, h: regular}
input: x
layers:
  - {type: eConv1d, out_rep: h, kernel_size: 3, padding: same, padding_mode: circular}
  - {type: eConvTranspose1d, out_rep: x, kernel_size: 4, stride: 2, padding: 1}
)";
  auto model = eqnn::load_model_from_string(eqnn::testing::registry(), text, "conv.yaml");
  model->to(at::kDouble);
  eqnn::testing::randomise(*model, 3);
  const at::Tensor x = at::randn({2, 10, 17}, at::kDouble);
  const at::Tensor y = model->forward(x);
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 20, 17}));
  // Stock torch, channels first, from the exported tensors.
  torch::nn::Conv1d c1(
      torch::nn::Conv1dOptions(17, 8, 3).padding(torch::kSame).padding_mode(torch::kCircular));
  torch::nn::ConvTranspose1d c2(torch::nn::ConvTranspose1dOptions(8, 17, 4).stride(2).padding(1));
  c1->to(at::kDouble);
  c2->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    for (const auto& [name, t] : model->effective_parameters()) {
      torch::nn::Module& target = name.rfind("layers.0.", 0) == 0 ? static_cast<torch::nn::Module&>(*c1)
                                                                  : static_cast<torch::nn::Module&>(*c2);
      target.named_parameters()[name.substr(name.find('.', 7) + 1)].copy_(t);
    }
    const at::Tensor expected = c2->forward(c1->forward(x.transpose(1, 2))).transpose(1, 2);
    EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12);
  }
  const auto names = model->effective_parameters();
  ASSERT_EQ(names.size(), 4U);
  EXPECT_EQ(names[0].first, "layers.0.weight");
  EXPECT_EQ(names[3].first, "layers.1.bias");
  // eqnn export writes exactly these tensors under these names.
  eqnn::testing::TempDir dir;
  eqnn::export_weights(*model, dir.file("w.pt"));
  const auto saved = eqnn::load_pickle_file(dir.file("w.pt"), "export").toGenericDict();
  ASSERT_EQ(saved.size(), names.size());
  for (const auto& [name, t] : names) EXPECT_TRUE(at::equal(saved.at(name).toTensor(), t)) << name;
  // Features last: the group acts on the last dimension.
  EXPECT_LE(eqnn::testing::equivariance_error([&](const at::Tensor& t) { return model->forward(t); },
                                              *model->input_rep(), *model->output_rep(), x),
            1e-10);
}

TEST(Conv, OptionErrorsAreClear) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr r = eqnn::parse_rep(g, "regular");
  auto conv_error = [&](EConv1dOptions o) {
    return error_text<eqnn::ConfigError>([&] { eqnn::EConv1d c(o); });
  };
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 0)), "eConv1d: kernel_size must be at least 1, got 0");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).stride(0)), "stride must be at least 1");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).padding(-1)), "padding must be at least 0, got -1");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).padding("full")), "invalid padding string 'full'");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).padding("same").stride(2)),
             "padding='same' is not supported for strided convolutions");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).groups(2)), "groups = 2 is not supported");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).padding_mode("mirror")), "padding_mode must be one of");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).init_scheme("stok")), "eConv1d: ");
  EXPECT_HAS(conv_error(EConv1dOptions(r, r, 3).dilation(0)), "dilation must be at least 1");
  auto t_error = [&](EConvTranspose1dOptions o) {
    return error_text<eqnn::ConfigError>([&] { eqnn::EConvTranspose1d c(o); });
  };
  EXPECT_HAS(t_error(EConvTranspose1dOptions(r, r, 3).padding_mode("reflect")), "only 'zeros' padding mode");
  EXPECT_HAS(t_error(EConvTranspose1dOptions(r, r, 3).output_padding(1)),
             "output_padding must be at least 0 and smaller than either stride (1) or dilation (1), got 1");
  EXPECT_HAS(t_error(EConvTranspose1dOptions(r, r, 3).groups(4)),
             "eConvTranspose1d: groups = 4 is not supported");
  // Wrong channel count / rank.
  eqnn::EConv1d conv(EConv1dOptions(r, r, 3));
  EXPECT_HAS(error_text<c10::Error>([&] {
               conv->forward(at::randn({2, 5, 9}));
             }),
             "eConv1d: expected input of shape (N, 4, L) or (4, L)");
  EXPECT_HAS(error_text<c10::Error>([&] { conv->forward(at::randn({2, 4, 9, 1})); }), "got [2, 4, 9, 1]");
  EXPECT_HAS(error_text<eqnn::Error>([&] {
               conv->forward(at::randn({2, 4, 2}));
             }),
             "eConv1d: input length 2 is too short for kernel_size 3, dilation 1 and padding 0");
  eqnn::EConvTranspose1d tconv(EConvTranspose1dOptions(r, r, 3));
  EXPECT_HAS(error_text<c10::Error>([&] {
               tconv->forward(at::randn({4, 9, 2}));
             }),
             "eConvTranspose1d: expected input of shape (N, 4, L)");
}

TEST(Conv, YamlErrorsAreLocatedAtTheKey) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr r = eqnn::parse_rep(g, "regular");
  auto yaml_error = [&](const std::string& type, const std::string& kwargs) {
    return error_text<eqnn::ConfigError>([&] { make_layer(type, r, kwargs); });
  };
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular}"), "eConv1d: missing required key 'kernel_size'");
  EXPECT_HAS(yaml_error("eConv1d", "{kernel_size: 3}"), "missing required key 'out_rep'");
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular, kernel_size: 3, padding: sme}"),
             "invalid padding string 'sme'");
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular, kernel_size: 3,\n  stride: 2, padding: same}"),
             "2:23");  // at the padding key's value
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular, kernel_size: 3, groups: 2}"), "groups = 2");
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular, kernel_size: 2000000000}"),
             "1:33: error: eConv1d: a kernel of 4 x 4 x 2000000000 entries is larger than eqnn builds");
  EXPECT_HAS(yaml_error("eConv1d", "{out_rep: regular, kernel_size: 3, strid: 2}"), "strid");
  EXPECT_HAS(yaml_error("eConvTranspose1d", "{out_rep: regular, kernel_size: 3, padding_mode: circular}"),
             "only 'zeros' padding mode");
  EXPECT_HAS(yaml_error("eConvTranspose1d", "{out_rep: regular, kernel_size: 3, padding: same}"), "padding");
  // The YAML layer takes features last: (batch, seq, D).
  auto layer = make_layer("eConv1d", r, "{out_rep: 2x regular, kernel_size: 3, padding: 1}");
  EXPECT_EQ(layer->forward(at::randn({2, 6, 4})).sizes().vec(), (std::vector<int64_t>{2, 6, 8}));
  EXPECT_HAS(
      error_text<c10::Error>([&] {
        layer->forward(at::randn({2, 4, 6}));
      }),
      "in a model file the layer convolves over the sequence of (batch, seq, D) tokens: expected input "
      "of shape (batch, seq, 4)");
  EXPECT_HAS(error_text<c10::Error>([&] { layer->forward(at::randn({6, 4})); }), "got [6, 4]");
}

}  // namespace

namespace {

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
}

// execution: isotypic runs a cyclic group's regular copies by FFT over the group: the dense convolution's
// outputs and gradients from the same parameters, for every padding kind, stride, dilation and unbatched
// input, in float64 and float32 (bfloat16 falls back to the dense kernel); equivariant on every element.
TEST(ConvExecution, FftEqualsDense) {
  auto g = eqnn::testing::group("C8");
  auto in = eqnn::parse_rep(g, "2x regular"), out = eqnn::parse_rep(g, "3x regular");
  struct Case {
    std::string label;
    EConv1dOptions options;
  };
  const std::vector<Case> cases = {
      {"zeros 1", EConv1dOptions(in, out, 3).padding(1)},
      {"same dilation 2", EConv1dOptions(in, out, 3).padding("same").dilation(2)},
      {"reflect 2", EConv1dOptions(in, out, 4).padding(2).padding_mode("reflect")},
      {"circular same", EConv1dOptions(in, out, 3).padding("same").padding_mode("circular")},
      {"valid stride 2", EConv1dOptions(in, out, 2).stride(2)},
  };
  at::manual_seed(5);
  for (const auto& c : cases) {
    eqnn::EConv1d dense(EConv1dOptions(c.options).execution("dense"));
    eqnn::EConv1d fft(EConv1dOptions(c.options).execution("isotypic"));
    EXPECT_EQ(fft->execution(), "isotypic by FFT over C8") << c.label;
    {
      at::NoGradGuard no_grad;
      for (auto& item : dense->named_parameters()) {
        item.value().normal_();
        fft->named_parameters()[item.key()].copy_(item.value());
      }
    }
    for (auto dtype : {at::kDouble, at::kFloat}) {
      dense->to(dtype);
      fft->to(dtype);
      const double tol = dtype == at::kDouble ? 1e-12 : 1e-5;
      const std::string what = c.label + " " + c10::toString(dtype);
      at::Tensor x = at::randn({3, in->size(), 11}, at::TensorOptions().dtype(dtype)).requires_grad_(true);
      at::Tensor x2 = x.detach().clone().requires_grad_(true);
      at::Tensor yd = dense(x), yf = fft(x2);
      ASSERT_EQ(yd.sizes(), yf.sizes()) << what;
      EXPECT_LT(rel(yf, yd), tol) << what;
      at::Tensor w = at::randn_like(yd);
      (yd * w).sum().backward();
      (yf * w).sum().backward();
      EXPECT_LT(rel(x2.grad(), x.grad()), tol) << what;
      for (auto& item : dense->named_parameters())
        EXPECT_LT(rel(fft->named_parameters()[item.key()].grad(), item.value().grad()), tol)
            << what << " " << item.key();
      dense->zero_grad();
      fft->zero_grad();
      at::Tensor single = at::randn({in->size(), 9}, at::TensorOptions().dtype(dtype));
      EXPECT_LT(rel(fft(single), dense(single)), tol) << what << " unbatched";
      EXPECT_LE(
          channel_equivariance_error(*fft, at::randn({2, in->size(), 9}, at::TensorOptions().dtype(dtype))),
          eqnn::testing::tolerance(dtype))
          << what;
    }
    dense->to(at::kBFloat16);
    fft->to(at::kBFloat16);
    at::Tensor xb = at::randn({2, in->size(), 9}).to(at::kBFloat16);
    EXPECT_LT(rel(fft(xb).to(at::kDouble), dense(xb).to(at::kDouble)), 1e-2) << c.label << " bfloat16";
  }
}

// auto takes the FFT where it pays (C64) and not for a small group; isotypic is refused where there is no
// FFT path, with the reason; an unknown mode is an option error.
TEST(ConvExecution, AutoAndErrors) {
  auto c64 = eqnn::testing::group("C64");
  auto big = eqnn::parse_rep(c64, "8x regular");
  EXPECT_EQ(eqnn::EConv1d(EConv1dOptions(big, big, 3).execution("auto"))->execution(),
            "auto (isotypic by FFT over C64)");
  auto c2 = eqnn::testing::group("C2");
  auto small = eqnn::parse_rep(c2, "regular");
  const std::string text = eqnn::EConv1d(EConv1dOptions(small, small, 3).execution("auto"))->execution();
  EXPECT_EQ(text.rfind("auto (dense: ", 0), 0u) << text;
  auto d4 = eqnn::testing::group("D4");
  auto reg = eqnn::parse_rep(d4, "regular");
  const std::string refused = error_text<eqnn::ConfigError>(
      [&] { eqnn::EConv1d(EConv1dOptions(reg, reg, 3).execution("isotypic")); });
  EXPECT_NE(refused.find("eConv1d: execution 'isotypic' is not available"), std::string::npos) << refused;
  EXPECT_NE(refused.find("D4 is not cyclic"), std::string::npos) << refused;
  const std::string unknown =
      error_text<eqnn::ConfigError>([&] { eqnn::EConv1d(EConv1dOptions(reg, reg, 3).execution("fft")); });
  EXPECT_NE(unknown.find("unknown execution 'fft'"), std::string::npos) << unknown;
}

}  // namespace
