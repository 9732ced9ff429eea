// The registry client against a real registry: Debian's docker-registry (distribution 2.8)
// on 127.0.0.1 with a random port and temporary storage, plain http and TLS.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "distribution/client.hpp"
#include "common/parallel.hpp"
#include "oci/image.hpp"

using berth::Digest;
using berth::Error;
using berth::Hasher;
using berth::sha256_of;
using berth::parallel_for;
using namespace berth::distribution;
namespace oci = berth::oci;
namespace media = berth::oci::media;

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A docker-registry process with its own storage; killed (and its files removed) on destruction.
class Registry {
 public:
  explicit Registry(bool tls) {
    char tmpl[] = "/tmp/berth-registry-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    addr_ = "127.0.0.1:" + std::to_string(free_port());
    std::string config =
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n  filesystem:\n    rootdirectory: " +
        dir_ +
        "/storage\n"
        "  delete:\n    enabled: true\n"
        "http:\n  addr: " +
        addr_ + "\n";
    if (tls) {
      cert_ = dir_ + "/cert.pem";
      std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
          " -keyout " +
          dir_ + "/key.pem -out " + cert_ +
          " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
          " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
      config += "  tls:\n    certificate: " + cert_ + "\n    key: " + dir_ + "/key.pem\n";
    }
    std::ofstream(dir_ + "/config.yml") << config;
    std::string log = dir_ + "/registry.log";
    std::string conf = dir_ + "/config.yml";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kRegistryBinary, "docker-registry", "serve", conf.c_str(), nullptr);
      ::_exit(127);
    }
    // Ready when /v2/ answers.
    RegistryOptions o;
    o.connect_timeout_ms = 200;
    o.stall_timeout_ms = 1000;
    o.retries = 0;
    for (auto until = Clock::now() + std::chrono::seconds(15);;) {
      try {
        Client(addr_, "", o).ping();
        break;
      } catch (const Error& e) {
        if (Clock::now() > until) {
          std::string text;
          berth::fs::read_file_if_exists(log, text);
          throw std::runtime_error(std::string("docker-registry did not start: ") + e.what() +
                                   "\n" + text);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  ~Registry() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    berth::fs::remove_all(dir_);
  }
  const std::string& addr() const { return addr_; }
  const std::string& cert() const { return cert_; }

 private:
  std::string dir_, addr_, cert_;
  pid_t pid_ = -1;
};

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&s[i], &x, 8);
  }
  return s;
}

Source reader_of(const std::string& data) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, pos](char* buf, size_t n) {
    size_t k = std::min(n, data.size() - *pos);
    std::memcpy(buf, data.data() + *pos, k);
    *pos += k;
    return k;
  };
}

void push(Client& c, const std::string& data, int64_t chunk = 0) {
  c.put_blob(sha256_of(data), static_cast<int64_t>(data.size()), reader_of(data), chunk);
}

std::string pull(Client& c, const Digest& d, int64_t offset = 0) {
  std::string out;
  c.get_blob(d, offset, [&](const char* p, size_t n) { out.append(p, n); });
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

RegistryOptions options() {
  RegistryOptions o;
  o.connect_timeout_ms = 2000;
  o.stall_timeout_ms = 5000;
  o.retry_backoff_ms = 20;
  return o;
}

}  // namespace

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(kRegistryBinary, X_OK) != 0) return;
    registry_ = new Registry(false);
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    if (!registry_) GTEST_SKIP() << kRegistryBinary << " is not installed";
  }
  static const std::string& addr() { return registry_->addr(); }

  static Registry* registry_;
};
Registry* RegistryTest::registry_ = nullptr;

TEST_F(RegistryTest, PushMonolithicAndChunkedThenPull) {
  Client c(addr(), "test/blobs", options());
  std::string small = pattern(1 << 20, 1);
  std::string big = pattern((5 << 20) + 1000, 2);  // 6 chunks, the last one short
  Digest ds = sha256_of(small), db = sha256_of(big);

  EXPECT_FALSE(c.blob_exists(ds));
  EXPECT_FALSE(c.blob_size(db));
  push(c, small);
  std::vector<std::pair<int64_t, int64_t>> progress;
  c.put_blob(db, static_cast<int64_t>(big.size()), reader_of(big), 1 << 20,
             [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  EXPECT_TRUE(c.blob_exists(ds));
  EXPECT_EQ(c.blob_size(db), static_cast<int64_t>(big.size()));
  ASSERT_EQ(progress.size(), 7u);  // 0 and after each chunk
  EXPECT_EQ(progress.back().first, static_cast<int64_t>(big.size()));
  EXPECT_EQ(progress.back().second, static_cast<int64_t>(big.size()));

  EXPECT_TRUE(pull(c, ds) == small);
  EXPECT_TRUE(pull(c, db) == big);
  EXPECT_TRUE(pull(c, db, 3'000'001) == big.substr(3'000'001));
  EXPECT_TRUE(pull(c, ds, (1 << 20) - 1) == small.substr((1 << 20) - 1));
  EXPECT_EQ(c.get_blob_bytes(ds, 2 << 20), small);

  // Pushing it again is harmless; a wrong digest is refused by the registry.
  push(c, small);
  Digest wrong = sha256_of("wrong");
  std::string msg =
      error_of([&] { c.put_blob(wrong, static_cast<int64_t>(small.size()), reader_of(small), 0); });
  EXPECT_NE(msg.find("registry " + addr() + ": PUT /v2/test/blobs/blobs/uploads/"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(": 400 Bad Request: provided digest did not match uploaded content"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(c.blob_exists(wrong));
}

TEST_F(RegistryTest, CrossRepositoryMount) {
  Client src(addr(), "test/mount-src", options());
  Client dst(addr(), "test/mount-dst", options());
  std::string data = pattern(100'000, 3);
  Digest d = sha256_of(data);
  push(src, data);
  EXPECT_FALSE(dst.blob_exists(d));
  EXPECT_TRUE(dst.mount_blob(d, "test/mount-src"));
  EXPECT_TRUE(dst.blob_exists(d));
  EXPECT_TRUE(pull(dst, d) == data);
  // Not in the source: the registry opens an upload instead, which is cancelled.
  EXPECT_FALSE(dst.mount_blob(sha256_of("absent"), "test/mount-src"));
}

TEST_F(RegistryTest, Manifests) {
  Client c(addr(), "test/app", options());
  std::string config =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string layer = pattern(4096, 4);
  push(c, config);
  push(c, layer);

  oci::Manifest m;
  m.mediaType = media::kOciManifest;
  m.config = {std::string(media::kOciConfig), sha256_of(config),
              static_cast<int64_t>(config.size())};
  m.layers.push_back(
      {std::string(media::kOciLayerGzip), sha256_of(layer), static_cast<int64_t>(layer.size())});
  std::string body = oci::to_json(m).dump();
  Digest md = c.put_manifest("v1", media::kOciManifest, body);
  EXPECT_EQ(md, sha256_of(body));

  for (std::string ref : {std::string("v1"), md.str()}) {
    Fetched f = c.get_manifest(ref);
    EXPECT_EQ(f.body, body);
    EXPECT_EQ(f.descriptor.mediaType, media::kOciManifest);
    EXPECT_EQ(f.descriptor.digest, md);
    EXPECT_EQ(f.descriptor.size, static_cast<int64_t>(body.size()));
    auto h = c.head_manifest(ref);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->digest, md);
    EXPECT_EQ(h->mediaType, media::kOciManifest);
    EXPECT_EQ(h->size, static_cast<int64_t>(body.size()));
  }
  EXPECT_EQ(oci::parse_manifest(c.get_manifest("v1").body).layers.at(0).digest, sha256_of(layer));

  // Docker schema 2 as well, and an index by digest naming both.
  oci::Manifest dm = m;
  dm.mediaType = media::kDockerManifest;
  dm.config.mediaType = media::kDockerConfig;
  dm.layers[0].mediaType = media::kDockerLayerGzip;
  std::string dbody = oci::to_json(dm).dump();
  Digest dmd = c.put_manifest("docker", media::kDockerManifest, dbody);
  EXPECT_EQ(c.get_manifest("docker").descriptor.mediaType, media::kDockerManifest);

  oci::Index idx;
  idx.mediaType = media::kOciIndex;
  oci::Descriptor a{std::string(media::kOciManifest), md, static_cast<int64_t>(body.size())};
  a.platform = oci::Platform::parse("linux/amd64");
  oci::Descriptor b{std::string(media::kDockerManifest), dmd, static_cast<int64_t>(dbody.size())};
  b.platform = oci::Platform::parse("linux/arm64");
  idx.manifests = {a, b};
  std::string ibody = oci::to_json(idx).dump();
  Digest id = sha256_of(ibody);
  EXPECT_EQ(c.put_manifest(id.str(), media::kOciIndex, ibody), id);
  EXPECT_EQ(c.put_manifest("multi", media::kOciIndex, ibody), id);
  Fetched fi = c.get_manifest("multi");
  EXPECT_EQ(fi.descriptor.mediaType, media::kOciIndex);
  EXPECT_EQ(fi.descriptor.digest, id);
  EXPECT_EQ(oci::parse_index(fi.body).manifests.size(), 2u);

  auto tags = c.list_tags();
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(tags, (std::vector<std::string>{"docker", "multi", "v1"}));

  // Unknown tag: the registry's own words.
  EXPECT_FALSE(c.head_manifest("nope"));
  EXPECT_EQ(
      error_of([&] { c.get_manifest("nope"); }),
      "registry " + addr() + ": GET /v2/test/app/manifests/nope: 404 Not Found: manifest unknown");
  Client other(addr(), "test/nothing-here", options());
  EXPECT_EQ(error_of([&] { other.list_tags(); }),
            "registry " + addr() +
                ": GET /v2/test/nothing-here/tags/list: 404 Not Found: repository name not known "
                "to registry");
  // A manifest naming a blob the registry lacks.
  oci::Manifest broken = m;
  broken.layers[0].digest = sha256_of("missing layer");
  std::string msg =
      error_of([&] { c.put_manifest("broken", media::kOciManifest, oci::to_json(broken).dump()); });
  EXPECT_NE(
      msg.find("PUT /v2/test/app/manifests/broken: 400 Bad Request: blob unknown to registry"),
      std::string::npos)
      << msg;
  // Refused before sending: a body that does not match the digest it is put under.
  msg = error_of([&] { c.put_manifest(md.str(), media::kOciManifest, body + " "); });
  EXPECT_NE(msg.find("content has digest"), std::string::npos) << msg;
}

TEST_F(RegistryTest, ParallelTransfersShareAClient) {
  Client c(addr(), "test/parallel", options());
  std::vector<std::string> blobs;
  for (unsigned i = 0; i < 6; ++i) blobs.push_back(pattern(700'000 + i * 1000, 10 + i));
  parallel_for(blobs.size(), 3, [&](size_t i) { push(c, blobs[i], i % 2 ? 256 << 10 : 0); });
  std::vector<std::string> got(blobs.size());
  parallel_for(blobs.size(), 3, [&](size_t i) { got[i] = pull(c, sha256_of(blobs[i])); });
  for (size_t i = 0; i < blobs.size(); ++i) EXPECT_TRUE(got[i] == blobs[i]) << i;
}

// Run with --gtest_also_run_disabled_tests: pushes and pulls a 256 MiB blob, prints MiB/s.
TEST_F(RegistryTest, DISABLED_Throughput256MiB) {
  Client c(addr(), "test/throughput", options());
  const size_t size = 256 << 20;
  std::string data = pattern(size, 99);
  Digest d = sha256_of(data);
  auto t0 = Clock::now();
  push(c, data);
  double push_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int round = 0; round < 3; ++round) {
    size_t n = 0;
    auto t1 = Clock::now();
    c.get_blob(d, 0, [&](const char*, size_t k) { n += k; });
    double get_s = std::chrono::duration<double>(Clock::now() - t1).count();
    ASSERT_EQ(n, size);
    Hasher h;
    auto t2 = Clock::now();
    c.get_blob(d, 0, [&](const char* p, size_t k) { h.update(p, k); });
    double hash_s = std::chrono::duration<double>(Clock::now() - t2).count();
    EXPECT_EQ(h.digest(), d);
    std::printf("push %.0f MiB/s; GET %.0f MiB/s; GET+sha256 %.0f MiB/s\n", 256 / push_s,
                256 / get_s, 256 / hash_s);
  }
}

TEST(RegistryTls, VerificationAndInsecure) {
  if (::access(kRegistryBinary, X_OK) != 0 || std::system("command -v openssl >/dev/null") != 0)
    GTEST_SKIP() << "docker-registry or openssl missing";
  Registry reg(true);  // its start already went over https without verification (loopback)
  std::string data = pattern(300'000, 5);

  Client loopback(reg.addr(), "tls/x", options());
  push(loopback, data);
  EXPECT_TRUE(pull(loopback, sha256_of(data)) == data);

  RegistryOptions strict = options();
  strict.loopback_insecure = false;
  std::string msg = error_of([&] { Client(reg.addr(), "tls/x", strict).ping(); });
  EXPECT_NE(msg.find("registry " + reg.addr() +
                     ": GET /v2/: SSL certificate problem: self-signed certificate"),
            std::string::npos)
      << msg;

  strict.ca_file = reg.cert();
  Client verified(reg.addr(), "tls/x", strict);
  EXPECT_TRUE(pull(verified, sha256_of(data)) == data);
}
