/* How many of this process's CPUs other processes leave free: the thread count
 * the "auto" setting (threads = 0) uses.
 *
 * Why: parallel_for ends every region at a barrier. When another CPU-bound
 * process holds one of our cores, a worker on that core is descheduled for a
 * whole time slice (milliseconds) while the others wait at the barrier, and a
 * smoke step has thousands of regions of a few tens of microseconds each: the
 * peer scene ran 4-13x slower with two threads than with one. Running no more
 * threads than there are free cores avoids those waits; the block boundaries do
 * not depend on the thread count, so the results do not change.
 *
 * How: every SAMPLE_NS the caller of parallel_for reads /proc/stat (the busy
 * time of the CPUs in our affinity mask) and CLOCK_PROCESS_CPUTIME_ID (our own
 * CPU time, spinning workers included). Busy time that is not ours is other
 * processes' demand; free = cpus - others. Reading both costs a few
 * microseconds, every quarter second; between samples the check is one coarse
 * clock read.
 *
 * The state is process-wide, not per context: the load is a property of the
 * machine and our CPU time is the whole process's. A try-lock lets one caller
 * sample while concurrent callers (contexts on other host threads) use the
 * last estimate. */
#define _GNU_SOURCE
#include "internal.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CPUS = 1024 };
/* First estimate after FIRST_NS so a loaded run adapts quickly; then every SAMPLE_NS. */
static const int64_t FIRST_NS = 100000000, SAMPLE_NS = 250000000;

static atomic_int free_cpus;     /* last estimate; 0 = none yet */
static atomic_int sampling;      /* try-lock over the fields below */
static atomic_llong next_ns;     /* when the next sample is due */
static int state;                /* 0 = untried, 1 = baseline taken, -1 = unavailable */
static int64_t last_busy, last_total, last_own_ns;
static double ticks_per_s;
static cpu_set_t mask;
static int ncpus;

static int64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sums busy (user nice system irq softirq steal; guest is inside user) and
 * total jiffies over the CPUs in our mask. Returns 0 on success. */
static int read_stat(int64_t *busy, int64_t *total) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[512];
  int64_t b = 0, t = 0;
  int seen = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "cpu", 3) != 0) break; /* the cpu lines come first */
    int cpu;
    unsigned long long v[8] = {0};
    if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) < 5)
      continue; /* the aggregate "cpu " line */
    if (cpu < 0 || cpu >= MAX_CPUS || !CPU_ISSET(cpu, &mask)) continue;
    b += (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
    t += (int64_t)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
    seen++;
  }
  fclose(f);
  if (!seen) return -1;
  *busy = b, *total = t;
  return 0;
}

static void sample(int64_t now) {
  int64_t busy, total, own = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  if (state == 0) {
    long hz = sysconf(_SC_CLK_TCK);
    if (sched_getaffinity(0, sizeof mask, &mask) != 0 || (ncpus = CPU_COUNT(&mask)) < 1 || hz <= 0 ||
        read_stat(&busy, &total) != 0) {
      state = -1;
      return;
    }
    ticks_per_s = (double)hz;
    state = 1;
    atomic_store(&next_ns, now + FIRST_NS);
  } else {
    if (read_stat(&busy, &total) != 0) {
      state = -1;
      atomic_store(&free_cpus, 0);
      return;
    }
    double dt = (double)(total - last_total); /* jiffies over all our CPUs */
    if (dt > 0) {
      double others = (double)(busy - last_busy) - (double)(own - last_own_ns) * 1e-9 * ticks_per_s;
      double avail = ncpus * (1 - (others > 0 ? others : 0) / dt);
      /* Round towards fewer threads: a thread too many costs a time slice at
       * every barrier, one too few costs at most its share of the work. */
      int k = (int)(avail + 0.25);
      atomic_store(&free_cpus, k < 1 ? 1 : k > ncpus ? ncpus : k);
    }
    atomic_store(&next_ns, now + SAMPLE_NS);
  }
  last_busy = busy, last_total = total, last_own_ns = own;
}

int ds_free_cpus(void) {
  int64_t now = now_ns(CLOCK_MONOTONIC_COARSE);
  if (now >= atomic_load_explicit(&next_ns, memory_order_relaxed) && !atomic_exchange(&sampling, 1)) {
    if (state >= 0) sample(now);
    if (state < 0) atomic_store(&next_ns, INT64_MAX); /* never ask again */
    atomic_store(&sampling, 0);
  }
  return atomic_load_explicit(&free_cpus, memory_order_relaxed);
}
