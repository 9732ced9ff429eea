/* swap_loop DIR NAME1 NAME2 SECONDS: exchanges two names in DIR with renameat2(RENAME_EXCHANGE)
 * as fast as it can for SECONDS, then prints how many swaps it made. Run inside an attacker
 * container by the race tests (tests/system/races.bats); static, so any rootfs can run it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: swap_loop DIR NAME1 NAME2 SECONDS\n");
    return 2;
  }
  int dir = open(argv[1], O_PATH | O_DIRECTORY);
  if (dir < 0) {
    perror(argv[1]);
    return 1;
  }
  const time_t end = time(NULL) + atoi(argv[4]);
  unsigned long swaps = 0;
  while (time(NULL) < end) {
    for (int i = 0; i < 1000; ++i)
      if (syscall(SYS_renameat2, dir, argv[2], dir, argv[3], RENAME_EXCHANGE) == 0) ++swaps;
  }
  printf("%lu\n", swaps);
  return 0;
}
