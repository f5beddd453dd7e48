// A private temporary directory (mode 0700) for tests that need plugins in a directory of their own.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "scoped_env.hpp"

namespace eqnn::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "eqnn-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  /// Copies `file` in as `name` (mode 0755) and returns the new absolute path.
  std::string copy(const std::string& file, const std::string& name) const {
    std::string target = path_ + "/" + name;
    std::filesystem::copy_file(file, target, std::filesystem::copy_options::overwrite_existing);
    ::chmod(target.c_str(), 0755);
    return target;
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string target = path_ + "/" + name;
    std::ofstream(target) << text;
    ::chmod(target.c_str(), 0644);
    return target;
  }

 private:
  std::string path_;
};

}  // namespace eqnn::testing
