#include "image/service.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include "common/error.hpp"
#include "events/events.hpp"
#include "common/fs.hpp"
#include "common/time.hpp"
#include "common/log.hpp"
#include "oci/reference.hpp"

namespace berth::image {

using nlohmann::json;

namespace {

constexpr const char* kConfigLabel = "berth.image.config";  // on image records: the id
// On records whose target is an index: the platform manifest that was pulled.
constexpr const char* kManifestLabel = "berth.image.manifest";
// On a layer's snapshot: the bytes of its files as unpacked (diff::ApplyResult::files_size).
constexpr const char* kSizeLabel = "berth.layer.size";

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09lldZ", buf, static_cast<long long>(ns));
  return out;
}

std::string rfc3339_of_ns(int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool is_hex_prefix(std::string_view s) {
  if (s.rfind("sha256:", 0) == 0) s.remove_prefix(7);
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// sha256:HEX, or all 64 digits: an id, whatever names there are (Docker's ParseAnyReference).
// (Short hex alone may be a name: `docker run abc123` is abc123:latest first.)
bool names_an_id(std::string_view s) { return s.rfind("sha256:", 0) == 0 || (s.size() == 64 && is_hex_prefix(s)); }

}  // namespace

std::string short_id(const Digest& d) { return d.encoded.substr(0, 12); }

bool named_by(const Image& img, const std::string& ref) {
  try {
    return oci::Reference::parse(ref).str() == img.record.name;
  } catch (const Error&) {
    return false;  // not a reference: an id
  }
}

std::string unique_name(std::string_view prefix) {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return std::string(prefix) + buf;
}

// The key of a snapshot a layer is being unpacked into: it names the process doing it, so
// that GC can tell an extraction in progress from one a killed pull left ("extract-PID-START-
// RANDOM").
std::string extract_key() {
  const long pid = static_cast<long>(::getpid());
  return unique_name("extract-" + std::to_string(pid) + "-" + std::to_string(fs::process_start_time(static_cast<pid_t>(pid))) + "-");
}

// Whether an extraction's process is gone (the same pid with another start is gone too).
bool extract_abandoned(const std::string& key) {
  long pid = 0;
  unsigned long long start = 0;
  if (std::sscanf(key.c_str(), "extract-%ld-%llu-", &pid, &start) != 2 || pid <= 0) return false;
  return fs::process_start_time(static_cast<pid_t>(pid)) != start;
}

std::string human_size(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lldB", static_cast<long long>(bytes));
  else std::snprintf(buf, sizeof buf, v < 10 ? "%.3g%s" : "%.4g%s", v, units[u]);
  return buf;
}

namespace {
bool has_entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool any = false;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      any = true;
      break;
    }
  ::closedir(d);
  return any;
}
}  // namespace

Service::Service(Options opts) : opts_(std::move(opts)) {
  metadata::validate_namespace(opts_.ns);
  fs::mkdir_p(opts_.root, 0711);
  content_ = std::make_unique<content::Store>(opts_.root + "/content");
  metadata::OpenOptions db_opts;
  db_opts.on_new_store = [this] {
    // Blobs or unpacked layers without a database: the database was lost (emptied, deleted,
    // replaced), not never made. Taking it as new would leave every image and container
    // untracked, and the next GC would see nothing to keep.
    const std::string blobs = opts_.root + "/content/blobs/sha256";
    const std::string layers = opts_.root + "/snapshots/" + std::string(snapshot::to_string(opts_.driver));
    for (const std::string& dir : {blobs, layers})
      if (has_entries(dir))
        throw Error("metadata: `" + opts_.root + "/metadata.db` is empty or missing, but `" + dir +
                    "` holds data: refusing to start a new store over it (restore the database, or "
                    "move the root away to start afresh)");
  };
  db_ = std::make_unique<metadata::Db>(metadata::Db::open(opts_.root + "/metadata.db", db_opts));
  snapshots_ = std::make_unique<snapshot::Snapshotter>(
      opts_.driver, opts_.root + "/snapshots/" + std::string(snapshot::to_string(opts_.driver)), *db_,
      opts_.ns);
}

Service::~Service() = default;

Image Service::load(const metadata::Image& record) {
  Image img;
  img.record = record;
  oci::Descriptor target;
  target.mediaType = record.target.media_type;
  target.digest = Digest::parse(record.target.digest);
  target.size = record.target.size;
  std::string text = content_->read(target.digest, oci::kMaxManifestSize);
  if (oci::media::is_index(target.mediaType)) {
    oci::Index idx = oci::parse_index(text);
    const oci::Descriptor* pick = nullptr;
    auto chosen = record.labels.find(kManifestLabel);
    for (auto& m : idx.manifests) {
      if (!oci::media::is_manifest(m.mediaType)) continue;
      if (chosen != record.labels.end() ? m.digest.str() == chosen->second
                                        : (!m.platform || oci::platform_matches(opts_.platform, *m.platform))) {
        pick = &m;
        break;
      }
    }
    if (!pick) throw Error(ErrorKind::not_found, "image " + record.name + ": no manifest for " + opts_.platform.str());
    img.manifest_desc = *pick;
    text = content_->read(pick->digest, oci::kMaxManifestSize);
  } else {
    img.manifest_desc = target;
  }
  img.manifest = oci::parse_manifest(text);
  img.config = oci::parse_image_config(content_->read(img.manifest.config.digest, oci::kMaxManifestSize));
  img.id = img.manifest.config.digest;
  img.size = img.manifest.config.size;
  for (auto& l : img.manifest.layers) img.size += l.size;
  if (img.config.diff_ids.size() != img.manifest.layers.size())
    throw Error("image " + record.name + ": config has " + std::to_string(img.config.diff_ids.size()) +
                " diff_ids for " + std::to_string(img.manifest.layers.size()) + " layers");
  return img;
}

std::optional<Image> Service::find(std::string_view s) {
  if (!names_an_id(s) && oci::Reference::valid(s)) {
    if (auto rec = db_->get_image(opts_.ns, oci::Reference::parse(s).str())) return load(*rec);
  }
  if (!is_hex_prefix(s)) return std::nullopt;
  std::string prefix(s);
  if (prefix.rfind("sha256:", 0) != 0) prefix = "sha256:" + prefix;
  std::optional<Image> found;
  for (auto& rec : db_->list_images(opts_.ns)) {
    auto it = rec.labels.find(kConfigLabel);
    if (it == rec.labels.end() || it->second.rfind(prefix, 0) != 0) continue;
    if (found && found->id.str() != it->second)
      throw Error(ErrorKind::invalid_argument, "image id prefix `" + std::string(s) + "` is ambiguous");
    // A name of its own rather than a build cache entry's or a dangling mark, when it has one.
    if (!found || (!is_user_name(found->record.name) && is_user_name(rec.name))) found = load(rec);
  }
  return found;
}

Image Service::resolve(std::string_view s) {
  auto img = find(s);
  if (!img) throw Error(ErrorKind::not_found, "No such image: " + std::string(s));
  return *img;
}

std::vector<Image> Service::list() {
  std::vector<Image> out;
  for (auto& rec : db_->list_images(opts_.ns))
    if (!is_build_cache_name(rec.name)) out.push_back(load(rec));
  return out;
}

namespace {
constexpr std::string_view kBuildCacheRepo = "berth.build/cache:";
}  // namespace

std::string build_cache_name(const std::string& key) {
  return std::string(kBuildCacheRepo) + key;
}

bool is_build_cache_name(std::string_view name) {
  return name.substr(0, kBuildCacheRepo.size()) == kBuildCacheRepo;
}

namespace {
constexpr std::string_view kDanglingRepo = "berth.none/dangling:";

std::string config_id(const metadata::Image& rec) {
  auto it = rec.labels.find(kConfigLabel);
  return it == rec.labels.end() ? std::string() : it->second;
}
}  // namespace

std::string dangling_name(const Digest& id) { return std::string(kDanglingRepo) + id.encoded; }

bool is_dangling_name(std::string_view name) {
  return name.substr(0, kDanglingRepo.size()) == kDanglingRepo;
}

oci::Reference name_to_give(std::string_view text) {
  if (text.size() == 64 && is_hex_prefix(text))
    throw Error(ErrorKind::invalid_argument, "invalid repository name (" + std::string(text) + "), cannot specify 64-byte hexadecimal strings");
  const oci::Reference ref = oci::Reference::parse(text);
  if (!ref.digest.empty())
    throw Error(ErrorKind::invalid_argument, "`" + std::string(text) + "`: refusing to create a tag with a digest reference");
  if (ref.registry == "docker.io" && ref.repository == "library/sha256")
    throw Error(ErrorKind::invalid_argument, "`" + std::string(text) + "`: refusing to create an ambiguous tag using digest algorithm as name");
  if (!is_user_name(ref.str()))
    throw Error(ErrorKind::invalid_argument, "`" + ref.familiar() + "`: that repository is berth's own (the build cache, images without a name)");
  return ref;
}

void Service::keep_unnamed(const metadata::Image& rec) {
  const std::string id = config_id(rec);
  if (id.empty()) return;
  for (auto& other : db_->list_images(opts_.ns))
    if (config_id(other) == id && is_user_name(other.name)) return;
  metadata::Image d = rec;
  d.name = dangling_name(Digest::parse(id));
  d.created = 0;
  db_->put_image(opts_.ns, d);
}

void Service::named(const metadata::Image& rec, const std::optional<metadata::Image>& old) {
  const std::string id = config_id(rec);
  if (!id.empty()) db_->delete_image(opts_.ns, dangling_name(Digest::parse(id)));
  if (old && config_id(*old) != id) keep_unnamed(*old);
}

bool Service::in_use(const std::string& id) {
  for (auto& c : db_->list_containers(opts_.ns))
    if (c.image == id) return true;
  return false;
}

std::optional<Image> Service::build_cache(const std::string& key) {
  auto rec = db_->get_image(opts_.ns, build_cache_name(key));
  if (!rec) return std::nullopt;
  try {
    return load(*rec);
  } catch (const Error& e) {
    log::warn("build cache entry " + key + ": " + e.what());
    return std::nullopt;
  }
}

std::vector<Service::Listed> Service::list_with_steps(bool steps) {
  std::vector<Listed> out;
  std::set<std::string> listed;
  for (auto& img : list()) {
    listed.insert(img.id.str());
    out.push_back({std::move(img), false});
  }
  if (steps)
    for (auto& img : list_build_cache())
      if (listed.insert(img.id.str()).second) out.push_back({std::move(img), true});
  return out;
}

std::vector<Image> Service::list_build_cache() {
  std::vector<Image> out;
  for (auto& rec : db_->list_images(opts_.ns)) {
    if (!is_build_cache_name(rec.name)) continue;
    try {
      out.push_back(load(rec));
    } catch (const Error& e) {
      log::warn("build cache entry " + rec.name + ": " + e.what());
    }
  }
  return out;
}

std::vector<std::string> Service::prune_build_cache(const Selector& select) {
  std::vector<std::string> out;
  std::set<std::string> named;  // ids that keep a name outside the cache
  auto records = db_->list_images(opts_.ns);
  for (auto& rec : records) {
    auto cfg = rec.labels.find(kConfigLabel);
    if (!is_build_cache_name(rec.name) && cfg != rec.labels.end()) named.insert(cfg->second);
  }
  std::set<std::string> ids;
  for (auto& rec : records) {
    if (!is_build_cache_name(rec.name) || !selected(rec, select)) continue;
    db_->delete_image(opts_.ns, rec.name);
    auto cfg = rec.labels.find(kConfigLabel);
    if (cfg != rec.labels.end() && !named.count(cfg->second)) ids.insert(cfg->second);
  }
  for (auto& id : ids) out.push_back("deleted: " + id);
  return out;  // the caller's gc() collects, and counts what it frees
}

bool Service::selected(const metadata::Image& rec, const Selector& select) {
  if (!select) return true;
  try {
    return select(load(rec));
  } catch (const Error& e) {
    // An image whose manifest or config cannot be read has no labels or time to judge by:
    // kept (a filtered prune removes only what it was asked to).
    log::warn("image prune: " + rec.name + ": " + e.what());
    return false;
  }
}

Service::NewLayer Service::commit_layer(const std::string& key, const std::vector<Digest>& parent_diff_ids) {
  const std::string upper_dir = snapshots_->fs_dir(key);
  UniqueFd upper(::open(upper_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!upper) throw_errno("open `" + upper_dir + "`");
  // The native snapshotter's snapshot is a whole tree: the layer is its difference from the
  // parent's (an overlay upper dir is the difference already).
  UniqueFd lower;
  if (opts_.driver == snapshot::Driver::native && !parent_diff_ids.empty()) {
    const std::string lower_dir = snapshots_->fs_dir(oci::chain_id(parent_diff_ids).str());
    lower.reset(::open(lower_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lower) throw_errno("open `" + lower_dir + "`");
  }
  content::Store::Writer writer = content_->writer(unique_name("layer-"), false);
  diff::CreateResult made;
  try {
    const diff::Writer out = [&](const void* p, size_t n) { writer.write(p, n); };
    made = lower ? diff::create_layer_diff(lower.get(), upper.get(), out, diff::Compression::none)
                 : diff::create_layer(upper.get(), out, diff::Compression::none);
    // Nothing changed (`RUN true`): no layer at all — the builder leaves it out (empty_layer),
    // so neither its blob nor its snapshot would ever be referenced.
    if (made.diff_id.str() == kEmptyLayerDiffId) {
      writer.abort();
      snapshots_->remove(key);
    } else {
      writer.commit(made.compressed, made.compressed_size);
    }
  } catch (...) {
    writer.abort();
    throw;
  }
  NewLayer nl;
  nl.desc.mediaType = std::string(oci::media::kOciLayer);
  nl.desc.digest = made.compressed;
  nl.desc.size = made.compressed_size;
  nl.diff_id = made.diff_id;
  if (made.diff_id.str() == kEmptyLayerDiffId) return nl;
  std::vector<Digest> ids = parent_diff_ids;
  ids.push_back(made.diff_id);
  nl.chain = oci::chain_id(ids).str();
  // The same layer made at the same time by another step (two stages that ran the same
  // thing): theirs is as good as ours.
  if (db_->get_snapshot(opts_.ns, nl.chain)) {
    snapshots_->remove(key);
    return nl;
  }
  try {
    snapshots_->commit(nl.chain, key, {{kSizeLabel, std::to_string(made.files_size)}});
  } catch (const Error&) {
    if (!db_->get_snapshot(opts_.ns, nl.chain)) throw;
    snapshots_->remove(key);
  }
  return nl;
}

Image Service::store_image(const json& config, const std::vector<oci::Descriptor>& layers, std::string_view ref) {
  const std::string config_text = config.dump();
  oci::Manifest m;
  m.mediaType = std::string(oci::media::kOciManifest);
  m.config.mediaType = std::string(oci::media::kOciConfig);
  m.config.digest = content_->put(config_text);
  m.config.size = static_cast<int64_t>(config_text.size());
  m.layers = layers;
  for (auto& l : m.layers)  // Docker media types in an OCI manifest: their OCI names
    if (l.mediaType == oci::media::kDockerLayerGzip) l.mediaType = std::string(oci::media::kOciLayerGzip);
  return record_manifest(m, is_build_cache_name(ref) ? std::string(ref) : oci::Reference::parse(ref).str());
}

void set_manifest_label(metadata::Image& rec, const Digest& manifest) {
  rec.labels[kManifestLabel] = manifest.str();
}

Image Service::import(const diff::Reader& in, std::string_view ref_text, const ImportOptions& opt) {
  // No name: Docker's <none> image (its id is its name, as a commit's without one).
  std::optional<oci::Reference> ref;
  if (!ref_text.empty()) ref = name_to_give(ref_text);
  json image_config = json::object();
  if (opt.edit_config) opt.edit_config(image_config);  // a bad --change: refused before any work
  // One pass: the bytes go to the content store as they are and through diff apply into a
  // fresh snapshot; both are kept only when everything checks out.
  const std::string ingest_ref = unique_name("import-");
  content::Store::Writer writer = content_->writer(ingest_ref, false);
  const std::string extract = extract_key();
  auto snap = snapshots_->prepare(extract, "");
  diff::ApplyResult applied;
  diff::Compression compression = diff::Compression::none;
  try {
    // The compression is known from the first bytes, which apply reads first: peek them.
    char peek[8];
    size_t have = 0;
    while (have < sizeof peek) {
      size_t got = in(peek + have, sizeof peek - have);
      if (got == 0) break;
      have += got;
    }
    if (have == 0) throw Error(ErrorKind::invalid_argument, "import: the tarball is empty");
    compression = diff::detect_compression(peek, have);
    writer.write(peek, have);
    size_t replay = 0;
    diff::Reader reader = [&](void* buf, size_t n) -> size_t {
      if (replay < have) {
        size_t k = std::min(n, have - replay);
        std::memcpy(buf, peek + replay, k);
        replay += k;
        return k;
      }
      size_t got = in(buf, n);
      writer.write(buf, got);
      return got;
    };
    UniqueFd dest(::open(snapshots_->fs_dir(snap).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest) throw_errno("open snapshot directory");
    applied = diff::apply_layer(reader, compression, dest.get(), apply_options());
    writer.commit(applied.compressed, applied.compressed_size);
  } catch (...) {
    writer.abort();
    drop_snapshot(extract);
    throw;
  }
  const std::string chain = applied.diff_id.str();
  if (db_->get_snapshot(opts_.ns, chain)) snapshots_->remove(extract);
  else snapshots_->commit(chain, extract, {{kSizeLabel, std::to_string(applied.files_size)}});

  const std::string created = now_rfc3339();
  const std::string comment = opt.message.empty() ? "Imported from " + opt.source : opt.message;
  json history = {{"created", created}, {"comment", comment}};  // Docker's: no created_by
  json config = {{"created", created},
                 {"comment", comment},  // Docker's image config field (inspect's Comment)
                 {"architecture", opts_.platform.architecture},
                 {"os", opts_.platform.os},
                 {"config", image_config},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {applied.diff_id.str()}}}},
                 {"history", json::array({history})}};
  if (!opts_.platform.variant.empty()) config["variant"] = opts_.platform.variant;
  const std::string config_text = config.dump();
  const Digest config_digest = content_->put(config_text);
  oci::Manifest m;
  m.mediaType = std::string(oci::media::kOciManifest);
  m.config.mediaType = std::string(oci::media::kOciConfig);
  m.config.digest = config_digest;
  m.config.size = static_cast<int64_t>(config_text.size());
  oci::Descriptor layer;
  layer.mediaType = std::string(diff::layer_media_type(compression));
  layer.digest = applied.compressed;
  layer.size = applied.compressed_size;
  m.layers.push_back(layer);
  Image img = record_manifest(m, ref ? ref->str() : dangling_name(config_digest));
  event("import", img.id.str(), {{"name", ref ? ref->familiar() : img.id.str()}});
  return img;
}

Image Service::record_manifest(const oci::Manifest& m, const std::string& name) {
  const std::string manifest_text = oci::to_json(m).dump();
  const Digest manifest_digest = content_->put(manifest_text);
  metadata::Image rec;
  rec.name = name;
  rec.target = {std::string(oci::media::kOciManifest), manifest_digest.str(),
                static_cast<int64_t>(manifest_text.size())};
  oci::Descriptor manifest_desc;
  manifest_desc.mediaType = rec.target.media_type;
  manifest_desc.digest = manifest_digest;
  manifest_desc.size = rec.target.size;
  std::vector<oci::Descriptor> blobs = {manifest_desc, m.config};
  for (auto& l : m.layers) blobs.push_back(l);
  record(rec, blobs);
  auto stored = db_->get_image(opts_.ns, name);
  if (!stored && is_dangling_name(name)) return resolve(m.config.digest.str());  // it has a name already
  if (!stored) throw Error("image record " + name + " vanished");
  return load(*stored);
}

Image Service::commit(const Image& base, const std::string& upper_dir, std::string_view ref_text,
                      const json& container_config, const std::string& comment, const std::string& author,
                      const std::vector<std::string>& skip, const std::string& created_by) {
  // No name: Docker's `<none>` image (dangling until somebody tags it).
  const std::optional<oci::Reference> ref =
      ref_text.empty() ? std::nullopt : std::optional<oci::Reference>(name_to_give(ref_text));
  UniqueFd upper(::open(upper_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!upper) throw_errno("commit: open `" + upper_dir + "`");
  // The native snapshotter's snapshot is a whole tree, a copy of the image's: the layer is
  // its difference from that (an overlay upper dir is the difference already).
  UniqueFd lower;
  if (opts_.driver == snapshot::Driver::native) {
    const std::string lower_dir = snapshots_->fs_dir(unpack(base));
    lower.reset(::open(lower_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lower) throw_errno("commit: open `" + lower_dir + "`");
  }
  const std::string ingest_ref = unique_name("commit-");
  content::Store::Writer writer = content_->writer(ingest_ref, false);
  diff::CreateResult layer_made;
  try {
    const diff::Writer out = [&](const void* p, size_t n) { writer.write(p, n); };
    layer_made = lower ? diff::create_layer_diff(lower.get(), upper.get(), out, diff::Compression::gzip, skip)
                       : diff::create_layer(upper.get(), out, diff::Compression::gzip, skip);
    writer.commit(layer_made.compressed, layer_made.compressed_size);
  } catch (...) {
    writer.abort();
    throw;
  }
  // The layer is unpacked only when the image is first used: its size until then.
  db_->set_content(opts_.ns, layer_made.compressed.str(), layer_made.compressed_size,
                   {{kSizeLabel, std::to_string(layer_made.files_size)}});
  json config = base.config.raw;
  const std::string created = now_rfc3339();
  config["created"] = created;
  if (!author.empty()) config["author"] = author;
  // Docker's image config field for inspect's Comment: this commit's message (not the base's).
  if (!comment.empty()) config["comment"] = comment;
  else config.erase("comment");
  json c = json::object();
  for (auto* k : {"User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "StopSignal",
                  "Volumes", "ExposedPorts", "OnBuild", "Healthcheck", "Shell"})
    if (container_config.contains(k)) c[k] = container_config[k];
  config["config"] = c;
  config["rootfs"]["diff_ids"].push_back(layer_made.diff_id.str());
  json history = {{"created", created}, {"created_by", created_by}};
  if (!comment.empty()) history["comment"] = comment;
  if (!config.contains("history") || !config["history"].is_array()) config["history"] = json::array();
  config["history"].push_back(history);
  const std::string config_text = config.dump();
  const Digest config_digest = content_->put(config_text);
  oci::Manifest m = base.manifest;
  m.mediaType = std::string(oci::media::kOciManifest);
  m.config.mediaType = std::string(oci::media::kOciConfig);
  m.config.digest = config_digest;
  m.config.size = static_cast<int64_t>(config_text.size());
  for (auto& l : m.layers)  // Docker media types in an OCI manifest: their OCI names
    if (l.mediaType == oci::media::kDockerLayerGzip) l.mediaType = std::string(oci::media::kOciLayerGzip);
  oci::Descriptor layer;
  layer.mediaType = std::string(oci::media::kOciLayerGzip);
  layer.digest = layer_made.compressed;
  layer.size = layer_made.compressed_size;
  m.layers.push_back(layer);
  m.annotations.clear();
  Image img = record_manifest(m, ref ? ref->str() : dangling_name(config_digest));
  // Docker's commit tags what it names (an image event before the container's commit).
  if (ref) event("tag", img.id.str(), {{"name", ref->familiar()}});
  return img;
}

void Service::record(metadata::Image rec, const std::vector<oci::Descriptor>& blobs) {
  record_all({{std::move(rec), blobs}});
}

void Service::record_all(std::vector<std::pair<metadata::Image, std::vector<oci::Descriptor>>> images) {
  for (auto& [rec, blobs] : images) rec.labels[kConfigLabel] = load(rec).id.str();
  db_->transaction([&] {
    for (auto& [rec, blobs] : images) {
      for (auto& b : blobs) {
        metadata::Labels labels;
        if (auto old = db_->get_content(opts_.ns, b.digest.str())) labels = old->labels;
        db_->set_content(opts_.ns, b.digest.str(), b.size, labels);
      }
      if (is_dangling_name(rec.name)) {  // no name: listed as <none> only if it has none already
        keep_unnamed(rec);
        continue;
      }
      std::optional<metadata::Image> old;
      if (is_user_name(rec.name)) old = db_->get_image(opts_.ns, rec.name);
      db_->put_image(opts_.ns, rec);
      if (is_user_name(rec.name)) named(rec, old);
    }
  });
}

void Service::drop_snapshot(const std::string& key) noexcept {
  try {
    snapshots_->remove(key);
  } catch (const std::exception& e) {
    // The error being handled is the one to report; an extraction left here is collected
    // by the next pull or prune, anything else by system check.
    log::warn("cleanup of snapshot " + key + ": " + e.what());
  }
}

diff::ApplyOptions Service::apply_options() const {
  diff::ApplyOptions ao;
  ao.overlay = opts_.driver == snapshot::Driver::overlay;
  ao.rootless = ::geteuid() != 0;
  ao.max_size = opts_.max_layer_size;
  return ao;
}

void Service::apply_layer(const oci::Descriptor& layer, const Digest& diff_id, const std::string& parent,
                          const std::string& chain) {
  UniqueFd blob = content_->open(layer.digest);
  const std::string extract = extract_key();
  auto snap = snapshots_->prepare(extract, parent);
  try {
    UniqueFd dest(::open(snapshots_->fs_dir(snap).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest) throw_errno("open snapshot directory");
    diff::Reader reader = [&](void* buf, size_t n) { return fs::read_fd(blob.get(), buf, n, layer.digest.str()); };
    auto r = diff::apply_layer(reader, diff::compression_of(layer.mediaType), dest.get(), apply_options());
    if (r.compressed != layer.digest)
      throw Error("layer " + layer.digest.str() + ": content digest mismatch: got " + r.compressed.str());
    if (r.diff_id != diff_id)
      throw Error("layer " + layer.digest.str() + ": diff_id mismatch: the config says " + diff_id.str() +
                  ", the layer is " + r.diff_id.str());
    if (db_->get_snapshot(opts_.ns, chain)) snapshots_->remove(extract);  // someone was faster
    else snapshots_->commit(chain, extract, {{kSizeLabel, std::to_string(r.files_size)}});
  } catch (...) {
    drop_snapshot(extract);
    throw;
  }
}

std::optional<Error> Service::layer_error(const Error& e, const char* verb, size_t i, size_t n,
                                          const oci::Descriptor& layer) const {
  // Which layer, of how many, and where: "No space left on device" alone names none.
  const std::string which = "layer " + std::to_string(i + 1) + " of " + std::to_string(n) + " (" + layer.digest.str() + ")";
  if (e.code() == ENOSPC || e.code() == EDQUOT)
    return Error("no space left to " + std::string(verb) + " " + which + " under " + opts_.root + ": " + e.what(), e.code());
  if (e.code() == EFBIG) return Error(which + ": " + e.what(), e.code());
  return std::nullopt;
}

std::string Service::unpack(const Image& img) {
  std::string parent;
  for (size_t i = 0; i < img.manifest.layers.size(); ++i) {
    const std::string chain = oci::chain_id(img.config.diff_ids, i + 1).str();
    if (!db_->get_snapshot(opts_.ns, chain)) {
      try {
        apply_layer(img.manifest.layers[i], img.config.diff_ids[i], parent, chain);
      } catch (const Error& e) {
        if (auto named = layer_error(e, "unpack", i, img.manifest.layers.size(), img.manifest.layers[i])) throw *named;
        throw;
      }
    }
    parent = chain;
  }
  return parent;
}

void Service::event(const std::string& action, const std::string& id, std::map<std::string, std::string> attributes) {
  events::append(opts_.events, {"image", action, id, std::move(attributes), 0});
}

void Service::tag(std::string_view source, std::string_view target) {
  Image img = resolve(source);
  metadata::Image rec = img.record;
  rec.name = name_to_give(target).str();
  rec.created = 0;
  db_->transaction([&] {
    const std::optional<metadata::Image> old = db_->get_image(opts_.ns, rec.name);
    db_->put_image(opts_.ns, rec);
    named(rec, old);
  });
  event("tag", img.id.str(), {{"name", oci::Reference::parse(rec.name).familiar()}});
}

std::vector<std::string> Service::remove(std::string_view s, bool force) {
  std::vector<std::string> out;
  std::vector<metadata::Image> names;
  Image img = resolve(s);
  const bool by_name = !names_an_id(s) && oci::Reference::valid(s) && is_user_name(oci::Reference::parse(s).str()) &&
                       db_->get_image(opts_.ns, oci::Reference::parse(s).str());
  if (by_name) {
    names.push_back(img.record);
  } else {
    for (auto& rec : db_->list_images(opts_.ns)) {
      auto it = rec.labels.find(kConfigLabel);
      if (it != rec.labels.end() && it->second == img.id.str() && is_user_name(rec.name)) names.push_back(rec);
    }
    if (names.size() > 1 && !force)
      throw Error(ErrorKind::conflict, "conflict: unable to delete " + short_id(img.id) +
                  " (must be forced) - image is referenced in multiple repositories");
  }
  for (auto& rec : names) {
    db_->delete_image(opts_.ns, rec.name);
    out.push_back("Untagged: " + oci::Reference::parse(rec.name).familiar());
    event("untag", img.id.str(), {{"name", oci::Reference::parse(rec.name).familiar()}});
  }
  bool still_named = false;
  std::vector<std::string> other_names;  // the build's records of it and its dangling mark go with its last name
  for (auto& rec : db_->list_images(opts_.ns)) {
    auto it = rec.labels.find(kConfigLabel);
    if (it == rec.labels.end() || it->second != img.id.str()) continue;
    if (is_user_name(rec.name)) still_named = true;
    else other_names.push_back(rec.name);
  }
  if (!still_named && in_use(img.id.str())) {
    // Its last name went (rmi -f, by name or id) but a container was made from it: Docker keeps
    // such an image, without a name — the container's commit, inspect and rootfs need it.
    keep_unnamed(img.record);
    return out;
  }
  if (!still_named) {
    for (auto& n : other_names) db_->delete_image(opts_.ns, n);
    out.push_back("Deleted: " + img.id.str());
    event("delete", img.id.str());
    gc();
  }
  return out;
}

namespace {

// Whether `child` was built on `parent` (or is it): parent's layers and history are the first
// of child's — what the builder's next step copies from its parent, entry for entry.
bool is_parent_of(const Image& parent, const Image& child) {
  const auto& pl = parent.config.diff_ids;
  const auto& cl = child.config.diff_ids;
  if (pl.size() > cl.size() || !std::equal(pl.begin(), pl.end(), cl.begin())) return false;
  const nlohmann::json& ph = parent.config.history;
  const nlohmann::json& ch = child.config.history;
  if (!ph.is_array() || !ch.is_array() || ph.size() > ch.size()) return ph.is_null() || (ph.is_array() && ph.empty());
  for (size_t i = 0; i < ph.size(); ++i)
    if (ph[i] != ch[i]) return false;
  return true;
}

}  // namespace

std::vector<std::string> Service::prune(bool all, const Selector& select) {
  std::vector<std::string> out;
  // An image a container (running or stopped) was made from is in use: its layers are the
  // container's lower layers, and Docker keeps it too.
  std::set<std::string> in_use;
  for (auto& c : db_->list_containers(opts_.ns)) in_use.insert(c.image);
  if (!all) {
    // Dangling images no container uses, then the build cache; one "deleted:" line per image.
    // Besides its dangling record, an image without a name can only have build cache records:
    // those say "deleted" when they go.
    const auto records = db_->list_images(opts_.ns);
    std::set<std::string> cached, gone;
    for (auto& rec : records)
      if (is_build_cache_name(rec.name)) cached.insert(config_id(rec));
    for (auto& rec : records) {
      const std::string id = config_id(rec);
      if (!is_dangling_name(rec.name) || in_use.count(id) || !selected(rec, select)) continue;
      db_->delete_image(opts_.ns, rec.name);
      if (!cached.count(id) && gone.insert(id).second) out.push_back("deleted: " + id);
    }
    // The build cache as Docker's classic builder keeps its intermediate images: a step's
    // image stays while it is a parent of an image that stays (a named one, or one a container
    // uses) — the next build of that Dockerfile still hits —, the rest goes (the steps of a
    // build whose image lost its name or was removed).
    std::vector<Image> keepers;
    for (auto& rec : db_->list_images(opts_.ns)) {
      if (is_build_cache_name(rec.name) || (is_dangling_name(rec.name) && !in_use.count(config_id(rec)))) continue;
      try {
        keepers.push_back(load(rec));
      } catch (const Error& e) {
        log::debug("image prune: " + rec.name + ": " + e.what());
      }
    }
    const Selector unparented = [&](const Image& step) {
      if (select && !select(step)) return false;
      return std::none_of(keepers.begin(), keepers.end(), [&](const Image& k) { return is_parent_of(step, k); });
    };
    for (auto& line : prune_build_cache(unparented))
      if (line.rfind("deleted: ", 0) != 0 || gone.insert(line.substr(9)).second) out.push_back(line);
    return out;
  }
  std::set<std::string> ids;
  for (auto& rec : db_->list_images(opts_.ns)) {
    auto cfg = rec.labels.find(kConfigLabel);
    if (cfg != rec.labels.end() && in_use.count(cfg->second)) continue;
    if (!selected(rec, select)) continue;
    db_->delete_image(opts_.ns, rec.name);
    if (is_user_name(rec.name)) out.push_back("untagged: " + oci::Reference::parse(rec.name).familiar());
    auto it = rec.labels.find(kConfigLabel);
    if (it != rec.labels.end()) ids.insert(it->second);
  }
  for (auto& id : ids) out.push_back("deleted: " + id);
  return out;  // the caller's gc() collects, and counts what it frees
}

GcResult Service::collect_abandoned() {
  GcResult r;
  const int64_t now = metadata::now_ns();
  for (auto& lease : db_->list_leases(opts_.ns))
    if (lease.expired(now)) db_->delete_lease(opts_.ns, lease.id);
  for (auto& s : db_->list_snapshots(opts_.ns)) {
    if (s.kind != metadata::Snapshot::Kind::active || s.key.rfind("extract-", 0) != 0) continue;
    if (extract_abandoned(s.key) && snapshots_->remove(s.key)) r.snapshots++;
  }
  return r;
}

Service::CheckResult Service::check(bool repair) {
  CheckResult r;
  const int64_t old_enough = static_cast<int64_t>(std::time(nullptr)) - 600;
  auto is_old = [&](const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && st.st_mtime < old_enough;
  };
  const auto namespaces = db_->list_namespaces();
  // Records → files.
  std::set<std::string> known_blobs;
  std::set<int64_t> known_snapshots;
  for (auto& ns : namespaces) {
    for (auto& c : db_->list_content(ns)) {
      known_blobs.insert(c.digest);
      if (!content_->exists(Digest::parse(c.digest)))
        r.problems.push_back("blob " + c.digest + " (namespace " + ns + "): recorded, but its file is missing");
    }
    for (auto& snap : db_->list_snapshots(ns)) {
      known_snapshots.insert(snap.id);
      if (!fs::is_dir(snapshots_->dir(snap.id)))
        r.problems.push_back("snapshot " + snap.key + " (namespace " + ns + "): recorded, but " +
                             snapshots_->dir(snap.id) + " is missing");
    }
    for (auto& c : db_->list_containers(ns))
      if (!c.snapshot.empty() && !db_->get_snapshot(ns, c.snapshot))
        r.problems.push_back("container " + c.id.substr(0, 12) + " (namespace " + ns + "): its snapshot " +
                             c.snapshot + " is gone");
  }
  for (auto& rec : db_->list_images(opts_.ns)) {
    const std::string name = oci::Reference::parse(rec.name).familiar();
    try {
      Image img = load(rec);
      for (auto& l : img.manifest.layers)
        if (!content_->exists(l.digest))
          r.problems.push_back("image " + name + ": layer " + l.digest.str() + " is missing (pull it again)");
    } catch (const Error& e) {
      r.problems.push_back("image " + name + ": " + e.what());
    }
  }
  // Files → records.
  const std::string blob_dir = opts_.root + "/content/blobs/sha256";
  if (DIR* d = ::opendir(blob_dir.c_str())) {
    std::vector<std::string> orphans;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.' && !known_blobs.count(std::string("sha256:") + e->d_name)) orphans.push_back(e->d_name);
    ::closedir(d);
    for (auto& o : orphans) {
      const std::string path = blob_dir + "/" + o;
      if (repair && is_old(path) && ::unlink(path.c_str()) == 0) r.repaired.push_back("removed orphan blob sha256:" + o);
      else r.problems.push_back("blob sha256:" + o + ": a file no namespace records");
    }
  }
  for (const std::string& dir : snapshots_->orphan_dirs(known_snapshots)) {
    if (repair && is_old(dir)) {
      fs::remove_all(dir);
      r.repaired.push_back("removed orphan snapshot directory " + dir);
    } else {
      r.problems.push_back("snapshot directory " + dir + ": no record of any namespace");
    }
  }
  if (repair) {
    GcResult g = gc(true);
    if (g.blobs || g.snapshots)
      r.repaired.push_back("collected " + std::to_string(g.blobs) + " unreferenced blobs and " +
                           std::to_string(g.snapshots) + " snapshots");
  }
  return r;
}

GcResult Service::gc(bool ingests) {
  GcResult r = collect_abandoned();
  if (ingests) {
    // Interrupted downloads kept for a resume: a prune gives them up (one a writer holds is
    // in use and stays).
    for (auto& ref : content_->ingests()) {
      try {
        content_->abort_ingest(ref);
      } catch (const Error&) {
      }
    }
  }
  std::set<std::string> blobs, snaps;
  for (auto& rec : db_->list_images(opts_.ns)) {
    blobs.insert(rec.target.digest);
    try {
      std::string text = content_->read(Digest::parse(rec.target.digest), oci::kMaxManifestSize);
      std::vector<oci::Manifest> manifests;
      if (oci::media::is_index(rec.target.media_type)) {
        for (auto& m : oci::parse_index(text).manifests) {
          blobs.insert(m.digest.str());
          if (oci::media::is_manifest(m.mediaType) && content_->exists(m.digest))
            manifests.push_back(oci::parse_manifest(content_->read(m.digest, oci::kMaxManifestSize)));
        }
      } else {
        manifests.push_back(oci::parse_manifest(text));
      }
      for (auto& m : manifests) {
        blobs.insert(m.config.digest.str());
        for (auto& l : m.layers) blobs.insert(l.digest.str());
        if (!content_->exists(m.config.digest)) continue;
        auto cfg = oci::parse_image_config(content_->read(m.config.digest, oci::kMaxManifestSize));
        for (size_t i = 0; i < cfg.diff_ids.size(); ++i) snaps.insert(oci::chain_id(cfg.diff_ids, i + 1).str());
      }
    } catch (const Error&) {
      // A broken image keeps what it names directly; the rest may go.
    }
  }
  const int64_t now = metadata::now_ns();
  for (auto& lease : db_->list_leases(opts_.ns)) {
    if (lease.expired(now)) continue;
    for (auto& res : db_->lease_resources(opts_.ns, lease.id)) {
      if (res.type == metadata::LeaseResource::Type::content) blobs.insert(res.ref);
      if (res.type == metadata::LeaseResource::Type::snapshot) snaps.insert(res.ref);
    }
  }
  for (auto& c : db_->list_content(opts_.ns)) {
    if (blobs.count(c.digest)) continue;
    db_->delete_content(opts_.ns, c.digest);
    if (db_->content_namespaces(c.digest).empty()) {
      Digest d = Digest::parse(c.digest);
      if (auto info = content_->info(d)) r.bytes += info->size;
      if (content_->remove(d)) r.blobs++;
    }
  }
  // Committed snapshots nothing needs, leaves first (children were created after parents);
  // active and view snapshots belong to containers and stay.
  auto all = db_->list_snapshots(opts_.ns);
  std::set<std::string> needed = snaps;
  for (auto& s : all)
    if (s.kind != metadata::Snapshot::Kind::committed) needed.insert(s.key);
  // Parents of needed snapshots are needed too.
  std::map<std::string, std::string> parent_of;
  for (auto& s : all) parent_of[s.key] = s.parent;
  for (auto key : std::vector<std::string>(needed.begin(), needed.end()))
    for (auto p = parent_of[key]; !p.empty(); p = parent_of[p]) needed.insert(p);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (needed.count(it->key)) continue;
    if (snapshots_->remove(it->key)) r.snapshots++;
  }
  return r;
}

std::string Service::default_mount_point(const Image& img) const {
  return opts_.root + "/mounts/" + img.id.encoded;
}

std::string Service::mount(const Image& img, const std::string& target_in) {
  const bool own = target_in.empty();
  const std::string target = own ? default_mount_point(img) : fs::absolute(target_in);
  const std::string key = "mount:" + target;
  if (own) {
    if (db_->get_snapshot(opts_.ns, key)) return target;  // mounted already: podman says where
    fs::mkdir_p(opts_.root + "/mounts", 0700);
    ::chmod((opts_.root + "/mounts").c_str(), 0700);
    if (::mkdir(target.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("image mount: create `" + target + "`");
  }
  if (!fs::is_dir(target)) throw Error(ErrorKind::invalid_argument, "image mount: `" + target + "` is not a directory");
  try {
    const std::string top = unpack(img);
    snapshots_->view(key, top);
    try {
      snapshot::mount_all(snapshots_->mounts(key), target, snapshot::MountUse::host_view);
    } catch (...) {
      drop_snapshot(key);
      throw;
    }
  } catch (...) {
    if (own) ::rmdir(target.c_str());
    throw;
  }
  return target;
}

void Service::unmount(const std::string& target_in) {
  const std::string target = fs::absolute(target_in);
  const std::string key = "mount:" + target;
  if (!db_->get_snapshot(opts_.ns, key)) throw Error(ErrorKind::not_found, "image unmount: no image is mounted on `" + target + "`");
  if (::umount2(target.c_str(), 0) < 0 && errno != EINVAL) throw_errno("image unmount: umount `" + target + "`");
  snapshots_->remove(key);
  if (target.starts_with(opts_.root + "/mounts/")) ::rmdir(target.c_str());
}

std::vector<Service::HistoryEntry> Service::history(const Image& img) {
  std::vector<HistoryEntry> out;
  const nlohmann::json steps = img.config.history.is_array() ? img.config.history : nlohmann::json::array();
  size_t layer = 0;
  for (const auto& h : steps) {
    HistoryEntry e;
    e.id = "<missing>";
    if (!h.value("empty_layer", false) && layer < img.config.diff_ids.size()) {
      const std::string chain = oci::chain_id(img.config.diff_ids, layer + 1).str();
      e.size = layer_size(img, layer);
      ++layer;
    }
    e.created = parse_rfc3339(h.value("created", ""));
    e.created_by = h.value("created_by", "");
    e.comment = h.value("comment", "");
    out.push_back(std::move(e));
  }
  if (out.empty())  // no history (some importers write none): one entry per layer
    for (size_t i = 0; i < img.config.diff_ids.size(); ++i) out.push_back({"<missing>", 0, "", "", {}, -1});
  std::reverse(out.begin(), out.end());
  if (!out.empty()) {
    out.front().id = img.id.str();
    for (auto& rec : db_->list_images(opts_.ns))
      if (rec.target.digest == img.record.target.digest && is_user_name(rec.name)) out.front().tags.push_back(rec.name);
  }
  return out;
}

json Service::inspect(const Image& img) {
  json tags = json::array(), digests = json::array();
  for (auto& rec : db_->list_images(opts_.ns)) {
    auto it = rec.labels.find(kConfigLabel);
    if (it == rec.labels.end() || it->second != img.id.str() || !is_user_name(rec.name)) continue;
    auto ref = oci::Reference::parse(rec.name);
    if (!ref.tag.empty()) tags.push_back(ref.familiar());
    if (!from_registry(rec)) continue;
    oci::Reference d = ref;
    d.tag.clear();
    d.digest = rec.target.digest;
    if (std::find(digests.begin(), digests.end(), d.familiar()) == digests.end()) digests.push_back(d.familiar());
  }
  json layers = json::array();
  for (auto& d : img.config.diff_ids) layers.push_back(d.str());
  // Docker's shape: every field of the container config, null or empty when unset (its
  // CLI's templates fail on a missing key: `{{.Config.Cmd}}` of an image without a Cmd).
  json config = {{"Hostname", ""},    {"Domainname", ""},   {"User", ""},         {"AttachStdin", false},
                 {"AttachStdout", false}, {"AttachStderr", false}, {"Tty", false}, {"OpenStdin", false},
                 {"StdinOnce", false}, {"Env", nullptr},    {"Cmd", nullptr},     {"Image", ""},
                 {"Volumes", nullptr}, {"WorkingDir", ""},  {"Entrypoint", nullptr}, {"OnBuild", nullptr},
                 {"Labels", nullptr}};
  // Docker's legacy fields, which docker-compose 1.x reads (KeyError without them): the
  // builder's container and its config as a Docker-built image records them; for other images
  // an empty config with the image's volumes (what compose looks at, to carry a service's
  // anonymous volumes over to the container it recreates).
  json container_config = config;
  if (img.config.config.is_object())
    for (auto& [k, v] : img.config.config.items()) config[k] = v;
  const json& raw = img.config.raw;
  if (auto it = raw.is_object() ? raw.find("container_config") : raw.end(); it != raw.end() && it->is_object()) {
    for (auto& [k, v] : it->items()) container_config[k] = v;
  } else {
    container_config["Volumes"] = config["Volumes"];
  }
  auto raw_string = [&](const char* key) {
    auto it = raw.is_object() ? raw.find(key) : raw.end();
    return it != raw.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return {{"Id", img.id.str()},
          {"RepoTags", tags},
          {"RepoDigests", digests},
          {"Parent", ""},
          {"Comment", raw_string("comment")},
          {"Created", img.config.created},
          {"Container", raw_string("container")},
          {"ContainerConfig", container_config},
          {"DockerVersion", raw_string("docker_version")},
          {"Author", img.config.author},
          {"Config", config},
          {"Architecture", img.config.platform.architecture},
          {"Variant", img.config.platform.variant},
          {"Os", img.config.platform.os},
          {"Size", unpacked_size(img)},
          {"VirtualSize", unpacked_size(img)},
          {"GraphDriver", {{"Name", opts_.driver == snapshot::Driver::native ? "vfs" : "overlay2"}, {"Data", nullptr}}},
          {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
          {"Metadata", {{"LastTagTime", rfc3339_of_ns(img.record.updated)}}},
          {"Descriptor", oci::to_json(img.manifest_desc)}};
}

namespace {
std::optional<int64_t> recorded_size(const metadata::Labels& labels) {
  auto it = labels.find(kSizeLabel);
  if (it == labels.end()) return std::nullopt;
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || n < 0) return std::nullopt;
  return n;
}
}  // namespace

int64_t Service::layer_size(const std::string& chain) {
  const auto snap = db_->get_snapshot(opts_.ns, chain);
  if (!snap) return -1;
  if (auto n = recorded_size(snap->labels)) return *n;
  // Unpacked before the size was recorded: the overlay layer's own files; a native snapshot
  // is the whole tree, its parent's included.
  int64_t n = snapshots_->usage(chain).apparent;
  if (opts_.driver == snapshot::Driver::native && !snap->parent.empty() && db_->get_snapshot(opts_.ns, snap->parent))
    n = std::max<int64_t>(0, n - snapshots_->usage(snap->parent).apparent);
  return n;
}

int64_t Service::layer_size(const Image& img, size_t i) {
  if (int64_t n = layer_size(oci::chain_id(img.config.diff_ids, i + 1).str()); n >= 0) return n;
  if (i >= img.manifest.layers.size()) return 0;
  // Not unpacked: what its maker recorded (commit), else the blob's size.
  const oci::Descriptor& blob = img.manifest.layers[i];
  if (auto info = db_->get_content(opts_.ns, blob.digest.str()))
    if (auto n = recorded_size(info->labels)) return *n;
  return blob.size;
}

int64_t Service::unpacked_size(const Image& img) {
  int64_t total = 0;
  for (size_t i = 0; i < img.config.diff_ids.size(); ++i) total += layer_size(img, i);
  return total;
}

int64_t Service::content_size() {
  int64_t bytes = 0;
  content_->walk([&](const content::Info& i) { bytes += i.size; });
  return bytes;
}

}  // namespace berth::image
