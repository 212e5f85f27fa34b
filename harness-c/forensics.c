/* Crash and hang forensics: what a cell that dies of a signal leaves
 * behind, as one "forensics" event sent before the process dies; and the
 * same when the driver, at the cell's timeout, asks with the dump signal before it
 * kills the cell (the process then goes on until it is killed).
 *
 * - The Python traceback of every thread: faulthandler, enabled in every
 *   main interpreter right after init, writes into a memory file
 *   (memfd) of its own, never into the target's stderr.
 * - The C frames of every thread: gdb in batch mode attached to the
 *   dying process (it reads each image's full symbol table, so static
 *   functions of the extension are named); without gdb, glibc's
 *   backtrace(), which names exported symbols only.
 *
 * faulthandler runs first (it chains to the handler installed before it,
 * this one), then this handler reads what it wrote, runs gdb, reports,
 * and dies of the same signal with the default action.
 *
 * The dump signal is a real-time signal nobody handles when the harness
 * starts, announced in a "dump_signal" event, not SIGUSR1: a correct
 * module may install its own SIGUSR1 (or SIGTERM) handler. A target that
 * takes the dump signal too is noticed at the next step, and the dump
 * moves to another free one (a new event); where none is left the event
 * says 0 and the driver reports that no stacks could be asked for.
 *
 * Nothing here reads the environment or the current directory after
 * forensics_install: gdb's path and the environment it runs with are
 * taken then, before any target code (which may move environ, empty PATH
 * or chdir). */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static int traceback_fd = -1; /* faulthandler writes here */
static int frames_fd = -1;    /* gdb (or backtrace) writes here */
static int dump_signal = 0;   /* the driver's "you are about to be killed"; 0: none free */
/* faulthandler's own handler for the dump signal, once it registered one
 * (it chains to report_stacks): the other handler that is the harness's. */
static void (*faulthandler_handler)(int) = NULL;
static char *gdb_path = NULL;   /* resolved from PATH at install; NULL: no gdb */
static char **gdb_env = NULL;   /* the environment at install, copied */

/* How long gdb may take to attach and print before it is given up. */
#define GDB_SECONDS 20
/* The most of each text an event carries (obs values are cut at 16 KiB). */
#define TEXT_MAX 16000

static const int FATAL_SIGNALS[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: break;
    }
    static char rt[16];
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        snprintf(rt, sizeof rt, "SIGRTMAX-%d", SIGRTMAX - sig);
        return SIGRTMAX == sig ? "SIGRTMAX" : rt;
    }
    return "?";
}

/* The whole of a memory file, from its start, as a string in `buf`. */
static const char *read_back(int fd, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return buf;
    size_t len = 0;
    for (ssize_t got; len + 1 < cap && (got = read(fd, buf + len, cap - 1 - len)) != 0;) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)got;
    }
    buf[len] = '\0';
    return buf;
}

/* Attach gdb to this process and print every thread's frames into
 * frames_fd (emptied first: a hang's dump may come before a crash's); 0
 * when gdb ran. */
static int frames_from_gdb(void)
{
    if (gdb_path == NULL || frames_fd < 0 || ftruncate(frames_fd, 0) < 0
        || lseek(frames_fd, 0, SEEK_SET) < 0)
        return -1;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        dup2(frames_fd, 1);
        dup2(frames_fd, 2);
        alarm(GDB_SECONDS); /* a stuck gdb dies, and detaches by dying */
        char *const args[] = {"gdb", "-p", pid, "-batch", "-nx", "-q", "-ex", "set pagination off",
                              "-ex", "thread apply all bt", NULL};
        if (gdb_path)
            execve(gdb_path, args, gdb_env);
        _exit(127);
    }
#if defined(__linux__) && defined(PR_SET_PTRACER)
    prctl(PR_SET_PTRACER, (unsigned long)child, 0, 0, 0); /* Yama: let this child attach */
#endif
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -1 : 0;
}

/* Report every thread's Python and C stacks as a "forensics" event. */
static void report_stacks(int sig)
{
    static char python[TEXT_MAX], frames[TEXT_MAX], workers[TEXT_MAX];
    if (!obs_is_owner())
        return; /* a process the target forked: not the cell's to report */
    int saved_errno = errno; /* a hang's dump returns to what was running */
    if (frames_from_gdb() < 0 && frames_fd >= 0) {
        void *addrs[64];
        int n = backtrace(addrs, 64);
        (void)ftruncate(frames_fd, 0);
        (void)lseek(frames_fd, 0, SEEK_SET);
        backtrace_symbols_fd(addrs, n, frames_fd);
    }
    obs_line *l = obs_begin("forensics");
    obs_str(l, "signal", signal_name(sig));
    obs_str(l, "python", read_back(traceback_fd, python, sizeof python));
    obs_str(l, "c", read_back(frames_fd, frames, sizeof frames));
    /* In a stress scenario: where every worker was, and which one this is. */
    int worker = 0, round = 0;
    describe_workers(workers, sizeof workers, &worker, &round);
    if (workers[0])
        obs_str(l, "workers", workers);
    if (worker > 0 && sig != dump_signal) { /* a hang's dump lands on any thread */
        obs_int(l, "worker", worker);
        obs_int(l, "round", round);
    }
    obs_end_lossy(l);
    errno = saved_errno;
}

static void on_fatal_signal(int sig)
{
    if (!claim_last_words())
        for (;;)
            pause(); /* another thread is reporting: it ends the process */
    /* Said first, in one write: taking the stacks (gdb) may outlast the
     * cell's timeout on a loaded machine, and a crash must stay a crash. */
    if (obs_is_owner()) {
        obs_line *l = obs_begin("crashing");
        obs_str(l, "signal", signal_name(sig));
        obs_end_lossy(l);
    }
    report_stacks(sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A deep copy of the environment as it is now. */
static char **copy_environ(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; copy && i < n; i++)
        copy[i] = strdup(environ[i]);
    return copy;
}

/* `name` found on the PATH of `env` (a relative entry taken from the
 * current directory now), as an absolute path; NULL if not found. */
static char *find_program(const char *name, char **env)
{
    const char *path = "/usr/bin:/bin";
    for (size_t i = 0; env && env[i]; i++) {
        if (strncmp(env[i], "PATH=", 5) == 0) {
            path = env[i] + 5;
            break;
        }
    }
    char cwd[PATH_MAX];
    const char *here = getcwd(cwd, sizeof cwd) ? cwd : ".";
    for (const char *dir = path;; dir += strcspn(dir, ":") + 1) {
        int len = (int)strcspn(dir, ":");
        /* An empty entry is the current directory. */
        const char *entry = len ? dir : ".";
        int entry_len = len ? len : 1;
        char candidate[PATH_MAX];
        int n = entry[0] == '/'
            ? snprintf(candidate, sizeof candidate, "%.*s/%s", entry_len, entry, name)
            : snprintf(candidate, sizeof candidate, "%s/%.*s/%s", here, entry_len, entry, name);
        if (n > 0 && (size_t)n < sizeof candidate && access(candidate, X_OK) == 0)
            return strdup(candidate);
        if (dir[len] == '\0')
            return NULL;
    }
}

/* The plain handler installed on `sig` now (SIG_DFL, SIG_IGN or a
 * function); NULL for a three-argument (SA_SIGINFO) one, or when it cannot
 * be read. */
static void (*plain_handler(int sig))(int)
{
    struct sigaction now;
    if (sigaction(sig, NULL, &now) < 0 || (now.sa_flags & SA_SIGINFO))
        return NULL;
    return now.sa_handler;
}

/* Whether `handler` is one of the harness's for the dump signal. */
static int is_ours(void (*handler)(int))
{
    return handler && (handler == report_stacks || handler == faulthandler_handler);
}

/* The highest real-time signal below `below` that nobody handles, with
 * report_stacks installed on it; 0 when none is left. */
static int take_free_signal(int below)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = report_stacks;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int sig = below - 1; sig >= SIGRTMIN; sig--)
        if (plain_handler(sig) == SIG_DFL && sigaction(sig, &sa, NULL) == 0)
            return sig;
    return 0;
}

static void announce_dump_signal(void)
{
    obs_line *l = obs_begin("dump_signal");
    obs_int(l, "signal", dump_signal);
    obs_end(l);
}

void forensics_install(void)
{
    gdb_env = copy_environ();
    gdb_path = find_program("gdb", gdb_env);
    traceback_fd = memfd_create("extmatrix-python-traceback", MFD_CLOEXEC);
    frames_fd = memfd_create("extmatrix-c-frames", MFD_CLOEXEC);
    /* Its own stack: a stack overflow must still be reported. */
    static char alt_stack[1 << 16];
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof FATAL_SIGNALS / sizeof FATAL_SIGNALS[0]; i++)
        sigaction(FATAL_SIGNALS[i], &sa, NULL);
    dump_signal = take_free_signal(SIGRTMAX + 1);
    announce_dump_signal();
}

/* The calling thread's state, or NULL when it has none (no interpreter). */
static PyThreadState *current_tstate(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

/* faulthandler on the dump signal: the Python stacks first, then (chain)
 * report_stacks. Only in the main interpreter, whose faulthandler writes
 * into traceback_fd. */
static void register_dump_with_faulthandler(PyObject *faulthandler)
{
    PyObject *r = dump_signal ? PyObject_CallMethod(faulthandler, "register", "iiii", dump_signal,
                                                    traceback_fd, 1, 1)
                              : NULL;
    if (r)
        faulthandler_handler = plain_handler(dump_signal);
    Py_XDECREF(r);
}

void forensics_check_dump_signal(void)
{
    if (dump_signal == 0)
        return;
    if (is_ours(plain_handler(dump_signal)))
        return;
    /* The target took it: its handler stays, the dump moves. */
    dump_signal = take_free_signal(dump_signal);
    announce_dump_signal();
    /* Python's stacks too, at once where the main interpreter is current
     * (elsewhere from its next init on). */
    PyThreadState *tstate = current_tstate();
    if (tstate && PyThreadState_GetInterpreter(tstate) == PyInterpreterState_Main()) {
        PyObject *faulthandler = PyImport_ImportModule("faulthandler");
        if (faulthandler)
            register_dump_with_faulthandler(faulthandler);
        Py_XDECREF(faulthandler);
        PyErr_Clear();
    }
}

void forensics_enable_faulthandler(void)
{
    if (traceback_fd < 0)
        return;
    PyObject *faulthandler = PyImport_ImportModule("faulthandler");
    PyObject *r = faulthandler
        ? PyObject_CallMethod(faulthandler, "enable", "ii", traceback_fd, 1)
        : NULL;
    Py_XDECREF(r);
    if (faulthandler)
        register_dump_with_faulthandler(faulthandler);
    Py_XDECREF(faulthandler);
    PyErr_Clear(); /* an interpreter without faulthandler still runs */
}
