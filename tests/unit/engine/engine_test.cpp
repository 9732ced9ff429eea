// The engine as a daemon calls it, on real containers (busybox, no network): exec (the shim
// starts the process and hands back the connection that carries its frames), logs (read and
// followed), and the kinds of its errors. Needs root, like the system tests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/engine.hpp"
#include "network/networks.hpp"
#include "shim/frames.hpp"
#include "error_kind.hpp"

using namespace berth;
using berth::test::kind_of;
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

class EngineOnBusybox : public ::testing::Test {
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
    o.hooks.exit_command = [o](const std::string& id, bool rm) {
      std::vector<std::string> argv = {BERTH_TEST_CLI, "--root", o.images.root, "--state", o.state,
                                       "container", "cleanup", id};
      if (rm) argv.insert(argv.end() - 1, "--rm");
      return argv;
    };
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

TEST_F(EngineOnBusybox, StreamsTheProcessOutputAndExitCode) {
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

TEST_F(EngineOnBusybox, StdinFramesReachTheProcess) {
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

TEST_F(EngineOnBusybox, UserWorkdirAndEnvAreApplied) {
  engine::ExecRequest x;
  x.args = {"sh", "-c", "echo $(id -u):$(id -g) $PWD $GREETING"};
  x.user = "1234:5678";
  x.workdir = "/tmp";
  x.env = {"GREETING=hello"};
  Result r = drain(eng_->exec("x", x).conn.get());
  EXPECT_EQ(r.out, "1234:5678 /tmp hello\n");
}

TEST_F(EngineOnBusybox, AMissingOrUnusableCommandHasItsKindAndADetachedOneReturnsAtOnce) {
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

TEST_F(EngineOnBusybox, AStoppedContainerHasNoExec) {
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

TEST_F(EngineOnBusybox, ErrorsHaveKinds) {
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
  // A field of the wrong type (what an API client may send) is refused before anything is made.
  const size_t before = eng_->list().size();
  req.host = {{"NetworkMode", "none"}, {"Memory", "64m"}};
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::invalid_argument));
  req.host = {{"NetworkMode", "none"}};
  req.config = {{"Cmd", {"true"}}, {"Tty", "yes"}};
  EXPECT_TRUE(is(kind_of([&] { eng_->create(req); }), ErrorKind::invalid_argument));
  EXPECT_EQ(eng_->list().size(), before);
  EXPECT_TRUE(is(kind_of([&] { eng_->start(id_); }), ErrorKind::conflict));  // already running
  // The container's command is missing: the start fails with the kind of its init's execve.
  req.name = "missing";
  req.config = {{"Cmd", {"/no/such/program"}}};
  auto id = eng_->create(req).id();
  EXPECT_TRUE(is(kind_of([&] { eng_->start(id); }), ErrorKind::command_not_found));
  EXPECT_TRUE(is(kind_of([&] { eng_->kill(id, SIGTERM); }), ErrorKind::not_running));
  eng_->remove(id, true, true);
  EXPECT_TRUE(is(kind_of([&] { eng_->lookup(id); }), ErrorKind::not_found));
}

}  // namespace

namespace {

std::string follow(engine::Engine& eng, const std::string& ref, engine::LogOptions o) {
  std::string out;
  o.follow = true;
  eng.logs(ref, o, [&](const logs::Entry& e) {
    out += e.stream[3] + std::string(":") + e.log;  // o: stdout, e: stderr
    return true;
  });
  return out;
}

TEST_F(EngineOnBusybox, LogsFollowUntilTheContainerEndsAndStopOnCancel) {
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "talker";
  req.config = {{"Cmd", {"sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three"}}};
  req.host = {{"NetworkMode", "none"}};
  auto id = eng_->create(req).id();
  eng_->start(id);
  // Follows from the start to the end, woken by writes and by the exit (no polling: it
  // returns right after the container ends).
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(follow(*eng_, "talker", {}), "o:one\ne:two\no:three\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  // Once ended: the same records at once; --tail; a sink that stops.
  EXPECT_EQ(follow(*eng_, "talker", {}), "o:one\ne:two\no:three\n");
  engine::LogOptions o;
  o.tail = 1;
  EXPECT_EQ(follow(*eng_, "talker", o), "o:three\n");
  int n = 0;
  eng_->logs("talker", {}, [&](const logs::Entry&) { return ++n < 2; });
  EXPECT_EQ(n, 2);
  eng_->remove(id, true, true);
  // A running container that writes nothing: the follow waits until cancelled.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    mine.reset();  // the "client" goes away
  });
  o = {};
  o.cancel_fd = theirs.get();
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(follow(*eng_, "x", o), "");
  const auto took = std::chrono::steady_clock::now() - t1;
  canceller.join();
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(kind_of([&] { follow(*eng_, "no-such", {}); }), ErrorKind::not_found);
}

}  // namespace

namespace {

TEST_F(EngineOnBusybox, StatsAndTopReadTheContainer) {
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "busy";
  req.config = {{"Cmd", {"sh", "-c", "while :; do :; done"}}};
  req.host = {{"NetworkMode", "none"}, {"Memory", 64 << 20}};
  auto id = eng_->create(req).id();
  eng_->start(id);
  auto a = eng_->stats("busy");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto b = eng_->stats("busy");
  EXPECT_GT(engine::cpu_percent(a, b), 50.0);  // one CPU spinning
  EXPECT_LT(engine::cpu_percent(a, b), 101.0);
  EXPECT_EQ(b.pids, 1u);
  EXPECT_EQ(b.mem_limit, uint64_t{64} << 20);
  EXPECT_GT(b.mem_usage, 0u);
  EXPECT_EQ(engine::cpu_percent(b, a), 0.0);  // out of order: nothing
  // The sleeping one: idle, unlimited (0).
  auto x1 = eng_->stats("x");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto x2 = eng_->stats("x");
  EXPECT_LT(engine::cpu_percent(x1, x2), 5.0);
  EXPECT_EQ(x2.mem_limit, 0u);
  auto top = eng_->top("x");
  ASSERT_FALSE(top.titles.empty());
  EXPECT_EQ(top.titles.back(), "CMD");
  ASSERT_EQ(top.rows.size(), 1u);
  EXPECT_EQ(top.rows[0].back(), "sleep 1000");
  EXPECT_EQ(kind_of([&] { eng_->top("x", {"-o", "comm"}); }), ErrorKind::invalid_argument);
  eng_->stop("busy", 0);
  EXPECT_EQ(kind_of([&] { eng_->stats("busy"); }), ErrorKind::not_running);
  EXPECT_EQ(kind_of([&] { eng_->top("busy"); }), ErrorKind::not_running);
  eng_->remove(id, true, true);
}

}  // namespace

namespace {

TEST_F(EngineOnBusybox, AVolumeOrNetworkInUseIsNotRemoved) {
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "user";
  req.config = {{"Cmd", {"true"}}};
  req.host = {{"NetworkMode", "none"}, {"Binds", {"data:/data"}}};
  auto id = eng_->create(req).id();
  ASSERT_TRUE(eng_->volumes().get("data"));
  EXPECT_EQ(kind_of([&] { eng_->remove_volume("data"); }), ErrorKind::conflict);
  EXPECT_EQ(kind_of([&] { eng_->remove_volume("data", true); }), ErrorKind::conflict);  // force: still in use
  EXPECT_TRUE(eng_->volumes().get("data"));
  eng_->remove(id, true, false);
  EXPECT_TRUE(eng_->remove_volume("data"));
  EXPECT_FALSE(eng_->volumes().get("data"));
  EXPECT_EQ(kind_of([&] { eng_->remove_volume("data"); }), ErrorKind::not_found);
  EXPECT_FALSE(eng_->remove_volume("data", true));
  EXPECT_EQ(kind_of([&] { eng_->remove_network("none"); }), ErrorKind::invalid_argument);
  EXPECT_EQ(kind_of([&] { eng_->remove_network("no-such-net"); }), ErrorKind::not_found);
  EXPECT_FALSE(eng_->remove_network("no-such-net", true));
}

}  // namespace

namespace {

// A daemon's subscriber: Engine::events in a thread sees what another thread does, the exit
// as the shim records it, and stops when its cancel fd says so.
TEST_F(EngineOnBusybox, EventsReachASubscriberLiveAndItStopsOnCancel) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::vector<std::string> seen;
  std::mutex mu;
  std::thread sub([&] {
    engine::EventOptions o;
    o.cancel_fd = theirs.get();
    eng_->events(o, [&](const events::Event& e) {
      std::lock_guard<std::mutex> lk(mu);
      if (e.type == "container" && e.attributes.count("name") && e.attributes.at("name") == "evt")
        seen.push_back(e.action + (e.attributes.count("exitCode") ? ":" + e.attributes.at("exitCode") : ""));
      return true;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // subscribed
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "evt";
  req.config = {{"Cmd", {"sh", "-c", "exit 7"}}};
  req.host = {{"NetworkMode", "none"}};
  auto id = eng_->create(req).id();
  eng_->start(id);
  EXPECT_EQ(eng_->wait(id), 7);
  eng_->remove(id, false, false);
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (seen.size() >= 4) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  mine.reset();
  sub.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"create", "start", "die:7", "destroy"}));
  // Replayed from the log: since a time, until now.
  engine::EventOptions o;
  o.since = 1;
  o.until = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  int n = 0;
  eng_->events(o, [&](const events::Event& e) {
    n += e.id == id;
    return true;
  });
  EXPECT_EQ(n, 4);
}

// Docker's wait conditions, woken by events: next-exit of a created container returns its
// first exit, removed returns once it is gone, not-running at once for a stopped one, and a
// cancelled wait ends with `unavailable`.
TEST_F(EngineOnBusybox, WaitConditionsAndCancel) {
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "w";
  req.config = {{"Cmd", {"sh", "-c", "sleep 0.2; exit 3"}}};
  req.host = {{"NetworkMode", "none"}};
  const std::string id = eng_->create(req).id();
  int next = -1, removed = -1;
  std::thread a([&] {
    engine::WaitOptions o;
    o.condition = engine::WaitCondition::next_exit;
    next = eng_->wait(id, o);
  });
  std::thread b([&] {
    engine::WaitOptions o;
    o.condition = engine::WaitCondition::removed;
    removed = eng_->wait(id, o);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both waiting on a created container
  eng_->start(id);
  a.join();
  EXPECT_EQ(next, 3);
  EXPECT_EQ(eng_->wait(id, {}), 3);  // not-running: at once
  eng_->remove(id, false, false);
  b.join();
  EXPECT_EQ(removed, 3);
  // A wait on the running fixture container, cancelled by its client going away.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  ErrorKind kind = ErrorKind::internal;
  std::thread c([&] {
    engine::WaitOptions o;
    o.cancel_fd = theirs.get();
    kind = kind_of([&] { eng_->wait(id_, o); });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  mine.reset();
  c.join();
  EXPECT_EQ(kind, ErrorKind::unavailable);
}

// The prunes as a library: stopped containers that the filter matches go (their space
// counted), a running one stays; an anonymous volume no container uses goes, a named one only
// with `all`.
TEST_F(EngineOnBusybox, PruneTakesWhatTheFilterMatchesAndNothingInUse) {
  auto make = [&](const std::string& name, const nlohmann::json& labels) {
    engine::CreateRequest req;
    req.image = "bb:1";
    req.name = name;
    req.config = {{"Cmd", {"sh", "-c", "echo data > /file"}}, {"Labels", labels}};
    req.host = {{"NetworkMode", "none"}};
    const std::string id = eng_->create(req).id();
    eng_->start(id);
    EXPECT_EQ(eng_->wait(id), 0);
    return id;
  };
  const std::string keep = make("keep", {{"tier", "db"}});
  const std::string go = make("go", {{"tier", "web"}});
  engine::PruneFilter f;
  f.labels = {"tier=web"};
  auto r = eng_->prune_containers(f);
  EXPECT_EQ(r.deleted, std::vector<std::string>{go});
  EXPECT_GT(r.reclaimed, 0);
  EXPECT_EQ(kind_of([&] { eng_->lookup(go); }), ErrorKind::not_found);
  r = eng_->prune_containers({});
  EXPECT_EQ(r.deleted, std::vector<std::string>{keep});  // the running fixture stays
  EXPECT_NO_THROW(eng_->lookup(id_));
  eng_->volumes().create("named");
  const std::string anon = eng_->volumes().create("", {}, true).name;
  EXPECT_EQ(eng_->prune_volumes({}, false).deleted, std::vector<std::string>{anon});
  EXPECT_EQ(eng_->prune_volumes({}, true).deleted, std::vector<std::string>{"named"});
}

// A path in the container as Docker's archive endpoints report it: resolved inside the
// container's root (a symlink is itself), not_found when missing.
TEST_F(EngineOnBusybox, StatPathResolvesInsideTheContainer) {
  engine::ExecRequest x;
  x.args = {"sh", "-c", "echo hello > /tmp/f && ln -s /etc/passwd /tmp/l && ln -s ../../../../etc /tmp/up"};
  auto s = eng_->exec(id_, x);
  EXPECT_EQ(drain(s.conn.get()).code, 0);
  auto f = eng_->stat_path(id_, "/tmp/f");
  EXPECT_EQ(f.name, "f");
  EXPECT_EQ(f.size, 6);
  EXPECT_TRUE(S_ISREG(f.mode));
  EXPECT_GT(f.mtime_ns, 0);
  auto l = eng_->stat_path(id_, "tmp/l");
  EXPECT_TRUE(S_ISLNK(l.mode));
  EXPECT_EQ(l.link_target, "/etc/passwd");
  EXPECT_TRUE(S_ISDIR(eng_->stat_path(id_, "/").mode));
  EXPECT_EQ(kind_of([&] { eng_->stat_path(id_, "/tmp/up/shadow"); }), ErrorKind::not_found);  // not the host's /etc
  EXPECT_EQ(kind_of([&] { eng_->stat_path(id_, "/no/such"); }), ErrorKind::not_found);
}

// Commands that change one container at once (rename, update, pause, kill, connect …) each
// take its lock and write the record they read under it: none undoes another's change. The
// shim's events name the container by its name at the time.
TEST_F(EngineOnBusybox, ConcurrentChangesToOneContainerAreAllKept) {
  std::vector<std::thread> ts;
  std::vector<std::string> failures;
  std::mutex mu;
  auto go = [&](std::function<void()> f) {
    ts.emplace_back([&, f] {
      try {
        f();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(mu);
        failures.push_back(e.what());
      }
    });
  };
  go([&] { eng_->rename(id_, "renamed"); });
  go([&] { eng_->update(id_, {{"Memory", 64 << 20}}); });
  go([&] { eng_->update(id_, {{"CpuShares", 512}}); });
  go([&] { eng_->update(id_, {{"RestartPolicy", {{"Name", "on-failure"}, {"MaximumRetryCount", 3}}}}); });
  go([&] {
    eng_->pause(id_, true);
    try {
      eng_->pause(id_, false);
    } catch (const Error& e) {
      // The kill below may have thawed it first: the fixture names no stop signal, so any
      // signal ends a pause, as in Docker.
      if (e.kind() != ErrorKind::conflict) throw;
    }
  });
  go([&] { eng_->kill(id_, SIGWINCH); });
  for (auto& t : ts) t.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  engine::Container c = eng_->lookup(id_);
  EXPECT_EQ(c.rec.name, "renamed");
  const auto& host = c.data["HostConfig"];
  EXPECT_EQ(host.value("Memory", int64_t{0}), 64 << 20);
  EXPECT_EQ(host.value("CpuShares", 0), 512);
  EXPECT_EQ(host["RestartPolicy"].value("Name", ""), "on-failure");
  EXPECT_EQ(eng_->state(c).status, engine::Status::running);

  // The die event comes from the shim, which learnt the new name.
  eng_->stop(id_, 0);
  std::string died_as;
  engine::EventOptions o;
  o.since = 1;
  o.until = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  eng_->events(o, [&](const events::Event& e) {
    if (e.id == id_ && e.action == "die") died_as = e.attributes.count("name") ? e.attributes.at("name") : "?";
    return true;
  });
  EXPECT_EQ(died_as, "renamed");
}

}  // namespace

namespace {

// One Engine shared by 8 threads, as a daemon shares it: each runs containers through their
// whole life (create, start, exec, logs, inspect, a network connect, stop, rm) while the
// others do the same. Every operation succeeds or fails with a kind that says why (never
// "internal"), and afterwards what the records say matches what exists: no container left,
// no rootfs mount, no shim, no network namespace, no member on the network.
TEST_F(EngineOnBusybox, EightThreadsShareOneEngine) {
  // Two networks of the test's own (the default one keeps warm spares made in the background).
  network::CreateSpec spec;
  spec.name = "t8a-" + id_.substr(0, 6);
  const auto net = eng_->networks().create(spec);
  spec.name = "t8b-" + id_.substr(0, 6);
  const auto net2 = eng_->networks().create(spec);
  constexpr int kThreads = 8, kRounds = 2;
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lk(mu);
    failures.push_back(what);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const std::string name = "w" + std::to_string(t) + "-" + std::to_string(r);
        try {
          engine::CreateRequest req;
          req.image = "bb:1";
          req.name = name;
          req.config = {{"Cmd", {"sh", "-c", "echo hello " + name + "; exec sleep 100"}}};
          req.host = {{"NetworkMode", "none"}};
          if (t % 2) req.host = {{"NetworkMode", net.name}};  // a bridge network for half of them
          auto id = eng_->create(req).id();
          eng_->start(id);
          engine::ExecRequest x;
          x.args = {"cat", "/etc/hostname"};
          Result out = drain(eng_->exec(name, x).conn.get());
          if (out.code != 0 || out.out != id.substr(0, 12) + "\n") fail(name + ": exec gave " + out.out);
          std::string log;
          for (int i = 0; i < 100 && log.empty(); ++i) {
            eng_->logs(name, {}, [&](const logs::Entry& e) {
              log += e.log;
              return true;
            });
            if (log.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          if (log != "hello " + name + "\n") fail(name + ": log is `" + log + "`");
          auto c = eng_->lookup(name);
          if (!eng_->state(c).running()) fail(name + ": not running");
          if (t % 2) eng_->connect(name, net2.name, json::object());
          // The same name again, from another thread's point of view: a conflict.
          try {
            eng_->create(req);
            fail(name + ": a second create with the same name succeeded");
          } catch (const Error& e) {
            if (e.kind() != ErrorKind::conflict) fail(name + ": name taken: " + e.what());
          }
          eng_->stop(name, 1);
          eng_->remove(name, false, true);
        } catch (const Error& e) {
          fail(name + ": " + std::string(kind_name(e.kind())) + ": " + e.what());
          try {
            eng_->remove(name, true, true);
          } catch (const Error&) {
          }
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  for (auto& f : failures) ADD_FAILURE() << f;
  // Only the fixture's container is left, and nothing of the others on the host.
  auto left = eng_->list();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id(), id_);
  std::string mountinfo = fs::read_file("/proc/self/mountinfo");
  size_t rootfs_mounts = 0;
  for (size_t p = 0; (p = mountinfo.find(dir_, p)) != std::string::npos; ++p)
    rootfs_mounts += mountinfo.compare(mountinfo.find(' ', p) - 7, 7, "/rootfs") == 0;
  EXPECT_EQ(rootfs_mounts, 1u) << mountinfo;  // the fixture's
  UniqueFd cdir(::open((dir_ + "/state/default/containers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(cdir);
  EXPECT_EQ(fs::list_dir(cdir.get(), "containers").size(), 1u);  // state directories: the fixture's
  EXPECT_TRUE(eng_->networks().members(net.name).empty());
  EXPECT_TRUE(eng_->networks().members(net2.name).empty());
  EXPECT_TRUE(eng_->remove_network(net.name));
  EXPECT_TRUE(eng_->remove_network(net2.name));
}

}  // namespace

namespace {

TEST_F(EngineOnBusybox, AttachCarriesStdinOutputAndTheExit) {
  engine::CreateRequest req;
  req.image = "bb:1";
  req.name = "att";
  req.config = {{"Cmd", {"sh", "-c", "read line; echo got $line; exit 5"}}, {"OpenStdin", true}};
  req.host = {{"NetworkMode", "none"}};
  auto id = eng_->create(req).id();
  eng_->start(id);
  auto s = eng_->attach("att");
  EXPECT_TRUE(s.stdin_open);
  EXPECT_FALSE(s.tty);
  ASSERT_TRUE(shim::send_frame(s.conn.get(), shim::kStdin, "hello\n"));
  Result r = drain(s.conn.get());
  EXPECT_EQ(r.out, "got hello\n");
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(eng_->wait(id), 5);
  EXPECT_EQ(kind_of([&] { eng_->attach("att"); }), ErrorKind::not_running);
  eng_->remove(id, false, false);
}

}  // namespace
