// Images of one namespace: resolve names and ids, import a rootfs tarball, unpack layers
// into snapshots, tag, remove, garbage-collect, inspect and count disk usage.
//
// On disk (under --root, default /var/lib/berth):
//   content/blobs/sha256/<hex>      manifests, configs, layers (content::Store)
//   metadata.db                     image names, snapshots, content records (metadata::Db)
//   snapshots/<driver>/<id>/fs      unpacked layers, keyed by chain ID (snapshot::Snapshotter)
// An image record maps a name ("docker.io/library/busybox:latest") to the descriptor of its
// manifest (or index); its id, as in Docker, is the digest of its config.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "content/store.hpp"
#include "diff/layer.hpp"
#include "distribution/repository.hpp"
#include "metadata/db.hpp"
#include "oci/image.hpp"
#include "oci/reference.hpp"
#include "snapshot/snapshotter.hpp"

namespace berth::image {

struct Options {
  std::string root = "/var/lib/berth";
  std::string ns = std::string(metadata::kDefaultNamespace);
  snapshot::Driver driver = snapshot::Driver::overlay;
  oci::Platform platform = oci::host_platform();
  int64_t max_layer_size = 0;  // uncompressed bytes a layer may unpack to (0: no limit)
  std::string events;          // the events log (events/events.hpp) to record in; "": none
};

// An image record with the documents it points to.
struct Image {
  metadata::Image record;
  oci::Descriptor manifest_desc;  // the platform manifest (the target itself, or picked from an index)
  oci::Manifest manifest;
  oci::ImageConfig config;
  Digest id;  // config digest
  int64_t size = 0;  // config + layers as stored (compressed); Docker's size is unpacked_size()
};

struct ImportOptions {
  std::string message;  // the comment (history and config); none: Docker's "Imported from SOURCE"
  std::string source = "-";  // where the tar came from: "-" (a file or stdin, as Docker's CLI sends), a URL
  // `import --change`: edits the new image's config (its "config" object) before it is
  // stored — the engine's Dockerfile instructions (engine/instructions.hpp), which the image
  // layer does not know. Throws for a bad instruction: nothing is recorded then.
  std::function<void(nlohmann::json& config)> edit_config;
};

// Progress of one step of a pull or push: id is a layer's short digest (empty for the image as
// a whole); status is Docker's wording ("Pulling fs layer", "Downloading", "Download
// complete", "Extracting", "Pull complete", "Already exists", "Preparing", "Pushing",
// "Pushed", "Layer already exists", "Mounted from R", and for the image "Pulling from R",
// "Digest: …", "The push refers to repository [R]", "TAG: digest: … size: N"); done/total in
// bytes when known (-1 otherwise) — what Docker's API streams as progressDetail.
struct ProgressEvent {
  std::string id, status;
  int64_t done = -1, total = -1;
};
// Called from the transfer's threads, one call at a time per layer; the observer orders its
// output (a CLI's bars, a daemon's JSON stream).
using ProgressFn = std::function<void(const ProgressEvent&)>;

// What a pull or push needs from outside the image store.
struct Transfer {
  // A client for a repository of a registry (`registry` as in references: "docker.io",
  // "127.0.0.1:5000"); berth's comes from the registry module (distribution::Client).
  std::function<std::unique_ptr<distribution::Repository>(const std::string& registry,
                                                          const std::string& repository)> open;
  ProgressFn progress;   // may be empty
  // Asked as data arrives and between layers (may be empty): true stops a pull with
  // "pull cancelled" (a daemon's client that went away). What was downloaded stays as an
  // ingest for the next pull to resume; the rest is as after any failed pull.
  std::function<bool()> cancelled;
  int max_parallel = 3;  // layers moved at once
  // push: how layers stored uncompressed are compressed for the registry.
  diff::Compression compression = diff::Compression::gzip;
};

struct GcResult {
  int blobs = 0, snapshots = 0;
  int64_t bytes = 0;
};

class Service {
 public:
  // Which images a prune takes (see prune()).
  using Selector = std::function<bool(const Image&)>;

  explicit Service(Options opts);
  ~Service();

  const Options& options() const { return opts_; }
  // Records an image event (Docker's: pull, push, tag, untag, delete, import, load, save).
  void event(const std::string& action, const std::string& id, std::map<std::string, std::string> attributes = {});
  content::Store& content() { return *content_; }
  metadata::Db& db() { return *db_; }
  snapshot::Snapshotter& snapshots() { return *snapshots_; }

  // By reference ("busybox", "127.0.0.1:5000/a/b:t"), by id or a unique id prefix
  // ("sha256:4f2a…", "4f2a1b"), or name@digest. Throws berth::Error("No such image: x").
  Image resolve(std::string_view ref_or_id);
  std::optional<Image> find(std::string_view ref_or_id);
  // Every image record (one per name), sorted by name; build cache entries are not listed.
  std::vector<Image> list();
  // Loads the documents of a record (picking this platform's manifest from an index).
  Image load(const metadata::Image& record);

  // A one-layer image from a rootfs tarball (plain, gzip or zstd), stored as given, unpacked
  // in the same pass. `ref` names it. Returns the image.
  Image import(const diff::Reader& in, std::string_view ref, const ImportOptions& opt = {});
  // `commit`: a new image `ref` (empty: none, a dangling image) = `base` + one gzip layer made from the container's snapshot
  // directory `upper_dir` (overlay: its upper dir, taken whole; native: a full tree, diffed
  // against `base`'s), with Docker's Config `config` and a history entry; `skip`: paths of
  // the snapshot left out ("etc/hosts": the engine's mount points).
  // `created_by`: the history entry's (Docker's: the container's Cmd).
  Image commit(const Image& base, const std::string& upper_dir, std::string_view ref,
               const nlohmann::json& config, const std::string& comment, const std::string& author,
               const std::vector<std::string>& skip = {}, const std::string& created_by = "");
  // An image from its documents: `config`, a whole OCI image config (rootfs.diff_ids naming
  // `layers`, which are in the content store), stored with an OCI manifest and recorded under
  // `ref` (a reference, or a build cache name: build_cache_name()).
  Image store_image(const nlohmann::json& config, const std::vector<oci::Descriptor>& layers, std::string_view ref);
  // A layer from the active snapshot `key`, prepared on the committed snapshot of the layers
  // `parent_diff_ids` (none: on nothing): its changes as an uncompressed tar in the content
  // store, then the snapshot itself committed as the new chain (no second extraction; removed
  // instead when that chain exists already). `key` must not be mounted any more.
  // The diff_id of a layer with nothing in it (an empty tar): commit_layer keeps neither its
  // blob nor its snapshot.
  static constexpr std::string_view kEmptyLayerDiffId = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
  struct NewLayer {
    oci::Descriptor desc;
    Digest diff_id;
    std::string chain;
  };
  NewLayer commit_layer(const std::string& key, const std::vector<Digest>& parent_diff_ids);
  // The build cache (`berth build`): each step's result is an image recorded under
  // build_cache_name(KEY) — found by its key, kept by GC like any image, never listed by
  // list() (Docker's intermediate images), removed by prune() and prune_build_cache().
  std::optional<Image> build_cache(const std::string& key);
  // Every build cache entry (one per step result), sorted by key.
  std::vector<Image> list_build_cache();
  // list(), then with `steps` the build cache's images not listed already — Docker's
  // intermediate images (`images -a`), marked so (untagged, not dangling).
  struct Listed {
    Image image;
    bool intermediate = false;
  };
  std::vector<Listed> list_with_steps(bool steps);
  // Removes every build cache record (Docker's builder prune); rmi-style lines. The caller collects
  // with gc() after.
  std::vector<std::string> prune_build_cache(const Selector& select = {});
  // Records the image `rec` (its target must be in the content store) and, for this
  // namespace, the blobs it references — one transaction.
  void record(metadata::Image rec, const std::vector<oci::Descriptor>& blobs);
  // The same for several images, all in one transaction (load: all or nothing).
  void record_all(std::vector<std::pair<metadata::Image, std::vector<oci::Descriptor>>> images);
  // Removes snapshot `key` after a failure without replacing the failure's error.
  void drop_snapshot(const std::string& key) noexcept;
  // How layers are applied here: the driver's whiteouts, rootless, the size cap.
  diff::ApplyOptions apply_options() const;
  // Unpacks one layer blob (already in the content store) on the committed snapshot
  // `parent` (empty: none) and commits it as `chain`; checks the blob's digest and the diffID.
  void apply_layer(const oci::Descriptor& layer, const Digest& diff_id, const std::string& parent,
                   const std::string& chain);
  // A failure with layer `i` (0-based) of `n`, named when the bare error would name none:
  // ENOSPC/EDQUOT become "no space left to VERB layer I of N (DIGEST) under ROOT: …", EFBIG
  // (--max-layer-size) "layer I of N (DIGEST): …". nullopt: keep the error as it is.
  std::optional<Error> layer_error(const Error& e, const char* verb, size_t i, size_t n,
                                   const oci::Descriptor& layer) const;
  // Makes sure every layer of `img` is a committed snapshot (named by chain ID); returns the
  // top chain ID (the parent for a container's snapshot).
  std::string unpack(const Image& img);

  // Fetches the image `ref` names from its registry, resolving an index to this platform's
  // manifest: the manifest, config and layers that are not here yet — downloads in parallel,
  // each streamed into a content-store ingest keyed by its digest (an interrupted pull
  // resumes; two pulls of one layer wait for each other), layers applied bottom up as each
  // completes; a layer whose chain ID is a snapshot already is neither downloaded nor
  // unpacked. A lease holds it all until the image record is written; a failed pull leaves
  // nothing that GC would not take. Returns the image, recorded under `ref`.
  Image pull(std::string_view ref, const Transfer& t);
  // Sends image `source` (a name or id) to the registry as `target` (a reference; empty:
  // source's own name): every blob the registry does not have (HEAD first; mounted from
  // another repository of the registry holding the image when it can), then the manifest (and
  // index) under the tag. Layers stored uncompressed are compressed once first (t.compression)
  // and the image re-recorded on them. Returns the digest of what was pushed under the tag.
  Digest push(std::string_view source, std::string_view target, const Transfer& t);

  // Adds name `target` for the image `source` (reference or id). An image that had the name
  // and has no other is kept, dangling.
  void tag(std::string_view source, std::string_view target);
  // Lists `img` as an image without a name (<none>) unless it has one: a build's result
  // without -t, which is otherwise only the build cache's.
  void keep_without_name(const Image& img) { keep_unnamed(img.record); }
  // Docker's rmi: a name untags (the image goes when its last name goes); an id removes
  // every name (refused when it has several names unless force). Output lines: "Untagged:
  // x", "Deleted: sha256:…". Unreferenced content and snapshots are collected after.
  std::vector<std::string> remove(std::string_view ref_or_id, bool force);
  // Removes images: with all, every image no container (running or stopped) was made from;
  // else dangling ones (those without a name no container uses, and the build cache's
  // intermediate images); of those, only the ones
  // `select` takes (Docker's until/label filters; none: all of them). Returns Docker's
  // prune lines: "untagged: NAME", then "deleted: sha256:…" per image gone. Collects
  // nothing: the caller's gc() does, and its bytes are the space reclaimed.
  std::vector<std::string> prune(bool all, const Selector& select = {});
  // Removes content and committed snapshots that no image (or lease, or active snapshot)
  // of this namespace references; blobs leave the disk when no namespace knows them. First
  // collect_abandoned(); with ingests, also every interrupted download no writer holds
  // (prune: they are kept otherwise, for a pull to resume).
  GcResult gc(bool ingests = false);
  // What killed work leaves: expired leases, and the snapshots of layer extractions whose
  // process is gone (a pull killed mid-layer left gigabytes in one). Cheap: pull calls it
  // first.
  GcResult collect_abandoned();
  // fsck for the store (`berth system check`): content records whose blob file is gone, images
  // whose manifest, config or layers are missing, snapshot records without their directory,
  // container records without their snapshot — and the other way round, blob files and
  // snapshot directories no record of any namespace knows (left by a crash or an interrupted
  // removal). One line per finding. With repair, the orphan files and directories older than
  // ten minutes (younger ones may belong to work in progress) are removed and the
  // unreferenced records collected; a missing blob cannot be repaired here (pull again).
  struct CheckResult {
    std::vector<std::string> problems;  // what is (still) wrong
    std::vector<std::string> repaired;  // what --repair removed
  };
  CheckResult check(bool repair);

  // Mounts a read-only view (nosuid, nodev) of the image's root filesystem on `target`, or
  // with an empty `target` on ROOT/mounts/ID (a 0700 directory: no other host user reaches
  // it), as podman image mount; returns where. unmount takes it away again with its view
  // snapshot (and that directory).
  std::string mount(const Image& img, const std::string& target);
  void unmount(const std::string& target);
  // Where mount() puts `img` when given no target.
  std::string default_mount_point(const Image& img) const;

  // Docker's image history, newest step first: one entry per step of the config's history
  // (or, without one, per layer), the top one carrying the image's id. A step's size is its
  // layer unpacked (the stored blob's size while it is not unpacked; 0 for an empty layer;
  // -1 when unknown: no history).
  struct HistoryEntry {
    std::string id;  // the image's id on the top entry, else "<missing>"
    int64_t created = 0;  // unix seconds, 0 when unknown
    std::string created_by, comment;
    std::vector<std::string> tags;  // the image's names, on the top entry
    int64_t size = 0;
  };
  std::vector<HistoryEntry> history(const Image& img);

  // `image inspect` JSON, shaped like Docker's.
  nlohmann::json inspect(const Image& img);

  // Bytes of every blob in the content store (system df).
  int64_t content_size();

  // Docker's layer size: the bytes of the files in the layer of chain ID `chain` as
  // unpacked (recorded when it was; a layer of an older store is walked), -1 when it is not
  // unpacked.
  int64_t layer_size(const std::string& chain);
  // The same for layer `i` of `img`; one not unpacked counts what its maker recorded (commit),
  // else its blob's size.
  int64_t layer_size(const Image& img, size_t i);
  // Docker's image size: its layers' sizes.
  int64_t unpacked_size(const Image& img);

 private:
  // Whether a prune takes the image of `rec` (no selector: yes; unreadable: no).
  bool selected(const metadata::Image& rec, const Selector& select);
  // After user name `rec.name` was written (`old`: the record it replaced): the image has a
  // name, so no dangling record; the one that had the name keeps a dangling one if it has no
  // other name. Inside the caller's transaction.
  void named(const metadata::Image& rec, const std::optional<metadata::Image>& old);
  // Records image `rec` under its dangling name unless a user name still points at it.
  void keep_unnamed(const metadata::Image& rec);
  // Whether a container (running or stopped) was made from image `id`.
  bool in_use(const std::string& id);
  // Stores manifest `m` (its config and layers are in the content store) and records it under
  // `name` (a reference's full form, or a build cache name).
  Image record_manifest(const oci::Manifest& m, const std::string& name);

  Options opts_;
  std::unique_ptr<content::Store> content_;
  std::unique_ptr<metadata::Db> db_;
  std::unique_ptr<snapshot::Snapshotter> snapshots_;
};

// For a record whose target is an index: which platform manifest of it this store holds.
void set_manifest_label(metadata::Image& rec, const Digest& manifest);

// The record name of a build cache entry: a reference in a repository no registry serves
// ("berth.build/cache:KEY"), which list() skips.
std::string build_cache_name(const std::string& key);
bool is_build_cache_name(std::string_view name);
// The record of an image without a name — Docker's `<none>:<none>`, a dangling image: one
// committed without a name, or whose last name went to another image (a tag, pull, build,
// commit, import or load under its name) or was removed while a container uses it. A
// reference in a repository no registry serves ("berth.none/dangling:HEX"); list() has it,
// its name is shown as <none>.
std::string dangling_name(const Digest& id);
bool is_dangling_name(std::string_view name);
// A name somebody gave the image (neither of the two above).
// On an image record whose manifest a registry has (pulled, or pushed under that name): what
// makes its NAME@DIGEST one of Docker's RepoDigests (a local build, commit or import has none).
inline constexpr const char* kRegistryLabel = "berth.image.registry";
inline bool from_registry(const metadata::Image& rec) { return rec.labels.count(kRegistryLabel) > 0; }

inline bool is_user_name(std::string_view name) { return !is_build_cache_name(name) && !is_dangling_name(name); }

// A name given to an image by a user or an archive (tag, build -t, commit, import, load),
// parsed, with Docker's rules for what may not be one (berth::Error, invalid_argument): 64 hex
// digits alone (an image id), a digest (NAME@sha256:… is what a registry says the image is:
// pull alone records one), the repository `sha256` (sha256:ID names an id), berth's own
// repositories. Lookups of an id (sha256:HEX, 64 HEX) never consult names (Service::find).
oci::Reference name_to_give(std::string_view text);

// `prefix` + 16 random hex digits: names for temporary snapshots, ingests and leases.
std::string unique_name(std::string_view prefix);

// A short Docker-style id: the first 12 hex digits.
std::string short_id(const Digest& d);
// Whether `ref`, what found `img` (resolve, find), is its record's name rather than its id or
// a prefix of it: Docker's rmi and save treat the two ways apart.
bool named_by(const Image& img, const std::string& ref);
// "3.2MB", "1.05GB" like Docker (decimal units).
std::string human_size(int64_t bytes);

}  // namespace berth::image
