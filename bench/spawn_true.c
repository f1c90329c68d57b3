/* Floor for the benchmark: posix_spawn of /bin/true and waitpid, one after another on one core.
 * Prints "p50_us p99_us per_second own_cpu_us_per_spawn" over N spawns; the last is this
 * process's own CPU (getrusage(RUSAGE_SELF), user + system, children excluded) per spawn.
 * Usage: spawn_true N */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double self_cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 500;
  double *d = malloc(sizeof(double) * n);
  char *args[] = {"/bin/true", NULL};
  double cpu0 = self_cpu_us();
  double start = now_us();
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ)) return 1;
    int st;
    waitpid(pid, &st, 0);
    d[i] = now_us() - t0;
  }
  double total = now_us() - start;
  double cpu = self_cpu_us() - cpu0;
  qsort(d, n, sizeof(double), cmp);
  printf("%.1f %.1f %.1f %.1f\n", d[n / 2], d[(n * 99) / 100], n / (total / 1e6), cpu / n);
  return 0;
}
