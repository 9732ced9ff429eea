// Filesystem helpers: whole-file reads, atomic writes, safe resolution inside a root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.hpp"

namespace berth::fs {

std::string read_file(const std::string& path);
// Reads a file; returns false (and leaves out untouched) if it does not exist. With `max`, a
// file that goes on past it (a user's /dev/zero) is berth::Error (invalid_argument) once
// that much is read.
bool read_file_if_exists(const std::string& path, std::string& out, size_t max = SIZE_MAX);
// Writes to a temp file in the same directory, fsyncs if asked, renames over path.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                       bool sync = false);
// The same through the temp file `tmp`, for writers a lock serializes: a writer killed before
// its rename leaves a file of a known name, which a later holder of the lock can remove.
void write_file_atomic_via(const std::string& tmp, const std::string& path, std::string_view data,
                           mode_t mode = 0644);
// Writes data to an existing file (e.g. a cgroup or procfs knob).
void write_file(const std::string& path, std::string_view data);
void write_fd(int fd, std::string_view data, std::string_view what);
// All of `data` to fd (EINTR retried); false on an error (errno says which) — for the paths
// that must not throw (a log line, a report to a peer that may be gone).
bool write_all(int fd, std::string_view data) noexcept;
// One read(2), retried on EINTR: the bytes read, 0 at the end; throws "read `what`: …".
size_t read_fd(int fd, void* buf, size_t n, std::string_view what);
// One line from a pipe or socket, without its newline: read a byte at a time, so that nothing
// after the line is taken from the fd. "" at EOF or on an error.
std::string read_line(int fd);

bool exists(const std::string& path);
// Disk space under `dir` as du counts it: allocated blocks, each inode once (hard links),
// without following symlinks; what cannot be read is skipped. Used by df and sizes.
struct Usage {
  int64_t bytes = 0, inodes = 0;
  int64_t apparent = 0;  // the sizes of the files (not directories), as ls shows them: Docker's layer size
};
Usage disk_usage(const std::string& dir);
bool is_dir(const std::string& path);
void mkdir_p(const std::string& path, mode_t mode = 0755);
// The names in the directory `dir_fd` (any fd of it, O_PATH too), without . and .., sorted
// (walks that list them are deterministic). Throws "read directory `what`: …" on an error.
std::vector<std::string> list_dir(int dir_fd, std::string_view what);
// Removes a directory tree (does not cross mount points; does not follow symlinks).
void remove_all(const std::string& path);

// Lexically cleans a path: collapses "//", ".", "..", keeps it absolute if it was.
std::string clean_path(std::string_view path);
// An absolute, cleaned path: relative ones are taken from the current directory.
std::string absolute(const std::string& path);
// Joins root and an absolute or relative path lexically ("/a" + "/b" -> "/a/b").
std::string join(std::string_view root, std::string_view path);

// Opens `path` resolved strictly inside the directory `root_fd` (symlinks and ".." can
// never leave it): openat2(RESOLVE_IN_ROOT) where the kernel has it, else a component walk
// that resolves symlinks by hand relative to the root. flags as for openat.
UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode = 0);
// Creates every missing directory of `path` inside root_fd (never following symlinks out)
// and returns an O_PATH fd of the final directory.
UniqueFd mkdir_in_root(int root_fd, std::string_view path, mode_t mode = 0755);

// "/proc/self/fd/N" for an fd: the path through which a mount can target exactly it.
std::string fd_path(int fd);

// A new filesystem instance as a detached mount (fsopen/fsconfig/fsmount): `options` are
// fsconfig string options, `attrs` MOUNT_ATTR_* flags. An empty fd (errno set) when the kernel
// or our privileges do not allow it.
UniqueFd new_detached_mount(const char* fstype,
                            const std::vector<std::pair<std::string, std::string>>& options,
                            unsigned attrs);
// Binds the tree at `source` (recursively; read-only when asked) onto the directory or file
// that `target_fd` (an fd of it, O_PATH is fine) is: open_tree + move_mount, so the target is
// exactly that inode, whatever its path says by then. Throws naming `what`.
void bind_tree_at(const std::string& source, int target_fd, bool read_only, const std::string& what);
// Where an fd points according to /proc (readlink).
std::string fd_target(int fd);
// Whether the fd is on one of the kernel's own filesystems (proc, sysfs, devpts, cgroup,
// securityfs, debugfs, tracefs, bpf, …): a container's view of the kernel, not its files.
bool on_kernel_fs(int fd);

// A process's start time (/proc/PID/stat field 22, clock ticks since boot): with the pid, it
// names a process for good (a pid is reused, the pair is not). 0 if gone or a zombie. The
// same number whatever time namespace the caller is in (its boot time offset taken off).
unsigned long long process_start_time(pid_t pid);

// Raises this process's soft RLIMIT_NOFILE to `want` (at most the hard limit; never lowers
// it), for walks that hold one fd per directory level.
void raise_nofile_limit(unsigned long want);

}  // namespace berth::fs
