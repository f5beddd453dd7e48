// Crash-safe file replacement for checkpoints, exported weights, tensor files and CLI outputs: a reader,
// or the next run after a crash or a kill at any instant, finds either the old file or the new one,
// whole, never a mixture or a truncated file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eqnn {

/// Replaces `path` by `bytes`:
///  1. removes temporary files that a killed writer of `path` left behind (its process is gone);
///  2. creates a temporary file next to `path` (same directory, so rename is atomic) under a unique name
///     with O_CREAT|O_EXCL|O_NOFOLLOW: an existing file or a planted symlink there is never written;
///  3. gives it the old file's permission bits (or 0666 less the umask for a new file), writes, fsyncs;
///  4. renames it over `path` and fsyncs the directory, so the rename itself survives a power cut.
/// On any error the temporary file is removed, no descriptor stays open, `path` is untouched (unless
/// only the final directory fsync failed: then the new file is in place and the error says so), and an
/// eqnn::Error names `path`, the step and the system's reason.
///
///   eqnn::write_file_atomically("model.ckpt", bytes);
///
/// `path` itself is replaced: a symlink at `path` becomes a regular file (its target is not written).
void write_file_atomically(const std::string& path, std::string_view bytes);

namespace detail {
/// Steps 2–4 through the given temporary name instead of a fresh one (for tests: a planted symlink).
void write_file_atomically_via(const std::string& path, std::string_view bytes, const std::string& temp_path);
/// Prefix of the temporary files for `path`'s file name `name`: ".<name>.tmp-"; a temporary file is
/// "<prefix><pid>-<random>", so the writer's process id tells whether it is stale.
std::string temporary_prefix(const std::string& name);
}  // namespace detail

}  // namespace eqnn
