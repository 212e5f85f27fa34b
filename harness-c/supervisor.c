/* The cell's supervisor.
 *
 * Before any Python runs, the harness forks. The child runs the scenario;
 * the parent stays behind as the cell's supervisor:
 *
 * - it is a child subreaper (PR_SET_CHILD_SUBREAPER), so every process the
 *   target starts is reparented to it, not to init, when its own parent
 *   dies — whatever process group or session it moved to (setsid, setpgid,
 *   a double fork);
 * - it waits for the child; SIGTERM (the driver's timeout) makes it kill the
 *   child at once;
 * - then it kills every process still running below it (found through
 *   /proc, again and again until none is left, so that what is forked
 *   while it kills is caught too), reports how many there were in a
 *   "cleanup" event, and
 * - ends the way the child ended: the same exit status, or the same signal
 *   raised again, so the driver sees a crash as a crash.
 *
 * It is the process group leader the driver started; the driver still kills
 * the whole group afterwards, and kills it outright if the supervisor does
 * not end within a grace period after SIGTERM.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long the supervisor keeps hunting processes below itself. */
#define CLEANUP_SECONDS 5.0

typedef struct {
    pid_t *pids;
    size_t len, cap;
} pid_list;

static int pid_list_has(const pid_list *l, pid_t pid)
{
    for (size_t i = 0; i < l->len; i++)
        if (l->pids[i] == pid)
            return 1;
    return 0;
}

static void pid_list_add(pid_list *l, pid_t pid)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pid_t *bigger = realloc(l->pids, cap * sizeof *bigger);
        if (bigger == NULL)
            return; /* counted short; still killed */
        l->pids = bigger;
        l->cap = cap;
    }
    l->pids[l->len++] = pid;
}

/* One process of /proc: its pid, its parent's, its state letter. */
typedef struct {
    pid_t pid, ppid;
    char state;
} proc_entry;

/* Fill `e` from /proc/<pid>/stat; 0 on success. */
static int read_stat(pid_t pid, proc_entry *e)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold anything, so from the last ')'. */
    char *paren = strrchr(buf, ')');
    int ppid;
    if (paren == NULL || sscanf(paren + 1, " %c %d", &e->state, &ppid) != 2)
        return -1;
    e->pid = pid;
    e->ppid = (pid_t)ppid;
    return 0;
}

/* Every process /proc lists, with parent and state. */
static size_t read_procs(proc_entry **out)
{
    *out = NULL;
    DIR *dir = opendir("/proc");
    if (dir == NULL)
        return 0;
    size_t len = 0, cap = 0;
    proc_entry *procs = NULL;
    for (struct dirent *d; (d = readdir(dir)) != NULL;) {
        char *end;
        long pid = strtol(d->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 1024;
            proc_entry *bigger = realloc(procs, cap * sizeof *bigger);
            if (bigger == NULL)
                break;
            procs = bigger;
        }
        if (read_stat((pid_t)pid, &procs[len]) == 0)
            len++;
    }
    closedir(dir);
    *out = procs;
    return len;
}

/* SIGKILL to every live process below this one; each one not seen before is
 * added to `seen`. Returns how many were signalled this round. */
static size_t kill_below(pid_list *seen)
{
    proc_entry *procs;
    size_t n = read_procs(&procs);
    pid_t self = getpid();
    pid_list below = {0};
    for (int grew = 1; grew;) {
        grew = 0;
        for (size_t i = 0; i < n; i++) {
            if (pid_list_has(&below, procs[i].pid))
                continue;
            if (procs[i].ppid == self || pid_list_has(&below, procs[i].ppid)) {
                pid_list_add(&below, procs[i].pid);
                grew = 1;
            }
        }
    }
    size_t signalled = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pid_list_has(&below, procs[i].pid) || procs[i].state == 'Z' || procs[i].state == 'X')
            continue;
        if (kill(procs[i].pid, SIGKILL) == 0) {
            signalled++;
            if (!pid_list_has(seen, procs[i].pid))
                pid_list_add(seen, procs[i].pid);
        }
    }
    free(below.pids);
    free(procs);
    return signalled;
}

/* Reap every child that has ended; 1 if children remain, 0 if none. */
static int reap_all(void)
{
    pid_t p;
    while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
        ;
    return p == 0 || (p < 0 && errno == EINTR);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Kill everything below the supervisor until nothing is left; returns how
 * many processes were still running. */
static int kill_descendants(void)
{
    pid_list seen = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        size_t signalled = kill_below(&seen);
        int children = reap_all();
        if ((signalled == 0 && !children) || seconds_since(&t0) > CLEANUP_SECONDS)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    int n = (int)seen.len;
    free(seen.pids);
    return n;
}

/* Wait for `child` (its wait status); reap whatever else ends meanwhile.
 * SIGTERM kills the child. SIGCHLD and SIGTERM are blocked here. */
static int wait_for(pid_t child, const sigset_t *signals)
{
    for (;;) {
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0)
            if (p == child)
                return status;
        if (p < 0 && errno == ECHILD)
            return 3 << 8; /* cannot happen: nobody else reaps it */
        if (sigwaitinfo(signals, NULL) == SIGTERM)
            kill(child, SIGKILL);
    }
}

/* End the way the child ended. */
static void end_like(int status)
{
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    /* The child dumped core already, if it was to. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t just;
    sigemptyset(&just);
    sigaddset(&just, sig);
    sigprocmask(SIG_UNBLOCK, &just, NULL);
    raise(sig);
    _exit(128 + sig); /* a signal that does not kill */
}

void supervise(void)
{
    sigset_t signals, old;
    sigemptyset(&signals);
    sigaddset(&signals, SIGCHLD);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, &old);
    int subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0)
        harness_fatal("fork failed: %s", strerror(errno));
    if (child == 0) {
        /* A supervisor killed outright takes the harness with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != self)
            raise(SIGKILL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return;
    }
    /* The driver may have stopped reading the channel: a write then fails
     * instead of killing the supervisor. */
    signal(SIGPIPE, SIG_IGN);
    int status = wait_for(child, &signals);
    int left = kill_descendants();
    if (!subreaper) {
        obs_line *n = obs_begin("note");
        obs_str(n, "message", "PR_SET_CHILD_SUBREAPER failed: processes that left the harness's tree were not found");
        obs_end_lossy(n);
    }
    obs_line *l = obs_begin("cleanup");
    obs_int(l, "left_behind", left);
    obs_end_lossy(l);
    end_like(status);
}
