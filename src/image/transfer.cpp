// Service::pull and Service::push: the image store's side of talking to a registry, through
// the distribution::Repository interface (a libcurl client from the registry module).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "diff/layer.hpp"
#include "common/parallel.hpp"
#include "image/service.hpp"
#include "oci/reference.hpp"

namespace berth::image {

namespace {

void emit(const Transfer& opt, const std::string& id, const char* status, int64_t done = -1,
          int64_t total = -1) {
  if (opt.progress) opt.progress({id, status, done, total});
}

// Picks this platform's manifest from an index (exact variant first).
const oci::Descriptor& pick_platform(const oci::Index& idx, const oci::Platform& want, const std::string& ref) {
  const oci::Descriptor* loose = nullptr;
  for (auto& m : idx.manifests) {
    if (!oci::media::is_manifest(m.mediaType)) continue;
    if (!m.platform) {
      if (!loose) loose = &m;
      continue;
    }
    if (!oci::platform_matches(want, *m.platform)) continue;
    if (m.platform->variant == want.variant) return m;
    if (!loose) loose = &m;
  }
  if (loose) return *loose;
  std::string have;
  for (auto& m : idx.manifests)
    if (m.platform) have += (have.empty() ? "" : ", ") + m.platform->str();
  throw Error("pull " + ref + ": no manifest for " + want.str() + " (the image has " +
              (have.empty() ? std::string("none") : have) + ")");
}

// Deletes a lease (taken for an hour, to keep a transfer's blobs from a concurrent GC until
// the image record holds them) whatever happens.
struct LeaseGuard {
  metadata::Db& db;
  std::string ns, id;
  ~LeaseGuard() {
    try {
      db.delete_lease(ns, id);
    } catch (...) {
    }
  }
};

// Records that this namespace has a blob (so that GC can collect it if the pull fails).
void track(Service& svc, const Digest& d, int64_t size) {
  if (!svc.db().get_content(svc.options().ns, d.str())) svc.db().set_content(svc.options().ns, d.str(), size);
}

// Stores a fetched document, verified.
void store(Service& svc, const distribution::Fetched& f) {
  if (!svc.content().exists(f.descriptor.digest)) svc.content().put(f.body, f.descriptor.digest);
  track(svc, f.descriptor.digest, f.descriptor.size);
}

}  // namespace

namespace {

Image pull_image(Service& svc, std::string_view ref_text, const Transfer& opt) {
  const oci::Reference ref = oci::Reference::parse(ref_text);
  svc.collect_abandoned();  // what an earlier pull, killed, left behind
  const std::unique_ptr<distribution::Repository> repo = opt.open(ref.registry, ref.repository);
  distribution::Repository& client = *repo;
  const std::string what = ref.familiar();
  distribution::Fetched top = client.get_manifest(ref.digest.empty() ? ref.tag : ref.digest);
  // Once the registry has answered, as Docker's: an unreachable registry or an unknown image
  // fails before any progress, which the API then answers with an error status (the SDK's
  // pull raises it; a stream that had begun could only carry it as a line).
  emit(opt, "", ("Pulling from " + ref.repository).c_str());
  std::vector<oci::Descriptor> blobs{top.descriptor};
  oci::Descriptor manifest_desc = top.descriptor;
  std::string manifest_text = top.body;
  std::optional<distribution::Fetched> child;
  if (oci::media::is_index(top.descriptor.mediaType)) {
    oci::Index idx = oci::parse_index(top.body);
    manifest_desc = pick_platform(idx, svc.options().platform, what);
    if (manifest_desc.size <= 0 || manifest_desc.size > static_cast<int64_t>(oci::kMaxManifestSize))
      throw Error("pull " + what + ": the index gives manifest " + manifest_desc.digest.str() + " a size of " +
                  std::to_string(manifest_desc.size) + " bytes (a manifest is at most " +
                  std::to_string(oci::kMaxManifestSize) + ")");
    child = client.get_manifest(manifest_desc.digest.str());
    if (static_cast<int64_t>(child->body.size()) != manifest_desc.size)
      throw Error("pull " + what + ": manifest " + manifest_desc.digest.str() + " is " +
                  std::to_string(child->body.size()) + " bytes, the index says " +
                  std::to_string(manifest_desc.size));
    manifest_text = child->body;
    manifest_desc.mediaType = child->descriptor.mediaType;
    blobs.push_back(manifest_desc);
  } else if (!oci::media::is_manifest(top.descriptor.mediaType)) {
    throw Error("pull " + what + ": unsupported media type `" + top.descriptor.mediaType + "`");
  }
  oci::Manifest manifest = oci::parse_manifest(manifest_text);
  // A config already here (a warm pull) is read locally, verified by the store.
  const std::string config_text = svc.content().exists(manifest.config.digest)
                                      ? svc.content().read(manifest.config.digest, oci::kMaxManifestSize)
                                      : client.get_blob_bytes(manifest.config.digest, oci::kMaxManifestSize);
  oci::ImageConfig config = oci::parse_image_config(config_text);
  if (config.diff_ids.size() != manifest.layers.size())
    throw Error("pull " + what + ": the config lists " + std::to_string(config.diff_ids.size()) +
                " diff_ids for " + std::to_string(manifest.layers.size()) + " layers");
  blobs.push_back(manifest.config);
  for (auto& l : manifest.layers) blobs.push_back(l);

  std::vector<std::string> chains;
  for (size_t i = 0; i < manifest.layers.size(); ++i) chains.push_back(oci::chain_id(config.diff_ids, i + 1).str());
  // A lease keeps all of it from a concurrent GC until the image record exists (one
  // transaction; released by the guard whatever happens).
  metadata::Db& db = svc.db();
  const std::string ns = svc.options().ns;
  const std::string lease = unique_name("pull-");
  db.transaction([&] {
    db.create_lease(ns, lease, metadata::now_ns() + int64_t(3600) * 1000000000);
    for (auto& b : blobs)
      db.add_lease_resource(ns, lease, metadata::LeaseResource::Type::content, b.digest.str());
    for (auto& c : chains) db.add_lease_resource(ns, lease, metadata::LeaseResource::Type::snapshot, c);
  });
  LeaseGuard guard{db, ns, lease};
  store(svc, top);
  if (child) store(svc, *child);
  if (!svc.content().exists(manifest.config.digest)) svc.content().put(config_text, manifest.config.digest);
  track(svc, manifest.config.digest, manifest.config.size);

  // Which layers need work: the first one whose chain ID is missing and everything above.
  size_t first_missing = manifest.layers.size();
  for (size_t i = 0; i < manifest.layers.size(); ++i)
    if (!db.get_snapshot(ns, chains[i])) {
      first_missing = i;
      break;
    }
  // Layers to download: every one from first_missing up, and below it those whose snapshot
  // is there but whose blob is not (an image loaded from an archive of another store, a
  // blob collected meanwhile): without the blob, save and push of the image fail.
  std::vector<size_t> fetch;
  for (size_t i = 0; i < first_missing; ++i) {
    if (svc.content().exists(manifest.layers[i].digest)) emit(opt, image::short_id(manifest.layers[i].digest), "Already exists");
    else fetch.push_back(i);
  }
  for (size_t i = first_missing; i < manifest.layers.size(); ++i) fetch.push_back(i);

  // Downloads in parallel (bounded); the applier below takes each layer as it completes.
  const size_t n = manifest.layers.size();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> state(n, 0);  // 0 pending, 1 downloaded, 2 failed
  std::exception_ptr download_error;
  std::atomic<bool> cancel{false};
  auto download = [&](size_t k) {
    const size_t i = fetch[k];
    if (cancel) return;
    const oci::Descriptor& layer = manifest.layers[i];
    const std::string id = image::short_id(layer.digest);
    try {
      if (!svc.content().exists(layer.digest)) {
        emit(opt, id, "Pulling fs layer");
        // Keyed by digest: an interrupted pull resumes; a concurrent one waits for this.
        auto w = svc.content().writer("pull-" + layer.digest.str(), true, true);
        if (!svc.content().exists(layer.digest)) {
          // A registry that sends more than the descriptor says is stopped at the first byte
          // too many, and what it sent is dropped (not kept for a resume).
          bool too_long = false;
          try {
            client.get_blob(layer.digest, w.offset(),
                            [&](const char* data, size_t len) {
                              if (cancel || (opt.cancelled && opt.cancelled())) throw Error("pull cancelled");
                              if (w.offset() + static_cast<int64_t>(len) > layer.size) {
                                too_long = true;
                                throw Error("layer " + layer.digest.str() + ": the registry sent more than the " +
                                            std::to_string(layer.size) + " bytes its descriptor says");
                              }
                              w.write(data, len);
                            },
                            [&](int64_t done, int64_t total) { emit(opt, id, "Downloading", done, total); });
          } catch (const Error& e) {
            if (too_long) w.abort();
            // A full disk: the partial download is dropped (it would hold the space), the
            // layer named.
            if (auto named = svc.layer_error(e, "download", i, n, layer)) {
              w.abort();
              throw *named;
            }
            throw;
          } catch (...) {
            if (too_long) w.abort();
            throw;
          }
          try {
            w.commit(layer.digest, layer.size);
          } catch (const Error& e) {
            if (auto named = svc.layer_error(e, "download", i, n, layer)) throw *named;
            throw;
          }
        } else {
          w.abort();
        }
        emit(opt, id, "Download complete");
      }
      std::lock_guard<std::mutex> lk(mu);
      state[i] = 1;
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      state[i] = 2;
      if (!download_error) download_error = std::current_exception();
    }
    cv.notify_all();
  };
  std::thread downloader([&] {
    try {
      parallel_for(fetch.size(), static_cast<size_t>(std::max(1, opt.max_parallel)), download);
    } catch (...) {
    }
  });
  try {
    std::string parent = first_missing ? chains[first_missing - 1] : "";
    for (size_t i = first_missing; i < n; ++i) {
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return state[i] != 0 || download_error; });
        if (state[i] != 1) std::rethrow_exception(download_error);
      }
      if (opt.cancelled && opt.cancelled()) throw Error("pull cancelled");
      track(svc, manifest.layers[i].digest, manifest.layers[i].size);  // the DB is this thread's
      const oci::Descriptor& layer = manifest.layers[i];
      const std::string id = image::short_id(layer.digest);
      if (!db.get_snapshot(ns, chains[i])) {
        emit(opt, id, "Extracting");
        try {
          svc.apply_layer(layer, config.diff_ids[i], parent, chains[i]);
        } catch (const Error& e) {
          if (auto named = svc.layer_error(e, "unpack", i, n, layer)) throw *named;
          throw;
        }
      }
      emit(opt, id, "Pull complete");
      parent = chains[i];
    }
  } catch (...) {
    cancel = true;
    downloader.join();
    // Layers that finished downloading are tracked too, so that GC collects them.
    for (size_t i : fetch)
      if (state[i] == 1) track(svc, manifest.layers[i].digest, manifest.layers[i].size);
    throw;
  }
  downloader.join();
  // The blobs fetched for layers already unpacked.
  for (size_t i : fetch) {
    if (i >= first_missing) break;
    if (state[i] != 1) std::rethrow_exception(download_error);
    track(svc, manifest.layers[i].digest, manifest.layers[i].size);
  }

  metadata::Image rec;
  rec.name = ref.str();
  rec.target = {top.descriptor.mediaType, top.descriptor.digest.str(), top.descriptor.size};
  if (child) set_manifest_label(rec, manifest_desc.digest);
  rec.labels[kRegistryLabel] = "1";
  svc.record(rec, blobs);
  emit(opt, "", ("Digest: " + top.descriptor.digest.str()).c_str());
  svc.event("pull", ref.familiar(), {{"name", ref.familiar()}});
  return svc.resolve(ref.str());
}

}  // namespace

Image Service::pull(std::string_view ref_text, const Transfer& t) {
  try {
    return pull_image(*this, ref_text, t);
  } catch (...) {
    // Its lease is gone: whatever the failed pull stored and no image uses is collected.
    try {
      gc();
    } catch (...) {
    }
    throw;
  }
}

namespace {

// An image whose layers are stored uncompressed (imported from a plain tar) is pushed with its
// layers gzip'd (isa-l): each compressed once into the content store, a manifest naming them,
// and every name of the image re-recorded on it (same config, so the same image ID), so that
// later pushes and saves reuse the small blobs and GC takes the big ones (the unpacked
// snapshots stay: they are keyed by diffID). Not for an index: its manifests are as pulled.
Image compress_layers(Service& svc, const Image& img, const Transfer& opt) {
  metadata::Db& db = svc.db();
  const std::string ns = svc.options().ns;
  const std::string lease = unique_name("push-");
  db.create_lease(ns, lease, metadata::now_ns() + int64_t(3600) * 1000000000);
  LeaseGuard guard{db, ns, lease};
  nlohmann::json m = nlohmann::json::parse(svc.content().read(img.manifest_desc.digest, oci::kMaxManifestSize));
  std::vector<oci::Descriptor> blobs{img.manifest.config};
  for (size_t i = 0; i < img.manifest.layers.size(); ++i) {
    oci::Descriptor d = img.manifest.layers[i];
    if (diff::compression_of(d.mediaType) == diff::Compression::none) {
      const Digest plain = d.digest;
      emit(opt, image::short_id(plain), "Compressing");
      UniqueFd f = svc.content().open(plain);
      auto w = svc.content().writer("compress-" + plain.str(), false, true);
      diff::Reader in = [&](void* buf, size_t n) { return fs::read_fd(f.get(), buf, n, plain.str()); };
      auto r = diff::compress_stream(in, [&](const void* p, size_t n) { w.write(p, n); }, opt.compression);
      if (r.diff_id != plain) {
        w.abort();
        throw Error("layer " + plain.str() + ": the stored blob does not match its digest (got " + r.diff_id.str() + ")");
      }
      w.commit(r.compressed, r.compressed_size);
      db.add_lease_resource(ns, lease, metadata::LeaseResource::Type::content, r.compressed.str());
      track(svc, r.compressed, r.compressed_size);
      d.digest = r.compressed;
      d.size = r.compressed_size;
      // Docker's media types know gzip only: zstd layers take the OCI one.
      d.mediaType = d.mediaType == "application/vnd.docker.image.rootfs.diff.tar" && opt.compression == diff::Compression::gzip
                        ? std::string(oci::media::kDockerLayerGzip)
                        : std::string(diff::layer_media_type(opt.compression));
      m["layers"][i]["digest"] = d.digest.str();
      m["layers"][i]["size"] = d.size;
      m["layers"][i]["mediaType"] = d.mediaType;
    }
    blobs.push_back(d);
  }
  const std::string text = m.dump();
  const Digest md = svc.content().put(text);
  track(svc, md, static_cast<int64_t>(text.size()));
  oci::Descriptor mdesc = img.manifest_desc;
  mdesc.digest = md;
  mdesc.size = static_cast<int64_t>(text.size());
  blobs.push_back(mdesc);
  std::vector<std::pair<metadata::Image, std::vector<oci::Descriptor>>> records;
  for (auto& rec : db.list_images(ns)) {
    if (rec.target.digest != img.record.target.digest) continue;
    rec.target = {mdesc.mediaType, md.str(), mdesc.size};
    records.push_back({rec, blobs});
  }
  svc.record_all(records);
  return svc.resolve(img.record.name);
}

}  // namespace

Digest Service::push(std::string_view source, std::string_view target_text, const Transfer& opt) {
  Service& svc = *this;
  if (opt.compression == diff::Compression::none) throw Error(ErrorKind::invalid_argument, "push: layers are sent compressed (gzip or zstd)");
  Image img = svc.resolve(source);
  const bool plain_layers = std::any_of(img.manifest.layers.begin(), img.manifest.layers.end(), [](const oci::Descriptor& l) {
    return diff::compression_of(l.mediaType) == diff::Compression::none;
  });
  if (plain_layers && !oci::media::is_index(img.record.target.media_type)) img = compress_layers(svc, img, opt);
  if (target_text.empty() && !is_user_name(img.record.name))
    throw Error(ErrorKind::invalid_argument, "push: image " + std::string(source) + " has no name: tag it first");
  const oci::Reference ref = oci::Reference::parse(target_text.empty() ? img.record.name : target_text);
  if (ref.tag.empty() && !ref.digest.empty()) throw Error("push: give a tag to push to, not a digest");
  const std::unique_ptr<distribution::Repository> repo = opt.open(ref.registry, ref.repository);
  distribution::Repository& client = *repo;
  emit(opt, "", ("The push refers to repository [" + ref.name() + "]").c_str());
  // Other repositories of the same registry that hold this image (it was pulled or pushed under
  // another name): blobs are mounted from there instead of uploaded.
  std::vector<std::string> mount_from;
  for (auto& rec : svc.db().list_images(svc.options().ns)) {
    const oci::Reference other = oci::Reference::parse(rec.name);
    if (other.registry != ref.registry || other.repository == ref.repository) continue;
    if (rec.target.digest != img.record.target.digest) continue;
    if (std::find(mount_from.begin(), mount_from.end(), other.repository) == mount_from.end())
      mount_from.push_back(other.repository);
  }
  std::vector<oci::Descriptor> uploads(img.manifest.layers.begin(), img.manifest.layers.end());
  uploads.push_back(img.manifest.config);
  parallel_for(uploads.size(), static_cast<size_t>(std::max(1, opt.max_parallel)), [&](size_t k) {
    const oci::Descriptor& d = uploads[k];
    const std::string id = image::short_id(d.digest);
    if (client.blob_exists(d.digest)) {
      emit(opt, id, "Layer already exists");
      return;
    }
    for (auto& from : mount_from)
      if (client.mount_blob(d.digest, from)) {
        emit(opt, id, ("Mounted from " + from).c_str());
        return;
      }
    emit(opt, id, "Preparing");
    UniqueFd f = svc.content().open(d.digest);
    distribution::Source read = [&](char* buf, size_t len) { return fs::read_fd(f.get(), buf, len, d.digest.str()); };
    // Big layers go in chunks (registries and proxies limit request sizes), small ones at once.
    const int64_t chunk = d.size > (64 << 20) ? (32 << 20) : 0;
    client.put_blob(d.digest, d.size, read, chunk,
                    [&](int64_t done, int64_t total) { emit(opt, id, "Pushing", done, total); });
    emit(opt, id, "Pushed");
  });
  // The platform manifest, then (for an index) the index itself under the tag.
  const std::string manifest_text = svc.content().read(img.manifest_desc.digest, oci::kMaxManifestSize);
  const bool is_index = oci::media::is_index(img.record.target.media_type);
  Digest pushed = client.put_manifest(is_index ? img.manifest_desc.digest.str() : ref.tag,
                                      img.manifest_desc.mediaType, manifest_text);
  int64_t size = static_cast<int64_t>(manifest_text.size());
  if (is_index) {
    const Digest top = Digest::parse(img.record.target.digest);
    const std::string index_text = svc.content().read(top, oci::kMaxManifestSize);
    oci::Index idx = oci::parse_index(index_text);
    for (auto& m : idx.manifests)
      if (m.digest != img.manifest_desc.digest && svc.content().exists(m.digest))
        client.put_manifest(m.digest.str(), m.mediaType, svc.content().read(m.digest, oci::kMaxManifestSize));
    pushed = client.put_manifest(ref.tag, img.record.target.media_type, index_text);
    size = static_cast<int64_t>(index_text.size());
  }
  emit(opt, "", (ref.tag + ": digest: " + pushed.str() + " size: " + std::to_string(size)).c_str());
  // The registry has it now under this name: Docker's RepoDigests shows it from here on.
  if (auto rec = svc.db().get_image(svc.options().ns, ref.str()); rec && rec->target.digest == pushed.str()) {
    rec->labels[kRegistryLabel] = "1";
    svc.db().put_image(svc.options().ns, *rec);
  }
  svc.event("push", ref.familiar(), {{"name", ref.familiar()}});
  return pushed;
}

}  // namespace berth::image
