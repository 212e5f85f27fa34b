/* Per-cycle figures of the cycling scenarios (reinit, reimport,
 * subinterp-cycle): what the interpreter counts after a collection, the
 * process's RSS, and on debug builds what the runtime still counts once
 * finalized (CPython's "[N refs, M blocks]"). The judge subtracts a baseline
 * run's figures from these; nothing here decides anything. */
#include "harness.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long call_sys_int(const char *name)
{
    PyObject *fn = PySys_GetObject(name); /* borrowed: held while calling */
    if (fn == NULL)
        return -1;
    Py_INCREF(fn);
    PyObject *r = PyObject_CallObject(fn, NULL);
    Py_DECREF(fn);
    long long v = r ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    return v;
}

/* A libpython function that only some builds export, looked up at run
 * time so one harness source serves them all. */
static void *runtime_symbol(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

/* "pymalloc_debug", "mimalloc_debug", ... (exported since 3.8). */
static const char *allocator_name(void)
{
    const char *(*fn)(void) = (const char *(*)(void))runtime_symbol("_PyMem_GetCurrentAllocatorName");
    return fn ? fn() : NULL;
}

interp_figures measure_interpreter(int ok)
{
    /* A collection first: what a cycle left behind is what is still
     * reachable, not what the collector has not got to yet. */
    PyGC_Collect();
    interp_figures f = {
        .ok = ok,
        .blocks = call_sys_int("getallocatedblocks"),
        .refs = call_sys_int("gettotalrefcount"), /* --with-pydebug builds only */
        .allocator = allocator_name(),
    };
    return f;
}

static long long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The bytes malloc has handed out and not had back (glibc's mallinfo2:
 * in use in its heaps plus its own mmapped chunks), in KiB; -1 elsewhere.
 * Unlike the RSS it does not grow when freed memory cannot be returned. */
static long long malloc_in_use_kb(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (long long)((mi.uordblks + mi.hblkhd) / 1024);
#else
    return -1;
#endif
}

/* What a debug runtime still counts after Py_FinalizeEx: the refs (3.12+:
 * _Py_GetGlobalRefTotal; 3.11: _Py_GetRefTotal) and, where exported, the
 * blocks (3.11: _Py_GetAllocatedBlocks). -1 where the build has neither. */
static long long final_count(const char *const names[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Py_ssize_t (*fn)(void) = (Py_ssize_t (*)(void))runtime_symbol(names[i]);
        if (fn)
            return (long long)fn();
    }
    return -1;
}

static const char *const FINAL_REFS[] = {"_Py_GetGlobalRefTotal", "_Py_GetRefTotal"};
static const char *const FINAL_BLOCKS[] = {"_Py_GetAllocatedBlocks"};

void report_cycle(int n, double seconds, const interp_figures *in)
{
    obs_line *l = obs_begin("cycle");
    obs_int(l, "n", n);
    obs_int(l, "us", (long long)(seconds * 1e6));
    obs_bool(l, "ok", in->ok);
    if (in->blocks >= 0)
        obs_int(l, "allocated_blocks", in->blocks);
    if (in->refs >= 0)
        obs_int(l, "total_refcount", in->refs);
    if (in->allocator)
        obs_str(l, "allocator", in->allocator);
    obs_int(l, "rss_kb", rss_kb());
    long long heap = malloc_in_use_kb();
    if (heap >= 0)
        obs_int(l, "malloc_kb", heap);
    if (!Py_IsInitialized() && in->refs >= 0) {
        long long refs = final_count(FINAL_REFS, sizeof FINAL_REFS / sizeof FINAL_REFS[0]);
        long long blocks = final_count(FINAL_BLOCKS, sizeof FINAL_BLOCKS / sizeof FINAL_BLOCKS[0]);
        if (refs >= 0)
            obs_int(l, "final_refs", refs);
        if (blocks >= 0)
            obs_int(l, "final_blocks", blocks);
    }
    obs_end(l);
}
