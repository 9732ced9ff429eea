#include "image/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>

#include "common/json_depth.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "oci/reference.hpp"

namespace berth::image {

using nlohmann::json;

namespace {

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

// An archive member: a blob in the content store, or a link to another member.
struct Member {
  Digest digest;
  int64_t size = 0;
  bool created = false;  // this load added the blob (removed again if nothing uses it)
  std::string link;      // symlink/hardlink target (docker-archive dedups layers so)
};

// Member names are relative paths inside the archive; `a/../b` is fine, leaving is not.
std::string clean_member_name(const std::string& raw) {
  if (!raw.empty() && raw[0] == '/') throw Error("load: archive member `" + raw + "` has an absolute name");
  std::string name = fs::clean_path("/" + raw);  // "/" + normalized, ".." clamped at the root
  std::string naive = fs::clean_path(raw);
  if (naive == ".." || naive.rfind("../", 0) == 0)
    throw Error("load: archive member `" + raw + "` leaves the archive");
  return name.substr(1);
}

class Loader {
 public:
  Loader(Service& svc) : svc_(svc) {}

  std::vector<std::string> run(int fd) {
    std::unique_ptr<archive, ReadFree> a(archive_read_new());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    archive_read_support_filter_all(a.get());
    if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK)
      throw Error(std::string("load: ") + archive_error_string(a.get()));
    try {
      read_members(a.get());
      auto names = record();
      drop_unused();
      for (auto& n : names) svc_.event("load", n, {{"name", n}});
      return names;
    } catch (...) {
      // Nothing was recorded: nothing this load brought is in use.
      used_.clear();
      drop_unused();
      for (auto& d : generated_)
        if (svc_.db().content_namespaces(d.str()).empty()) svc_.content().remove(d);
      // Layers unpacked for the refused images belong to nothing.
      try {
        svc_.gc();
      } catch (const std::exception&) {
      }
      throw;
    }
  }

 private:
  void read_members(archive* a) {
    archive_entry* e;
    for (;;) {
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) throw Error(std::string("load: not a valid archive: ") + archive_error_string(a));
      const mode_t type = archive_entry_filetype(e);
      if (type == AE_IFDIR) continue;
      const std::string name = clean_member_name(archive_entry_pathname(e));
      if (name.empty()) continue;
      if (const char* hl = archive_entry_hardlink(e)) {
        members_[name].link = clean_member_name(hl);
        continue;
      }
      if (type == AE_IFLNK) {
        std::string target = archive_entry_symlink(e);
        auto slash = name.rfind('/');
        std::string base = slash == std::string::npos ? "" : name.substr(0, slash + 1);
        members_[name].link = clean_member_name(target[0] == '/' ? target : base + target);
        continue;
      }
      if (type != AE_IFREG) continue;
      ingest(a, name, archive_entry_size(e));
    }
  }

  void ingest(archive* a, const std::string& name, int64_t size) {
    // Small documents stay in memory too; everything goes to the content store verified.
    const bool doc = name == "index.json" || name == "manifest.json" || name == "oci-layout";
    std::optional<Digest> expected;
    if (name.rfind("blobs/", 0) == 0) {
      auto rest = name.substr(6);
      auto slash = rest.find('/');
      if (slash != std::string::npos) expected = Digest::parse(rest.substr(0, slash) + ":" + rest.substr(slash + 1));
    }
    if (doc && size > static_cast<int64_t>(oci::kMaxManifestSize))
      throw Error("load: " + name + " is larger than " + std::to_string(oci::kMaxManifestSize) + " bytes");
    auto w = svc_.content().writer(unique_name("load-"), false);
    std::string text;
    std::vector<char> buf(1 << 16);  // not on the stack: a daemon's threads may have small ones
    for (;;) {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) {
        w.abort();
        throw Error("load: " + name + ": " + archive_error_string(a));
      }
      if (n == 0) break;
      w.write(buf.data(), static_cast<size_t>(n));
      if (doc) text.append(buf.data(), static_cast<size_t>(n));
    }
    Member m;
    m.digest = expected ? *expected : w.digest();
    m.size = size;
    m.created = !svc_.content().exists(m.digest);
    try {
      w.commit(m.digest, size);
    } catch (const Error& err) {
      throw Error("load: " + name + ": " + err.what());
    }
    if (doc) docs_[name] = std::move(text);
    members_[name] = m;
  }

  const Member& member(const std::string& name) {
    std::string n = name;
    for (int hops = 0; hops < 16; ++hops) {
      auto it = members_.find(clean_member_name(n));
      if (it == members_.end()) throw Error("load: the archive has no member `" + name + "`");
      if (it->second.link.empty()) return it->second;
      n = it->second.link;
    }
    throw Error("load: too many links for `" + name + "`");
  }

  std::string read_blob(const Digest& d) { return svc_.content().read(d, oci::kMaxManifestSize); }

  void mark(const Digest& d) { used_.insert(d.str()); }

  std::vector<std::string> record() {
    std::vector<std::pair<std::string, oci::Descriptor>> images;  // name → target
    std::map<std::string, std::vector<std::string>> docker_tags;   // config digest → tags
    if (docs_.count("manifest.json")) {
      check_json_depth(docs_["manifest.json"], "manifest.json");
      json mj = json::parse(docs_["manifest.json"], nullptr, false);
      if (!mj.is_array()) throw Error("load: manifest.json: must be a JSON array");
      for (auto& entry : mj) {
        if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() ||
            !entry.contains("Layers") || !entry["Layers"].is_array())
          throw Error("load: manifest.json: every entry needs Config and Layers");
        const Member& cfg = member(entry["Config"].get<std::string>());
        std::vector<std::string> tags;
        if (entry.contains("RepoTags") && entry["RepoTags"].is_array())
          for (auto& t : entry["RepoTags"])
            if (t.is_string()) tags.push_back(t.get<std::string>());
        docker_tags[cfg.digest.str()] = tags;
        if (docs_.count("index.json")) continue;  // the OCI side describes the same images
        // docker-archive: make an OCI manifest for it.
        oci::Manifest m;
        m.mediaType = std::string(oci::media::kOciManifest);
        m.config.mediaType = std::string(oci::media::kOciConfig);
        m.config.digest = cfg.digest;
        m.config.size = cfg.size;
        for (auto& l : entry["Layers"]) {
          if (!l.is_string()) throw Error("load: manifest.json: Layers must be strings");
          const Member& lm = member(l.get<std::string>());
          UniqueFd f = svc_.content().open(lm.digest);
          char head[8] = {};
          const size_t n = fs::read_fd(f.get(), head, sizeof head, lm.digest.str());
          oci::Descriptor d;
          d.mediaType = std::string(diff::layer_media_type(diff::detect_compression(head, n)));
          d.digest = lm.digest;
          d.size = lm.size;
          m.layers.push_back(d);
        }
        const std::string text = oci::to_json(m).dump();
        oci::Descriptor target;
        target.mediaType = m.mediaType;
        const bool existed = svc_.content().exists(sha256_of(text));
        target.digest = svc_.content().put(text);
        if (!existed) generated_.push_back(target.digest);
        target.size = static_cast<int64_t>(text.size());
        for (auto& t : tags) images.emplace_back(t, target);
        if (tags.empty()) images.emplace_back("", target);  // Docker's: a <none> image, known by its id
      }
    }
    if (docs_.count("index.json")) {
      oci::Index idx = oci::parse_index(docs_["index.json"]);
      for (auto& d : idx.manifests) {
        std::vector<std::string> names;
        for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
          auto it = d.annotations.find(key);
          if (it != d.annotations.end() && oci::Reference::valid(it->second)) {
            names.push_back(it->second);
            break;
          }
        }
        if (names.empty() && oci::media::is_manifest(d.mediaType)) {
          auto m = oci::parse_manifest(read_blob(d.digest));
          auto t = docker_tags.find(m.config.digest.str());
          if (t != docker_tags.end()) names = t->second;
          if (names.empty()) names.push_back("");  // no name anywhere: a <none> image
        }
        if (names.empty()) throw Error("load: index.json: index " + d.digest.str() + " has no name annotation");
        for (auto& n : names) images.emplace_back(n, d);
      }
    }
    if (images.empty()) throw Error("load: the archive has neither index.json nor manifest.json");

    // All or nothing: every image is checked and unpacked first; only then are the names
    // recorded, in one transaction. A refused archive moves no tag and lists no image.
    std::vector<std::pair<metadata::Image, std::vector<oci::Descriptor>>> records;
    std::vector<std::string> loaded;
    for (auto& [name, target] : images) {
      // The archive's names are names given (an id, a digest, berth's own repositories: refused).
      std::string full = name.empty() ? "" : name_to_give(name).str();
      metadata::Image rec;
      rec.target = {target.mediaType, target.digest.str(), target.size};
      // Everything the image needs must be in the archive; record it for this namespace.
      std::vector<oci::Descriptor> blobs{target};
      std::string text = read_blob(target.digest);
      std::vector<oci::Manifest> manifests;
      if (oci::media::is_index(target.mediaType)) {
        for (auto& m : oci::parse_index(text).manifests) {
          if (!svc_.content().exists(m.digest)) continue;  // other platforms may be left out
          blobs.push_back(m);
          manifests.push_back(oci::parse_manifest(read_blob(m.digest)));
        }
      } else {
        manifests.push_back(oci::parse_manifest(text));
      }
      for (auto& m : manifests) {
        blobs.push_back(m.config);
        for (auto& l : m.layers) blobs.push_back(l);
      }
      // Unnamed (only ever a single manifest): recorded as dangling, shown by its id.
      const std::string id = manifests.empty() ? "" : manifests.front().config.digest.str();
      if (full.empty()) full = dangling_name(manifests.front().config.digest);
      rec.name = full;
      for (auto& b : blobs) {
        auto info = svc_.content().info(b.digest);
        if (!info) throw Error("load: " + full + ": blob " + b.digest.str() + " is not in the archive");
        if (info->size != b.size)
          throw Error("load: " + full + ": blob " + b.digest.str() + " has " + std::to_string(info->size) +
                      " bytes, the descriptor says " + std::to_string(b.size));
        mark(b.digest);
      }
      svc_.unpack(svc_.load(rec));
      records.emplace_back(rec, blobs);
      loaded.push_back(is_dangling_name(full) ? id : oci::Reference::parse(full).familiar());
    }
    svc_.record_all(records);
    return loaded;
  }

  void drop_unused() {
    for (auto& [name, m] : members_)
      if (m.link.empty() && m.created && !used_.count(m.digest.str()) &&
          svc_.db().content_namespaces(m.digest.str()).empty())
        svc_.content().remove(m.digest);
  }

  Service& svc_;
  std::map<std::string, Member> members_;
  std::vector<Digest> generated_;  // manifests this load made (docker-archive) and added
  std::map<std::string, std::string> docs_;
  std::set<std::string> used_;
};

void write_member(archive* a, const std::string& name, int64_t size, const std::function<void(archive*)>& body) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_size(e.get(), size);
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0644);
  archive_entry_set_mtime(e.get(), 0, 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    throw Error(std::string("save: ") + archive_error_string(a));
  body(a);
}

void write_text(archive* a, const std::string& name, const std::string& text) {
  write_member(a, name, static_cast<int64_t>(text.size()), [&](archive* w) {
    if (archive_write_data(w, text.data(), text.size()) < 0)
      throw Error(std::string("save: ") + archive_error_string(w));
  });
}

}  // namespace

std::vector<std::string> load_archive(Service& svc, int fd) { return Loader(svc).run(fd); }

void save_archive(Service& svc, const std::vector<std::string>& refs, int fd) {
  if (refs.empty()) throw Error("save: no image given");
  std::unique_ptr<archive, WriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_fd(a.get(), fd) != ARCHIVE_OK)
    throw Error(std::string("save: ") + archive_error_string(a.get()));
  json index = {{"schemaVersion", 2}, {"mediaType", oci::media::kOciIndex}, {"manifests", json::array()}};
  json docker = json::array();
  std::vector<Digest> blobs;
  std::set<std::string> seen;
  auto add = [&](const Digest& d) {
    if (seen.insert(d.str()).second) blobs.push_back(d);
  };
  for (auto& r : refs) {
    Image img = svc.resolve(r);
    // Saved by its id, an image goes without its names (Docker's RepoTags null: `load` then
    // prints its id and names nothing); by a name, with that one.
    const bool unnamed = !is_user_name(img.record.name) || !named_by(img, r);
    const oci::Reference ref = oci::Reference::parse(img.record.name);
    oci::Descriptor target;
    target.mediaType = img.record.target.media_type;
    target.digest = Digest::parse(img.record.target.digest);
    target.size = img.record.target.size;
    add(target.digest);
    if (target.digest != img.manifest_desc.digest) add(img.manifest_desc.digest);
    add(img.manifest.config.digest);
    json layers = json::array();
    for (auto& l : img.manifest.layers) {
      add(l.digest);
      layers.push_back("blobs/" + l.digest.algorithm + "/" + l.digest.encoded);
    }
    if (!unnamed) {
      target.annotations["io.containerd.image.name"] = ref.str();
      if (!ref.tag.empty()) target.annotations["org.opencontainers.image.ref.name"] = ref.tag;
    }
    index["manifests"].push_back(oci::to_json(target));
    docker.push_back({{"Config", "blobs/" + img.id.algorithm + "/" + img.id.encoded},
                      {"RepoTags", unnamed ? json::array() : json::array({ref.familiar()})},
                      {"Layers", layers}});
  }
  write_text(a.get(), "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  for (auto& d : blobs) {
    auto info = svc.content().info(d);
    if (!info) throw Error("save: blob " + d.str() + " is missing from the content store");
    UniqueFd f = svc.content().open(d);
    write_member(a.get(), "blobs/" + d.algorithm + "/" + d.encoded, info->size, [&](archive* w) {
      std::vector<char> buf(1 << 20);
      while (size_t n = fs::read_fd(f.get(), buf.data(), buf.size(), d.str()))
        if (archive_write_data(w, buf.data(), n) < 0)
          throw Error(std::string("save: ") + archive_error_string(w));
    });
  }
  write_text(a.get(), "index.json", index.dump());
  write_text(a.get(), "manifest.json", docker.dump());
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    throw Error(std::string("save: ") + archive_error_string(a.get()));
}

}  // namespace berth::image
