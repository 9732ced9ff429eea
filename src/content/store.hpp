// The content store: blobs addressed by digest under <root>/blobs/<algorithm>/<hex>.
//
// Ingest writes to a temp file under <root>/ingest/<key>/ while hashing, then commit checks
// size and digest, fsyncs, and renames the file into place atomically: a blob is either
// complete and verified or not visible at all. An ingest is keyed by a caller's ref (e.g. the
// expected digest); it is locked (flock) while a writer has it, and an interrupted ingest is
// resumed (the bytes already there are re-hashed and the writer continues at offset()) or
// discarded. Labels and namespaces live in the metadata database, not here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.hpp"
#include "common/fd.hpp"

namespace berth::content {

struct Info {
  Digest digest;
  int64_t size = 0;
  int64_t created = 0;  // unix seconds (the blob file's mtime)
};

class Store {
 public:
  // Creates <root>/blobs and <root>/ingest when missing.
  explicit Store(std::string root);

  const std::string& root() const { return root_; }
  std::string blob_path(const Digest& d) const;
  bool exists(const Digest& d) const;
  std::optional<Info> info(const Digest& d) const;
  // O_RDONLY fd of the blob; throws berth::Error("blob <digest> not found") when missing.
  UniqueFd open(const Digest& d) const;
  // The whole blob, refused (Error) when larger than max_size (manifests, configs), and
  // checked against its digest again (what is read this way gets parsed and trusted).
  std::string read(const Digest& d, size_t max_size) const;
  // Removes a blob; false when it was not there.
  bool remove(const Digest& d);
  // Every blob, in no particular order.
  void walk(const std::function<void(const Info&)>& fn) const;

  class Writer {
   public:
    Writer(Writer&&) noexcept;
    Writer& operator=(Writer&&) noexcept;
    ~Writer();  // an uncommitted, unaborted ingest stays on disk for a later resume
    // Bytes already in the ingest (non-zero when an interrupted ingest was resumed).
    int64_t offset() const;
    void write(const void* data, size_t n);
    void write(std::string_view s) { write(s.data(), s.size()); }
    // Digest of the bytes written so far (including resumed ones).
    Digest digest() const;
    // Verifies (expected_size < 0: size not checked), makes the file 0444, fsyncs it and
    // renames it into place, then fsyncs the directory. On a mismatch the ingest is discarded
    // and berth::Error says what was expected and what came ("blob sha256:…: size 10,
    // expected 12" / "… digest mismatch: got sha256:…"). If the blob already exists the
    // ingest is simply discarded. A writer is finished after commit or abort: further calls
    // throw (abort is a no-op). Writers hash with sha256; a sha512 `expected` re-reads the file.
    void commit(const Digest& expected, int64_t expected_size = -1);
    // Discards the ingest.
    void abort();

   private:
    friend class Store;
    struct State;
    explicit Writer(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
  };

  // Opens (or resumes, when resume is true and bytes are there) the ingest for `ref` (any
  // non-empty string up to 4096 bytes; it is hashed for the directory name, never a path).
  // Throws berth::Error when another writer holds it (unless wait is true: then it waits); the
  // lock is per writer, so a second writer in the same process is refused too.
  Writer writer(const std::string& ref, bool resume = true, bool wait = false);
  // One shot: stores `data`, returns its digest (verified against `expected` if given).
  Digest put(std::string_view data, const std::optional<Digest>& expected = std::nullopt);

  // Refs of ingests on disk (interrupted or in progress), sorted, and removal of one: a no-op
  // when there is none, berth::Error when a writer holds it.
  std::vector<std::string> ingests() const;
  void abort_ingest(const std::string& ref);

 private:
  std::string root_;
};

}  // namespace berth::content
