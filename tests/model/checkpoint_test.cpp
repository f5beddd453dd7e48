// Checkpoints: save → load gives the same outputs (and invalidates eval-mode caches); loading into a
// different model names the first mismatching tensor and both shapes; truncated, corrupt and foreign
// files are errors, not crashes; writes are atomic. Portable checkpoints (format version 2): bases are
// fingerprinted, weights saved in another basis are re-projected only when exact, and loading never
// silently changes the function (the same D4 by its generators in the other order is refused).
#include <filesystem>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/nn/basis_fingerprint.hpp"
#include "eqnn/util/error.hpp"
#include "refused_checkpoint.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

ModelPtr seeded(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  return load_model(registry(), example(name));
}

TEST(Checkpoint, SaveLoadGivesTheSameOutputs) {
  TempDir dir;
  for (const std::string name : {"c8_transformer", "ico_attention", "q8_generators"}) {
    SCOPED_TRACE(name);
    auto a = seeded(name, 1), b = seeded(name, 2);
    torch::NoGradGuard no_grad;
    a->eval();
    b->eval();
    at::Tensor x = at::randn({3, 4, a->input_size()});
    const at::Tensor before = b->forward(x);  // fills b's eval-mode caches
    ASSERT_FALSE(at::allclose(a->forward(x), before));
    save_checkpoint(*a, registry(), dir.file(name + ".pt"), {12, "ring", {{"test_mse", 0.5}}});
    auto info = load_checkpoint(*b, dir.file(name + ".pt"));
    EXPECT_EQ(info.step, 12);
    EXPECT_EQ(info.task, "ring");
    EXPECT_DOUBLE_EQ(info.metrics.at("test_mse"), 0.5);
    EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));  // cache invalidated by the load
    EXPECT_EQ(checkpoint_source(dir.file(name + ".pt")), a->source());
  }
}

TEST(Checkpoint, TheStoredDescriptionRebuildsTheModel) {
  TempDir dir;
  auto a = seeded("d4_mlp", 3);
  save_checkpoint(*a, registry(), dir.file("ckpt.pt"));
  auto b = load_model_from_string(registry(), checkpoint_source(dir.file("ckpt.pt")), "from-checkpoint");
  load_checkpoint(*b, dir.file("ckpt.pt"));
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({5, 4});
  EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));
}

// examples/models/d4_mlp.yaml with the hidden rep `hidden` and `more_layers` at the end.
std::string d4_mlp_variant(const std::string& hidden, const std::string& more_layers) {
  return "eqnn: 1\n"
         "group: {type: DihedralGroup, n: 4}\n"
         "reps: {x: permutation(vertices), h: " +
         hidden +
         "}\n"
         "input: x\n"
         "layers:\n"
         "  - {type: eLinear, out_rep: h}\n"
         "  - {type: eReLU}\n"
         "  - type: Residual\n"
         "    layers:\n"
         "      - {type: eLinear, out_rep: h}\n"
         "      - {type: eReLU}\n"
         "  - {type: eLinear, out_rep: x}\n" +
         more_layers;
}

TEST(Checkpoint, DifferentModelNamesTheFirstMismatch) {
  TempDir dir;
  auto d4 = seeded("d4_mlp", 0);
  save_checkpoint(*d4, registry(), dir.file("d4.pt"));
  // Same structure, wider hidden rep: the first tensor has a different shape.
  auto wider = load_model_from_string(registry(), d4_mlp_variant("5x regular", ""), "wider.yaml");
  const std::string msg = error_text<Error>([&] { load_checkpoint(*wider, dir.file("d4.pt")); });
  EXPECT_NE(
      msg.find("does not fit model 'wider.yaml': layer layers.0 (eLinear): parameter "
               "'layers.0.weight_coefficients' expands to shape [32, 4] in the checkpoint but [40, 4] in "
               "the model"),
      std::string::npos)
      << msg;
  auto c8 = seeded("c8_transformer", 0);
  const std::string other = error_text<Error>([&] { load_checkpoint(*c8, dir.file("d4.pt")); });
  EXPECT_NE(other.find("does not fit model"), std::string::npos) << other;
  EXPECT_NE(other.find("layer layers.0 (eLinear): parameter 'layers.0.weight_coefficients' expands to shape "
                       "[32, 4] in the checkpoint but [32, 8] in the model"),
            std::string::npos)
      << other;
  // A model with more tensors than the checkpoint: the first one it lacks is named.
  auto deeper = load_model_from_string(
      registry(), d4_mlp_variant("4x regular", "  - {type: eLinear, out_rep: x}\n"), "deeper.yaml");
  const std::string missing = error_text<Error>([&] { load_checkpoint(*deeper, dir.file("d4.pt")); });
  EXPECT_NE(
      missing.find("does not fit model 'deeper.yaml': parameter 'layers.4.weight_coefficients' (shape ["),
      std::string::npos)
      << missing;
}

TEST(Checkpoint, TruncatedCorruptEmptyAndForeignFilesAreErrors) {
  TempDir dir;
  auto model = seeded("d4_mlp", 0);
  save_checkpoint(*model, registry(), dir.file("good.pt"));
  const std::string good = read_text(dir.file("good.pt"));
  write_text(dir.file("truncated.pt"), good.substr(0, good.size() / 2));
  std::string corrupt = good;
  for (size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 64; ++i)
    corrupt[i] = static_cast<char>(i * 37);
  write_text(dir.file("corrupt.pt"), corrupt);
  write_text(dir.file("garbage.pt"), "this is not a checkpoint at all");
  write_text(dir.file("empty.pt"), "");
  save_tensor_file(at::ones({3}), dir.file("tensor.pt"));
  for (const std::string name : {"truncated.pt", "corrupt.pt", "garbage.pt"}) {
    const std::string msg = error_text<Error>([&] { load_checkpoint(*model, dir.file(name)); });
    EXPECT_NE(msg.find("checkpoint '" + dir.file(name) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not readable (truncated or corrupt?)"), std::string::npos) << msg;
  }
  EXPECT_NE(error_text<Error>([&] { load_checkpoint(*model, dir.file("empty.pt")); }).find("is empty"),
            std::string::npos);
  EXPECT_NE(error_text<Error>([&] {
              load_checkpoint(*model, dir.file("tensor.pt"));
            }).find("is not an eqnn checkpoint (not a dict)"),
            std::string::npos);
  EXPECT_NE(error_text<Error>([&] {
              load_checkpoint(*model, dir.file("missing.pt"));
            }).find("cannot open checkpoint"),
            std::string::npos);
}

TEST(Checkpoint, WritesAreAtomic) {
  TempDir dir;
  auto model = seeded("d4_mlp", 0);
  const std::string msg =
      error_text<Error>([&] { save_checkpoint(*model, registry(), dir.file("no/such/dir/ckpt.pt")); });
  EXPECT_NE(msg.find("cannot write '" + dir.file("no/such/dir/ckpt.pt") + "'"), std::string::npos) << msg;
  // Overwriting keeps a complete file at every moment and leaves no temporary file behind.
  save_checkpoint(*model, registry(), dir.file("ckpt.pt"));
  save_checkpoint(*model, registry(), dir.file("ckpt.pt"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "ckpt.pt");
  }
  EXPECT_EQ(files, 1);
  load_checkpoint(*model, dir.file("ckpt.pt"));
}

// The dihedral group of the square by its generator matrices (rotation R, reflection F), in either
// order: the same group, but its elements (hence the regular representation) are numbered differently.
std::string d4_by_generators(bool rotation_first) {
  const std::string r = "[[0,-1],[1,0]]", f = "[[1,0],[0,-1]]";
  return fmt::format(R"(eqnn: 1
group: {{type: FiniteGroup, name: D4, generators: [{}, {}]}}
reps: {{h: 2x regular}}
input: standard
layers:
  - {{type: eLinear, out_rep: h}}
  - {{type: eReLU}}
  - {{type: eLinear, out_rep: standard}}
)",
                     rotation_first ? r : f, rotation_first ? f : r);
}

ModelPtr from_text(const std::string& text, const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  return load_model_from_string(registry(), text, name);
}

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

TEST(PortableCheckpoint, RecordsBasisFingerprintsAndEffectiveWeights) {
  TempDir dir;
  auto a = seeded("d4_mlp", 1), b = seeded("d4_mlp", 2);
  const auto fa = basis_fingerprints(*a), fb = basis_fingerprints(*b);
  ASSERT_EQ(fa.size(), 6u);  // weight and bias of three eLinear layers
  EXPECT_EQ(fa, fb);         // same content, independent builds: same fingerprints
  EXPECT_EQ(fa[0].first, "layers.0.weight_coefficients");
  EXPECT_HAS(fa[0].second, "CommutingConstraint/orbit dim=");
  // Another basis (the D4 regular rep numbered differently) gives another fingerprint.
  auto r = from_text(d4_by_generators(true), "r.yaml", 0),
       f = from_text(d4_by_generators(false), "f.yaml", 0);
  EXPECT_NE(basis_fingerprints(*r)[0].second, basis_fingerprints(*f)[0].second);
  // Stable across runs: a checkpoint written by another process loads without re-projection.
  auto cli = eqnn_cli("train " + example("d4_mlp") + " --steps 1 --out " + dir.file("cli.pt"));
  ASSERT_EQ(cli.status, 0) << cli.output;
  const auto info = load_checkpoint(*a, dir.file("cli.pt"));
  EXPECT_TRUE(info.reprojected.empty()) << info.reprojected.front();
}

TEST(PortableCheckpoint, TheSameGroupByGeneratorsInTheOtherOrderIsRefusedNamingTheLayer) {
  TempDir dir;
  auto trained = from_text(d4_by_generators(true), "rf.yaml", 1);
  auto other = from_text(d4_by_generators(false), "fr.yaml", 2);
  save_checkpoint(*trained, registry(), dir.file("rf.pt"));
  torch::NoGradGuard no_grad;
  trained->eval();
  other->eval();
  const at::Tensor x = at::randn({5, 2});
  const at::Tensor before = other->forward(x);
  const std::string msg = error_text<Error>([&] { load_checkpoint(*other, dir.file("rf.pt")); });
  EXPECT_HAS(msg, "checkpoint '" + dir.file("rf.pt") +
                      "' does not fit model 'fr.yaml': layer layers.0 (eLinear): "
                      "'layers.0.weight_coefficients' was saved in another basis");
  EXPECT_HAS(msg, "is not equivariant for this model: re-projecting it leaves a relative error of");
  EXPECT_HAS(msg, "loading would change its function");
  // Refused before anything was copied: the model is unchanged.
  EXPECT_TRUE(at::equal(other->forward(x), before));
  // The model the checkpoint was written for loads it.
  auto same = from_text(d4_by_generators(true), "rf-again.yaml", 3);
  same->eval();
  EXPECT_TRUE(load_checkpoint(*same, dir.file("rf.pt")).reprojected.empty());
  EXPECT_TRUE(at::equal(same->forward(x), trained->forward(x)));
}

TEST(PortableCheckpoint, WeightsSavedInAnotherBasisAreReprojectedExactly) {
  TempDir dir;
  for (const std::string name : {"d4_mlp", "q8_generators", "ico_attention"}) {
    SCOPED_TRACE(name);
    auto a = seeded(name, 1), b = seeded(name, 2);
    // As if written by a build whose numerically derived bases differ: every fingerprint differs.
    testing_hooks::set_fingerprint_salt("another build");
    save_checkpoint(*a, registry(), dir.file(name + ".pt"));
    testing_hooks::set_fingerprint_salt("");
    const auto info = load_checkpoint(*b, dir.file(name + ".pt"));
    const auto constrained = basis_fingerprints(*b);
    ASSERT_EQ(info.reprojected.size(), constrained.size());
    for (size_t i = 0; i < constrained.size(); ++i) EXPECT_EQ(info.reprojected[i], constrained[i].first);
    torch::NoGradGuard no_grad;
    a->eval();
    b->eval();
    const at::Tensor x = at::randn({3, 4, a->input_size()});
    EXPECT_LE(relative_difference(b->forward(x), a->forward(x)), 1e-5);
  }
}

TEST(PortableCheckpoint, TheSameSpaceInAnotherBasisLoadsWithTheSameFunction) {
  // Hom_D4(standard, standard) is the commutant of the same matrix group whichever generator comes
  // first, so the weights fit either model, re-projected or not.
  TempDir dir;
  const std::string text = R"(eqnn: 1
group: {type: FiniteGroup, name: D4, generators: [%s]}
input: standard
layers:
  - {type: eLinear, out_rep: standard}
)";
  auto with = [&](const std::string& gens) {
    std::string t = text;
    t.replace(t.find("%s"), 2, gens);
    return t;
  };
  auto a = from_text(with("[[0,-1],[1,0]], [[1,0],[0,-1]]"), "a.yaml", 1);
  auto b = from_text(with("[[1,0],[0,-1]], [[0,-1],[1,0]]"), "b.yaml", 2);
  save_checkpoint(*a, registry(), dir.file("a.pt"));
  load_checkpoint(*b, dir.file("a.pt"));
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({7, 2});
  EXPECT_LE(relative_difference(b->forward(x), a->forward(x)), 1e-6);
}

TEST(PortableCheckpoint, FormatVersion1IsRefusedWithAFormatVersionMessage) {
  // tests/model/fixtures/checkpoint_v1.pt: the layout eqnn wrote before bases were recorded (format,
  // format_version 1, eqnn_version, model, model_name, plugins, parameters, buffers, step, task,
  // metrics), written with torch.save for tests/model/fixtures/c2_linear.yaml.
  const std::string fixture = source_path("tests/model/fixtures/checkpoint_v1.pt");
  const std::string msg = refused_checkpoint(fixture);
  EXPECT_HAS(msg, "checkpoint '" + fixture + "' has format version 1, which this eqnn does not load");
  EXPECT_HAS(msg, "reads format version 2");
  // Its model text is still readable.
  EXPECT_EQ(checkpoint_source(fixture), read_text(source_path("tests/model/fixtures/c2_linear.yaml")));
  auto r = eqnn_cli("export " + source_path("tests/model/fixtures/c2_linear.yaml") + " --checkpoint " +
                    fixture + " --out /dev/null");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_HAS(r.output, "format version 1");
}

TEST(PortableCheckpoint, RunAndExportWarnWhenTheModelTextDiffers) {
  TempDir dir;
  const std::string text = read_text(example("d4_mlp"));
  write_text(dir.file("model.yaml"), text);
  write_text(dir.file("edited.yaml"), text + "# edited after training\n");
  ASSERT_EQ(eqnn_cli("train " + dir.file("model.yaml") + " --steps 1 --out " + dir.file("ckpt.pt")).status,
            0);
  save_tensor_file(at::randn({2, 4}), dir.file("x.pt"));
  const std::string io = " --input " + dir.file("x.pt") + " --output " + dir.file("y.pt");
  auto same = eqnn_cli("run " + dir.file("model.yaml") + " --checkpoint " + dir.file("ckpt.pt") + io);
  EXPECT_EQ(same.status, 0) << same.output;
  EXPECT_EQ(same.output.find("warning"), std::string::npos) << same.output;
  for (const std::string command : {"run", "export"}) {
    const std::string rest = command == "run" ? io : " --out " + dir.file("w.pt");
    auto r =
        eqnn_cli(command + " " + dir.file("edited.yaml") + " --checkpoint " + dir.file("ckpt.pt") + rest);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_HAS(r.output, "eqnn: warning: the model text of '" + dir.file("edited.yaml") +
                             "' differs from the one stored in checkpoint '" + dir.file("ckpt.pt") + "'");
  }
  // Another basis for the same shapes: refused by the CLI too, naming the layer.
  write_text(dir.file("rf.yaml"), d4_by_generators(true));
  write_text(dir.file("fr.yaml"), d4_by_generators(false));
  ASSERT_EQ(eqnn_cli("train " + dir.file("rf.yaml") + " --steps 1 --out " + dir.file("rf.pt")).status, 0);
  save_tensor_file(at::randn({2, 2}), dir.file("x2.pt"));
  auto r = eqnn_cli("run " + dir.file("fr.yaml") + " --checkpoint " + dir.file("rf.pt") + " --input " +
                    dir.file("x2.pt") + " --output " + dir.file("y2.pt"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_HAS(r.output, "layer layers.0 (eLinear): 'layers.0.weight_coefficients' was saved in another basis");
}

}  // namespace
}  // namespace eqnn::testing
