// Temporary file + fsync + rename + directory fsync, with every descriptor and temporary file owned by
// a guard so that no error path (including exceptions from formatting) leaks either.
#include "eqnn/util/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {
namespace detail {
namespace {

namespace fs = std::filesystem;

// Closes the descriptor and removes the temporary file unless committed.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  // close() may report a deferred write error (NFS); the descriptor is gone either way.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  int fd_;
  bool committed_ = false;
};

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void fail(const std::string& path, const std::string& step, int error) {
  throw Error(fmt::format("cannot write '{}': {}: {}", path, step, std::strerror(error)));
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Unlinks "<prefix><pid>-..." (and the older "<prefix><pid>") entries whose writer process is gone.
// A temporary file of a live writer is left alone; one whose pid now belongs to an unrelated process
// stays until that process exits. Best effort: a failure here never stops the write.
void remove_stale_temporaries(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::string digits = rest.substr(0, rest.find('-'));
    if (digits.empty() || digits.size() > 10 || digits.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const long pid = std::stol(digits);
    if (pid <= 0 || pid == static_cast<long>(::getpid())) continue;  // ours are removed by their guard
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    struct stat st {};
    // Only plain files (or links) that belong to this user; unlink never follows a symlink.
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) || st.st_uid != ::geteuid()) continue;
    ::unlinkat(::dirfd(d), name.c_str(), 0);
  }
  ::closedir(d);
}

std::string random_suffix() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return fmt::format("{:016x}", engine());
}

}  // namespace

std::string temporary_prefix(const std::string& name) { return "." + name + ".tmp-"; }

void write_file_atomically_via(const std::string& path, std::string_view bytes,
                               const std::string& temp_path) {
  // The old file's permission bits; a new file gets 0666 less the umask, as any created file does.
  struct stat old {};
  const bool keep_mode = ::lstat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode);
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int error = errno;
    throw Error(
        fmt::format("cannot write '{}': cannot create the temporary file '{}': {}{}", path, temp_path,
                    std::strerror(error),
                    error == EEXIST ? " (something already exists under that name; it was left alone)" : ""));
  }
  TempFile temp(temp_path, fd);
  if (keep_mode && ::fchmod(fd, old.st_mode & 07777) != 0) fail(path, "setting the mode", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "writing", errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail(path, "fsync", errno);
  if (temp.close() != 0) fail(path, "closing", errno);
  if (::rename(temp_path.c_str(), path.c_str()) != 0)
    fail(path, "renaming the temporary file over it", errno);
  temp.commit();
  // The rename is durable only once the directory entry is: fsync the directory.
  const std::string dir = directory_of(path);
  Descriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || (::fsync(dir_fd.get()) != 0 && errno != EINVAL)) {
    throw Error(fmt::format("wrote '{}', but could not make it durable: fsync of the directory '{}': {}",
                            path, dir, std::strerror(errno)));
  }
}

}  // namespace detail

void write_file_atomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const std::string name = fs::path(path).filename().string();
  if (name.empty() || name == "." || name == "..") {
    throw Error(fmt::format("cannot write '{}': expected a file name, found a directory path", path));
  }
  const std::string dir = detail::directory_of(path);
  const std::string prefix = detail::temporary_prefix(name);
  detail::remove_stale_temporaries(dir, prefix);
  // A name collision (O_EXCL) is astronomically unlikely with 64 random bits; retry a few times anyway.
  for (int attempt = 0;; ++attempt) {
    const std::string temp =
        (fs::path(dir) / fmt::format("{}{}-{}", prefix, ::getpid(), detail::random_suffix())).string();
    struct stat st {};
    if (attempt < 8 && ::lstat(temp.c_str(), &st) == 0) continue;
    detail::write_file_atomically_via(path, bytes, temp);
    return;
  }
}

}  // namespace eqnn
