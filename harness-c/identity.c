/* Identity checks: which objects reachable from a module are the very same
 * objects in another interpreter, or after a re-import.
 *
 * The harness only observes: for each object alive in both sets at one
 * address it reports where the object lives (dladdr: the extension's image,
 * libpython's image, or the heap), whether it is immortal, whether it is
 * an interned string, for a type's attribute where that type lives, whether
 * it existed before the target was first imported, and whether it is a
 * module of the interpreter's sys.modules. Whether that counts as shared
 * state is the judge's call (crates/extmatrix-judge), so the rule lives in
 * one place. */
#include "harness.h" /* Python.h first: its pyconfig.h defines _GNU_SOURCE, which dladdr needs */

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any static of the harness executable, to find that image's load base. */
static const char main_marker = 0;

/* Adds `obj` and returns its index. */
static size_t reach_add(reach_set *s, PyObject *obj, const char *path, size_t owner)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        reach_item *items = realloc(s->items, cap * sizeof *items);
        if (items == NULL)
            harness_fatal("out of memory collecting reachable objects");
        s->items = items;
        s->cap = cap;
    }
    reach_item *it = &s->items[s->len++];
    Py_INCREF(obj);
    it->obj = obj;
    it->addr = (uintptr_t)obj;
    snprintf(it->path, sizeof it->path, "%s", path);
    it->owner = owner;
    return s->len - 1;
}

static const char *key_text(PyObject *key)
{
    const char *text = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
    PyErr_Clear();
    return text ? text : "<non-str key>";
}

/* The attributes of a type, as its __dict__ (a mappingproxy) lists them. */
static void collect_type_attributes(PyObject *type, const char *type_path, size_t type_index,
                                    reach_set *out)
{
    PyObject *proxy = PyObject_GetAttrString(type, "__dict__");
    PyObject *items = proxy ? PyMapping_Items(proxy) : NULL;
    PyErr_Clear();
    /* A metaclass may give __dict__ any meaning; take only (key, value) pairs. */
    for (Py_ssize_t i = 0; items && PyList_Check(items) && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
            continue;
        char path[160];
        snprintf(path, sizeof path, "%s.%s", type_path, key_text(PyTuple_GET_ITEM(pair, 0)));
        reach_add(out, PyTuple_GET_ITEM(pair, 1), path, type_index + 1);
    }
    Py_XDECREF(items);
    Py_XDECREF(proxy);
}

/* gc.get_objects() before the first import, held, and its addresses sorted. */
static PyObject *remembered;
static uintptr_t *remembered_addrs;
static size_t remembered_len;

static int compare_addr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

void reach_remember_interpreter(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *all = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    Py_XDECREF(gc);
    if (all == NULL || !PyList_Check(all)) {
        PyErr_Clear();
        Py_XDECREF(all);
        return;
    }
    size_t n = (size_t)PyList_GET_SIZE(all);
    remembered_addrs = malloc((n ? n : 1) * sizeof *remembered_addrs);
    if (remembered_addrs == NULL)
        harness_fatal("out of memory remembering the interpreter's objects");
    for (size_t i = 0; i < n; i++)
        remembered_addrs[i] = (uintptr_t)PyList_GET_ITEM(all, (Py_ssize_t)i);
    qsort(remembered_addrs, n, sizeof *remembered_addrs, compare_addr);
    remembered_len = n;
    remembered = all;
}

void reach_forget_interpreter(void)
{
    Py_CLEAR(remembered);
    free(remembered_addrs);
    remembered_addrs = NULL;
    remembered_len = 0;
}

static int existed_before_import(const PyObject *obj)
{
    uintptr_t addr = (uintptr_t)obj;
    return remembered_addrs &&
           bsearch(&addr, remembered_addrs, remembered_len, sizeof addr, compare_addr) != NULL;
}

/* A module object (not `module`) that is the current interpreter's
 * sys.modules entry for its own name: a dependency, which a re-import of
 * the target does not import again. */
static int registered_module(PyObject *obj, PyObject *module)
{
    if (obj == module || !PyModule_Check(obj))
        return 0;
    PyObject *name = PyModule_GetNameObject(obj);
    PyObject *entry = name ? PyDict_GetItemWithError(PyImport_GetModuleDict(), name) : NULL;
    Py_XDECREF(name);
    PyErr_Clear();
    return entry == obj;
}

/* A type or function whose `__module__` names a module of the interpreter's
 * sys.modules outside the target's top-level package, other than builtins: a function
 * or type a dependency defined (`from json import dumps`), which a re-import
 * of the target does not define again. Only asked after a re-import, in the
 * one interpreter. */
/* `a` and `b` are in one top-level package (`rpds` and `rpds.rpds`,
 * `pkg.api` and `pkg._core`): a project's types often name its public
 * module (`__module__ = "rpds"`), which re-exports them. */
static int same_package(const char *a, const char *b)
{
    size_t la = strcspn(a, "."), lb = strcspn(b, ".");
    return la == lb && strncmp(a, b, la) == 0;
}

static int defined_by_dependency(PyObject *obj, PyObject *module)
{
    /* Only what defines itself: an instance's __module__ is its class's,
     * and a dependency's class says nothing of who made the instance. */
    if (!PyType_Check(obj) && !PyFunction_Check(obj) && !PyCFunction_Check(obj))
        return 0;
    PyObject *target = PyModule_GetNameObject(module);
    PyObject *where = target ? PyObject_GetAttrString(obj, "__module__") : NULL;
    int foreign = 0;
    if (where && PyUnicode_Check(where)) {
        const char *w = PyUnicode_AsUTF8(where), *t = PyUnicode_AsUTF8(target);
        foreign = w && t && !same_package(w, t) && strcmp(w, "builtins") != 0 &&
                  PyDict_GetItemWithError(PyImport_GetModuleDict(), where) != NULL;
    }
    Py_XDECREF(where);
    Py_XDECREF(target);
    PyErr_Clear();
    return foreign;
}

void reach_collect(PyObject *module, reach_set *out)
{
    /* A module handed back again by its init function is the plainest case. */
    reach_add(out, module, "(module)", 0);
    /* A snapshot of the dict: collecting type attributes runs Python code. */
    PyObject *items = PyDict_Items(PyModule_GetDict(module));
    if (items == NULL) {
        PyErr_Clear();
        return;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        const char *name = key_text(PyTuple_GET_ITEM(pair, 0));
        size_t index = reach_add(out, value, name, 0);
        if (PyType_Check(value))
            collect_type_attributes(value, name, index, out);
    }
    Py_DECREF(items);

    obs_line *l = obs_begin("reachable");
    obs_int(l, "count", (long long)out->len);
    obs_end(l);
}

void reach_release(reach_set *set)
{
    for (size_t i = 0; i < set->len; i++)
        Py_DECREF(set->items[i].obj);
    free(set->items);
    set->items = NULL;
    set->len = set->cap = 0;
}

static int is_immortal(PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030C0000
    return _Py_IsImmortal(obj);
#else
    (void)obj;
    return 0; /* immortal objects arrived in 3.12 (PEP 683) */
#endif
}

/* The image an address belongs to, by load base; NULL for heap memory. */
static const char *image_of(const void *addr, void **base)
{
    Dl_info info;
    if (dladdr(addr, &info) && info.dli_fname) {
        *base = info.dli_fbase;
        return info.dli_fname;
    }
    *base = NULL;
    return NULL;
}

/* The real path of the module's own shared object, by its __file__ (a
 * single-phase module re-created from its cached copy may not point at the
 * extension's own PyModuleDef). Empty when it has no file. */
static void extension_path(PyObject *module, char out[PATH_MAX])
{
    out[0] = '\0';
    PyObject *file = PyModule_GetFilenameObject(module);
    const char *path = file ? PyUnicode_AsUTF8(file) : NULL;
    if (path == NULL || realpath(path, out) == NULL)
        out[0] = '\0';
    Py_XDECREF(file);
    PyErr_Clear();
}

static int is_file(const char *image, const char *wanted)
{
    char real[PATH_MAX];
    return wanted[0] && realpath(image, real) && strcmp(real, wanted) == 0;
}

/* Where in the extension's writable memory a pointer to an object is
 * kept: a heap object shared through a C global is found by the global
 * that holds it. */
typedef struct {
    const char *ext_path; /* real path of the extension's image */
    uintptr_t wanted;     /* the object's address */
    long long found;      /* offset of the holding slot from the image's base, or -1 */
} held_search;

static int search_image(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    held_search *s = data;
    if (!is_file(info->dlpi_name, s->ext_path))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
        uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        for (uintptr_t slot = start; slot + sizeof(void *) <= end; slot += sizeof(void *)) {
            if (*(const uintptr_t *)slot == s->wanted) {
                s->found = (long long)(slot - info->dlpi_addr);
                return 1;
            }
        }
    }
    return 1;
}

/* The offset in the extension's image of a writable slot holding `obj`;
 * -1 when none does. */
static long long held_by_extension(const void *obj, const char *ext_path)
{
    held_search s = {ext_path, (uintptr_t)obj, -1};
    if (ext_path[0])
        dl_iterate_phdr(search_image, &s);
    return s.found;
}

/* A static type the runtime manages per interpreter (3.12+: the builtin
 * types, and in 3.13 the static types a core extension such as _datetime
 * registers with _PyStaticType_InitForExtension): one object at one
 * address, but its dict, subclasses and caches are each interpreter's. */
static int runtime_managed_type(PyObject *obj)
{
#ifdef _Py_TPFLAGS_STATIC_BUILTIN
    return obj && PyType_Check(obj) && (((PyTypeObject *)obj)->tp_flags & _Py_TPFLAGS_STATIC_BUILTIN);
#else
    (void)obj;
    return 0;
#endif
}

/* The vocabulary of "shared" and "compared". */
static const char *const COMPARISON_NAME[] = {
    [COMPARE_MAIN_SUBINTERP] = "main/subinterp",
    [COMPARE_OLD_NEW] = "old/new",
};

typedef enum { LIVES_EXTENSION, LIVES_LIBPYTHON, LIVES_HEAP, LIVES_OTHER_IMAGE } lives_in;

static const char *const LIVES_NAME[] = {
    [LIVES_EXTENSION] = "extension",
    [LIVES_LIBPYTHON] = "libpython",
    [LIVES_HEAP] = "heap",
    [LIVES_OTHER_IMAGE] = "other-image",
};

/* The images that tell where an object lives. */
typedef struct {
    void *py_base, *exe_base;
    char ext_path[PATH_MAX];
} images;

/* Where `obj` lives; `*image` and `*base` get its image and that image's
 * load base (NULL on the heap). */
static lives_in lives_of(const void *obj, const images *im, const char **image, void **base_out)
{
    void *base;
    *image = image_of(obj, &base);
    *base_out = base;
    return *image == NULL                                  ? LIVES_HEAP
           : is_file(*image, im->ext_path)                 ? LIVES_EXTENSION
           : base == im->py_base || base == im->exe_base ? LIVES_LIBPYTHON
                                                          : LIVES_OTHER_IMAGE;
}

void reach_compare(const reach_set *before, const reach_set *after, comparison which,
                   PyObject *module)
{
    if ((unsigned)which >= sizeof COMPARISON_NAME / sizeof COMPARISON_NAME[0])
        harness_fatal("bad comparison %d", (int)which);
    const char *label = COMPARISON_NAME[which];
    images im;
    /* None is a static of libpython. The harness executable counts as
     * libpython too: it defines no Python objects of its own, and when
     * libpython is linked in statically the runtime's statics are there. */
    image_of(Py_None, &im.py_base);
    image_of((void *)&main_marker, &im.exe_base);
    extension_path(module, im.ext_path);

    size_t shared = 0;
    for (size_t i = 0; i < after->len; i++) {
        const reach_item *a = &after->items[i];
        const reach_item *b = NULL;
        for (size_t j = 0; j < before->len && b == NULL; j++)
            if (before->items[j].addr == a->addr)
                b = &before->items[j];
        if (b == NULL)
            continue;
        shared++;
        const char *image;
        void *base;
        lives_in lives = lives_of(a->obj, &im, &image, &base);
        char addr[32];
        snprintf(addr, sizeof addr, "0x%lx", (unsigned long)a->addr);
        obs_line *l = obs_begin("shared");
        obs_str(l, "label", label);
        obs_str(l, "path", a->path);
        if (strcmp(a->path, b->path) != 0)
            obs_str(l, "path_before", b->path);
        obs_str(l, "type", Py_TYPE(a->obj)->tp_name);
        obs_str(l, "addr", addr);
        obs_str(l, "lives", LIVES_NAME[lives]);
        if (image) {
            obs_str(l, "image", image);
            obs_int(l, "offset", (long long)(a->addr - (uintptr_t)base));
        }
        if (lives == LIVES_HEAP) {
            long long held = held_by_extension(a->obj, im.ext_path);
            if (held >= 0) {
                obs_str(l, "held_in", im.ext_path);
                obs_int(l, "held_at", held);
            }
        }
        /* A managed static type, an attribute of one, or an immortal
         * statically allocated instance of one (3.13's datetime.UTC):
         * what the runtime shares between interpreters by design. */
        obs_bool(l, "runtime_managed",
                 runtime_managed_type(a->obj) ||
                     (a->owner && runtime_managed_type(after->items[a->owner - 1].obj)) ||
                     (image && !PyType_Check(a->obj) && is_immortal(a->obj) &&
                      runtime_managed_type((PyObject *)Py_TYPE(a->obj))));
        obs_bool(l, "immortal", is_immortal(a->obj));
        obs_bool(l, "interned", PyUnicode_Check(a->obj) && PyUnicode_CHECK_INTERNED(a->obj));
        /* A type's dict belongs to whoever owns the type: the attributes of
         * a type that existed before the import are as old as it is. */
        obs_bool(l, "existed_before_import",
                 existed_before_import(a->obj) ||
                     (a->owner && existed_before_import(after->items[a->owner - 1].obj)));
        if (which == COMPARE_OLD_NEW) {
            const PyObject *owner = a->owner ? after->items[a->owner - 1].obj : NULL;
            obs_bool(l, "registered_module", registered_module(a->obj, module));
            /* A dependency's type's attributes are the dependency's too. */
            obs_bool(l, "defined_by_dependency",
                     defined_by_dependency(a->obj, module) ||
                         (owner && defined_by_dependency((PyObject *)owner, module)));
        }
        if (a->owner) {
            const char *owner_image;
            void *owner_base;
            obs_str(l, "owner_lives",
                    LIVES_NAME[lives_of(after->items[a->owner - 1].obj, &im, &owner_image, &owner_base)]);
        }
        obs_end(l);
    }
    obs_line *l = obs_begin("compared");
    obs_str(l, "label", label);
    obs_int(l, "before", (long long)before->len);
    obs_int(l, "after", (long long)after->len);
    obs_int(l, "same_address", (long long)shared);
    obs_end(l);
}
