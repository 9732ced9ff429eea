// The json-file log (and the CRI format) as the shim writes it and the engine reads it: records, splitting,
// escaping, rotation, --tail/--since selection, and following across a rotation.
#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <vector>

#include "common/fs.hpp"
#include "logs/json_file.hpp"
#include "temp_dir.hpp"

using namespace berth;

namespace {

std::vector<logs::Entry> read_all(const logs::Follower& f, const logs::ReadOptions& o = {}) {
  std::vector<logs::Entry> out;
  f.read_existing(o, [&](const logs::Entry& e) {
    out.push_back(e);
    return true;
  });
  return out;
}

std::string texts(const std::vector<logs::Entry>& v) {
  std::string s;
  for (auto& e : v) s += e.log;
  return s;
}

void write_lines(logs::Writer& w, const char* stream, int from, int to) {
  std::string pending;
  for (int i = from; i < to; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    w.add(stream, line.data(), line.size(), pending);
  }
}

TEST(JsonFileLog, RecordsRoundTripWithStreamsEscapesAndSplits) {
  test::TempDir d;
  const std::string path = d / "c-json.log";
  {
    logs::Writer w(path, 0, 1);
    std::string out, err;
    const std::string tricky = "a \"quoted\" \\ tab\t bell\a utf8 \xc3\xa9\n";
    w.add("stdout", tricky.data(), tricky.size(), out);
    w.add("stderr", "no newline", 10, err);
    EXPECT_EQ(err, "no newline");  // held until more comes or the stream ends
    w.flush("stderr", err);
    const std::string big(40 * 1024, 'x');
    w.add("stdout", big.data(), big.size(), out);
    w.flush("stdout", out);
  }
  std::string text = fs::read_file(path);
  EXPECT_NE(text.find("\\\"quoted\\\""), std::string::npos);
  EXPECT_NE(text.find("\\u0007"), std::string::npos);
  auto all = read_all(logs::Follower(path));
  ASSERT_EQ(all.size(), 5u);  // 1 + 1 + 40 KiB in 16 KiB records (3)
  EXPECT_EQ(all[0].log, "a \"quoted\" \\ tab\t bell\a utf8 \xc3\xa9\n");
  EXPECT_EQ(all[0].stream, "stdout");
  EXPECT_EQ(all[1].log, "no newline");
  EXPECT_EQ(all[1].stream, "stderr");
  EXPECT_EQ(all[2].log.size() + all[3].log.size() + all[4].log.size(), 40u * 1024);
  EXPECT_EQ(all[2].log.size(), 16u * 1024);
  EXPECT_GT(all[0].nanos(), 1700000000LL * 1000000000);
  logs::Entry e;
  EXPECT_FALSE(logs::parse_line("not json", e));
  EXPECT_FALSE(logs::parse_line("[1,2]", e));
  EXPECT_TRUE(logs::parse_line(R"({"log":1,"stream":[],"time":null})", e));  // wrong types: defaults
  EXPECT_EQ(e.stream, "stdout");
}

TEST(JsonFileLog, AttributesAreInEveryRecordAndDetailsPrintsThemSortedAndEscaped) {
  test::TempDir d;
  const std::string path = d / "c-json.log";
  {
    logs::Writer w(path, 0, 1, logs::Format::json_file, {{"tag", "web/1"}, {"a \"q\"", "x y,z=&"}});
    std::string out;
    w.add("stdout", "hi\n", 3, out);
    w.add("stdout", "again\n", 6, out);
  }
  const std::string text = fs::read_file(path);
  EXPECT_EQ(text.substr(0, text.find(",\"time\"")), R"({"log":"hi\n","stream":"stdout","attrs":{"a \"q\"":"x y,z=&","tag":"web/1"})");
  auto all = read_all(logs::Follower(path));
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(all[1].attrs.size(), 2u);
  EXPECT_EQ(all[1].text(false, true), "a+%22q%22=x+y%2Cz%3D%26,tag=web%2F1 again\n");
  EXPECT_EQ(all[1].text(false, false), "again\n");
  // Without attributes, --details is a space; the CRI format never carries any.
  logs::Entry plain;
  ASSERT_TRUE(logs::parse_line(R"({"log":"x\n","stream":"stdout","time":"2026-01-01T00:00:00Z","attrs":{"n":1}})", plain));
  EXPECT_EQ(plain.text(false, true), " x\n");
  const std::string cri = d / "cri.log";
  {
    logs::Writer w(cri, 0, 1, logs::Format::cri, {{"tag", "t"}});
    std::string out;
    w.add("stdout", "y\n", 2, out);
  }
  EXPECT_EQ(fs::read_file(cri).find("tag"), std::string::npos);
}

TEST(CriLog, TheKubeletsFormatWithFullAndPartialLinesReadsBack) {
  test::TempDir d;
  const std::string path = d / "0.log";
  {
    logs::Writer w(path, 0, 1, logs::Format::cri);
    std::string out, err;
    const std::string line = "hello \"world\" \\ tab\t\n";
    w.add("stdout", line.data(), line.size(), out);
    w.add("stderr", "no newline", 10, err);
    w.flush("stderr", err);
    const std::string big(20 * 1024, 'y');
    w.add("stdout", big.data(), big.size(), out);
    w.add("stdout", "\n", 1, out);
    w.flush("stdout", out);
  }
  const std::string text = fs::read_file(path);
  // TIME STREAM TAG MESSAGE, the message as written (no escaping), its newline not written.
  std::vector<std::string> lines;
  for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) lines.push_back(text.substr(pos, nl - pos));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find("Z stdout F hello \"world\" \\ tab\t"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].back(), '\t');
  EXPECT_NE(lines[1].find("Z stderr P no newline"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(" stdout P yyy"), std::string::npos);  // the first 16 KiB of the long line
  EXPECT_NE(lines[3].find(" stdout F yyy"), std::string::npos);  // the rest, ending it
  auto all = read_all(logs::Follower(path));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].log, "hello \"world\" \\ tab\t\n");
  EXPECT_EQ(all[1].log, "no newline");
  EXPECT_EQ(all[1].stream, "stderr");
  EXPECT_EQ(all[2].log + all[3].log, std::string(20 * 1024, 'y') + "\n");
  EXPECT_GT(all[0].nanos(), 1700000000LL * 1000000000);
  logs::Entry e;
  EXPECT_FALSE(logs::parse_line("2026-12-04T10:00:00Z stdout", e));
  EXPECT_FALSE(logs::parse_line("2026-12-04T10:00:00Z stdout X text", e));
  EXPECT_TRUE(logs::parse_line("2026-12-04T10:00:00Z stdout F", e));  // an empty line
  EXPECT_EQ(e.log, "\n");
}

TEST(JsonFileLog, RotationKeepsTheNewestFilesAndTailReadsAcrossThem) {
  test::TempDir d;
  const std::string path = d / "c-json.log";
  {
    logs::Writer w(path, 1000, 3);  // ~12 records of ~80 bytes per file
    write_lines(w, "stdout", 0, 100);
  }
  auto files = logs::files(path);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], path + ".2");
  EXPECT_EQ(files[2], path);
  for (auto& f : files) EXPECT_LE(fs::read_file(f).size(), 1000u);
  auto all = read_all(logs::Follower(path));
  ASSERT_GT(all.size(), 20u);
  EXPECT_EQ(all.back().log, "line 99\n");
  // In order, no gaps within what is kept.
  const int first = std::stoi(all.front().log.substr(5));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].log, "line " + std::to_string(first + int(i)) + "\n");
  logs::ReadOptions o;
  o.tail = 15;  // more than the newest file holds
  auto tail = read_all(logs::Follower(path), o);
  ASSERT_EQ(tail.size(), 15u);
  EXPECT_EQ(tail.front().log, "line 85\n");
  EXPECT_EQ(tail.back().log, "line 99\n");
  o.tail = 0;
  EXPECT_TRUE(read_all(logs::Follower(path), o).empty());
  // --since in the future: nothing; --until in the past: nothing; --since 0 with --tail.
  o = {};
  o.since = all.back().nanos() + 10'000'000'000;
  EXPECT_TRUE(read_all(logs::Follower(path), o).empty());
  // Bounds to the nanosecond (Docker's): --until one ns before a record leaves it out,
  // --since at its very time keeps it.
  o = {};
  o.until = all.back().nanos() - 1;
  const auto before = read_all(logs::Follower(path), o);
  ASSERT_FALSE(before.empty());
  EXPECT_LT(before.back().nanos(), all.back().nanos());
  o = {};
  o.since = all.back().nanos();
  const auto from = read_all(logs::Follower(path), o);
  ASSERT_FALSE(from.empty());
  EXPECT_EQ(from.back().log, all.back().log);
  for (const auto& e : from) EXPECT_GE(e.nanos(), o.since);
  {
    logs::Entry e;
    e.time = "2026-12-06T10:00:01.000000123Z";
    EXPECT_EQ(e.nanos(), 1796551201LL * 1000000000 + 123);
  }
  o = {};
  o.until = 1000;
  EXPECT_TRUE(read_all(logs::Follower(path), o).empty());
  o = {};
  o.since = 1000;
  o.tail = 2;
  EXPECT_EQ(texts(read_all(logs::Follower(path), o)), "line 98\nline 99\n");
  // A truncated (rotated with max-file 1) log reads as what it holds.
  logs::Writer one(d / "one.log", 200, 1);
  write_lines(one, "stdout", 0, 10);
  EXPECT_LE(fs::read_file(d / "one.log").size(), 200u);
  EXPECT_EQ(read_all(logs::Follower(d / "one.log")).back().log, "line 9\n");
}

TEST(JsonFileLog, AFollowerSeesWhatComesAfterItOnceAcrossARotation) {
  test::TempDir d;
  const std::string path = d / "c-json.log";
  logs::Writer w(path, 1000, 3);
  write_lines(w, "stdout", 0, 5);
  logs::Follower f(path);
  write_lines(w, "stdout", 5, 8);  // after the follower: not "existing"
  EXPECT_EQ(texts(read_all(f)), "line 0\nline 1\nline 2\nline 3\nline 4\n");
  ASSERT_GE(f.fd(), 0);
  pollfd p{f.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 1000), 1);  // the writes woke it
  std::string seen;
  auto sink = [&](const logs::Entry& e) {
    seen += e.log;
    return true;
  };
  EXPECT_TRUE(f.drain(sink));
  EXPECT_EQ(seen, "line 5\nline 6\nline 7\n");
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // drained: quiet until the next write
  // Written past a rotation before the follower looks: the rest of the file it was in is
  // read from PATH.1, then the new file.
  seen.clear();
  write_lines(w, "stdout", 8, 20);
  ASSERT_TRUE(fs::exists(path + ".1"));
  EXPECT_TRUE(f.drain(sink));
  std::string want;
  for (int i = 8; i < 20; ++i) want += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(seen, want);
  // A partial line waits for its end.
  seen.clear();
  std::string pending;
  w.add("stdout", "half", 4, pending);
  w.flush("stdout", pending);
  EXPECT_TRUE(f.drain(sink));
  EXPECT_EQ(seen, "half");
  // A sink that says stop stops the drain.
  write_lines(w, "stdout", 20, 23);
  int calls = 0;
  EXPECT_FALSE(f.drain([&](const logs::Entry&) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
}

}  // namespace

TEST(JsonFileLog, CompressedRotationsReadBackInOrderAndAFollowerLosesNothing) {
  test::TempDir d;
  const std::string path = d / "c-json.log";
  std::string seen;
  auto sink = [&](const logs::Entry& e) {
    seen += e.log;
    return true;
  };
  {
    logs::Writer w(path, 1000, 4, logs::Format::json_file, {}, true);
    write_lines(w, "stdout", 0, 5);
    logs::Follower f(path);
    // Each rotation's file is gzipped by the writer's thread, removed once its .gz is
    // whole: the follower reads the rest of its file through the fd it holds.
    for (int i = 5; i < 60; i += 5) {
      write_lines(w, "stdout", i, i + 5);
      EXPECT_TRUE(f.drain(sink));
    }
  }  // the writer's end waits for its last compression
  std::string want;
  for (int i = 5; i < 60; ++i) want += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(seen, want);
  auto files = logs::files(path);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0], path + ".3.gz");
  EXPECT_EQ(files[2], path + ".1.gz");
  EXPECT_FALSE(fs::exists(path + ".1"));
  EXPECT_FALSE(fs::exists(path + ".1.gz.tmp"));
  // Everything kept reads back in order, across the compressed files; --tail too.
  auto all = read_all(logs::Follower(path));
  ASSERT_GT(all.size(), 20u);
  const int first = std::stoi(all.front().log.substr(5));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].log, "line " + std::to_string(first + int(i)) + "\n");
  EXPECT_EQ(all.back().log, "line 59\n");
  logs::ReadOptions o;
  o.tail = static_cast<long>(all.size()) - 2;  // into the oldest compressed file
  auto tail = read_all(logs::Follower(path), o);
  ASSERT_EQ(tail.size(), all.size() - 2);
  EXPECT_EQ(tail.front().log, all[2].log);
  EXPECT_EQ(tail.back().log, "line 59\n");
  // gzip_file: a missing source is an error and leaves nothing; a plain rotated file is read
  // before its .gz while both are there.
  EXPECT_FALSE(logs::gzip_file(d / "absent", d / "absent.gz"));
  EXPECT_FALSE(fs::exists(d / "absent.gz.tmp"));
  fs::write_file_atomic(path + ".1", fs::read_file(path), 0640);
  EXPECT_EQ(logs::files(path)[2], path + ".1");
}
