/* Workers: the threads of the stress scenarios (subinterp-parallel,
 * free-threading), released together by a barrier so that they really
 * overlap.
 *
 * A worker never writes on the observation channel, whose writer is
 * single-threaded: it keeps its first error as text, and the main thread
 * reports it after the join, naming the worker and the round. What every
 * worker is doing is also kept where the crash handler can read it, so a
 * crash or a hang names the worker and its round too. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What one worker is doing, written by it, read by the crash handler (of
 * any thread, at any moment): plain ints, each written whole. */
typedef struct {
    volatile pid_t tid;
    volatile int round;
    volatile int act;
    volatile int running;
} progress;

static progress progress_of[MAX_WORKERS];
static volatile int workers_running; /* how many entries of progress_of are this scenario's */
static pthread_barrier_t *the_barrier; /* the running workers' (workers_meet) */

typedef struct {
    worker *w;
    worker_fn fn;
    void *ctx;
    pthread_barrier_t *barrier;
} start;

static void *trampoline(void *arg)
{
    start *s = arg;
    progress *p = &progress_of[s->w->index - 1];
    p->tid = (pid_t)syscall(SYS_gettid);
    p->running = 1;
    /* Waited for with no thread state: on a free-threaded build, a thread
     * attached while it blocks would stall every stop-the-world pause. */
    pthread_barrier_wait(s->barrier);
    s->fn(s->w, s->ctx);
    p->running = 0;
    return NULL;
}

void run_workers(worker *ws, int n, worker_fn fn, void *ctx)
{
    if (n < 1 || n > MAX_WORKERS)
        harness_fatal("bad number of workers %d", n);
    pthread_t threads[MAX_WORKERS];
    start starts[MAX_WORKERS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    memset(progress_of, 0, sizeof progress_of);
    workers_running = n;
    the_barrier = &barrier;
    PyThreadState *saved = PyEval_SaveThread();
    for (int i = 0; i < n; i++) {
        ws[i].index = i + 1;
        starts[i] = (start){&ws[i], fn, ctx, &barrier};
        if (pthread_create(&threads[i], NULL, trampoline, &starts[i]) != 0)
            harness_fatal("could not start worker %d of %d", i + 1, n);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    PyEval_RestoreThread(saved);
    workers_running = 0;
    the_barrier = NULL;
    pthread_barrier_destroy(&barrier);
}

void workers_meet(void)
{
    /* Detached, as at the start: a worker blocked here while attached
     * would stall its interpreter's GIL or a stop-the-world pause. */
    PyThreadState *tstate = PyEval_SaveThread();
    pthread_barrier_wait(the_barrier);
    PyEval_RestoreThread(tstate);
}

void worker_at(worker *w, action act, int round)
{
    progress *p = &progress_of[w->index - 1];
    p->act = (int)act;
    p->round = round;
}

void worker_failed(worker *w, action act, int round, captured_error *e)
{
    if (w->failed) {
        release_error(e);
        return;
    }
    w->failed = 1;
    w->error = *e;
    w->error_action = act;
    w->error_round = round;
    *e = (captured_error){0};
}

int report_worker_errors(worker *ws, int n, stage st)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (!ws[i].failed)
            continue;
        failed++;
        report_error(&ws[i].error, step_name(st, ws[i].error_action),
                     ws[i].error_action == ACT_IMPORT ? PHASE_IMPORT : PHASE_SMOKE, ws[i].index,
                     ws[i].error_round);
        release_error(&ws[i].error);
    }
    return failed;
}

void describe_workers(char *buf, size_t cap, int *worker_index, int *round)
{
    size_t len = 0;
    pid_t self = (pid_t)syscall(SYS_gettid);
    *worker_index = 0;
    *round = 0;
    buf[0] = '\0';
    for (int i = 0; i < workers_running && i < MAX_WORKERS && len + 1 < cap; i++) {
        const progress *p = &progress_of[i];
        if (p->tid == self) {
            *worker_index = i + 1;
            *round = p->round;
        }
        const char *doing = p->running ? action_name((action)p->act)
                            : p->tid ? "ended"
                                     : "not started";
        int wrote = snprintf(buf + len, cap - len, "worker %d: %s", i + 1, doing);
        if (wrote > 0 && (size_t)wrote < cap - len)
            len += (size_t)wrote;
        if (p->running && p->round > 0 && len + 1 < cap) { /* 0: outside the rounds */
            wrote = snprintf(buf + len, cap - len, ", round %d", p->round);
            if (wrote > 0 && (size_t)wrote < cap - len)
                len += (size_t)wrote;
        }
        if (len + 1 < cap)
            buf[len++] = '\n', buf[len] = '\0';
    }
}
