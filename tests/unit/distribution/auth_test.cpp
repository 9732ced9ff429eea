#include "distribution/auth.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "distribution/auth_file.hpp"
#include "common/parallel.hpp"
#include "temp_dir.hpp"

using berth::Error;
using berth::parallel_for;
using namespace berth::distribution;

namespace {

using berth::test::TempDir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

}  // namespace

TEST(Base64, KnownVectors) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"},
                                                       {"user:pass", "dXNlcjpwYXNz"}};
  for (const auto& [plain, enc] : cases) {
    EXPECT_EQ(base64_encode(plain), enc);
    EXPECT_EQ(base64_decode(enc), plain);
  }
  EXPECT_EQ(base64_decode("Zm8"), "fo");  // padding optional
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
  EXPECT_THROW(base64_decode("Zm9v!"), Error);
  EXPECT_THROW(base64_decode("Z"), Error);
}

TEST(Challenge, BearerAndBasic) {
  auto c = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c[0].params["service"], "registry.docker.io");
  EXPECT_EQ(c[0].params["scope"], "repository:library/busybox:pull");

  c = parse_challenges(
      R"(Basic realm="Registry Realm", Bearer realm="http://x/t", error="insufficient_scope")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params["realm"], "Registry Realm");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params["realm"], "http://x/t");
  EXPECT_EQ(c[1].params["error"], "insufficient_scope");

  c = parse_challenges(R"(BEARER Realm = "a\"b" , Service=plain)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "a\"b");
  EXPECT_EQ(c[0].params["service"], "plain");

  EXPECT_TRUE(parse_challenges("").empty());
  EXPECT_EQ(parse_challenges("Basic").size(), 1u);
}

TEST(Scopes, Cover) {
  EXPECT_TRUE(scopes_cover({"repository:a/b:pull,push"}, {"repository:a/b:pull"}));
  EXPECT_TRUE(scopes_cover({"repository:a/b:push,pull"}, {"repository:a/b:pull,push"}));
  EXPECT_FALSE(scopes_cover({"repository:a/b:pull"}, {"repository:a/b:pull,push"}));
  EXPECT_FALSE(scopes_cover({"repository:a/b:pull"}, {"repository:a/c:pull"}));
  EXPECT_TRUE(scopes_cover({"repository:a/b:*"}, {"repository:a/b:pull,push,delete"}));
  EXPECT_TRUE(scopes_cover({"repository:a/b:pull,push", "repository:c:pull"},
                           {"repository:c:pull", "repository:a/b:push"}));
  EXPECT_FALSE(
      scopes_cover({"repository:a/b:pull,push"}, {"repository:a/b:push", "repository:c:pull"}));
  EXPECT_TRUE(scopes_cover({}, {}));
  EXPECT_FALSE(scopes_cover({}, {"repository:a:pull"}));
}

TEST(AuthFile, MissingFileIsEmpty) {
  TempDir tmp;
  AuthFile f = AuthFile::load(tmp.path() + "/nope/auth.json");
  EXPECT_FALSE(f.get("docker.io"));
  EXPECT_TRUE(f.registries().empty());
  EXPECT_FALSE(f.erase("docker.io"));
}

TEST(AuthFile, RoundTripModeAndDockerFormat) {
  TempDir tmp;
  std::string path = tmp.path() + "/conf/berth/auth.json";
  {
    AuthFile f = AuthFile::load(path);
    f.set("127.0.0.1:5000", {"alice", "s3cret:with:colons"});
    f.set("docker.io", {"bob", "hub"});
    f.save();
  }
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(tmp.path() + "/conf/berth"), 0700u);
  EXPECT_EQ(mode_of(tmp.path() + "/conf"), 0700u);

  // Docker's layout, as jq would read it.
  auto doc = nlohmann::json::parse(berth::fs::read_file(path));
  EXPECT_EQ(doc["auths"]["127.0.0.1:5000"]["auth"], base64_encode("alice:s3cret:with:colons"));
  EXPECT_EQ(doc["auths"]["https://index.docker.io/v1/"]["auth"], base64_encode("bob:hub"));
  EXPECT_EQ(doc["auths"].size(), 2u);

  AuthFile g = AuthFile::load(path);
  auto a = g.get("127.0.0.1:5000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->username, "alice");
  EXPECT_EQ(a->password, "s3cret:with:colons");
  for (const char* hub :
       {"docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}) {
    auto b = g.get(hub);
    ASSERT_TRUE(b) << hub;
    EXPECT_EQ(b->username, "bob");
  }
  EXPECT_FALSE(g.get("127.0.0.1:5001"));

  // Replace and erase.
  g.set("docker.io", {"carol", "x"});
  EXPECT_EQ(g.get("docker.io")->username, "carol");
  EXPECT_TRUE(g.erase("127.0.0.1:5000"));
  EXPECT_FALSE(g.erase("127.0.0.1:5000"));
  g.save();
  AuthFile h = AuthFile::load(path);
  EXPECT_FALSE(h.get("127.0.0.1:5000"));
  EXPECT_EQ(h.get("docker.io")->username, "carol");
  EXPECT_EQ(h.registries(), std::vector<std::string>{"docker.io"});
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(AuthFile, ReadsDockerWrittenFiles) {
  TempDir tmp;
  std::string path = tmp.path() + "/config.json";
  std::ofstream(path) << R"({
    "auths": {
      "https://Registry.Example.com/v2/": {"auth": ")"
                      << base64_encode("u:p") << R"("},
      "other.example.com": {"username": "v", "password": "q"},
      "broken.example.com": {"auth": "!!!"}
    },
    "credsStore": "desktop",
    "proxies": {"default": {}}
  })";
  AuthFile f = AuthFile::load(path);
  EXPECT_EQ(f.get("registry.example.com")->username, "u");
  EXPECT_EQ(f.get("other.example.com")->password, "q");
  try {
    f.get("broken.example.com");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("auths.broken.example.com: auth: invalid base64"),
              std::string::npos)
        << e.what();
  }
  // Unknown keys survive a save.
  f.set("new.example.com", {"w", "r"});
  f.save();
  auto doc = nlohmann::json::parse(berth::fs::read_file(path));
  EXPECT_EQ(doc["credsStore"], "desktop");
  EXPECT_TRUE(doc.contains("proxies"));
}

TEST(AuthFile, InvalidJson) {
  TempDir tmp;
  std::string path = tmp.path() + "/config.json";
  std::ofstream(path) << "{not json";
  try {
    AuthFile::load(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "auth file `" + path + "`: not a JSON object");
  }
}

TEST(Parallel, BoundedAndFirstErrorWins) {
  std::atomic<int> active{0}, peak{0}, done{0};
  parallel_for(20, 3, [&](size_t) {
    int now = ++active;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --active;
    ++done;
  });
  EXPECT_EQ(done.load(), 20);
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);

  std::atomic<int> started{0};
  try {
    parallel_for(100, 2, [&](size_t i) {
      ++started;
      if (i == 3) throw Error("task 3 failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "task 3 failed");
  }
  EXPECT_LT(started.load(), 100);
  parallel_for(0, 3, [](size_t) { FAIL(); });
}
