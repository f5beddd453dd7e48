// Plugin trust (who may have written the code we are about to run) and the plugin contract: ownership
// and write permission up the whole path, symlinks resolved first; the build fingerprint; factories that
// return null; eqnn errors thrown by a plugin caught by their type in the host.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/internal/plugin_loader.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn {
namespace {

using ::testing::AllOf;
using testing::error_text;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr uid_t kNobody = 65534;

// Someone who is neither root nor the user the check runs for. As root the test hands `path` to uid
// 65534 and checks as itself; otherwise it cannot chown, so it checks as a pretend user (its uid + 1),
// for whom every entry the test made is foreign; the topmost one, `topmost_own`, is then the offender.
struct Stranger {
  uid_t check_as;
  std::string offender;
};

Stranger make_foreign(const std::string& path, const std::string& topmost_own) {
  if (::geteuid() == 0) {
    EXPECT_EQ(::chown(path.c_str(), kNobody, static_cast<gid_t>(-1)), 0) << path;
    return {0, path};
  }
  return {::geteuid() + 1, topmost_own};
}

// TempDir/sub/plugins/good.so, every entry mode 0755.
struct Tree {
  TempDir top;
  std::string sub, plugins, file;
  Tree() {
    sub = top.path() + "/sub";
    plugins = sub + "/plugins";
    std::filesystem::create_directories(plugins);
    ::chmod(sub.c_str(), 0755);
    ::chmod(plugins.c_str(), 0755);
    file = plugins + "/good.so";
    std::filesystem::copy_file(EQNN_TEST_PLUGIN_GOOD, file);
    ::chmod(file.c_str(), 0755);
  }
};

TEST(PluginTrust, ATrustedTreeUnderTmpLoads) {
  // /tmp is world-writable with the sticky bit (root, 1777): accepted above the plugin's own directory.
  Tree tree;
  EXPECT_NO_THROW(detail::check_plugin_file(tree.file));
  EXPECT_NO_THROW(detail::check_plugin_directory(tree.plugins));
  Registry registry;
  registry.load_directory(tree.plugins);
  EXPECT_EQ(registry.plugins().size(), 1u);
}

TEST(PluginTrust, FileOwnedBySomeoneElseIsRefused) {
  Tree tree;
  const Stranger s = make_foreign(tree.file, tree.top.path());
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_file(tree.file, s.check_as); }),
              AllOf(HasSubstr("refusing to load plugin '" + tree.file + "'"), HasSubstr("'" + s.offender),
                    HasSubstr("is owned by uid "),
                    HasSubstr("not by root or you (uid " + std::to_string(s.check_as))));
  if (::geteuid() == 0) {
    // Through the registry as well, with the file named as the role.
    Registry registry;
    EXPECT_THAT(error_text<PluginError>([&] { registry.load_plugin(tree.file); }),
                HasSubstr("the file is owned by uid 65534"));
    EXPECT_TRUE(registry.plugins().empty());
  }
}

TEST(PluginTrust, AncestorOwnedBySomeoneElseIsRefused) {
  Tree tree;
  const Stranger s = make_foreign(tree.sub, tree.top.path());
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_directory(tree.plugins, s.check_as); }),
              AllOf(HasSubstr("refusing to load plugins from '" + tree.plugins + "'"),
                    HasSubstr("the directory '" + s.offender + "' above it is owned by uid ")));
}

TEST(PluginTrust, AncestorWritableByOthersIsRefusedUnlessSticky) {
  Tree tree;
  ASSERT_EQ(::chmod(tree.sub.c_str(), 0777), 0);
  EXPECT_THAT(
      error_text<PluginError>([&] { detail::check_plugin_file(tree.file); }),
      AllOf(HasSubstr("refusing to load plugin '" + tree.file + "'"),
            HasSubstr("the directory '" + tree.sub + "' above it is writable by other users (mode 0777)"),
            HasSubstr("chmod go-w '" + tree.sub + "'")));
  ASSERT_EQ(::chmod(tree.sub.c_str(), 0775), 0);
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_directory(tree.plugins); }),
              HasSubstr("the directory '" + tree.sub + "' above it is writable by its group (mode 0775)"));
  // Sticky: nobody else can rename or remove 'plugins' in it, as in /tmp.
  ASSERT_EQ(::chmod(tree.sub.c_str(), 01777), 0);
  EXPECT_NO_THROW(detail::check_plugin_file(tree.file));
  EXPECT_NO_THROW(detail::check_plugin_directory(tree.plugins));
}

TEST(PluginTrust, StickyDoesNotExcuseThePluginDirectoryItself) {
  // Anyone could add a plugin to a world-writable directory, sticky or not.
  Tree tree;
  ASSERT_EQ(::chmod(tree.plugins.c_str(), 01777), 0);
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_directory(tree.plugins); }),
              HasSubstr("the directory is writable by other users (mode 1777)"));
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_file(tree.file); }),
              HasSubstr("its directory '" + tree.plugins + "' is writable by other users (mode 1777)"));
}

TEST(PluginTrust, SymlinksAreResolvedBeforeChecking) {
  // A trusted link pointing into an untrusted directory is judged by where it points.
  Tree tree;
  TempDir links;
  const std::string link = links.path() + "/good.so";
  ASSERT_EQ(::symlink(tree.file.c_str(), link.c_str()), 0);
  EXPECT_NO_THROW(detail::check_plugin_file(link));
  ASSERT_EQ(::chmod(tree.plugins.c_str(), 0757), 0);
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_file(link); }),
              AllOf(HasSubstr("refusing to load plugin '" + link + "'"),
                    HasSubstr("its directory '" + tree.plugins + "' is writable by other users")));
}

TEST(PluginTrust, MissingPathIsNamed) {
  EXPECT_THAT(error_text<PluginError>([&] { detail::check_plugin_file("/nonexistent/eqnn/x.so"); }),
              AllOf(HasSubstr("cannot load plugin '/nonexistent/eqnn/x.so'"), HasSubstr("No such file")));
}

// ---- the fingerprint ------------------------------------------------------------------------------------

TEST(Fingerprint, NamesEveryLibraryAndCompilerSettingThatCrossesTheBoundary) {
  const std::string fp = build_fingerprint();
  EXPECT_EQ(fp, EQNN_BUILD_FINGERPRINT) << "this test binary and libeqnn are one build";
  EXPECT_THAT(fp, HasSubstr("; torch " + torch_version() + (torch_has_cuda() ? " cuda" : " cpu")));
  EXPECT_THAT(fp, HasSubstr(fmt::format("; eigen {}.{}.{};", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
                                        EIGEN_MINOR_VERSION)));
  EXPECT_THAT(fp, HasSubstr(std::string("; yaml-cpp ") + EQNN_TEST_YAML_CPP_VERSION + ";"));
  EXPECT_THAT(fp, ::testing::Not(HasSubstr("unknown")));
#if defined(__clang__)
  EXPECT_THAT(fp, HasSubstr(fmt::format("; compiler clang {}.{};", __clang_major__, __clang_minor__)));
#else
  EXPECT_THAT(fp, HasSubstr(fmt::format("; compiler gcc {}.{};", __GNUC__, __GNUC_MINOR__)));
#endif
  EXPECT_THAT(fp, HasSubstr(fmt::format("; cxx11abi {};", _GLIBCXX_USE_CXX11_ABI)));
#ifdef _GLIBCXX_DEBUG
  EXPECT_THAT(fp, HasSubstr("; glibcxx-debug on"));
#else
  EXPECT_THAT(fp, HasSubstr("; glibcxx-debug off"));
#endif
}

// ---- the factory contract -------------------------------------------------------------------------------

TEST(PluginContract, NullFromAFactoryIsAnErrorNamingThePluginAndTheName) {
  Registry registry;
  registry.load_plugin(EQNN_TEST_PLUGIN_NULL_FACTORY);
  const std::string file = std::filesystem::canonical(EQNN_TEST_PLUGIN_NULL_FACTORY).string();
  auto names = [&](const std::string& what) {
    return AllOf(HasSubstr("plugin 'test_null_factory' ('" + file + "')"), HasSubstr(what),
                 HasSubstr("returned null"));
  };
  EXPECT_THAT(error_text<PluginError>([&] { registry.get_layer("NullLayer")(LayerArgs{}); }),
              names("layer 'NullLayer'"));
  EXPECT_THAT(
      error_text<PluginError>([&] { registry.get_constraint("NullConstraint")(ConstraintRequest{}); }),
      names("constraint 'NullConstraint'"));
  EXPECT_THAT(
      error_text<PluginError>([&] { registry.get_group_type("NullGroup").make(YAML::Node(), registry); }),
      names("group type 'NullGroup'"));
}

TEST(PluginContract, AnEqnnErrorThrownInAPluginIsCaughtByItsTypeInTheHost) {
  Registry registry;
  registry.load_plugin(EQNN_TEST_PLUGIN_NULL_FACTORY);
  try {
    registry.get_layer("RefusingLayer")(LayerArgs{});
    ADD_FAILURE() << "nothing thrown";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.message(), "RefusingLayer: refuses every argument");
    EXPECT_EQ(typeid(e), typeid(ConfigError));
  }
}

}  // namespace
}  // namespace eqnn
