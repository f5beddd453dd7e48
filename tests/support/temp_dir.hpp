// A private temporary directory per test (mkdtemp, mode 0700, removed with everything in it at the end),
// and reading and writing whole files in it.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace eqnn::testing {

/// A fresh directory of its own under the system's temporary directory, for files a test writes (models,
/// checkpoints, plugins that the loader's trust check must accept: owned by you, not writable by others).
///
///   TempDir dir;
///   save_checkpoint(*model, registry(), dir.file("ckpt.pt"));
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
  /// The path of `name` in the directory (nothing is created).
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Copies `file` in as `name` (mode 0755) and returns the new absolute path.
  std::string copy(const std::string& file, const std::string& name) const {
    std::string target = this->file(name);
    std::filesystem::copy_file(file, target, std::filesystem::copy_options::overwrite_existing);
    ::chmod(target.c_str(), 0755);
    return target;
  }
  /// Writes `text` to `name` (mode 0644) and returns the new absolute path.
  std::string write(const std::string& name, const std::string& text) const {
    std::string target = this->file(name);
    std::ofstream(target) << text;
    ::chmod(target.c_str(), 0644);
    return target;
  }

 private:
  std::string path_;
};

/// The whole content of a file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Replaces the content of a file by `text`.
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace eqnn::testing
