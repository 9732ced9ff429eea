// What berth and berth-shim say to each other.
//
// (`berth-shim --pause` is another program in the same binary: the init of a CRI pod's shared
// PID namespace, which only reaps; see cri/pods.hpp.)
// berth starts the shim as `berth-shim STATE_DIR CTRL_FD`, ahead of the container's spec, and
// gives it the word to go on CTRL_FD with a connection already attached as owner and the gate
// (the first start waits for a "g" on it after the container is created — berth attaches the
// networks meanwhile — and gives up at EOF); the shim answers "ok PID" or "error MSG" on
// CTRL_FD (spawn.hpp).
//
// The shim of a container lives in the container's state directory (--state/<ns>/containers/
// <id>/) and leaves there:
//   shim.json   its orders, written by berth before it starts the shim (on a user network
//               they name a DNS server for it to run: dns.hpp)
//   shim.pid    "PID STARTTIME" of the shim (STARTTIME: /proc/PID/stat field 22)
//   shim.sock   the control socket
//   pid         "PID RESTARTS STARTED_NS\n": the container's init, how many restarts came
//               before it, when it started (unix ns)
//   exit        {"code":N,"finished":NS,"restarts":K,"oom_killed":B,"error":"..."} after every
//               exit (oom_killed: the memory cgroup's oom_kill count was not 0); removed
//               once a restart has started the container again
//   health      with a health check in the orders: {"status","failing_streak","log":[{"start",
//               "end","exit_code","output"}]} (files.hpp), "starting" at each start, rewritten
//               after each probe; kept after the exit
//
// A client of shim.sock sends one request line:
//   "attach\n"        stream output frames until the container exits (then an exit frame);
//   "attach-owner\n"  the same, and the client cleans up after the exit itself: it sends a
//                     done frame when it has (possibly leaving the unmount and directory
//                     removal to the shim), and the shim runs no cleanup command then
//   "signal N\n"      signal the container's init; reply "ok\n" or "error MSG\n"
//   "stop\n"          the next exit is a manual stop: no restart; reply "ok\n"
//   "restart-policy NAME MAX\n"  the restart policy from now on (berth update); reply "ok\n"
//   "wait\n"          reply "CODE\n" at the next exit
//   "pause\n"         the engine is about to freeze the container: no exec or health probe
//                     is started until "resume\n" (a running probe's result is dropped);
//                     reply "ok\n" — given between two steps of the shim's, never while an
//                     exec is half set up (it would wait on the frozen container)
//   "resume\n"        it has been thawed; reply "ok\n"
//   "reopen-log\n"    open the log's path again (it was renamed to rotate it); reply "ok\n"
//   "dns JSON\n"      serve 127.0.0.11 from now on, as shim.json's `dns` would have ({"netns",
//                     "hosts","servers"}: a network connect gave the container its first user
//                     network); reply "ok\n" (also when it serves already) or "error MSG\n"
//   "exec\n"          then a kExecSpec frame: the shim starts the process in the container
//                     (a helper child runs the runtime library's exec, the process becomes
//                     the shim's child), replies kStarted or kError, then streams the
//                     process's output and exit frame to this client only (stdin, resize and
//                     signal frames go to the process); with "detach" it replies and closes
// Frames (both ways on an attached connection): 1 byte type, 4 bytes big-endian length, data.
#pragma once

#include <cstdint>

namespace berth::shim {

enum Frame : uint8_t {
  kStdout = 1,      // shim → client
  kStderr = 2,      // shim → client
  kExit = 3,        // shim → client: the exit code as decimal text
  kStdin = 10,      // client → shim
  kStdinClose = 11, // client → shim: close the container's stdin
  kResize = 12,     // client → shim: "ROWS COLS"
  kSignal = 13,     // client → shim: signal number as decimal text
  kExecSpec = 15,   // client → shim, first frame after "exec\n": the process as JSON
                    // {"args", "env", "user" ("UID:GID"), "additional_gids", "cwd", "tty",
                    // "stdin", "detach", "caps", "winsize" ("ROWS COLS")}
  kStarted = 16,    // shim → client: the exec'd process runs; data: its pid
  kError = 17,      // shim → client: it could not be started; data: why
  kDone = 14,       // client → shim: the owner has cleaned up; data: "umount PATH",
                    // "rm PATH" and "network" (run the cleanup command with --network-only:
                    // CNI DEL) lines it leaves to the shim (done after the owner is gone)
};

inline constexpr uint32_t kMaxFrame = 1 << 20;

}  // namespace berth::shim
