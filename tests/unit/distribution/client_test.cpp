// The registry client against a scripted fake server: auth flows, retries, timeouts, truncated
// and oversized bodies, redirects, upload Location handling. The real registry is in
// registry_test.cpp.
#include "distribution/client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "common/error.hpp"
#include "fake_server.hpp"

using berth::Digest;
using berth::Error;
using berth::sha256_of;
using berth::testing::FakeServer;
using berth::testing::HttpRequest;
using berth::testing::Reply;
using namespace berth::distribution;
namespace media = berth::oci::media;

namespace {

using Clock = std::chrono::steady_clock;

RegistryOptions fast(int retries = 2) {
  RegistryOptions o;
  o.connect_timeout_ms = 2000;
  o.stall_timeout_ms = 1000;
  o.retries = retries;
  o.retry_backoff_ms = 10;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

long ms_since(Clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

std::string pattern(size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]})";

Reply manifest_reply(const std::string& body, std::string type = std::string(media::kOciManifest)) {
  Reply r;
  r.headers = {{"Content-Type", type}, {"Docker-Content-Digest", sha256_of(body).str()}};
  r.body = body;
  return r;
}

Reply error_reply(int status, const std::string& code, const std::string& message) {
  Reply r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body =
      R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"(","detail":null}]})";
  return r;
}

}  // namespace

TEST(FakeRegistry, ManifestByTagAndByDigest) {
  std::string digest = sha256_of(kManifest).str();
  FakeServer srv([&](const HttpRequest& req) {
    if (req.path == "/v2/a/b/manifests/t" || req.path == "/v2/a/b/manifests/" + digest)
      return manifest_reply(kManifest);
    return error_reply(404, "MANIFEST_UNKNOWN", "manifest unknown");
  });
  Client c(srv.addr(), "a/b", fast());
  Fetched f = c.get_manifest("t");
  EXPECT_EQ(f.body, kManifest);
  EXPECT_EQ(f.descriptor.mediaType, media::kOciManifest);
  EXPECT_EQ(f.descriptor.digest.str(), digest);
  EXPECT_EQ(f.descriptor.size, static_cast<int64_t>(kManifest.size()));
  Fetched g = c.get_manifest(digest);
  EXPECT_EQ(g.descriptor.digest.str(), digest);

  auto reqs = srv.requests();
  ASSERT_FALSE(reqs.empty());
  std::string accept = reqs.back().header("accept");
  for (auto mt :
       {media::kOciIndex, media::kOciManifest, media::kDockerManifestList, media::kDockerManifest})
    EXPECT_TRUE(contains(accept, std::string(mt))) << accept;
  EXPECT_EQ(reqs.back().header("user-agent"), "berth/0.1");

  auto head = c.head_manifest("t");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->digest.str(), digest);
  EXPECT_EQ(head->size, static_cast<int64_t>(kManifest.size()));
  EXPECT_FALSE(c.head_manifest("missing"));

  // The loopback registry was tried with TLS once, then plain http was remembered.
  EXPECT_EQ(srv.tls_attempts(), 1);
  Client again(srv.addr(), "a/b", fast());
  again.get_manifest("t");
  EXPECT_EQ(srv.tls_attempts(), 1);
}

TEST(FakeRegistry, NotFoundMessage) {
  FakeServer srv(
      [](const HttpRequest&) { return error_reply(404, "MANIFEST_UNKNOWN", "manifest unknown"); });
  Client c(srv.addr(), "a/b", fast());
  EXPECT_EQ(
      error_of([&] { c.get_manifest("t"); }),
      "registry " + srv.addr() + ": GET /v2/a/b/manifests/t: 404 Not Found: manifest unknown");
  EXPECT_EQ(srv.count("GET", "/v2/a/b/manifests/t"), 1u);  // 4xx: never retried
}

TEST(FakeRegistry, DigestMismatchRefused) {
  std::string other = sha256_of("something else").str();
  FakeServer srv([&](const HttpRequest& req) {
    Reply r = manifest_reply(kManifest);
    if (req.path == "/v2/a/b/manifests/liar") r.headers[1].second = other;
    return r;
  });
  Client c(srv.addr(), "a/b", fast());
  std::string msg = error_of([&] { c.get_manifest(other); });
  EXPECT_EQ(msg, "registry " + srv.addr() + ": manifest " + other +
                     ": digest mismatch: received content is " + sha256_of(kManifest).str());
  msg = error_of([&] { c.get_manifest("liar"); });
  EXPECT_TRUE(contains(msg, "registry reports digest " + other)) << msg;
}

TEST(FakeRegistry, MediaTypes) {
  FakeServer srv([&](const HttpRequest& req) {
    if (req.path.ends_with("/json")) return manifest_reply(kManifest, "application/json");
    if (req.path.ends_with("/list"))
      return manifest_reply(R"({"schemaVersion":2,"manifests":[]})",
                            std::string(media::kDockerManifestList) + "; charset=utf-8");
    if (req.path.ends_with("/v1"))
      return manifest_reply(R"({"schemaVersion":1,"name":"a/b","fsLayers":[]})",
                            "application/vnd.docker.distribution.manifest.v1+prettyjws");
    return manifest_reply("{}", "application/vnd.example.thing");
  });
  Client c(srv.addr(), "a/b", fast());
  EXPECT_EQ(c.get_manifest("json").descriptor.mediaType, media::kOciManifest);
  EXPECT_EQ(c.get_manifest("list").descriptor.mediaType, media::kDockerManifestList);
  EXPECT_TRUE(contains(error_of([&] { c.get_manifest("v1"); }),
                       "Docker schema 1 manifests are not supported"));
  EXPECT_TRUE(contains(error_of([&] { c.get_manifest("other"); }),
                       "unsupported media type `application/vnd.example.thing`"));
  EXPECT_TRUE(contains(error_of([&] { c.get_manifest("../x"); }), "invalid tag `../x`"));
  EXPECT_THROW(Client(srv.addr(), "A/../b"), Error);
}

TEST(FakeRegistry, ManifestOverLimitIsCutOff) {
  std::string huge(5 << 20, ' ');
  FakeServer srv([&](const HttpRequest& req) {
    Reply r = manifest_reply(huge);
    if (req.path.ends_with("/unsized")) r.no_content_length = true;  // close-delimited
    return r;
  });
  Client c(srv.addr(), "a/b", fast());
  for (const char* tag : {"sized", "unsized"}) {
    std::string msg = error_of([&] { c.get_manifest(tag); });
    EXPECT_EQ(msg, "registry " + srv.addr() + ": GET /v2/a/b/manifests/" + tag +
                       ": response larger than 4194304 bytes, refused");
  }
  EXPECT_EQ(srv.count("GET", "/v2/a/b/manifests/sized"), 1u);  // not retried
}

TEST(FakeRegistry, ServerErrorsAreRetried) {
  std::atomic<int> calls{0};
  FakeServer srv([&](const HttpRequest& req) {
    if (req.path.ends_with("/flaky") && ++calls <= 2)
      return error_reply(503, "UNAVAILABLE", "try later");
    if (req.path.ends_with("/broken")) return error_reply(500, "UNKNOWN", "storage on fire");
    if (req.path.ends_with("/forbidden"))
      return error_reply(403, "DENIED", "requested access to the resource is denied");
    return manifest_reply(kManifest);
  });
  Client c(srv.addr(), "a/b", fast(2));
  EXPECT_EQ(c.get_manifest("flaky").body, kManifest);
  EXPECT_EQ(srv.count("GET", "/v2/a/b/manifests/flaky"), 3u);

  EXPECT_EQ(error_of([&] { c.get_manifest("broken"); }),
            "registry " + srv.addr() +
                ": GET /v2/a/b/manifests/broken: 500 Internal Server Error: storage on fire");
  EXPECT_EQ(srv.count("GET", "/v2/a/b/manifests/broken"), 3u);

  EXPECT_TRUE(contains(error_of([&] { c.get_manifest("forbidden"); }),
                       "403 Forbidden: requested access to the resource is denied"));
  EXPECT_EQ(srv.count("GET", "/v2/a/b/manifests/forbidden"), 1u);
}

TEST(FakeRegistry, HangingServerTimesOut) {
  FakeServer srv([&](const HttpRequest& req) {
    Reply r = manifest_reply(kManifest);
    if (req.path.ends_with("/silent")) r.delay_ms = 10'000;
    return r;
  });
  RegistryOptions o = fast(0);
  o.stall_timeout_ms = 300;
  Client c(srv.addr(), "a/b", o);
  c.get_manifest("ok");  // settles the scheme
  auto t0 = Clock::now();
  std::string msg = error_of([&] { c.get_manifest("silent"); });
  EXPECT_EQ(msg, "registry " + srv.addr() +
                     ": GET /v2/a/b/manifests/silent: stalled: less than 1024 bytes moved in 300 ms");
  EXPECT_LT(ms_since(t0), 2500);
}

TEST(FakeRegistry, TrickleIsAStall) {
  // One byte every 50 ms never leaves the line silent, yet moves next to nothing.
  FakeServer srv([&](const HttpRequest& req) {
    Reply r = manifest_reply(kManifest);
    if (req.path.ends_with("/trickle")) r.trickle_ms = 50;
    return r;
  });
  RegistryOptions o = fast(0);
  o.stall_timeout_ms = 300;
  Client c(srv.addr(), "a/b", o);
  c.get_manifest("ok");
  auto t0 = Clock::now();
  std::string msg = error_of([&] { c.get_manifest("trickle"); });
  EXPECT_EQ(msg, "registry " + srv.addr() +
                     ": GET /v2/a/b/manifests/trickle: stalled: less than 1024 bytes moved in 300 ms");
  EXPECT_LT(ms_since(t0), 2500);
}

TEST(FakeRegistry, ConnectTimeoutAndRefused) {
  // A listening socket whose accept queue is full drops further SYNs: connects hang.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 0), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(f);
  }
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  RegistryOptions o = fast(0);
  o.connect_timeout_ms = 300;
  auto t0 = Clock::now();
  std::string msg = error_of([&] { Client(addr, "a/b", o).ping(); });
  EXPECT_TRUE(contains(msg, "registry " + addr + ": GET /v2/: ")) << msg;
  EXPECT_TRUE(contains(msg, "connect timeout: ")) << msg;
  EXPECT_LT(ms_since(t0), 3000);
  for (int f : fillers) ::close(f);
  ::close(fd);

  // Nobody listening at all.
  msg = error_of([&] { Client(addr, "a/b", fast(1)).ping(); });
  EXPECT_TRUE(contains(msg, "registry " + addr + ": GET /v2/: ")) << msg;
  EXPECT_TRUE(contains(msg, "2 attempts")) << msg;

  // A name that does not resolve (.invalid never does, RFC 2606): one attempt, not four.
  msg = error_of([&] { Client("nosuchhost.invalid", "a/b", fast(3)).ping(); });
  EXPECT_TRUE(contains(msg, "Could not resolve host: nosuchhost.invalid")) << msg;
  EXPECT_FALSE(contains(msg, "attempts")) << msg;
}

TEST(FakeRegistry, TruncatedBlobIsResumedWithRange) {
  std::string blob = pattern(300'000);
  Digest d = sha256_of(blob);
  std::mutex mu;
  std::vector<std::string> ranges;
  FakeServer srv([&](const HttpRequest& req) {
    Reply r;
    std::string range = req.header("range");
    {
      std::lock_guard lock(mu);
      ranges.push_back(range);
    }
    size_t from = range.empty() ? 0 : std::stoul(range.substr(6));
    if (req.path.ends_with("/ignores-range") || from == 0) {
      r.body = blob;
    } else {
      r.status = 206;
      r.body = blob.substr(from);
      r.headers = {{"Content-Range", "bytes " + std::to_string(from) + "-" +
                                         std::to_string(blob.size() - 1) + "/" +
                                         std::to_string(blob.size())}};
    }
    if (req.path.starts_with("/v2/cut/") && from == 0) r.send_bytes = 100'000;  // then close
    if (req.path.starts_with("/v2/stall/") && from == 0) {
      r.send_bytes = 120'000;
      r.hold_ms = 5000;
    }
    return r;
  });

  // No retries: the truncation is reported.
  Client once(srv.addr(), "cut/x", fast(0));
  std::string got;
  std::string msg =
      error_of([&] { once.get_blob(d, 0, [&](const char* p, size_t n) { got.append(p, n); }); });
  EXPECT_EQ(msg, "registry " + srv.addr() + ": GET /v2/cut/x/blobs/" + d.str() +
                     ": connection closed after 100000 of 300000 bytes (at byte 100000)");
  EXPECT_EQ(got, blob.substr(0, 100'000));

  // With retries: resumed where it broke.
  Client c(srv.addr(), "cut/x", fast(2));
  got.clear();
  int64_t last_done = 0, last_total = 0;
  c.get_blob(
      d, 0, [&](const char* p, size_t n) { got.append(p, n); },
      [&](int64_t done, int64_t total) {
        last_done = done;
        last_total = total;
      });
  EXPECT_TRUE(got == blob);
  EXPECT_EQ(last_done, 300'000);
  EXPECT_EQ(last_total, 300'000);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(ranges.back(), "bytes=100000-");
  }

  // A stall in the middle of the body: also resumed.
  RegistryOptions o = fast(2);
  o.stall_timeout_ms = 300;
  Client st(srv.addr(), "stall/x", o);
  got.clear();
  st.get_blob(d, 0, [&](const char* p, size_t n) { got.append(p, n); });
  EXPECT_TRUE(got == blob);

  // Started at an offset, from a server that answers 200 with everything.
  Client ig(srv.addr(), "ignores-range/x", fast());
  got.clear();
  ig.get_blob(d, 1234, [&](const char* p, size_t n) { got.append(p, n); });
  EXPECT_TRUE(got == blob.substr(1234));
  // And from one that honours it.
  got.clear();
  c.get_blob(d, 299'999, [&](const char* p, size_t n) { got.append(p, n); });
  EXPECT_EQ(got, blob.substr(299'999));
}

TEST(FakeRegistry, BearerTokenFlow) {
  std::mutex mu;
  std::vector<std::string> token_queries;
  std::atomic<int> unauthorized{0};
  std::string self;  // the server's own URL (the realm), known once it listens
  FakeServer reg([&](const HttpRequest& req) {
    Reply r;
    if (req.path == "/token") {
      std::lock_guard lock(mu);
      token_queries.push_back(req.query);
      if (req.header("authorization") != "Basic " + base64_encode("alice:pw")) {
        r.status = 401;
        r.body = R"({"details":"incorrect username or password"})";
        return r;
      }
      r.body = R"({"access_token":"tok-)" + std::to_string(token_queries.size()) +
               R"(","expires_in":300})";
      return r;
    }
    if (!req.header("authorization").starts_with("Bearer tok-")) {
      ++unauthorized;
      r = error_reply(401, "UNAUTHORIZED", "authentication required");
      r.headers.push_back(
          {"WWW-Authenticate",
           "Bearer realm=\"" + self + "/token\",service=\"fake\",scope=\"repository:a/b:pull\""});
      return r;
    }
    if (req.path.starts_with("/v2/a/b/manifests/")) return manifest_reply(kManifest);
    if (req.method == "POST" && contains(req.query, "mount=")) r.status = 201;
    return r;
  });
  self = reg.url();

  RegistryOptions o = fast();
  o.credentials = [](const std::string&) -> std::optional<Credentials> {
    return Credentials{"alice", "pw"};
  };
  Client c(reg.addr(), "a/b", o);
  EXPECT_EQ(c.get_manifest("t").body, kManifest);
  EXPECT_EQ(c.get_manifest("t2").body, kManifest);  // cached token, sent up front
  EXPECT_EQ(unauthorized.load(), 1);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(token_queries.size(), 1u);
    EXPECT_EQ(token_queries[0], "service=fake&scope=repository%3Aa%2Fb%3Apull");
  }

  // A mount needs push here and pull on the source: a new token with both scopes, fetched
  // up front (the registry's challenge is known by now).
  EXPECT_TRUE(c.mount_blob(sha256_of("x"), "c/d"));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(token_queries.size(), 2u);
    EXPECT_EQ(
        token_queries[1],
        "service=fake&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%2Fd%3Apull");
  }
  EXPECT_EQ(unauthorized.load(), 1);

  // Wrong credentials: the token server's word.
  RegistryOptions bad = fast();
  bad.credentials = [](const std::string&) -> std::optional<Credentials> {
    return Credentials{"alice", "wrong"};
  };
  std::string msg = error_of([&] { Client(reg.addr(), "a/b", bad).get_manifest("t"); });
  EXPECT_EQ(msg, "registry " + reg.addr() + ": token from " + reg.url() +
                     "/token: 401 Unauthorized: incorrect username or password");
}

TEST(FakeRegistry, BasicAuth) {
  FakeServer srv([&](const HttpRequest& req) {
    if (req.header("authorization") != "Basic " + base64_encode("bob:hunter2")) {
      Reply r = error_reply(401, "UNAUTHORIZED", "authentication required");
      r.headers.push_back({"WWW-Authenticate", "Basic realm=\"Registry Realm\""});
      return r;
    }
    return manifest_reply(kManifest);
  });
  RegistryOptions o = fast();
  o.credentials = [&](const std::string& registry) -> std::optional<Credentials> {
    if (registry == srv.addr()) return Credentials{"bob", "hunter2"};
    return std::nullopt;
  };
  Client c(srv.addr(), "a/b", o);
  EXPECT_EQ(c.get_manifest("t").body, kManifest);
  c.ping();
  EXPECT_EQ(srv.count("GET", "/v2/"), 1u);  // credentials sent up front once known

  std::string msg = error_of([&] { Client(srv.addr(), "a/b", fast()).get_manifest("t"); });
  EXPECT_EQ(msg, "registry " + srv.addr() +
                     ": GET /v2/a/b/manifests/t: 401 Unauthorized: authentication required (no "
                     "credentials for " +
                     srv.addr() + ")");
  RegistryOptions wrong = fast();
  wrong.credentials = [](const std::string&) -> std::optional<Credentials> {
    return Credentials{"bob", "nope"};
  };
  msg = error_of([&] { Client(srv.addr(), "a/b", wrong).ping(); });
  EXPECT_EQ(msg,
            "registry " + srv.addr() + ": GET /v2/: 401 Unauthorized: authentication required");
}

TEST(FakeRegistry, RedirectsKeepAuthorizationOnTheRegistryOnly) {
  std::string blob = pattern(50'000, 7);
  Digest d = sha256_of(blob);
  std::mutex mu;
  std::vector<std::string> storage_auth;
  FakeServer storage([&](const HttpRequest& req) {
    {
      std::lock_guard lock(mu);
      storage_auth.push_back(req.header("authorization"));
    }
    Reply r;
    if (req.query != "sig=abc")
      r = error_reply(403, "DENIED", "signature expired");
    else
      r.body = blob;
    return r;
  });
  std::string self;
  FakeServer reg([&](const HttpRequest& req) {
    Reply r;
    if (req.path == "/token") {
      r.body = R"({"token":"T"})";
      return r;
    }
    if (req.header("authorization") != "Bearer T") {
      r.status = 401;
      r.headers = {{"WWW-Authenticate", "Bearer realm=\"" + self + "/token\""}};
      return r;
    }
    if (req.path == "/local/blob") {
      r.body = blob;
      return r;
    }
    r.status = 307;
    if (req.path.starts_with("/v2/same/"))
      r.headers = {{"Location", "/local/blob"}};
    else if (req.path.starts_with("/v2/expired/"))
      r.headers = {{"Location", storage.url() + "/b?sig=old"}};
    else
      r.headers = {{"Location", storage.url() + "/bucket/blob?sig=abc"}};
    return r;
  });
  self = reg.url();

  std::string got;
  Client c(reg.addr(), "far/x", fast());
  c.get_blob(d, 0, [&](const char* p, size_t n) { got.append(p, n); });
  EXPECT_TRUE(got == blob);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(storage_auth.size(), 1u);
    EXPECT_EQ(storage_auth[0], "");  // the registry's token never left it
  }
  bool sent_bearer = false;
  for (const auto& q : reg.requests())
    if (q.path.starts_with("/v2/far/") && q.header("authorization") == "Bearer T")
      sent_bearer = true;
  EXPECT_TRUE(sent_bearer);

  // Same origin: the Authorization goes along.
  got.clear();
  Client same(reg.addr(), "same/x", fast());
  same.get_blob(d, 0, [&](const char* p, size_t n) { got.append(p, n); });
  EXPECT_TRUE(got == blob);
  auto reqs = reg.requests();
  ASSERT_EQ(reqs.back().path, "/local/blob");
  EXPECT_EQ(reqs.back().header("authorization"), "Bearer T");

  // An error at the storage says where it came from; the registry's JSON-less 403 is not retried.
  Client expired(reg.addr(), "expired/x", fast());
  std::string msg = error_of([&] { expired.get_blob_bytes(d, 1 << 20); });
  EXPECT_EQ(msg, "registry " + reg.addr() + ": GET /v2/expired/x/blobs/" + d.str() +
                     ": 403 Forbidden: signature expired (from " + storage.addr() + ")");
}

TEST(FakeRegistry, BlobBytesVerified) {
  FakeServer srv([&](const HttpRequest&) {
    Reply r;
    r.body = "not what you asked for";
    return r;
  });
  Client c(srv.addr(), "a/b", fast());
  Digest d = sha256_of("config");
  EXPECT_EQ(error_of([&] { c.get_blob_bytes(d, 1 << 20); }),
            "registry " + srv.addr() + ": blob " + d.str() +
                ": digest mismatch: received content is " +
                sha256_of("not what you asked for").str());
  EXPECT_EQ(error_of([&] { c.get_blob_bytes(d, 5); }),
            "registry " + srv.addr() + ": blob " + d.str() + ": larger than 5 bytes");
}

TEST(FakeRegistry, UploadFollowsRelativeAndAbsoluteLocations) {
  std::string blob = pattern(2500, 3);
  Digest d = sha256_of(blob);
  std::mutex mu;
  std::string received, self;
  std::vector<std::string> deleted;
  FakeServer srv([&](const HttpRequest& req) {
    Reply r;
    std::lock_guard lock(mu);
    if (req.method == "POST" && req.path == "/v2/up/x/blobs/uploads/") {
      r.status = 202;  // also for ?mount=: "not mounted, here is an upload"
      r.headers = {{"Location", "/upload/1?_state=a"}};  // relative
      received.clear();
      return r;
    }
    if (req.method == "PATCH" && req.path == "/upload/1") {
      std::string expect_range = std::to_string(received.size()) + "-" +
                                 std::to_string(received.size() + req.body.size() - 1);
      if (req.header("content-range") != expect_range ||
          req.header("content-type") != "application/octet-stream") {
        r.status = 416;
        return r;
      }
      received += req.body;
      r.status = 202;
      r.headers = {{"Location", self + "/upload/1?_state=b" + std::to_string(received.size())},
                   {"Range", "0-" + std::to_string(received.size() - 1)}};
      return r;
    }
    if (req.method == "PUT" && req.path == "/upload/1") {
      received += req.body;
      if (!contains(req.query, "digest=sha256%3A" + d.encoded) || sha256_of(received) != d)
        return error_reply(400, "DIGEST_INVALID", "provided digest did not match uploaded content");
      r.status = 201;
      r.headers = {{"Docker-Content-Digest", d.str()}};
      return r;
    }
    if (req.method == "DELETE") {
      deleted.push_back(req.target);
      r.status = 204;
      return r;
    }
    r.status = 404;
    return r;
  });
  self = srv.url();

  auto source = [&](size_t limit) {
    auto pos = std::make_shared<size_t>(0);
    return [&, pos, limit](char* buf, size_t n) {
      size_t k = std::min(n, std::min(limit, blob.size()) - *pos);
      std::memcpy(buf, blob.data() + *pos, k);
      *pos += k;
      return k;
    };
  };
  Client c(srv.addr(), "up/x", fast());
  c.put_blob(d, static_cast<int64_t>(blob.size()), source(blob.size()), 1000);
  EXPECT_EQ(srv.count("PATCH", "/upload/1"), 3u);
  auto reqs = srv.requests();
  EXPECT_EQ(reqs.back().query, "_state=b2500&digest=sha256%3A" + d.encoded);

  c.put_blob(d, static_cast<int64_t>(blob.size()), source(blob.size()), 0);  // monolithic
  EXPECT_EQ(srv.requests().back().query, "_state=a&digest=sha256%3A" + d.encoded);

  // The source ends early: refused, and a chunked upload is cancelled.
  EXPECT_EQ(
      error_of([&] { c.put_blob(d, static_cast<int64_t>(blob.size()), source(1500), 1000); }),
      "registry " + srv.addr() + ": blob " + d.str() + ": source ended after 1500 of 2500 bytes");
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(deleted.size(), 1u);
    EXPECT_EQ(deleted[0], "/upload/1?_state=b1000");
  }
  std::string msg =
      error_of([&] { c.put_blob(d, static_cast<int64_t>(blob.size()), source(100), 0); });
  EXPECT_TRUE(contains(msg, "upload source ended after 100 of 2500 bytes")) << msg;

  // Wrong digest: the registry's refusal.
  Digest wrong = sha256_of("wrong");
  msg = error_of(
      [&] { c.put_blob(wrong, static_cast<int64_t>(blob.size()), source(blob.size()), 0); });
  EXPECT_TRUE(contains(msg, ": 400 Bad Request: provided digest did not match uploaded content"))
      << msg;

  // A mount the registry turns into an upload: cancelled, false.
  EXPECT_FALSE(c.mount_blob(d, "other/repo"));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(deleted.back(), "/upload/1?_state=a");
  }
}
