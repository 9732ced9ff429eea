// What berth and berth-shim exchange: the frame codec and the files of the state directory.
#include "shim/frames.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "shim/files.hpp"
#include "shim/spawn.hpp"
#include "temp_dir.hpp"

using namespace berth;

namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

// The word to go as berth sends it (shim/spawn.hpp): "go", a letter per fd, the fds with it.
void send_word(int sock, const std::string& word, std::vector<int> fds) {
  msghdr msg{};
  iovec iov{const_cast<char*>(word.data()), word.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(4 * sizeof(int))] = {};
  if (!fds.empty()) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ASSERT_EQ(::sendmsg(sock, &msg, 0), static_cast<ssize_t>(word.size()));
}

TEST(ShimGoWord, EndOfFileIsNoStart) {
  Pair p;
  p.a.reset();
  shim::GoWord go;
  EXPECT_FALSE(shim::receive_go(p.b.get(), go));
}

TEST(ShimGoWord, CarriesTheOwnersConnectionAndTheGate) {
  Pair ctrl, attach, gate;
  send_word(ctrl.a.get(), "goag", {attach.b.get(), gate.b.get()});
  shim::GoWord go;
  ASSERT_TRUE(shim::receive_go(ctrl.b.get(), go));
  ASSERT_TRUE(go.attach);
  ASSERT_TRUE(go.gate);
  EXPECT_TRUE(::fcntl(go.attach.get(), F_GETFD) & FD_CLOEXEC);  // not for the runtime's children
  ASSERT_EQ(::write(go.attach.get(), "A", 1), 1);
  ASSERT_EQ(::write(go.gate.get(), "G", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(attach.a.get(), &c, 1), 1);
  EXPECT_EQ(c, 'A');
  ASSERT_EQ(::read(gate.a.get(), &c, 1), 1);
  EXPECT_EQ(c, 'G');
  EXPECT_TRUE(go.attach_owner);
  // A plain client's connection ('c': a foreground run with a restart policy).
  Pair client;
  send_word(ctrl.a.get(), "goc", {client.b.get()});
  shim::GoWord plain;
  ASSERT_TRUE(shim::receive_go(ctrl.b.get(), plain));
  ASSERT_TRUE(plain.attach);
  EXPECT_FALSE(plain.attach_owner);
  // Without either (berth run -d on no network).
  send_word(ctrl.a.get(), "go", {});
  shim::GoWord bare;
  ASSERT_TRUE(shim::receive_go(ctrl.b.get(), bare));
  EXPECT_FALSE(bare.attach);
  EXPECT_FALSE(bare.gate);
}

TEST(ShimGoWord, AGarbledWordIsRefusedAndItsFdsClosed) {
  for (const std::string word : {"gx", "gox", "go", "goaa"}) {
    Pair ctrl, extra;
    send_word(ctrl.a.get(), word, {extra.b.get()});
    extra.b.reset();  // the shim's copy is the only one left
    shim::GoWord go;
    EXPECT_THROW(shim::receive_go(ctrl.b.get(), go), Error) << word;
    EXPECT_FALSE(go.attach);
    // The fd that came with it is closed: its peer reads EOF.
    char c;
    EXPECT_EQ(::read(extra.a.get(), &c, 1), 0) << word;
  }
}

TEST(ShimFrames, EncodedAsTypeBigEndianLengthData) {
  EXPECT_EQ(shim::encode_frame(shim::kStdout, "hi"), std::string("\x01\x00\x00\x00\x02hi", 7));
  EXPECT_EQ(shim::encode_frame(shim::kStdinClose, ""), std::string("\x0b\x00\x00\x00\x00", 5));
}

TEST(ShimFrames, ReaderTakesFramesFedByteByByte) {
  const std::string wire = shim::encode_frame(shim::kStdout, "out") + shim::encode_frame(shim::kStderr, "") +
                           shim::encode_frame(shim::kExit, "137");
  shim::FrameReader r;
  std::vector<shim::FrameData> got;
  for (char c : wire) {
    r.feed({&c, 1});
    while (auto f = r.next()) got.push_back(*f);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].type, shim::kStdout);
  EXPECT_EQ(got[0].data, "out");
  EXPECT_EQ(got[1].type, shim::kStderr);
  EXPECT_EQ(got[1].data, "");
  EXPECT_EQ(got[2].type, shim::kExit);
  EXPECT_EQ(got[2].data, "137");
  EXPECT_EQ(r.pending(), 0u);
}

TEST(ShimFrames, ALengthOverTheLimitIsRefusedBeforeItsData) {
  shim::FrameReader r;
  const uint32_t len = shim::kMaxFrame + 1;
  const char h[5] = {1, char(len >> 24), char(len >> 16), char(len >> 8), char(len)};
  r.feed({h, 5});
  EXPECT_THROW(r.next(), Error);
  Pair p;
  ASSERT_EQ(::write(p.a.get(), h, 5), 5);
  EXPECT_THROW(shim::read_frame(p.b.get()), Error);
}

TEST(ShimFrames, SentAndReadOverASocketWholeIncludingTheLargestFrame) {
  Pair p;
  const std::string big(shim::kMaxFrame, 'x');
  // The writer blocks until the reader drains: a thread, as between berth and the shim.
  std::thread writer([&] {
    EXPECT_TRUE(shim::send_frame(p.a.get(), shim::kExecSpec, R"({"args":["true"]})"));
    EXPECT_TRUE(shim::send_frame(p.a.get(), shim::kStdin, big));
    p.a.reset();
  });
  auto f = shim::read_frame(p.b.get());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, shim::kExecSpec);
  EXPECT_EQ(f->data, R"({"args":["true"]})");
  f = shim::read_frame(p.b.get());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->data, big);
  writer.join();
  EXPECT_FALSE(shim::read_frame(p.b.get()));  // end of stream
}

TEST(ShimFrames, APeerThatHasGoneIsFalseNotSigpipe) {
  Pair p;
  p.b.reset();
  EXPECT_FALSE(shim::send_frame(p.a.get(), shim::kStdin, "data"));  // SIGPIPE would end the test binary
  EXPECT_FALSE(shim::send_all(p.a.get(), "attach\n"));
}

TEST(ShimFrames, AQueueNeverBlocksAndDeliversEverythingInOrder) {
  Pair p;
  shim::FrameQueue q;
  // More than the socket holds, a frame over the limit among them (split in two of its type).
  const std::string big(shim::kMaxFrame + 10, 'y');
  q.push(shim::kResize, "24 80");
  q.push(shim::kStdin, big);
  q.push(shim::kStdinClose, "");
  ASSERT_TRUE(q.flush(p.a.get()));  // returns at once, with bytes left over
  EXPECT_GT(q.pending(), 0u);
  shim::FrameReader r;
  std::vector<shim::FrameData> got;
  char buf[65536];
  while (got.size() < 4) {
    ssize_t n = ::read(p.b.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    r.feed(std::string_view(buf, static_cast<size_t>(n)));
    while (auto f = r.next()) got.push_back(std::move(*f));
    ASSERT_TRUE(q.flush(p.a.get()));
  }
  EXPECT_EQ(q.pending(), 0u);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].type, shim::kResize);
  EXPECT_EQ(got[1].type, shim::kStdin);
  EXPECT_EQ(got[1].data.size(), shim::kMaxFrame);
  EXPECT_EQ(got[2].type, shim::kStdin);
  EXPECT_EQ(got[1].data + got[2].data, big);
  EXPECT_EQ(got[3].type, shim::kStdinClose);
  // A peer that is gone: false, and what waited is dropped.
  q.push(shim::kStdin, "late");
  p.b.reset();
  EXPECT_FALSE(q.flush(p.a.get()));
  EXPECT_EQ(q.pending(), 0u);
}

TEST(ShimFrames, AFinishedQueueSendsTheFramePartlySentWholeAndDropsTheRest) {
  // The owner's last words after the container's exit: a piece of stdin cut short would take
  // the `done` frame sent next for its own bytes.
  Pair p;
  shim::FrameQueue q;
  for (int i = 0; i < 8; ++i) q.push(shim::kStdin, std::string(shim::kMaxFrame, static_cast<char>('a' + i)));
  ASSERT_TRUE(q.flush(p.a.get()));  // the socket takes some: a frame is left half sent
  ASSERT_GT(q.pending(), 0u);
  std::vector<shim::FrameData> got;
  std::thread reader([&] {
    shim::FrameReader r;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(p.b.get(), buf, sizeof buf);
      if (n <= 0) break;
      r.feed(std::string_view(buf, static_cast<size_t>(n)));
      while (auto f = r.next()) got.push_back(std::move(*f));
    }
  });
  EXPECT_TRUE(q.finish(p.a.get(), 2000));
  EXPECT_EQ(q.pending(), 0u);
  ASSERT_TRUE(shim::send_frame(p.a.get(), shim::kDone, "umount /x"));
  ::shutdown(p.a.get(), SHUT_WR);
  reader.join();
  ASSERT_GE(got.size(), 2u);
  ASSERT_LT(got.size(), 9u);  // not every frame went: the ones not begun were dropped
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    EXPECT_EQ(got[i].type, shim::kStdin);
    EXPECT_EQ(got[i].data, std::string(shim::kMaxFrame, static_cast<char>('a' + i)));
  }
  EXPECT_EQ(got.back().type, shim::kDone);
  EXPECT_EQ(got.back().data, "umount /x");
}

class ShimFiles : public ::testing::Test {
 protected:
  test::TempDir tmp_{"berth-shimfiles"};
  const std::string dir_ = tmp_.path();
};

TEST_F(ShimFiles, OrdersRoundTrip) {
  shim::Orders o;
  o.id = "abc";
  o.bundle = "/b";
  o.runtime_root = "/r";
  o.runtime = "runc";
  o.log_path = "/l";
  o.log_max_size = 20000000;
  o.log_max_files = 5;
  o.terminal = true;
  o.stdin_once = true;
  o.winsize = "24 80";
  o.restart = {"on-failure", 3};
  o.cleanup = {"berth", "container", "cleanup", "abc"};
  shim::write_orders(dir_, o);
  auto r = shim::read_orders(dir_);
  EXPECT_EQ(r.id, "abc");
  EXPECT_EQ(r.runtime, "runc");
  EXPECT_EQ(r.log_max_size, 20000000);
  EXPECT_EQ(r.log_max_files, 5);
  EXPECT_TRUE(r.terminal);
  EXPECT_FALSE(r.stdin_open);
  EXPECT_TRUE(r.stdin_once);
  EXPECT_EQ(r.winsize, "24 80");
  EXPECT_EQ(r.restart.name, "on-failure");
  EXPECT_EQ(r.restart.max, 3);
  EXPECT_EQ(r.cleanup, o.cleanup);
  EXPECT_FALSE(r.health);
  EXPECT_FALSE(r.syslog);
  o.syslog = logs::SyslogTarget{"tcp", "127.0.0.1:514", 19, "rfc5424", "web/nginx", "host1"};
  shim::write_orders(dir_, o);
  r = shim::read_orders(dir_);
  ASSERT_TRUE(r.syslog);
  EXPECT_EQ(r.syslog->network, "tcp");
  EXPECT_EQ(r.syslog->address, "127.0.0.1:514");
  EXPECT_EQ(r.syslog->facility, 19);
  EXPECT_EQ(r.syslog->format, "rfc5424");
  EXPECT_EQ(r.syslog->tag, "web/nginx");
  EXPECT_EQ(r.syslog->hostname, "host1");
  o.syslog.reset();
  o.health = shim::HealthCheck{R"({"args":["true"]})", 1000000, 2000000, 0, 3000000, 4};
  shim::write_orders(dir_, o);
  r = shim::read_orders(dir_);
  ASSERT_TRUE(r.health);
  EXPECT_EQ(r.health->exec, o.health->exec);
  EXPECT_EQ(r.health->interval, 1000000);
  EXPECT_EQ(r.health->timeout, 2000000);
  EXPECT_EQ(r.health->start_interval, 3000000);
  EXPECT_EQ(r.health->retries, 4);
  o.health->retries = 0;  // the engine applies the defaults: a zero is a broken file
  shim::write_orders(dir_, o);
  EXPECT_THROW(shim::read_orders(dir_), Error);
  fs::write_file_atomic(dir_ + "/shim.json", R"({"id": 5})", 0600);
  EXPECT_THROW(shim::read_orders(dir_), Error);  // a field of the wrong kind: one error, not a crash
}

TEST(ShimRestart, PoliciesAsDocker) {
  EXPECT_FALSE((shim::RestartPolicy{"no", 0}.due(1, 0)));
  EXPECT_TRUE((shim::RestartPolicy{"always", 0}.due(0, 50)));
  EXPECT_TRUE((shim::RestartPolicy{"unless-stopped", 0}.due(0, 0)));
  EXPECT_FALSE((shim::RestartPolicy{"on-failure", 0}.due(0, 0)));
  EXPECT_TRUE((shim::RestartPolicy{"on-failure", 0}.due(2, 100)));
  EXPECT_TRUE((shim::RestartPolicy{"on-failure", 2}.due(1, 1)));
  EXPECT_FALSE((shim::RestartPolicy{"on-failure", 2}.due(1, 2)));
}

TEST_F(ShimFiles, RunAndExitRecords) {
  EXPECT_FALSE(shim::read_run_record(dir_));
  EXPECT_FALSE(shim::read_exit_record(dir_));
  shim::write_run_record(dir_, {4242, 2, 1700000000123456789});
  auto run = shim::read_run_record(dir_);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->pid, 4242);
  EXPECT_EQ(run->restarts, 2);
  EXPECT_EQ(run->started, 1700000000123456789);
  shim::write_exit_record(dir_, {137, 1700000001000000000, 2, true, ""});
  auto e = shim::read_exit_record(dir_);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 137);
  EXPECT_EQ(e->finished, 1700000001000000000);
  EXPECT_TRUE(e->oom_killed);
  EXPECT_EQ(e->error, "");
  shim::write_exit_record(dir_, {125, 1, 0, false, "not started: no such image"});
  EXPECT_EQ(shim::read_exit_record(dir_)->error, "not started: no such image");
  fs::write_file_atomic(dir_ + "/exit", "{\"code\": \"x\"}", 0644);
  e = shim::read_exit_record(dir_);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 255);
  EXPECT_EQ(e->error, "the exit record cannot be read");
}

TEST_F(ShimFiles, HealthRecordKeepsAProbesBytes) {
  EXPECT_FALSE(shim::read_health(dir_));
  shim::Health h;
  h.status = "unhealthy";
  h.failing_streak = 3;
  h.log.push_back({1, 2, -1, "Health check exceeded timeout (1s)"});
  h.log.push_back({3, 4, 1, std::string("bad \xff byte\n", 11)});  // not UTF-8: kept readable
  shim::write_health(dir_, h);
  auto r = shim::read_health(dir_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "unhealthy");
  EXPECT_EQ(r->failing_streak, 3);
  ASSERT_EQ(r->log.size(), 2u);
  EXPECT_EQ(r->log[0].exit_code, -1);
  EXPECT_EQ(r->log[1].start, 3);
  EXPECT_EQ(r->log[1].output, "bad \xef\xbf\xbd byte\n");
  fs::write_file_atomic(dir_ + "/health", "{\"status\": 1}", 0644);
  EXPECT_FALSE(shim::read_health(dir_));
}

}  // namespace
