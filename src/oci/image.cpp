#include "oci/image.hpp"

#include <sys/utsname.h>

#include "common/json_depth.hpp"
#include "common/error.hpp"

namespace berth::oci {

using nlohmann::json;

namespace media {
bool is_index(std::string_view mt) { return mt == kOciIndex || mt == kDockerManifestList; }
bool is_manifest(std::string_view mt) { return mt == kOciManifest || mt == kDockerManifest; }
bool is_config(std::string_view mt) { return mt == kOciConfig || mt == kDockerConfig; }
bool is_layer(std::string_view mt) {
  return mt == kOciLayer || mt == kOciLayerGzip || mt == kOciLayerZstd || mt == kDockerLayerGzip ||
         mt == kDockerForeignLayerGzip || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
         mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
}
}  // namespace media

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error(field + ": " + why);
}

json parse_json(std::string_view text, const std::string& what) {
  check_json_depth(text, what);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) bad(what, "invalid JSON");
  if (!j.is_object()) bad(what, "must be a JSON object");
  return j;
}

std::string opt_str(const json& j, const char* key, const std::string& field) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) bad(field + "." + key, "must be a string");
  return it->get<std::string>();
}

std::map<std::string, std::string> string_map(const json& j, const char* key, const std::string& field) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) bad(field + "." + key, "must be an object");
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) bad(field + "." + key + "." + k, "must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

int schema_version(const json& j, const std::string& what) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer()) bad(what + ".schemaVersion", "is required");
  int v = it->get<int>();
  if (v != 2) bad(what + ".schemaVersion", "must be 2, not " + std::to_string(v));
  return v;
}

Platform parse_platform_json(const json& j, const std::string& field) {
  if (!j.is_object()) bad(field, "must be an object");
  Platform p;
  p.os = opt_str(j, "os", field);
  p.architecture = opt_str(j, "architecture", field);
  p.variant = opt_str(j, "variant", field);
  p.os_version = opt_str(j, "os.version", field);
  if (auto it = j.find("os.features"); it != j.end() && it->is_array())
    for (auto& f : *it)
      if (f.is_string()) p.os_features.push_back(f.get<std::string>());
  return p;
}

std::string normalize_arch(std::string a) {
  if (a == "x86_64" || a == "x86-64") return "amd64";
  if (a == "aarch64") return "arm64";
  if (a == "armhf" || a == "armel") return "arm";
  if (a == "i386" || a == "i686") return "386";
  return a;
}

}  // namespace

Platform Platform::parse(std::string_view s) {
  Platform p;
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto slash = s.find('/', start);
    parts.emplace_back(s.substr(start, slash == std::string_view::npos ? s.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (auto& part : parts)
    if (part.empty()) throw Error(ErrorKind::invalid_argument, "invalid platform `" + std::string(s) + "`");
  if (parts.size() == 1 && (parts[0] == "linux" || parts[0] == "windows" || parts[0] == "darwin" || parts[0] == "freebsd")) {
    // An os alone ("linux", as Docker's --platform takes it): this machine's architecture.
    const Platform host = host_platform();
    p.os = parts[0];
    p.architecture = host.architecture;
    p.variant = host.variant;
  } else if (parts.size() == 1) {
    p.architecture = normalize_arch(parts[0]);
  } else if (parts.size() <= 3) {
    p.os = parts[0];
    p.architecture = normalize_arch(parts[1]);
    if (parts.size() == 3) p.variant = parts[2];
  } else {
    throw Error(ErrorKind::invalid_argument, "invalid platform `" + std::string(s) + "`: expected os/arch[/variant]");
  }
  if (p.os != "linux" && p.os != "windows" && p.os != "freebsd" && p.os != "darwin")
    throw Error(ErrorKind::invalid_argument, "invalid platform `" + std::string(s) + "`: unknown os `" + p.os + "`");
  return p;
}

std::string Platform::str() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Platform host_platform() {
  Platform p;
  struct utsname u;
  ::uname(&u);
  p.architecture = normalize_arch(u.machine);
  if (p.architecture == "arm64") p.variant = "v8";
  else if (std::string(u.machine).rfind("armv7", 0) == 0) p.variant = "v7";
  else if (std::string(u.machine).rfind("armv6", 0) == 0) p.variant = "v6";
  return p;
}

bool platform_matches(const Platform& want, const Platform& have) {
  if (want.os != have.os) return false;
  if (normalize_arch(want.architecture) != normalize_arch(have.architecture)) return false;
  if (want.variant.empty() || have.variant.empty()) return true;
  return want.variant == have.variant;
}

std::string document_media_type(const json& doc, std::string_view what) {
  std::string mt = opt_str(doc, "mediaType", std::string(what));
  if (!mt.empty()) return mt;
  if (doc.contains("manifests")) return std::string(media::kOciIndex);
  if (doc.contains("layers") && doc.contains("config")) return std::string(media::kOciManifest);
  bad(std::string(what), "cannot tell the document type (no mediaType)");
}

Descriptor parse_descriptor(const json& j, const std::string& field) {
  if (!j.is_object()) bad(field, "must be an object");
  Descriptor d;
  d.mediaType = opt_str(j, "mediaType", field);
  if (d.mediaType.empty()) bad(field + ".mediaType", "is required");
  std::string dg = opt_str(j, "digest", field);
  if (dg.empty()) bad(field + ".digest", "is required");
  try {
    d.digest = Digest::parse(dg);
  } catch (const Error& e) {
    bad(field + ".digest", e.what());
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer()) bad(field + ".size", "is required (an integer)");
  d.size = size->get<int64_t>();
  if (d.size < 0) bad(field + ".size", "must not be negative");
  if (auto it = j.find("urls"); it != j.end() && it->is_array())
    for (auto& u : *it)
      if (u.is_string()) d.urls.push_back(u.get<std::string>());
  d.annotations = string_map(j, "annotations", field);
  if (auto it = j.find("platform"); it != j.end() && !it->is_null())
    d.platform = parse_platform_json(*it, field + ".platform");
  d.artifactType = opt_str(j, "artifactType", field);
  return d;
}

Index parse_index(std::string_view text) {
  json j = parse_json(text, "index");
  Index idx;
  idx.schemaVersion = schema_version(j, "index");
  idx.mediaType = opt_str(j, "mediaType", "index");
  if (!idx.mediaType.empty() && !media::is_index(idx.mediaType))
    bad("index.mediaType", "`" + idx.mediaType + "` is not an index");
  auto m = j.find("manifests");
  if (m == j.end() || !m->is_array()) bad("index.manifests", "is required (an array)");
  for (size_t i = 0; i < m->size(); ++i)
    idx.manifests.push_back(parse_descriptor((*m)[i], "index.manifests[" + std::to_string(i) + "]"));
  idx.annotations = string_map(j, "annotations", "index");
  return idx;
}

Manifest parse_manifest(std::string_view text) {
  json j = parse_json(text, "manifest");
  Manifest m;
  m.schemaVersion = schema_version(j, "manifest");
  m.mediaType = opt_str(j, "mediaType", "manifest");
  if (!m.mediaType.empty() && !media::is_manifest(m.mediaType))
    bad("manifest.mediaType", "`" + m.mediaType + "` is not an image manifest");
  auto c = j.find("config");
  if (c == j.end()) bad("manifest.config", "is required");
  m.config = parse_descriptor(*c, "manifest.config");
  auto l = j.find("layers");
  if (l == j.end() || !l->is_array()) bad("manifest.layers", "is required (an array)");
  for (size_t i = 0; i < l->size(); ++i) {
    Descriptor d = parse_descriptor((*l)[i], "manifest.layers[" + std::to_string(i) + "]");
    if (!media::is_layer(d.mediaType))
      bad("manifest.layers[" + std::to_string(i) + "].mediaType",
          "unknown layer media type `" + d.mediaType + "`");
    m.layers.push_back(std::move(d));
  }
  m.annotations = string_map(j, "annotations", "manifest");
  return m;
}

ImageConfig parse_image_config(std::string_view text) {
  json j = parse_json(text, "image config");
  ImageConfig c;
  c.created = opt_str(j, "created", "image config");
  c.author = opt_str(j, "author", "image config");
  c.platform.os = opt_str(j, "os", "image config");
  c.platform.architecture = opt_str(j, "architecture", "image config");
  c.platform.variant = opt_str(j, "variant", "image config");
  if (c.platform.os.empty()) bad("image config.os", "is required");
  if (c.platform.architecture.empty()) bad("image config.architecture", "is required");
  if (auto it = j.find("config"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad("image config.config", "must be an object");
    c.config = *it;
  }
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) bad("image config.rootfs", "is required");
  if (opt_str(*rootfs, "type", "image config.rootfs") != "layers")
    bad("image config.rootfs.type", "must be \"layers\"");
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array()) bad("image config.rootfs.diff_ids", "is required");
  for (size_t i = 0; i < ids->size(); ++i) {
    const std::string f = "image config.rootfs.diff_ids[" + std::to_string(i) + "]";
    if (!(*ids)[i].is_string()) bad(f, "must be a string");
    try {
      c.diff_ids.push_back(Digest::parse((*ids)[i].get<std::string>()));
    } catch (const Error& e) {
      bad(f, e.what());
    }
  }
  if (auto it = j.find("history"); it != j.end()) c.history = *it;
  c.raw = std::move(j);
  return c;
}

json to_json(const Platform& p) {
  json j = {{"architecture", p.architecture}, {"os", p.os}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
  return j;
}

json to_json(const Descriptor& d) {
  json j = {{"mediaType", d.mediaType}, {"digest", d.digest.str()}, {"size", d.size}};
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = to_json(*d.platform);
  if (!d.artifactType.empty()) j["artifactType"] = d.artifactType;
  return j;
}

json to_json(const Manifest& m) {
  json j = {{"schemaVersion", m.schemaVersion}};
  if (!m.mediaType.empty()) j["mediaType"] = m.mediaType;
  j["config"] = to_json(m.config);
  j["layers"] = json::array();
  for (auto& l : m.layers) j["layers"].push_back(to_json(l));
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j;
}

json to_json(const Index& i) {
  json j = {{"schemaVersion", i.schemaVersion}};
  if (!i.mediaType.empty()) j["mediaType"] = i.mediaType;
  j["manifests"] = json::array();
  for (auto& m : i.manifests) j["manifests"].push_back(to_json(m));
  if (!i.annotations.empty()) j["annotations"] = i.annotations;
  return j;
}

Digest chain_id(const std::vector<Digest>& diff_ids, size_t n) {
  if (n == 0 || n > diff_ids.size()) throw Error("chain id of " + std::to_string(n) + " layers");
  Digest c = diff_ids[0];
  for (size_t i = 1; i < n; ++i) c = sha256_of(c.str() + " " + diff_ids[i].str());
  return c;
}

}  // namespace berth::oci
