/* Crash and hang forensics: what a cell that dies of a signal leaves
 * behind, as one "forensics" event sent before the process dies; and the
 * same when the driver, at the cell's timeout, asks with SIGUSR1 before it
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
 * and dies of the same signal with the default action. */
#include "harness.h"

#include <errno.h>
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
    case SIGUSR1: return "SIGUSR1";
    default: return "?";
    }
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
    if (frames_fd < 0 || ftruncate(frames_fd, 0) < 0 || lseek(frames_fd, 0, SEEK_SET) < 0)
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
        execlp("gdb", "gdb", "-p", pid, "-batch", "-nx", "-q", "-ex", "set pagination off",
               "-ex", "thread apply all bt", (char *)NULL);
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
    static char python[TEXT_MAX], frames[TEXT_MAX];
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
    obs_end_lossy(l);
}

static void on_fatal_signal(int sig)
{
    report_stacks(sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

void forensics_install(void)
{
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
    sa.sa_handler = report_stacks; /* the driver's "you are about to be killed" */
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
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
    /* SIGUSR1: the Python stacks first, then (chain) report_stacks. */
    r = faulthandler ? PyObject_CallMethod(faulthandler, "register", "iiii", SIGUSR1,
                                           traceback_fd, 1, 1)
                     : NULL;
    Py_XDECREF(r);
    Py_XDECREF(faulthandler);
    PyErr_Clear(); /* an interpreter without faulthandler still runs */
}
