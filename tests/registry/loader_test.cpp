// Loading plugins from disk: every way a plugin file or directory can be wrong, each with the message
// the user sees, and objects that outlive the registry that loaded their plugin.
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eqnn/registry/plugin.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "scoped_env.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn {
namespace {

using ::testing::AllOf;
using testing::error_text;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ScopedEnv;
using testing::TempDir;

TEST(PluginLoader, LoadsAGoodPluginAndRecordsWhatItRegisters) {
  Registry registry;
  registry.load_plugin(EQNN_TEST_PLUGIN_GOOD);
  ASSERT_EQ(registry.plugins().size(), 1u);
  const PluginRecord& record = registry.plugins()[0];
  EXPECT_EQ(record.name, "test_good");
  EXPECT_EQ(record.version, "1.2.3");
  EXPECT_EQ(record.file, std::filesystem::canonical(EQNN_TEST_PLUGIN_GOOD).string());
  EXPECT_THAT(record.registered,
              ::testing::UnorderedElementsAre(std::make_pair(Kind::constraint, std::string("TestConstraint")),
                                              std::make_pair(Kind::group, std::string("TestGroup")),
                                              std::make_pair(Kind::layer, std::string("TestLayer"))));
  EXPECT_NE(registry.try_get_constraint("TestConstraint"), nullptr);
  EXPECT_NE(registry.try_get_group_type("TestGroup"), nullptr);
  EXPECT_NE(registry.try_get_layer("TestLayer"), nullptr);
  // Loading the same file again (e.g. listed twice in the path) is a no-op, not a duplicate.
  registry.load_plugin(EQNN_TEST_PLUGIN_GOOD);
  EXPECT_EQ(registry.plugins().size(), 1u);
}

TEST(PluginLoader, MissingDirectoryIsAnError) {
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_directory("/nonexistent/eqnn-plugins"); }),
              HasSubstr("plugin directory '/nonexistent/eqnn-plugins' does not exist"));
}

TEST(PluginLoader, MissingDirectoryInEnvironmentIsAnError) {
  ScopedEnv env("EQNN_PLUGIN_PATH", "/nonexistent/eqnn-env-plugins");
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_default_plugins(); }),
              AllOf(HasSubstr("'/nonexistent/eqnn-env-plugins'"), HasSubstr("EQNN_PLUGIN_PATH"),
                    HasSubstr("does not exist")));
}

TEST(PluginLoader, MissingExplicitPathIsAnError) {
  ScopedEnv env("EQNN_PLUGIN_PATH", "");
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_default_plugins({"/nonexistent/eqnn-explicit"}); }),
              AllOf(HasSubstr("'/nonexistent/eqnn-explicit'"), HasSubstr("--plugin-path"),
                    HasSubstr("does not exist")));
}

TEST(PluginLoader, RelativePathIsRefused) {
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin("plugins/foo.so"); }),
              HasSubstr("'plugins/foo.so' is not absolute"));
}

TEST(PluginLoader, FileThatIsNotASharedLibrary) {
  TempDir dir;
  std::string fake = dir.write("fake.so", "this is a text file, not a library\n");
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(fake); }),
              AllOf(HasSubstr("cannot load plugin '" + fake + "'"), HasSubstr("not a shared library")));
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, CorruptSharedLibraryReportsTheLoaderText) {
  TempDir dir;
  std::string fake = dir.write("corrupt.so", std::string("\x7f"
                                                         "ELF",
                                                         4) +
                                                 "garbage");
  Registry registry;
  // The text after the path is dlopen's own (e.g. "file too short" / "invalid ELF header").
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(fake); }),
              AllOf(HasSubstr("cannot load plugin '" + fake + "': "), HasSubstr(fake + ": ")));
}

TEST(PluginLoader, SharedLibraryWithoutEntryPoint) {
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(EQNN_TEST_PLUGIN_NO_ENTRY); }),
              AllOf(HasSubstr(EQNN_TEST_PLUGIN_NO_ENTRY), HasSubstr("not an eqnn plugin"),
                    HasSubstr("does not export 'eqnn_plugin_info'"), HasSubstr("EQNN_PLUGIN(")));
}

TEST(PluginLoader, OtherAbiVersionIsRefusedBeforeRegistering) {
  Registry registry;
  // register_all of this plugin aborts: reaching it would kill the test.
  EXPECT_THAT(
      error_text<PluginError>([&] { registry.load_plugin(EQNN_TEST_PLUGIN_BAD_ABI); }),
      AllOf(HasSubstr(EQNN_TEST_PLUGIN_BAD_ABI),
            HasSubstr("built for plugin ABI version " + std::to_string(EQNN_PLUGIN_ABI_VERSION + 998)),
            HasSubstr("supports version " + std::to_string(EQNN_PLUGIN_ABI_VERSION))));
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, MismatchedFingerprintIsRefusedBeforeRegistering) {
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(EQNN_TEST_PLUGIN_BAD_FINGERPRINT); }),
              AllOf(HasSubstr(EQNN_TEST_PLUGIN_BAD_FINGERPRINT),
                    HasSubstr("built as 'eqnn 0.1; torch 0.4; compiler gcc 4.8; cxx11abi 0'"),
                    HasSubstr("libeqnn is '" + build_fingerprint() + "'"), HasSubstr("rebuild the plugin")));
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, RegisterAllThatThrowsLeavesNothingBehind) {
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(EQNN_TEST_PLUGIN_THROWS); }),
              AllOf(HasSubstr("plugin 'test_throws'"), HasSubstr(EQNN_TEST_PLUGIN_THROWS),
                    HasSubstr("failed while registering: cannot find the table of icosahedral irreps")));
  EXPECT_EQ(registry.try_get_constraint("HalfRegistered"), nullptr);
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, SameNameFromTwoPluginsNamesBothFiles) {
  Registry registry;
  registry.load_plugin(EQNN_TEST_PLUGIN_GOOD);
  std::string message = error_text<PluginError>([&] { registry.load_plugin(EQNN_TEST_PLUGIN_DUPLICATE); });
  EXPECT_THAT(message,
              AllOf(HasSubstr("constraint 'TestConstraint' is registered by two plugins"),
                    HasSubstr("'test_good' ('" + std::filesystem::canonical(EQNN_TEST_PLUGIN_GOOD).string()),
                    HasSubstr("'test_duplicate' ('" +
                              std::filesystem::canonical(EQNN_TEST_PLUGIN_DUPLICATE).string())));
  // The duplicate plugin's other registration is rolled back; the first plugin's stays.
  EXPECT_EQ(registry.try_get_constraint("Unique"), nullptr);
  EXPECT_NE(registry.try_get_constraint("TestConstraint"), nullptr);
  EXPECT_EQ(registry.plugins().size(), 1u);
}

TEST(PluginLoader, PluginFileWritableByOthersIsRefused) {
  TempDir dir;
  std::string file = dir.copy(EQNN_TEST_PLUGIN_GOOD, "good.so");
  ASSERT_EQ(::chmod(file.c_str(), 0757), 0);
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(file); }),
              AllOf(HasSubstr("refusing to load plugin '" + file + "'"), HasSubstr("writable by other users"),
                    HasSubstr("mode 0757"), HasSubstr("chmod go-w '" + file + "'")));
  ASSERT_EQ(::chmod(file.c_str(), 0775), 0);
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(file); }),
              HasSubstr("writable by its group"));
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, PluginDirectoryWritableByOthersIsRefused) {
  TempDir dir;
  std::string file = dir.copy(EQNN_TEST_PLUGIN_GOOD, "good.so");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  Registry registry;
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_directory(dir.path()); }),
              AllOf(HasSubstr("refusing to load plugins from '" + dir.path() + "'"),
                    HasSubstr("writable by other users"), HasSubstr("chmod go-w")));
  // Naming the file directly does not get around it.
  EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(file); }),
              AllOf(HasSubstr("its directory '" + dir.path() + "' is writable by other users")));
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoader, DirectoryLoadsOnlySharedObjects) {
  TempDir dir;
  dir.copy(EQNN_TEST_PLUGIN_GOOD, "good.so");
  dir.write("README.txt", "not a plugin");
  Registry registry;
  registry.load_directory(dir.path());
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].name, "test_good");
}

TEST(PluginLoader, EnvironmentPathIsSearchedAfterTheShippedDirectory) {
  TempDir dir;
  dir.copy(EQNN_TEST_PLUGIN_GOOD, "good.so");
  ScopedEnv env("EQNN_PLUGIN_PATH", ":" + dir.path() + ":");
  Registry registry;
  registry.load_default_plugins();
  ASSERT_GE(registry.searched_directories().size(), 2u);
  EXPECT_EQ(registry.searched_directories().front(), Registry::shipped_plugin_directory());
  EXPECT_EQ(registry.searched_directories().back(), dir.path());
  EXPECT_NE(registry.try_get_constraint("TestConstraint"), nullptr);
}

TEST(PluginLoader, ShippedDirectoryIsNextToLibeqnn) {
  EXPECT_EQ(std::filesystem::weakly_canonical(Registry::shipped_plugin_directory()),
            std::filesystem::weakly_canonical(EQNN_TEST_SHIPPED_PLUGIN_DIR));
}

TEST(PluginLoader, ObjectsOutliveTheRegistry) {
  auto registry = std::make_unique<Registry>();
  registry->load_plugin(EQNN_TEST_PLUGIN_GOOD);
  ConstraintFactory factory = registry->get_constraint("TestConstraint");
  ConstraintPtr constraint = factory(ConstraintRequest{});
  GroupType group_type = registry->get_group_type("TestGroup");
  registry.reset();

  // Code and vtables of the plugin are still mapped: the library is never unloaded.
  ASSERT_NE(constraint, nullptr);
  EXPECT_EQ(constraint->name(), "TestConstraint of size 3");
  EXPECT_EQ(constraint->shape(), (std::vector<int64_t>{3, 3}));
  EXPECT_NE(dynamic_cast<const Constraint*>(constraint.get()), nullptr);
  ConstraintPtr another = factory(ConstraintRequest{});
  EXPECT_EQ(another->dim(), 3);
  EXPECT_EQ(group_type.short_names, std::vector<std::string>{"T3"});
  constraint.reset();  // destructor code lives in the plugin
  another.reset();

  // A new registry can load the same plugin again.
  Registry again;
  again.load_plugin(EQNN_TEST_PLUGIN_GOOD);
  EXPECT_EQ(again.get_constraint("TestConstraint")(ConstraintRequest{})->dim(), 3);
}

}  // namespace
}  // namespace eqnn
