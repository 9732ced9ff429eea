// Engine::exec on a real container (busybox, no network), as a daemon would call it: the
// engine starts the process through the container's shim and hands back the connection that
// carries its frames. Needs root, like the system tests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/engine.hpp"
#include "shim/frames.hpp"

using namespace berth;
using nlohmann::json;

namespace {

// Output and exit code of an exec session, read to its end.
struct Result {
  std::string out, err;
  int code = -1;
};

Result drain(int conn) {
  Result r;
  while (auto f = shim::read_frame(conn)) {
    if (f->type == shim::kStdout) r.out += f->data;
    if (f->type == shim::kStderr) r.err += f->data;
    if (f->type == shim::kExit) {
      r.code = std::atoi(f->data.c_str());
      break;
    }
  }
  return r;
}

class EngineExec : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "containers need root";
    char tmpl[] = "/tmp/berth-engine-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A busybox image, imported from a tar of a directory.
    const std::string rootfs = dir_ + "/rootfs";
    fs::mkdir_p(rootfs + "/bin");
    fs::mkdir_p(rootfs + "/tmp");
    ASSERT_EQ(std::system(("cp /bin/busybox " + rootfs + "/bin/busybox && for c in sh cat echo sleep id; do ln -s busybox " +
                           rootfs + "/bin/$c; done && tar -C " + rootfs + " -cf " + dir_ + "/rootfs.tar .")
                              .c_str()),
              0);
    engine::Options o;
    o.images.root = dir_ + "/root";
    o.state = dir_ + "/state";
    o.shim = BERTH_TEST_SHIM;
    o.self = BERTH_TEST_CLI;
    {
      image::Service images(o.images);
      UniqueFd tar(::open((dir_ + "/rootfs.tar").c_str(), O_RDONLY | O_CLOEXEC));
      ASSERT_TRUE(tar);
      images.import([&](void* buf, size_t n) { return fs::read_fd(tar.get(), buf, n, "rootfs.tar"); }, "bb:1");
    }
    eng_ = std::make_unique<engine::Engine>(o);
    engine::CreateRequest req;
    req.image = "bb:1";
    req.name = "x";
    req.config = {{"Cmd", {"sleep", "1000"}}};
    req.host = {{"NetworkMode", "none"}};
    id_ = eng_->create(req).id();
    eng_->start(id_);
  }
  void TearDown() override {
    if (eng_ && !id_.empty()) eng_->remove(id_, true, true);
    eng_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_, id_;
  std::unique_ptr<engine::Engine> eng_;
};

TEST_F(EngineExec, StreamsTheProcessOutputAndExitCode) {
  engine::ExecRequest x;
  x.args = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  auto s = eng_->exec("x", x);
  ASSERT_TRUE(s.conn);
  EXPECT_GT(s.pid, 0);
  Result r = drain(s.conn.get());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.code, 3);
}

TEST_F(EngineExec, StdinFramesReachTheProcess) {
  engine::ExecRequest x;
  x.args = {"cat"};
  x.stdin_open = true;
  auto s = eng_->exec(id_.substr(0, 12), x);
  ASSERT_TRUE(shim::send_frame(s.conn.get(), shim::kStdin, "through the shim\n"));
  ASSERT_TRUE(shim::send_frame(s.conn.get(), shim::kStdinClose, ""));
  Result r = drain(s.conn.get());
  EXPECT_EQ(r.out, "through the shim\n");
  EXPECT_EQ(r.code, 0);
}

TEST_F(EngineExec, UserWorkdirAndEnvAreApplied) {
  engine::ExecRequest x;
  x.args = {"sh", "-c", "echo $(id -u):$(id -g) $PWD $GREETING"};
  x.user = "1234:5678";
  x.workdir = "/tmp";
  x.env = {"GREETING=hello"};
  Result r = drain(eng_->exec("x", x).conn.get());
  EXPECT_EQ(r.out, "1234:5678 /tmp hello\n");
}

TEST_F(EngineExec, AMissingOrUnusableCommandHasItsKindAndADetachedOneReturnsAtOnce) {
  engine::ExecRequest x;
  x.args = {"sh", "-c", "echo data > /tmp/plain"};
  ASSERT_EQ(drain(eng_->exec("x", x).conn.get()).code, 0);
  // The kinds come from the container's side (the failed execve's errno), through the
  // runtime and the shim: not from the message's words.
  for (auto [cmd, kind] : {std::pair<const char*, ErrorKind>{"/no/such/program", ErrorKind::command_not_found},
                           {"no-such-program", ErrorKind::command_not_found},
                           {"/tmp/plain", ErrorKind::command_not_executable},
                           {"/tmp", ErrorKind::command_not_executable}}) {
    x.args = {cmd};
    try {
      eng_->exec("x", x);
      ADD_FAILURE() << "exec of " << cmd << " succeeded";
    } catch (const Error& e) {
      EXPECT_EQ(kind_name(e.kind()), kind_name(kind)) << cmd << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(cmd), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  x.args = {"sh", "-c", "echo detached > /tmp/mark"};
  x.detach = true;
  auto s = eng_->exec("x", x);
  EXPECT_FALSE(s.conn);
  EXPECT_GT(s.pid, 0);
  Result r;
  for (int i = 0; i < 100 && r.out.empty(); ++i) {
    engine::ExecRequest cat;
    cat.args = {"cat", "/tmp/mark"};
    r = drain(eng_->exec("x", cat).conn.get());
    if (r.out.empty()) ::usleep(20000);
  }
  EXPECT_EQ(r.out, "detached\n");
}

TEST_F(EngineExec, AStoppedContainerHasNoExec) {
  eng_->stop("x", 1);
  engine::ExecRequest x;
  x.args = {"true"};
  try {
    eng_->exec("x", x);
    FAIL() << "exec into a stopped container succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "container x is not running");
    EXPECT_EQ(e.kind(), ErrorKind::not_running);
  }
}

}  // namespace

namespace {

// What the daemons will map to HTTP statuses and gRPC codes, and the CLI to exit codes: each
// failure's kind, chosen where it is thrown.
ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::internal;
}

TEST_F(EngineExec, ErrorsHaveKinds) {
  auto is = [](ErrorKind got, ErrorKind want) { return std::string(kind_name(got)) == std::string(kind_name(want)); };
  EXPECT_TRUE(is(kind_of([&] { eng_->lookup("no-such-container"); }), ErrorKind::not_found));
  engine::CreateRequest req;
  req.image = "no-such-image:1";
  req.config = {{"Cmd", {"true"}}};
  req.host = {{"NetworkMode", "none"}};
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::not_found));
  req.image = "bb:1";
  req.name = "x";  // taken
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::conflict));
  req.name = "bad/name";
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::invalid_argument));
  req.name = "";
  req.host["RestartPolicy"] = {{"Name", "sometimes"}};
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::invalid_argument));
  EXPECT_TRUE(is(kind_of([&] { eng_->start(id_); }), ErrorKind::conflict));  // already running
  // The container's command is missing: the start fails with the kind of its init's execve.
  req.host.erase("RestartPolicy");
  req.name = "missing";
  req.config = {{"Cmd", {"/no/such/program"}}};
  auto id = eng_->create(req).id();
  EXPECT_TRUE(is(kind_of([&] { eng_->start(id); }), ErrorKind::command_not_found));
  EXPECT_TRUE(is(kind_of([&] { eng_->kill(id, SIGTERM); }), ErrorKind::not_running));
  eng_->remove(id, true, true);
  EXPECT_TRUE(is(kind_of([&] { eng_->lookup(id); }), ErrorKind::not_found));
}

}  // namespace
