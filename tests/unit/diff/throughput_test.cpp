// Throughput of apply_layer on a generated 256 MiB layer (gzip and zstd), next to the raw
// speeds of its parts on this machine: sha256, isa-l inflate, zlib inflate, zstd.
#include <gtest/gtest.h>
#include <isa-l/igzip_lib.h>

#include <chrono>
#include <iostream>

#include "common/digest.hpp"
#include "diff/layer.hpp"
#include "util.hpp"

using namespace difftest;
using berth::diff::apply_layer;
using berth::diff::Compression;
using berth::diff::create_layer;

namespace {

using Clock = std::chrono::steady_clock;

double mib_per_s(size_t bytes, Clock::time_point t0) {
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(bytes) / (1 << 20) / s;
}

// Text-like data (words from a small vocabulary): gzip -1 makes it ~3x smaller, like typical
// layers of binaries and text.
std::string pseudo_text(size_t n, uint64_t seed) {
  static std::vector<std::string> vocab = [] {
    std::vector<std::string> v;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 2048; ++i) {
      std::string w;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t len = 2 + x % 9;
      for (size_t k = 0; k < len; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        w += static_cast<char>('a' + x % 26);
      }
      v.push_back(w);
    }
    return v;
  }();
  std::string s(n + 16, '\0');
  size_t pos = 0;
  uint64_t x = seed * 2654435761u + 1;
  while (pos < n) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const std::string& w = vocab[x % vocab.size()];
    size_t k = std::min(w.size(), n - pos);
    std::memcpy(s.data() + pos, w.data(), k);
    pos += k;
    if (pos < n) s[pos++] = (x >> 20) % 13 == 0 ? '\n' : ' ';
  }
  s.resize(n);
  return s;
}

}  // namespace

// The best of `n` runs of f() (which returns MiB/s): the machine is shared, so single runs
// are noisy.
template <typename F>
double best_of(int n, F&& f) {
  double best = 0;
  for (int i = 0; i < n; ++i) best = std::max(best, f());
  return best;
}

// A measurement, not a CI test: run with --gtest_also_run_disabled_tests (numbers in docs/images.md).
TEST(Throughput, DISABLED_Apply256MiB) {
  TempDir tmp("berth-diff-speed");
  std::string upper = tmp / "upper";
  ASSERT_EQ(::mkdir(upper.c_str(), 0755), 0);
  constexpr size_t kFiles = 512, kFileSize = 512 << 10;  // 256 MiB
  for (size_t d = 0; d < 16; ++d)
    ASSERT_EQ(::mkdir((upper + "/d" + std::to_string(d)).c_str(), 0755), 0);
  for (size_t i = 0; i < kFiles; ++i)
    spit(upper + "/d" + std::to_string(i % 16) + "/f" + std::to_string(i),
         pseudo_text(kFileSize, i));
  berth::UniqueFd ufd(::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));

  std::string gz, zs, tar;
  berth::diff::CreateResult cg, cz;
  double create_gz = best_of(2, [&] {
    gz.clear();
    auto t0 = Clock::now();
    cg = create_layer(ufd.get(), string_writer(gz), Compression::gzip);
    return mib_per_s(static_cast<size_t>(cg.size), t0);
  });
  double create_zs = best_of(2, [&] {
    zs.clear();
    auto t0 = Clock::now();
    cz = create_layer(ufd.get(), string_writer(zs), Compression::zstd);
    return mib_per_s(static_cast<size_t>(cz.size), t0);
  });
  double create_tar = best_of(2, [&] {
    tar.clear();
    auto t0 = Clock::now();
    auto r = create_layer(ufd.get(), string_writer(tar), Compression::none);
    return mib_per_s(static_cast<size_t>(r.size), t0);
  });
  ASSERT_EQ(cg.diff_id, cz.diff_id);

  // Raw parts.
  double sha = best_of(3, [&] {
    auto t0 = Clock::now();
    berth::Hasher h;
    for (size_t off = 0; off < tar.size(); off += 1 << 20)
      h.update(tar.data() + off, std::min<size_t>(1 << 20, tar.size() - off));
    EXPECT_EQ(h.digest(), cg.diff_id);
    return mib_per_s(tar.size(), t0);
  });

  std::vector<uint8_t> out(1 << 20);
  auto isal = std::make_unique<inflate_state>();
  double isal_speed = best_of(3, [&] {
    auto t0 = Clock::now();
    isal_inflate_init(isal.get());
    isal->crc_flag = ISAL_GZIP;
    isal->next_in = reinterpret_cast<uint8_t*>(gz.data());
    isal->avail_in = static_cast<uint32_t>(gz.size());
    size_t total = 0;
    while (isal->block_state != ISAL_BLOCK_FINISH) {
      isal->next_out = out.data();
      isal->avail_out = static_cast<uint32_t>(out.size());
      if (isal_inflate(isal.get()) != ISAL_DECOMP_OK) return 0.0;
      total += out.size() - isal->avail_out;
    }
    EXPECT_EQ(total, tar.size());
    return mib_per_s(total, t0);
  });

  double zlib_speed = best_of(3, [&] {
    auto t0 = Clock::now();
    z_stream z{};
    inflateInit2(&z, 31);
    z.next_in = reinterpret_cast<Bytef*>(gz.data());
    z.avail_in = static_cast<uInt>(gz.size());
    int zr;
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      zr = inflate(&z, Z_NO_FLUSH);
    } while (zr == Z_OK);
    double speed = mib_per_s(z.total_out, t0);
    inflateEnd(&z);
    return speed;
  });

  double zstd_speed = best_of(3, [&] {
    auto t0 = Clock::now();
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    ZSTD_inBuffer zin{zs.data(), zs.size(), 0};
    size_t total = 0;
    while (zin.pos < zin.size) {
      ZSTD_outBuffer zo{out.data(), out.size(), 0};
      if (ZSTD_isError(ZSTD_decompressStream(dctx, &zo, &zin))) break;
      total += zo.pos;
    }
    ZSTD_freeDCtx(dctx);
    EXPECT_EQ(total, tar.size());
    return mib_per_s(total, t0);
  });

  // apply_layer, end to end: into tmpfs (CPU-bound: what the code costs) and into the test's
  // filesystem (/tmp, ext4 here: page cache, with writeback competing for the CPUs).
  bool have_shm = ::access("/dev/shm", W_OK) == 0;
  auto apply_speed = [&](const std::string& blob, Compression c, const char* base, int runs) {
    return best_of(runs, [&] {
      std::string tmpl = std::string(base) + "/berth-diff-speed-out-XXXXXX";
      if (!::mkdtemp(tmpl.data())) return 0.0;
      struct Cleanup {
        std::string p;
        ~Cleanup() { berth::fs::remove_all(p); }
      } cleanup{tmpl};
      berth::UniqueFd fd(::open(tmpl.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      auto t = Clock::now();
      auto r = apply_layer(string_reader(blob), c, fd.get());
      double speed = mib_per_s(static_cast<size_t>(r.size), t);
      EXPECT_EQ(r.diff_id, cg.diff_id);
      EXPECT_EQ(r.compressed, berth::sha256_of(blob));
      return speed;
    });
  };
  const char* fast = have_shm ? "/dev/shm" : "/tmp";
  double apply_gz = apply_speed(gz, Compression::gzip, fast, 2);
  double apply_zs = apply_speed(zs, Compression::zstd, fast, 2);
  double apply_tar = apply_speed(tar, Compression::none, fast, 2);
  double disk_gz = apply_speed(gz, Compression::gzip, "/tmp", 1);
  double disk_zs = apply_speed(zs, Compression::zstd, "/tmp", 1);

  // What a single thread could do at best: decompress + hash both streams, no file writes.
  auto bound = [&](double decomp, double ratio) {
    return 1.0 / (1.0 / decomp + 1.0 / sha + 1.0 / (sha * ratio));
  };
  double rgz = static_cast<double>(tar.size()) / static_cast<double>(gz.size());
  double rzs = static_cast<double>(tar.size()) / static_cast<double>(zs.size());
  std::cout << std::fixed;
  std::cout.precision(1);
  std::cout << "[throughput] layer " << tar.size() / (1 << 20) << " MiB in " << kFiles
            << " files; gzip " << gz.size() / (1 << 20) << " MiB (x" << rgz << "), zstd "
            << zs.size() / (1 << 20) << " MiB (x" << rzs << ")\n";
  std::cout.precision(0);
  std::cout << "[throughput] raw: sha256 " << sha << " MiB/s, isa-l inflate " << isal_speed
            << " MiB/s, zlib inflate " << zlib_speed << " MiB/s, zstd decompress " << zstd_speed
            << " MiB/s\n"
            << "[throughput] apply into " << fast << " (MiB/s of uncompressed data): gzip "
            << apply_gz << " (decompress + 2 x sha256 in one thread: " << bound(isal_speed, rgz)
            << "), zstd " << apply_zs << " (same: " << bound(zstd_speed, rzs) << "), plain "
            << apply_tar << " (sha256 alone " << sha << ")\n"
            << "[throughput] apply into /tmp: gzip " << disk_gz << ", zstd " << disk_zs << "\n"
            << "[throughput] create: gzip " << create_gz << " MiB/s, zstd " << create_zs
            << " MiB/s, plain " << create_tar << " MiB/s\n";
}
