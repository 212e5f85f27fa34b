/* What the target's import warns about, kept without importing `warnings`.
 *
 * warnings.catch_warnings(record=True) would import the `warnings` module
 * into every interpreter the harness makes: without `site` nothing else
 * does, and that import alone costs a twentieth of a bare init/import/
 * finalize cycle. Instead, a witness: every warning, raised from Python or
 * from C (PyErr_WarnEx, CPython's RuntimeWarning that it turned the GIL
 * on), is matched against the filters by _warnings' get_filter, which calls
 * each filter's message pattern (`pattern.match(text)`) and then checks its
 * category (`issubclass(category, cat)`, which asks the category object's
 * type for __subclasscheck__). A filter put first whose pattern and
 * category are the witness sees the text and then the category of every
 * warning no filter the target put before it claims, keeps them, and
 * matches with the action "ignore": nothing is shown, as with record=True.
 * It is taken out after the import, and the filters' version bumped so that
 * what it ignored is not remembered as shown. A warning that a filter the
 * target put before it claims is the target's to show or hide, and is not
 * kept (catch_warnings(record=True) kept those it showed).
 */
#include "harness.h"

typedef struct {
    PyObject_HEAD
    /* The texts of the warnings being matched, innermost last: a warning
     * can be raised while another is matched (a finalizer the collector
     * runs in an allocation of get_filter's, on 3.11). */
    PyObject *texts;
    PyObject *caught; /* list of (category, text) */
} witness;

/* pattern.match(text): remember the text; match. */
static PyObject *witness_match(PyObject *self, PyObject *text)
{
    witness *w = (witness *)self;
    if (PyList_Append(w->texts, text) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* issubclass(category, witness): keep the warning whose text was matched
 * last, and match; a call with no text pending is not get_filter's (the
 * target's own issubclass on the filters): no match, nothing kept. */
static PyObject *witness_subclasscheck(PyObject *self, PyObject *category)
{
    witness *w = (witness *)self;
    Py_ssize_t pending = PyList_GET_SIZE(w->texts);
    if (pending == 0)
        Py_RETURN_FALSE;
    PyObject *text = Py_NewRef(PyList_GET_ITEM(w->texts, pending - 1));
    if (PyList_SetSlice(w->texts, pending - 1, pending, NULL) < 0) {
        Py_DECREF(text);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, category, text);
    Py_DECREF(text);
    int rc = pair ? PyList_Append(w->caught, pair) : -1;
    Py_XDECREF(pair);
    if (rc < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static void witness_dealloc(PyObject *self)
{
    witness *w = (witness *)self;
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(w->texts);
    Py_XDECREF(w->caught);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef witness_methods[] = {
    {"match", witness_match, METH_O, NULL},
    {"__subclasscheck__", witness_subclasscheck, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot witness_slots[] = {
    {Py_tp_dealloc, witness_dealloc},
    {Py_tp_methods, witness_methods},
    {0, NULL},
};

static PyType_Spec witness_spec = {
    .name = "extmatrix_harness.warning_witness",
    .basicsize = sizeof(witness),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = witness_slots,
};

/* The module `name` if it is imported (the import system's own
 * sys.modules, as _warnings looks it up), borrowed; NULL if not. */
static PyObject *imported(const char *name)
{
    return PyDict_GetItemString(PyImport_GetModuleDict(), name);
}

/* The filter lists get_filter may read: `warnings.filters` once `warnings`
 * is imported, `_warnings.filters` before (the list `warnings` adopts).
 * NULL where there is none. */
static void filter_lists(PyObject *lists[2])
{
    const char *owners[2] = {"warnings", "_warnings"};
    for (int i = 0; i < 2; i++) {
        PyObject *owner = imported(owners[i]);
        PyObject *list = owner ? PyObject_GetAttrString(owner, "filters") : NULL;
        if (list && !PyList_Check(list))
            Py_CLEAR(list);
        lists[i] = list;
    }
    PyErr_Clear();
}

/* Tell _warnings the filters changed: what an earlier filter set decided
 * for a warning's place no longer holds. */
static void filters_mutated(void)
{
    PyObject *w = imported("_warnings");
    PyObject *r = w ? PyObject_CallMethod(w, "_filters_mutated", NULL) : NULL;
    Py_XDECREF(r);
    PyErr_Clear();
}

PyObject *warned_begin(void)
{
    PyObject *lists[2];
    filter_lists(lists);
    PyObject *filters = lists[0] ? lists[0] : lists[1];
    PyObject *type = filters ? PyType_FromSpec(&witness_spec) : NULL;
    witness *w = type ? PyObject_New(witness, (PyTypeObject *)type) : NULL;
    Py_XDECREF(type); /* the witness holds its type */
    PyObject *entry = NULL;
    if (w) {
        w->texts = PyList_New(0);
        w->caught = PyList_New(0);
        entry = w->texts && w->caught ? Py_BuildValue("(sOOOi)", "ignore", w, w, Py_None, 0) : NULL;
    }
    if (entry == NULL || PyList_Insert(filters, 0, entry) < 0)
        Py_CLEAR(entry);
    Py_XDECREF(w); /* the entry holds it */
    Py_XDECREF(lists[0]);
    Py_XDECREF(lists[1]);
    PyErr_Clear();
    filters_mutated();
    return entry;
}

PyObject *warned_end(PyObject *entry)
{
    if (entry == NULL)
        return NULL;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb); /* the import's error, if it failed */
    PyObject *lists[2];
    filter_lists(lists);
    for (int i = 0; i < 2; i++)
        for (Py_ssize_t j = lists[i] ? PyList_GET_SIZE(lists[i]) - 1 : -1; j >= 0; j--)
            if (PyList_GET_ITEM(lists[i], j) == entry)
                PySequence_DelItem(lists[i], j);
    Py_XDECREF(lists[0]);
    Py_XDECREF(lists[1]);
    filters_mutated();
    witness *w = (witness *)PyTuple_GET_ITEM(entry, 1);
    PyObject *caught = Py_NewRef(w->caught);
    Py_DECREF(entry);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return caught;
}
