// Helpers shared by the content store's files (not part of its interface).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/digest.hpp"

namespace berth::content::detail {

// Throws berth::Error unless d is a digest the store can hold (sha256/sha512, lowercase hex of
// the right length): a Digest is a plain struct, so one built by hand is checked before any
// part of it becomes a path.
void check_digest(const Digest& d);
// Whether `name` is lowercase hex of exactly `len` characters (a blob or ingest file name).
bool is_hex(std::string_view name, size_t len);
// Hex length of an algorithm's digests; 0 for one the store does not know.
size_t hex_length(std::string_view algorithm);
// A ref as it may appear in a one-line message: quoted, control characters escaped, cut short.
std::string quote(std::string_view s);

// Hashes fd from offset 0 to EOF in large chunks (pread, so the file position is untouched)
// and returns the number of bytes hashed.
int64_t hash_fd(int fd, Hasher& h, std::string_view what);
// fsync of a directory (after a rename into it).
void fsync_dir(const std::string& path);

}  // namespace berth::content::detail
