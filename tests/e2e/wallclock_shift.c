// An LD_PRELOAD shim for the wall-clock step tests: the processes it is preloaded into see
// CLOCK_REALTIME (clock_gettime, gettimeofday, time) shifted by the signed 64-bit nanosecond
// count stored in the file that DMRSWITCH_WALL_OFFSET_FILE names. The file is mapped shared and
// read on every call, so a test steps the wall clock of running hubs by rewriting it: what an NTP
// step, `date -s` or a Raspberry Pi's first sync looks like to the process. Other clocks
// (CLOCK_MONOTONIC, ...) pass through untouched — the point of the test.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);

static clock_gettime_fn real_clock_gettime;
static volatile const int64_t* offset_ns;

__attribute__((constructor)) static void wallclock_shift_init(void) {
  // dlsym returns the function as an object pointer (POSIX guarantees the round trip).
  void* sym = dlsym(RTLD_NEXT, "clock_gettime");
  memcpy(&real_clock_gettime, &sym, sizeof(sym));
  const char* path = getenv("DMRSWITCH_WALL_OFFSET_FILE");
  if (path == NULL) return;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  void* map = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map != MAP_FAILED) offset_ns = (volatile const int64_t*)map;
}

static int64_t current_offset(void) { return offset_ns == NULL ? 0 : *offset_ns; }

static void shift(struct timespec* ts, int64_t by) {
  int64_t ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + by;
  ts->tv_sec = (time_t)(ns / 1000000000LL);
  ts->tv_nsec = (long)(ns % 1000000000LL);
  if (ts->tv_nsec < 0) {
    ts->tv_nsec += 1000000000L;
    ts->tv_sec -= 1;
  }
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  if (real_clock_gettime == NULL) wallclock_shift_init();
  const int r = real_clock_gettime(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
    shift(ts, current_offset());
  }
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  (void)tz;
  struct timespec ts;
  const int r = clock_gettime(CLOCK_REALTIME, &ts);
  if (r == 0) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return r;
}

time_t time(time_t* out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out != NULL) *out = ts.tv_sec;
  return ts.tv_sec;
}
