// image::Service without a registry: import, resolve (name, id, prefix), tag, rmi, unpack,
// the kinds of its errors and the events it records.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "events/events.hpp"
#include "image/service.hpp"
#include "temp_dir.hpp"

using namespace berth;

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

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::internal;
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
