// image::Service without a registry: import, resolve (name, id, prefix), tag, rmi, unpack,
// the kinds of its errors and the events it records; pull and push through an in-memory
// repository (the distribution::Repository interface), with their progress.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "events/events.hpp"
#include "image/service.hpp"
#include "error_kind.hpp"
#include "temp_dir.hpp"

using namespace berth;
using berth::test::kind_of;

namespace {

// A tar with one file, in memory.
std::string tar_with(const std::string& name, const std::string& content) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
  archive_write_header(a, e);
  archive_write_data(a, content.data(), content.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

image::Image import(image::Service& svc, const std::string& tar, const std::string& ref) {
  size_t pos = 0;
  return svc.import(
      [&](void* buf, size_t n) {
        const size_t k = std::min(n, tar.size() - pos);
        std::memcpy(buf, tar.data() + pos, k);
        pos += k;
        return k;
      },
      ref);
}

std::vector<std::string> actions(const std::string& events_log) {
  std::vector<std::string> out;
  std::string text;
  fs::read_file_if_exists(events_log, text);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    auto e = events::Event::parse(std::string_view(text).substr(pos, nl - pos));
    if (e) out.push_back(e->type + " " + e->action + " " + e->attributes["name"]);
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  return out;
}

// A registry's repository in memory: manifests by tag and digest, blobs by digest.
struct MemRegistry {
  std::mutex mu;
  std::map<std::string, std::pair<std::string, std::string>> manifests;  // ref -> (media type, body)
  std::map<std::string, std::string> blobs;
};

class MemRepository : public distribution::Repository {
 public:
  MemRepository(std::shared_ptr<MemRegistry> r, std::string registry, std::string repo)
      : r_(std::move(r)), registry_(std::move(registry)), repo_(std::move(repo)) {}
  const std::string& registry() const override { return registry_; }
  const std::string& repository() const override { return repo_; }
  void ping() override {}
  distribution::Fetched get_manifest(std::string_view ref) override {
    std::lock_guard<std::mutex> lk(r_->mu);
    auto it = r_->manifests.find(repo_ + ":" + std::string(ref));
    if (it == r_->manifests.end()) throw Error(ErrorKind::not_found, "manifest unknown: " + std::string(ref));
    distribution::Fetched f;
    f.body = it->second.second;
    f.descriptor.mediaType = it->second.first;
    f.descriptor.digest = sha256_of(f.body);
    f.descriptor.size = static_cast<int64_t>(f.body.size());
    return f;
  }
  std::optional<oci::Descriptor> head_manifest(std::string_view ref) override {
    try {
      return get_manifest(ref).descriptor;
    } catch (const Error&) {
      return std::nullopt;
    }
  }
  Digest put_manifest(std::string_view ref, std::string_view media_type, std::string_view body) override {
    std::lock_guard<std::mutex> lk(r_->mu);
    const Digest d = sha256_of(body);
    r_->manifests[repo_ + ":" + std::string(ref)] = {std::string(media_type), std::string(body)};
    r_->manifests[repo_ + ":" + d.str()] = {std::string(media_type), std::string(body)};
    return d;
  }
  std::vector<std::string> list_tags() override { return {}; }
  bool blob_exists(const Digest& d) override { return blob_size(d).has_value(); }
  std::optional<int64_t> blob_size(const Digest& d) override {
    std::lock_guard<std::mutex> lk(r_->mu);
    auto it = r_->blobs.find(d.str());
    if (it == r_->blobs.end()) return std::nullopt;
    return static_cast<int64_t>(it->second.size());
  }
  void get_blob(const Digest& d, int64_t offset, const distribution::Sink& sink,
                const distribution::Progress& progress) override {
    std::string b = get_blob_bytes(d, SIZE_MAX);
    sink(b.data() + offset, b.size() - static_cast<size_t>(offset));
    if (progress) progress(static_cast<int64_t>(b.size()), static_cast<int64_t>(b.size()));
  }
  std::string get_blob_bytes(const Digest& d, size_t) override {
    std::lock_guard<std::mutex> lk(r_->mu);
    auto it = r_->blobs.find(d.str());
    if (it == r_->blobs.end()) throw Error(ErrorKind::not_found, "blob unknown: " + d.str());
    return it->second;
  }
  bool mount_blob(const Digest&, std::string_view) override { return false; }
  void put_blob(const Digest& d, int64_t size, const distribution::Source& read, int64_t,
                const distribution::Progress& progress) override {
    std::string b(static_cast<size_t>(size), '\0');
    size_t got = 0;
    while (got < b.size()) {
      size_t n = read(b.data() + got, b.size() - got);
      if (n == 0) break;
      got += n;
    }
    if (got != b.size() || sha256_of(b) != d) throw Error("blob upload: digest mismatch");
    if (progress) progress(size, size);
    std::lock_guard<std::mutex> lk(r_->mu);
    r_->blobs[d.str()] = std::move(b);
  }

 private:
  std::shared_ptr<MemRegistry> r_;
  std::string registry_, repo_;
};

// Pushed from one store and pulled into another through the Repository interface: the layers
// compressed as asked, the same image id on both sides, the file there, progress in Docker's
// words, a second pull finding every layer, a missing tag not_found with nothing left behind.
TEST(ImageService, PushThenPullThroughARepository) {
  test::TempDir d;
  auto reg = std::make_shared<MemRegistry>();
  std::vector<image::ProgressEvent> seen;
  std::mutex mu;
  image::Transfer t;
  t.open = [&](const std::string& registry, const std::string& repository) {
    return std::make_unique<MemRepository>(reg, registry, repository);
  };
  t.progress = [&](const image::ProgressEvent& e) {
    std::lock_guard<std::mutex> lk(mu);
    seen.push_back(e);
  };
  t.compression = diff::Compression::zstd;
  auto statuses = [&] {
    std::vector<std::string> out;
    for (auto& e : seen)
      if (out.empty() || out.back() != e.status) out.push_back(e.status);
    seen.clear();
    return out;
  };

  image::Options a;
  a.root = d / "a";
  a.events = d / "events.log";
  image::Service from(a);
  auto img = import(from, tar_with("hello.txt", "hi from the registry\n"), "127.0.0.1:5000/t/one:1");
  const Digest pushed = from.push("127.0.0.1:5000/t/one:1", "", t);
  ASSERT_TRUE(reg->manifests.count("t/one:1"));
  auto m = nlohmann::json::parse(reg->manifests["t/one:1"].second);
  EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  EXPECT_EQ(sha256_of(reg->manifests["t/one:1"].second), pushed);
  auto pushing = statuses();
  EXPECT_EQ(pushing.front(), "Compressing");
  EXPECT_NE(std::find(pushing.begin(), pushing.end(), "Pushed"), pushing.end());
  EXPECT_EQ(from.resolve("127.0.0.1:5000/t/one:1").id, img.id);  // re-recorded on the zstd layer

  image::Options b;
  b.root = d / "b";
  b.events = d / "events.log";
  image::Service to(b);
  auto pulled = to.pull("127.0.0.1:5000/t/one:1", t);
  EXPECT_EQ(pulled.id, img.id);
  std::string text;
  ASSERT_TRUE(fs::read_file_if_exists(to.snapshots().fs_dir(to.unpack(pulled)) + "/hello.txt", text));
  EXPECT_EQ(text, "hi from the registry\n");
  EXPECT_EQ(statuses(), (std::vector<std::string>{"Pulling from t/one", "Pulling fs layer", "Downloading",
                                                 "Download complete", "Extracting", "Pull complete",
                                                 "Digest: " + pushed.str()}));
  to.pull("127.0.0.1:5000/t/one:1", t);
  EXPECT_EQ(statuses(), (std::vector<std::string>{"Pulling from t/one", "Already exists", "Digest: " + pushed.str()}));

  EXPECT_EQ(kind_of([&] { to.pull("127.0.0.1:5000/t/one:2", t); }), ErrorKind::not_found);
  EXPECT_EQ(to.list().size(), 1u);
  auto acts = actions(a.events);
  EXPECT_NE(std::find(acts.begin(), acts.end(), "image push 127.0.0.1:5000/t/one:1"), acts.end());
  EXPECT_NE(std::find(acts.begin(), acts.end(), "image pull 127.0.0.1:5000/t/one:1"), acts.end());
  // Layers stored uncompressed are not sent as they are.
  t.compression = diff::Compression::none;
  EXPECT_EQ(kind_of([&] { from.push("127.0.0.1:5000/t/one:1", "", t); }), ErrorKind::invalid_argument);
}

TEST(ImageService, ImportResolveTagRemoveWithKindsAndEvents) {
  test::TempDir d;
  image::Options o;
  o.root = d / "root";
  o.events = d / "events/events.log";
  image::Service svc(o);
  auto img = import(svc, tar_with("hello.txt", "hi\n"), "example/one:1");
  EXPECT_EQ(img.record.name, "docker.io/example/one:1");
  EXPECT_EQ(img.manifest.layers.size(), 1u);
  // By name (familiar or full), by id and by a unique id prefix.
  EXPECT_EQ(svc.resolve("example/one:1").id, img.id);
  EXPECT_EQ(svc.resolve("docker.io/example/one:1").id, img.id);
  EXPECT_EQ(svc.resolve(img.id.str()).id, img.id);
  EXPECT_EQ(svc.resolve(img.id.str().substr(7, 12)).id, img.id);
  EXPECT_FALSE(svc.find("example/one:2"));
  EXPECT_EQ(kind_of([&] { svc.resolve("example/one:2"); }), ErrorKind::not_found);
  EXPECT_EQ(kind_of([&] { svc.resolve("Not A Reference"); }), ErrorKind::not_found);
  // The layer unpacks to a snapshot holding the file.
  const std::string top = svc.unpack(img);
  EXPECT_FALSE(top.empty());
  // History: the import's one step, the image's id and names on it.
  auto h = svc.history(img);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].id, img.id.str());
  EXPECT_EQ(h[0].tags, std::vector<std::string>{"docker.io/example/one:1"});
  EXPECT_GT(h[0].size, 0);
  EXPECT_GT(h[0].created, 0);
  // A second name; removing one name untags it, the last one deletes the image.
  svc.tag("example/one:1", "example/two:latest");
  EXPECT_EQ(svc.list().size(), 2u);
  EXPECT_EQ(kind_of([&] { svc.remove(img.id.str(), false); }), ErrorKind::conflict);  // two names
  auto lines = svc.remove("example/two", false);
  EXPECT_EQ(lines, std::vector<std::string>{"Untagged: example/two:latest"});
  EXPECT_EQ(svc.resolve("example/one:1").id, img.id);
  lines = svc.remove("example/one:1", false);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "Deleted: " + img.id.str());
  EXPECT_TRUE(svc.list().empty());
  EXPECT_EQ(kind_of([&] { svc.remove("example/one:1", false); }), ErrorKind::not_found);
  // An empty tarball is refused as invalid input, and leaves no image.
  EXPECT_EQ(kind_of([&] { import(svc, "", "example/empty:1"); }), ErrorKind::invalid_argument);
  EXPECT_TRUE(svc.list().empty());
  EXPECT_EQ(actions(o.events),
            (std::vector<std::string>{"image import example/one:1", "image tag example/two:latest",
                                      "image untag example/two:latest", "image untag example/one:1",
                                      "image delete "}));
}

}  // namespace
