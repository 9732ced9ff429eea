// The engine's metadata: one SQLite database (<root>/metadata.db) that every berth process
// opens at the same time. It records, per namespace (like containerd's: `--namespace`,
// default "default"):
//   images     name → target descriptor (manifest or index), labels
//   snapshots  key, parent, kind (active/view/committed), a numeric id naming the directory
//              on disk (snapshots/<id>), labels
//   content    the blobs a namespace knows, with labels (GC references such as
//              "containerd.io/gc.ref.content.l.0", "berth.uncompressed", …)
//   leases     protect in-progress work (pulls) from GC, with the resources they hold
// The blobs and snapshot directories themselves live elsewhere (content/, snapshot/).
//
// Concurrency: the database runs in WAL mode (readers never block, one writer at a time);
// every write runs in a BEGIN IMMEDIATE transaction and waits for the write lock up to the busy
// timeout (10 s) rather than failing at once. A Db may be shared by threads: each thread that
// uses it gets an SQLite connection of its own (opened on its first call, kept until the Db
// goes; a transaction is the calling thread's). Never use one across fork().
//
// Errors are berth::Error with one line: invalid input ("invalid namespace \"a/b\": …"),
// conflicts ("snapshot \"k\" already exists", "snapshot \"k\" has 2 children") and SQLite
// failures ("metadata: /var/lib/berth/metadata.db: database is locked"). Looking up something
// absent is not an error: get_* return std::nullopt and delete_* return false.
//
// Times are unix nanoseconds (CLOCK_REALTIME); labels are string maps (stored as JSON).
// Digests are plain strings here: callers validate them.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace berth::metadata {

using Labels = std::map<std::string, std::string>;

inline constexpr std::string_view kDefaultNamespace = "default";

// Unix time in nanoseconds.
int64_t now_ns();

// Throws berth::Error unless `ns` matches [a-zA-Z0-9][a-zA-Z0-9._-]* and has at most 76
// characters: "invalid namespace \"a/b\": …".
void validate_namespace(std::string_view ns);

// Throws berth::Error unless every label has a non-empty key and key + value fit in 4096 bytes.
void validate_labels(const Labels& labels);

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  bool operator==(const Descriptor&) const = default;
};

struct Image {
  std::string name;  // "docker.io/library/alpine:3.19", "…@sha256:…"
  Descriptor target;
  Labels labels;
  int64_t created = 0;
  int64_t updated = 0;
};

struct Snapshot {
  enum class Kind { active, view, committed };
  int64_t id = 0;      // unique across namespaces, never reused: the directory name on disk
  std::string key;     // unique in its namespace
  std::string parent;  // the parent's key, empty for none
  Kind kind = Kind::active;
  Labels labels;
  int64_t created = 0;
  int64_t updated = 0;
};
// "active", "view", "committed".
std::string_view to_string(Snapshot::Kind kind);

struct ContentInfo {
  std::string digest;
  int64_t size = 0;
  Labels labels;
  int64_t created = 0;
  int64_t updated = 0;
};

struct LeaseResource {
  enum class Type { content, snapshot, ingest };
  Type type = Type::content;
  std::string ref;  // a digest, a snapshot key or an ingest ref
  bool operator==(const LeaseResource&) const = default;
};
// "content", "snapshot", "ingest".
std::string_view to_string(LeaseResource::Type type);
// The inverse; throws berth::Error for anything else.
LeaseResource::Type parse_lease_resource_type(std::string_view s);

struct Lease {
  std::string id;
  int64_t expires_at = 0;  // 0: never
  Labels labels;
  int64_t created = 0;
  bool expired(int64_t now) const { return expires_at != 0 && expires_at <= now; }
};

// An engine container: id (64 hex), name (unique in its namespace), the image it was made
// from, its writable snapshot's key, and the engine's JSON document about it (opaque here).
struct Container {
  std::string id;
  std::string name;
  std::string image;
  std::string snapshot;
  std::string data;
  int64_t created = 0;
  int64_t updated = 0;
};

struct OpenOptions {
  // How long a writer waits for another process's write transaction before failing with
  // "database is locked".
  std::chrono::milliseconds busy_timeout{10000};
  // Called when the database holds no schema yet (a new file, or an emptied one) before it is
  // made a new empty store; it may throw to refuse (its owner knows whether data should be
  // there: an emptied database over a root full of layers must not pass for a new store).
  std::function<void()> on_new_store;
};

class Db {
 public:
  // Opens (creating the file with mode 0600 and its parent directories with 0700 when missing)
  // and brings the schema up to date. Sets journal_mode=WAL, synchronous=NORMAL,
  // foreign_keys=ON and the busy timeout.
  [[nodiscard]] static Db open(const std::string& path, const OpenOptions& opts = {});

  Db(Db&&) noexcept;
  Db& operator=(Db&&) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  const std::string& path() const;
  // PRAGMA user_version of the database.
  [[nodiscard]] int schema_version();
  // The value of a PRAGMA on this connection ("journal_mode" → "wal"), for diagnostics.
  [[nodiscard]] std::string pragma(std::string_view name);

  // Runs f() in a transaction: BEGIN IMMEDIATE … COMMIT, ROLLBACK when f throws (the
  // exception goes on). A transaction inside another is a savepoint: its failure undoes its own
  // writes only, and nothing is durable before the outermost one commits. Returns f's result.
  // Every write method below is a transaction of its own (or a savepoint in yours).
  template <class F>
  auto transaction(F&& f) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    begin_tx();
    try {
      if constexpr (std::is_void_v<R>) {
        f();
        commit_tx();
      } else {
        R r = f();
        commit_tx();
        return r;
      }
    } catch (...) {
      rollback_tx();
      throw;
    }
  }

  // Every namespace that holds anything (images, snapshots, content or leases), sorted.
  [[nodiscard]] std::vector<std::string> list_namespaces();

  // ---- Images
  // Inserts or replaces the image `img.name`. `created` is kept from an existing record
  // (else img.created, else now); `updated` is now. Returns the stored record.
  Image put_image(std::string_view ns, const Image& img);
  [[nodiscard]] std::optional<Image> get_image(std::string_view ns, std::string_view name);
  // Sorted by name.
  [[nodiscard]] std::vector<Image> list_images(std::string_view ns);
  // Images whose target digest is `digest` (several names can share one target).
  [[nodiscard]] std::vector<Image> list_images_by_target(std::string_view ns,
                                                         std::string_view digest);
  // Images whose target digest starts with `prefix`, given with its algorithm
  // ("sha256:4f2a") or without ("4f2a"): what `rmi <id>` resolves.
  [[nodiscard]] std::vector<Image> find_images_by_target_prefix(std::string_view ns,
                                                                std::string_view prefix);
  // False when there was no such image.
  bool delete_image(std::string_view ns, std::string_view name);

  // ---- Snapshots
  // A new active or view snapshot on `parent` (a committed snapshot's key, or empty).
  // Errors: "snapshot \"k\" already exists", "snapshot \"k\": parent \"p\" not found",
  // "snapshot \"k\": parent \"p\" is not committed".
  Snapshot add_snapshot(std::string_view ns, std::string_view key, std::string_view parent,
                        Snapshot::Kind kind, const Labels& labels = {});
  [[nodiscard]] std::optional<Snapshot> get_snapshot(std::string_view ns, std::string_view key);
  // In creation order, so a parent comes before its children.
  [[nodiscard]] std::vector<Snapshot> list_snapshots(std::string_view ns);
  // The snapshots whose parent is `key` (empty when it has none or does not exist).
  [[nodiscard]] std::vector<Snapshot> children(std::string_view ns, std::string_view key);
  // Turns the active snapshot `active_key` into a committed one named `name` (may equal
  // active_key) with `labels`, keeping its id. Errors: not found, "is not active", name taken.
  Snapshot commit_snapshot(std::string_view ns, std::string_view active_key, std::string_view name,
                           const Labels& labels = {});
  // Replaces the labels; error when the snapshot does not exist.
  Snapshot set_snapshot_labels(std::string_view ns, std::string_view key, const Labels& labels);
  // Removes the record and returns it (its id names the directory to delete); nullopt when
  // absent. Error when it has children: "snapshot \"k\" has 2 children".
  std::optional<Snapshot> remove_snapshot(std::string_view ns, std::string_view key);
  // How many snapshots have snapshot `id` as their parent.
  [[nodiscard]] int64_t count_snapshot_children(int64_t id);
  // The ids of every snapshot of every namespace, ascending (to find orphaned directories).
  [[nodiscard]] std::vector<int64_t> snapshot_ids();

  // ---- Content
  // Records (or updates: labels replaced, created kept) that namespace `ns` knows blob `digest`.
  ContentInfo set_content(std::string_view ns, std::string_view digest, int64_t size,
                          const Labels& labels = {});
  [[nodiscard]] std::optional<ContentInfo> get_content(std::string_view ns,
                                                       std::string_view digest);
  // Sorted by digest.
  [[nodiscard]] std::vector<ContentInfo> list_content(std::string_view ns);
  bool delete_content(std::string_view ns, std::string_view digest);
  // The namespaces that know a blob: it may leave the disk only when this is empty.
  [[nodiscard]] std::vector<std::string> content_namespaces(std::string_view digest);

  // ---- Containers
  // Inserts a new container. Errors: "container name \"n\" is already in use by container
  // \"id\"", "container id \"id\" already exists".
  Container add_container(std::string_view ns, const Container& c);
  // Replaces name and data (compare-and-swap) only while the record is still the version `c`
  // was read at (its `updated`), then gives `c` the new version. false when another writer
  // changed it meanwhile, or removed it: read it again and redo the change. There is no
  // unconditional update: a writer holding an old copy must not undo another's change.
  // Error: the new name is in use.
  bool update_container_if_unchanged(std::string_view ns, Container& c);
  [[nodiscard]] std::optional<Container> get_container(std::string_view ns, std::string_view id);
  [[nodiscard]] std::optional<Container> get_container_by_name(std::string_view ns,
                                                               std::string_view name);
  // Containers whose id starts with `prefix`.
  [[nodiscard]] std::vector<Container> find_containers_by_prefix(std::string_view ns,
                                                                 std::string_view prefix);
  // In creation order.
  [[nodiscard]] std::vector<Container> list_containers(std::string_view ns);
  bool delete_container(std::string_view ns, std::string_view id);

  // ---- Leases
  // Error: "lease \"id\" already exists". expires_at: unix ns, 0 for never.
  Lease create_lease(std::string_view ns, std::string_view id, int64_t expires_at = 0,
                     const Labels& labels = {});
  [[nodiscard]] std::optional<Lease> get_lease(std::string_view ns, std::string_view id);
  // Sorted by id.
  [[nodiscard]] std::vector<Lease> list_leases(std::string_view ns);
  // Adds a resource to a lease (no-op when it is there). Error: "lease \"id\" not found".
  void add_lease_resource(std::string_view ns, std::string_view id, LeaseResource::Type type,
                          std::string_view ref);
  bool remove_lease_resource(std::string_view ns, std::string_view id, LeaseResource::Type type,
                             std::string_view ref);
  // Sorted by type then ref; empty when the lease does not exist.
  [[nodiscard]] std::vector<LeaseResource> lease_resources(std::string_view ns,
                                                           std::string_view id);
  // Deletes the lease and its resources; false when absent.
  bool delete_lease(std::string_view ns, std::string_view id);

 private:
  struct Impl;    // one connection, its statement cache and transaction depth
  struct Shared;  // the path, the options and the connection of each thread
  explicit Db(std::unique_ptr<Shared> shared);
  Impl* conn() const;  // the calling thread's connection
  // A connection with berth's settings (the schema is the opener's business).
  static std::unique_ptr<Impl> connect(const std::string& path, const OpenOptions& opts);
  void begin_tx();
  void commit_tx();
  void rollback_tx() noexcept;
  std::unique_ptr<Shared> shared_;
};

}  // namespace berth::metadata
