// Calls one syscall by number inside a container and prints what came back (static):
//
//   syscall-probe NR [ARG0 [ARG1 [ARG2]]]   →  "ok" (returned 0), "ok=N" (returned N > 0),
//                                            or the errno's name ("EPERM", "ENOSYS", …)
//
// The default seccomp profile's tests use it for syscalls that busybox has no applet for;
// set-user-ID root, it shows whether the setuid bit took effect (geteuid, 107 on x86_64).
// Arguments are numbers (0x… for hex). Exit 0 unless the usage is wrong.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 5) {
    fprintf(stderr, "usage: syscall-probe NR [ARG0 [ARG1 [ARG2]]]\n");
    return 2;
  }
  long a[3] = {0, 0, 0};
  for (int i = 2; i < argc; ++i) a[i - 2] = strtol(argv[i], NULL, 0);
  long rc = syscall(strtol(argv[1], NULL, 0), a[0], a[1], a[2], 0, 0, 0);
  if (rc == 0) {
    printf("ok\n");
    return 0;
  }
  if (rc > 0) {
    printf("ok=%ld\n", rc);
    return 0;
  }
  const char* name = strerrorname_np(errno);
  printf("%s\n", name ? name : "E?");
  return 0;
}
