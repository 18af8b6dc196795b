/* runner.c: runs every workload of a suite under every allocator,
 * interleaved, and records one line per run.
 *
 *   runner -s SUITE -o RAW.tsv -L LOGDIR [-r REPS] [-S SCALE] [-T TIMEOUT]
 *          [-w NAME,NAME...] [-v VAR=VALUE]... NAME=LIB...
 *
 * NAME=LIB is an allocator: LIB is preloaded with LD_PRELOAD (an empty LIB
 * is the system malloc: LD_PRELOAD is removed); NAME=LIB,VAR=VALUE,... also
 * sets those variables (a mode of the library, as GCLZONE_HARDEN=1). Repetition r runs each
 * workload under every allocator in turn, starting one allocator further
 * each repetition (A B C, B C A, C A B, ...), so that no allocator always
 * runs first or right after the same neighbour, and slow drifts of the
 * machine's load spread over all of them.
 *
 * A run is fork, exec, wait4: the wall time is taken around them (monotonic
 * clock) and the peak resident set size is wait4's ru_maxrss (the child's,
 * or that of the largest process it waited for). The child's stdout and
 * stderr go to LOGDIR/<workload>.<allocator>.<rep>.{out,err}; the runner
 * keeps the key=value pairs of the last "bench: " line of stdout.
 *
 * The suite file has one workload a line (# starts a comment):
 *     NAME GROUP MEASURE [VAR=VALUE...] PROGRAM [ARG...]
 * MEASURE is `time` (the wall time) or `rate:OPS` (a fixed-duration
 * workload that prints ops= and secs=; its time is OPS * secs / ops, the
 * time it would take to do OPS operations at the rate it measured).
 * Arguments may be double-quoted; @BIN@ and @SRC@ and @SCALE@, and any
 * -v VAR, are replaced in them. A workload whose program is not installed
 * is recorded as `missing` and not run.
 *
 * RAW.tsv columns: workload group measure allocator rep status wall_s
 * time_s maxrss_kib extra (status: ok, exit N, signal N, timeout, noresult,
 * missing; extra: the result line's pairs joined with ';').
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXW 64
#define MAXA 16
#define MAXARG 64
#define MAXVAR 16

extern char **environ;

typedef struct workload {
  char *name, *group, *measure;
  char *env[MAXARG];
  int nenv;
  char *argv[MAXARG + 1];
  int argc;
  int missing;
} workload_t;

typedef struct alloc {
  char *name, *lib;
  char *env[MAXVAR];
  int nenv;
} alloc_t;

static workload_t wl[MAXW];
static int nwl;
static alloc_t al[MAXA];
static int nal;
static char *vars[MAXVAR][2];
static int nvars;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("runner: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) die("out of memory");
  return d;
}

/* s with every @VAR@ of vars[] replaced. */
static char *subst(const char *s) {
  size_t cap = strlen(s) + 1;
  for (int i = 0; i < nvars; i++) cap += strlen(vars[i][1]) * 8;
  char *out = malloc(cap), *o = out;
  if (!out) die("out of memory");
  while (*s) {
    int hit = 0;
    if (*s == '@') {
      for (int i = 0; i < nvars && !hit; i++) {
        size_t n = strlen(vars[i][0]);
        if (strncmp(s + 1, vars[i][0], n) == 0 && s[1 + n] == '@') {
          size_t m = strlen(vars[i][1]);
          if ((size_t)(o - out) + m + strlen(s) + 1 > cap) die("argument too long: %s", s);
          memcpy(o, vars[i][1], m);
          o += m;
          s += n + 2;
          hit = 1;
        }
      }
    }
    if (!hit) *o++ = *s++;
  }
  *o = 0;
  return out;
}

/* Split a suite line into words; "..." groups words (no escapes). */
static int split(char *line, char **word, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#' || *p == '\n') break;
    if (n == max) die("too many words in a suite line");
    char *start;
    if (*p == '"') {
      start = ++p;
      while (*p && *p != '"') p++;
      if (*p != '"') die("unterminated quote in the suite");
    } else {
      start = p;
      while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    }
    int end = *p == 0;
    *p = 0;
    word[n++] = start;
    if (end) break;
    p++;
  }
  return n;
}

static int selected(const char *only, const char *name) {
  if (!only) return 1;
  size_t n = strlen(name);
  for (const char *p = only; *p;) {
    const char *c = strchr(p, ',');
    size_t m = c ? (size_t)(c - p) : strlen(p);
    if (m == n && strncmp(p, name, n) == 0) return 1;
    p += m + (c != NULL);
  }
  return 0;
}

static int runnable(const char *prog) {
  if (strchr(prog, '/')) return access(prog, X_OK) == 0;
  const char *path = getenv("PATH");
  if (!path) return 0;
  char buf[4096];
  for (const char *p = path; *p;) {
    const char *c = strchr(p, ':');
    size_t m = c ? (size_t)(c - p) : strlen(p);
    snprintf(buf, sizeof buf, "%.*s/%s", (int)m, p, prog);
    if (access(buf, X_OK) == 0) return 1;
    p += m + (c != NULL);
  }
  return 0;
}

static void load_suite(const char *path, const char *only) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char *word[MAXARG * 2];
    int n = split(line, word, MAXARG * 2);
    if (n == 0) continue;
    if (n < 4) die("suite line for %s: NAME GROUP MEASURE PROGRAM...", word[0]);
    if (!selected(only, word[0])) continue;
    if (nwl == MAXW) die("too many workloads");
    workload_t *w = &wl[nwl++];
    w->name = xstrdup(word[0]);
    w->group = xstrdup(word[1]);
    w->measure = xstrdup(word[2]);
    if (strcmp(w->measure, "time") != 0 && strncmp(w->measure, "rate:", 5) != 0)
      die("%s: measure is time or rate:OPS", w->name);
    int i = 3;
    for (; i < n && strchr(word[i], '=') && word[i][0] != '/' && word[i][0] != '@'; i++) {
      if (w->nenv == MAXARG) die("%s: too many variables", w->name);
      w->env[w->nenv++] = subst(word[i]);
    }
    if (i == n) die("%s: no program", w->name);
    for (; i < n; i++) {
      if (w->argc == MAXARG) die("%s: too many arguments", w->name);
      w->argv[w->argc++] = subst(word[i]);
    }
    w->argv[w->argc] = NULL;
    w->missing = !runnable(w->argv[0]);
  }
  fclose(f);
}

/* The child's environment: ours, without LD_PRELOAD and BENCH_SCALE, plus
 * the allocator's LD_PRELOAD, BENCH_SCALE, the workload's variables and the
 * allocator's (which win over the workload's and ours). */
static char **child_env(const workload_t *w, const alloc_t *a, const char *scale) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + (size_t)w->nenv + (size_t)a->nenv + 3, sizeof *env);
  if (!env) die("out of memory");
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 || strncmp(environ[i], "BENCH_SCALE=", 12) == 0) continue;
    int overridden = 0;
    for (int j = 0; j < w->nenv; j++) {
      size_t m = strchr(w->env[j], '=') - w->env[j] + 1;
      if (strncmp(environ[i], w->env[j], m) == 0) overridden = 1;
    }
    for (int j = 0; j < a->nenv; j++) {
      size_t m = strchr(a->env[j], '=') - a->env[j] + 1;
      if (strncmp(environ[i], a->env[j], m) == 0) overridden = 1;
    }
    if (!overridden) env[k++] = environ[i];
  }
  for (int j = 0; j < w->nenv; j++) {
    int overridden = 0; /* the allocator's own variables win over the workload's */
    for (int l = 0; l < a->nenv; l++) {
      size_t m = strchr(a->env[l], '=') - a->env[l] + 1;
      if (strncmp(w->env[j], a->env[l], m) == 0) overridden = 1;
    }
    if (!overridden) env[k++] = w->env[j];
  }
  for (int j = 0; j < a->nenv; j++) env[k++] = a->env[j];
  static char preload[4200], sc[64];
  if (a->lib[0]) {
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", a->lib);
    env[k++] = preload;
  }
  snprintf(sc, sizeof sc, "BENCH_SCALE=%s", scale);
  env[k++] = sc;
  env[k] = NULL;
  return env;
}

static void on_alarm(int sig) {
  (void)sig; /* only interrupts wait4 */
}

/* The last "bench: " line of the file, as "k=v;k=v", in out (cap bytes). */
static void result_line(const char *path, char *out, size_t cap) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "bench: ", 7) != 0) continue;
    char *word[MAXARG];
    int n = split(line + 7, word, MAXARG);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
      if (!strchr(word[i], '=') || strchr(word[i], ';') || strchr(word[i], '\t')) continue;
      size_t len = strlen(out);
      snprintf(out + len, cap - len, "%s%s", len ? ";" : "", word[i]);
    }
  }
  fclose(f);
}

static double field(const char *extra, const char *key) {
  size_t n = strlen(key);
  for (const char *p = extra; p && *p;) {
    if (strncmp(p, key, n) == 0 && p[n] == '=') return atof(p + n + 1);
    p = strchr(p, ';');
    if (p) p++;
  }
  return -1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void run(FILE *raw, const char *logdir, const workload_t *w, const alloc_t *a, int rep, const char *scale,
                unsigned timeout, int *done, int total) {
  char out[4096], err[4096], status[64], extra[4096];
  snprintf(out, sizeof out, "%s/%s.%s.%d.out", logdir, w->name, a->name, rep);
  snprintf(err, sizeof err, "%s/%s.%s.%d.err", logdir, w->name, a->name, rep);
  double wall = 0, t = 0;
  long rss = 0;
  extra[0] = 0;
  ++*done;
  if (w->missing) {
    snprintf(status, sizeof status, "missing");
  } else {
    char **env = child_env(w, a, scale);
    fflush(NULL);
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int fi = open("/dev/null", O_RDONLY);
      if (fo < 0 || fe < 0 || fi < 0) _exit(126);
      dup2(fi, 0);
      dup2(fo, 1);
      dup2(fe, 2);
      environ = env;
      execvp(w->argv[0], w->argv);
      _exit(127);
    }
    alarm(timeout);
    int st = 0, timed_out = 0;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0) {
      if (errno != EINTR) die("wait4: %s", strerror(errno));
      timed_out = 1;
      kill(pid, SIGKILL);
    }
    alarm(0);
    double t1 = now();
    free(env);
    wall = t1 - t0;
    rss = ru.ru_maxrss;
    result_line(out, extra, sizeof extra);
    if (timed_out) snprintf(status, sizeof status, "timeout");
    else if (WIFSIGNALED(st)) snprintf(status, sizeof status, "signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0) snprintf(status, sizeof status, "exit %d", WEXITSTATUS(st));
    else snprintf(status, sizeof status, "ok");
    t = wall;
    if (strncmp(w->measure, "rate:", 5) == 0 && strcmp(status, "ok") == 0) {
      double ops = field(extra, "ops"), secs = field(extra, "secs");
      if (ops > 0 && secs > 0) t = atof(w->measure + 5) * secs / ops;
      else snprintf(status, sizeof status, "noresult");
    }
  }
  fprintf(raw, "%s\t%s\t%s\t%s\t%d\t%s\t%.6f\t%.6f\t%ld\t%s\n", w->name, w->group, w->measure, a->name, rep, status,
          wall, t, rss, extra);
  fflush(raw);
  fprintf(stderr, "[%3d/%d] %-11s %-9s rep %d: %-8s %8.3f s %8.1f MiB\n", *done, total, w->name, a->name, rep,
          status, t, (double)rss / 1024.0);
}

static void usage(void) {
  die("usage: runner -s SUITE -o RAW.tsv -L LOGDIR [-r REPS] [-S SCALE] [-T TIMEOUT] [-w NAMES] [-v VAR=VALUE]... NAME=LIB[,VAR=VALUE]...");
}

int main(int argc, char **argv) {
  const char *suite = NULL, *rawpath = NULL, *logdir = NULL, *only = NULL, *scale = "1";
  int reps = 3;
  unsigned timeout = 300;
  int c;
  while ((c = getopt(argc, argv, "s:o:L:r:S:T:w:v:")) != -1) {
    switch (c) {
    case 's': suite = optarg; break;
    case 'o': rawpath = optarg; break;
    case 'L': logdir = optarg; break;
    case 'r': reps = atoi(optarg); break;
    case 'S': scale = optarg; break;
    case 'T': timeout = (unsigned)atoi(optarg); break;
    case 'w': only = optarg[0] ? optarg : NULL; break;
    case 'v': {
      char *eq = strchr(optarg, '=');
      if (!eq || nvars == MAXVAR - 1) usage();
      *eq = 0;
      vars[nvars][0] = optarg;
      vars[nvars++][1] = eq + 1;
      break;
    }
    default: usage();
    }
  }
  if (!suite || !rawpath || !logdir || reps < 1 || optind == argc || atof(scale) <= 0) usage();
  vars[nvars][0] = "SCALE";
  vars[nvars++][1] = (char *)scale;
  for (int i = optind; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i] || nal == MAXA) usage();
    *eq = 0;
    al[nal].name = argv[i];
    al[nal].lib = eq + 1;
    for (char *comma = strchr(eq + 1, ','); comma; comma = strchr(comma + 1, ',')) {
      *comma = 0;
      if (!strchr(comma + 1, '=') || al[nal].nenv == MAXVAR) usage();
      al[nal].env[al[nal].nenv++] = comma + 1;
    }
    if (al[nal].lib[0] && access(al[nal].lib, R_OK) != 0) die("%s: cannot read %s", al[nal].name, al[nal].lib);
    nal++;
  }
  load_suite(suite, only);
  if (nwl == 0) die("no workload selected");
  if (mkdir(logdir, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", logdir, strerror(errno));
  FILE *raw = fopen(rawpath, "w");
  if (!raw) die("cannot write %s: %s", rawpath, strerror(errno));
  fprintf(raw, "workload\tgroup\tmeasure\tallocator\trep\tstatus\twall_s\ttime_s\tmaxrss_kib\textra\n");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the alarm interrupts wait4 */
  sigaction(SIGALRM, &sa, NULL);
  int done = 0, total = reps * nwl * nal;
  for (int r = 1; r <= reps; r++)
    for (int i = 0; i < nwl; i++)
      for (int j = 0; j < nal; j++) run(raw, logdir, &wl[i], &al[(j + r - 1) % nal], r, scale, timeout, &done, total);
  fclose(raw);
  return 0;
}
