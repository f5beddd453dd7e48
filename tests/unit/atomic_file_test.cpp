// write_file_atomically: a writer SIGKILLed at random instants never leaves a damaged checkpoint, and the
// temporary files it leaves are removed by the next write; a symlink planted at the temporary name is
// not followed; the old file's mode is kept; no error path leaks a descriptor; concurrent writers each
// leave a whole file.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eqnn/util/atomic_file.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// Entries of `dir` other than `keep`.
std::vector<std::string> others(const std::filesystem::path& dir, const std::string& keep) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename() != keep) names.push_back(entry.path().filename().string());
  }
  return names;
}

int open_descriptors() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Over a megabyte of bytes that differ from seed to seed, so a kill often lands inside the write or the
// fsync.
std::string large_contents(uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(3u << 19, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

TEST(AtomicFile, WriterKilledAtRandomInstantsNeverDamagesTheCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  const std::string a = large_contents(1), b = large_contents(2);
  ASSERT_GT(a.size(), 1u << 20);
  ASSERT_NE(a, b);
  write_file_atomically(path, a);

  const std::string prefix = detail::temporary_prefix("model.ckpt");
  auto temporaries = [&] {
    int n = 0;
    for (const auto& name : others(dir.path(), "model.ckpt")) n += name.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  };
  std::mt19937 rng(12);
  constexpr int kKills = 20;
  int left_behind = 0;
  for (int i = 0; i < kKills; ++i) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // Only system calls from here on: rewrite the checkpoint, alternating contents, until killed.
      ::close(ready[0]);
      try {
        for (uint64_t k = 0;; ++k) {
          write_file_atomically(path, k % 2 == 0 ? b : a);
          if (k == 0) (void)!::write(ready[1], "x", 1);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the writer failed before its first write";
    ::close(ready[0]);
    // Kill at a random instant of one of the next writes: while it writes, fsyncs or renames.
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer exited by itself";
    const std::string now = read_text(path);
    ASSERT_TRUE(now == a || now == b)
        << "kill " << i << ": the checkpoint holds " << now.size() << " bytes that are neither version";
    left_behind += temporaries();
    EXPECT_LE(temporaries(), 1) << "an earlier killed writer's temporary file was not cleaned";
  }
  // Kills inside the write leave a temporary file; the next write removes it.
  EXPECT_GT(left_behind, 0) << "no kill landed inside a write: the test did not exercise anything";
  write_file_atomically(path, a);
  EXPECT_EQ(temporaries(), 0);
  EXPECT_EQ(others(dir.path(), "model.ckpt"), std::vector<std::string>{});
  EXPECT_EQ(read_text(path), a);
  std::cout << "[          ] " << kKills << " kills, " << left_behind << " inside a write\n";
}

TEST(AtomicFile, PlantedSymlinkAtTheTemporaryNameIsNotFollowed) {
  TempDir dir;
  const std::string victim = dir.file("victim.txt"), target = dir.file("out.pt");
  write_text(victim, "precious");
  const std::string temp = dir.file(detail::temporary_prefix("out.pt") + "1-planted");
  ASSERT_EQ(::symlink(victim.c_str(), temp.c_str()), 0);
  const std::string msg = error_text<Error>([&] { detail::write_file_atomically_via(target, "new", temp); });
  EXPECT_NE(msg.find("cannot write '" + target + "': cannot create the temporary file '" + temp + "'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("left alone"), std::string::npos) << msg;
  EXPECT_EQ(read_text(victim), "precious");
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_TRUE(std::filesystem::is_symlink(temp)) << "the planted link is not ours to remove";
  // The public entry point picks a fresh name and succeeds next to the planted link.
  write_file_atomically(target, "new");
  EXPECT_EQ(read_text(target), "new");
  EXPECT_EQ(read_text(victim), "precious");
}

TEST(AtomicFile, KeepsTheModeOfTheFileItReplaces) {
  TempDir dir;
  const std::string path = dir.file("weights.pt");
  for (mode_t mode : {0600, 0640, 0444, 0755}) {
    write_text(path, "old");
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    write_file_atomically(path, "new");
    EXPECT_EQ(mode_of(path), mode) << std::oct << mode;
    EXPECT_EQ(read_text(path), "new");
  }
  // A new file gets 0666 less the umask, as any file a program creates.
  const mode_t old_umask = ::umask(027);
  write_file_atomically(dir.file("fresh.pt"), "x");
  ::umask(old_umask);
  EXPECT_EQ(mode_of(dir.file("fresh.pt")), 0640u);
}

TEST(AtomicFile, StaleTemporariesOfDeadWritersAreRemovedLiveOnesKept) {
  TempDir dir;
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);  // reaped: its pid names no process now
  const std::string prefix = detail::temporary_prefix("out.pt");
  const std::string stale = dir.file(prefix + std::to_string(dead) + "-0123456789abcdef");
  const std::string old_style = dir.file(prefix + std::to_string(dead));
  const std::string live = dir.file(prefix + std::to_string(::getppid()) + "-0123456789abcdef");
  const std::string other_file = dir.file(".other.pt.tmp-" + std::to_string(dead));
  for (const auto& f : {stale, old_style, live, other_file}) write_text(f, "partial");
  write_file_atomically(dir.file("out.pt"), "whole");
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_FALSE(std::filesystem::exists(old_style));
  EXPECT_TRUE(std::filesystem::exists(live)) << "a live writer's temporary file must stay";
  EXPECT_TRUE(std::filesystem::exists(other_file)) << "temporary files of other targets are not ours";
  EXPECT_EQ(read_text(dir.file("out.pt")), "whole");
}

TEST(AtomicFile, ErrorsNameTheStepAndLeakNoDescriptor) {
  TempDir dir;
  const int before = open_descriptors();
  std::string msg = error_text<Error>([&] { write_file_atomically(dir.file("missing/dir/out.pt"), "x"); });
  EXPECT_NE(
      msg.find("cannot write '" + dir.file("missing/dir/out.pt") + "': cannot create the temporary file"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  std::filesystem::create_directory(dir.file("a_directory"));
  write_text(dir.file("a_directory/inside"), "keep");
  msg = error_text<Error>([&] { write_file_atomically(dir.file("a_directory"), "x"); });
  EXPECT_NE(msg.find("cannot write '" + dir.file("a_directory") + "': renaming the temporary file over it"),
            std::string::npos)
      << msg;
  msg = error_text<Error>([&] { write_file_atomically(dir.path() + "/", "x"); });
  EXPECT_NE(msg.find("expected a file name"), std::string::npos) << msg;
  const std::string temp = dir.file("planted");
  write_text(temp, "someone else's");
  msg = error_text<Error>([&] { detail::write_file_atomically_via(dir.file("out.pt"), "x", temp); });
  EXPECT_NE(msg.find("File exists"), std::string::npos) << msg;
  EXPECT_EQ(read_text(temp), "someone else's");
  EXPECT_EQ(open_descriptors(), before);
  // Nothing but what the test made itself is left behind.
  std::vector<std::string> left = others(dir.path(), "");
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"a_directory", "planted"}));
}

TEST(AtomicFile, ConcurrentWritersEachLeaveAWholeFile) {
  TempDir dir;
  const std::string path = dir.file("shared.pt");
  const std::string x(1 << 16, 'x'), y(1 << 17, 'y');
  std::thread t1([&] {
    for (int i = 0; i < 30; ++i) write_file_atomically(path, x);
  });
  std::thread t2([&] {
    for (int i = 0; i < 30; ++i) write_file_atomically(path, y);
  });
  t1.join();
  t2.join();
  const std::string now = read_text(path);
  EXPECT_TRUE(now == x || now == y);
  EXPECT_EQ(others(dir.path(), "shared.pt"), std::vector<std::string>{});
}

}  // namespace
}  // namespace eqnn::testing
