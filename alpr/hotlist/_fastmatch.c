/* alpr.hotlist._fastmatch: C index for the hotlist matcher (optional accelerator).
 *
 * Same semantics as the pure-Python index in matcher.py (which stays the reference and the
 * fallback):
 *   - canonical form of a read = ASCII upper-case, symbols dropped, every character mapped to
 *     its OCR-class representative (the 128-byte table built by matcher._build_translation);
 *     code points >= 128 pass through unchanged, exactly like str.translate;
 *   - routes, in this order: entries with the read's canonical form; entries with a deletion
 *     equal to the read's canonical form (read dropped a character); then, for every position
 *     i, edit-enabled entries whose canonical form equals the read minus position i (read has
 *     an extra character) and entries sharing that deletion (one substitution);
 *   - every candidate is verified by the same O(n) alignment as HotlistMatcher._score (OCR
 *     substitutions cost 1, other differences 1000, NCIC entries O == 0), with the same
 *     per-entry limits; hits are deduplicated per entry and sorted by (priority, distance,
 *     rule, entry_id), ties in discovery order.
 *
 * Layout: per-entry arrays (plate bytes, flags, priority, expiry); an open-addressing table
 * canonical-form -> chain of entries (ascending entry index); the one-deletion neighbourhood
 * of edit-enabled entries as a CSR array of (32-bit tag, entry index) bucketed by a seeded
 * 64-bit hash. Hits are instances of matcher.Hit built directly (slot offsets read from its
 * member descriptors), alignment string included (cheap here; the Python index builds it lazily).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OTHER 1000
#define SMALL 64
#define NONE32 0xFFFFFFFFu

/* entry flags */
#define F_OCR 0x03u      /* max_ocr_subs 0..2 */
#define F_EDITS 0x04u    /* max_edits == 1 */
#define F_FUZZY 0x08u
#define F_NCIC 0x10u
#define F_EDITABLE 0x20u /* fuzzy and max_edits > 0: in the deletion index */
#define F_EXPIRES 0x40u

enum { T_EXACT = 0, T_OCR = 1, T_EDIT = 2 };

/* one entry, 16 bytes: plate inline when it fits (one cache miss per candidate) */
#define INLINE_MAX 12
#define LONG_PLATE 255
typedef struct {
    uint8_t len; /* plate length, or LONG_PLATE: plate in the overflow blob */
    uint8_t flags;
    uint8_t prio;
    uint8_t pad;
    union {
        uint8_t c[INLINE_MAX];
        struct {
            uint32_t off, len;
        } big;
    } p;
} Rec;

typedef struct {
    uint64_t *slots; /* (tag << 32) | (head + 1); 0 = empty */
    uint32_t *next;  /* next entry with the same canonical form; NONE32 ends */
    uint64_t mask;
} CTable;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    PyObject *entries; /* tuple */
    Rec *rec;
    char *blob; /* plates longer than INLINE_MAX */
    double *expires;
    CTable exact;
    CTable editc; /* slots == NULL: shares exact (every entry edit-enabled) */
    int has_edit;
    uint64_t dmask;
    uint32_t *doff;
    uint64_t *dent; /* (tag << 32) | entry */
    size_t ndel;
    uint64_t seed;
    uint64_t base;
    uint8_t tr[128];
    uint8_t pair[128][128];
    PyObject *hit_type;
    Py_ssize_t o_entry, o_read, o_type, o_dist, o_gap, o_aligned;
    PyObject *types[3];
    PyObject *normalize;
    PyObject *sortfn;
    size_t nbytes;
} Index;

/* ------------------------------------------------------------------ hashing */
static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Key hash: polynomial (base ix->base, mod 2^64) over the code points, finalised with the
 * key length and the seed. Polynomial so that every one-character deletion of a read is O(1)
 * from its prefix hashes: h(a ++ b) = h(a) * B^|b| + h(b). */
static inline uint64_t hash_final(uint64_t poly, Py_ssize_t len, uint64_t seed) {
    return mix64(poly ^ seed ^ ((uint64_t)len * 0x9E3779B97F4A7C15ULL));
}

/* hash of s[0..n) without position skip (skip < 0: nothing skipped) */
static inline uint64_t hash_codes(const uint32_t *s, Py_ssize_t n, Py_ssize_t skip, uint64_t base, uint64_t seed) {
    uint64_t h = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == skip) continue;
        h = h * base + s[i];
    }
    return hash_final(h, n - (skip >= 0), seed);
}

static void *xcalloc(size_t n, size_t sz, size_t *acc) {
    void *p = calloc(n ? n : 1, sz);
    if (p && acc) *acc += n * sz;
    return p;
}

static inline const uint8_t *rec_plate(const Index *ix, const Rec *rc, Py_ssize_t *len) {
    if (rc->len != LONG_PLATE) {
        *len = rc->len;
        return rc->p.c;
    }
    *len = rc->p.big.len;
    return (const uint8_t *)ix->blob + rc->p.big.off;
}

/* ------------------------------------------------------------------ canonical table */
/* canonical form of entry e equals key minus position skip? */
static inline int entry_key_eq(const Index *ix, uint32_t e, const uint32_t *key, Py_ssize_t klen, Py_ssize_t skip) {
    Py_ssize_t len;
    const uint8_t *p = rec_plate(ix, &ix->rec[e], &len);
    if (len != klen - (skip >= 0)) return 0;
    Py_ssize_t k = 0;
    for (Py_ssize_t j = 0; j < len; j++, k++) {
        if (k == skip) k++;
        if ((uint32_t)ix->tr[p[j]] != key[k]) return 0;
    }
    return 1;
}

static uint32_t ctab_find(const Index *ix, const CTable *t, uint64_t h, const uint32_t *key, Py_ssize_t klen,
                          Py_ssize_t skip) {
    uint64_t pos = h & t->mask, tag = h >> 32;
    for (;;) {
        uint64_t s = t->slots[pos];
        if (!s) return NONE32;
        uint32_t head = (uint32_t)(s & 0xFFFFFFFFu) - 1;
        if ((s >> 32) == tag && entry_key_eq(ix, head, key, klen, skip)) return head;
        pos = (pos + 1) & t->mask;
    }
}

/* room for nkeys entries; chains indexed by entry number (< n) */
static int ctab_init(CTable *t, Py_ssize_t nkeys, Py_ssize_t n, size_t *acc) {
    uint64_t cap = 8;
    while (cap < (uint64_t)nkeys * 2) cap <<= 1;
    t->mask = cap - 1;
    t->slots = xcalloc(cap, sizeof(uint64_t), acc);
    t->next = xcalloc((size_t)n, sizeof(uint32_t), acc);
    return t->slots && t->next;
}

/* insert entries in descending index order so that each chain ends up ascending */
static void ctab_push(const Index *ix, CTable *t, uint32_t e, const uint32_t *canon, Py_ssize_t len) {
    uint64_t h = hash_codes(canon, len, -1, ix->base, ix->seed);
    uint64_t pos = h & t->mask, tag = h >> 32;
    for (;;) {
        uint64_t s = t->slots[pos];
        if (!s) {
            t->next[e] = NONE32;
            t->slots[pos] = (tag << 32) | ((uint64_t)e + 1);
            return;
        }
        uint32_t head = (uint32_t)(s & 0xFFFFFFFFu) - 1;
        if ((s >> 32) == tag && entry_key_eq(ix, head, canon, len, -1)) {
            t->next[e] = head;
            t->slots[pos] = (tag << 32) | ((uint64_t)e + 1);
            return;
        }
        pos = (pos + 1) & t->mask;
    }
}

/* ------------------------------------------------------------------ object lifecycle */
static void Index_dealloc(Index *ix) {
    free(ix->blob);
    free(ix->rec);
    free(ix->expires);
    free(ix->exact.slots);
    free(ix->exact.next);
    free(ix->editc.slots);
    free(ix->editc.next);
    free(ix->doff);
    free(ix->dent);
    Py_XDECREF(ix->entries);
    Py_XDECREF(ix->hit_type);
    for (int i = 0; i < 3; i++) Py_XDECREF(ix->types[i]);
    Py_XDECREF(ix->normalize);
    Py_XDECREF(ix->sortfn);
    Py_TYPE(ix)->tp_free((PyObject *)ix);
}

static int slot_offset(PyObject *hit_type, const char *name, Py_ssize_t *out) {
    PyObject *d = PyObject_GetAttrString(hit_type, name);
    if (!d) return -1;
    if (!PyObject_TypeCheck(d, &PyMemberDescr_Type) || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "Hit.%s must be a __slots__ member", name);
        Py_DECREF(d);
        return -1;
    }
    *out = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    return 0;
}

static long int_attr(PyObject *e, PyObject *name, long lo, long hi, Py_ssize_t i) {
    PyObject *v = PyObject_GetAttr(e, name);
    if (!v) return -1;
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "entry %zd: %U must be int, got %.50s", i, name, Py_TYPE(v)->tp_name);
        Py_DECREF(v);
        return -1;
    }
    long x = PyLong_AsLong(v);
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (x < lo || x > hi) {
        PyErr_Format(PyExc_ValueError, "entry %zd: %U must be %ld..%ld, got %ld", i, name, lo, hi, x);
        return -1;
    }
    return x;
}

/* Index(entries, tr, pairs, ncic_sources, hit_type, type_names, normalize, sortfn, seed) */
static PyObject *Index_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *entries, *ncic, *hit_type, *names, *normalize, *sortfn;
    Py_buffer tr, pairs;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "O!y*y*OOO!OOK:Index", &PyTuple_Type, &entries, &tr, &pairs, &ncic, &hit_type,
                          &PyTuple_Type, &names, &normalize, &sortfn, &seed))
        return NULL;
    Index *ix = NULL;
    PyObject *src_cache = NULL, *n_plate = NULL, *n_source = NULL, *n_fuzzy = NULL, *n_ocr = NULL,
             *n_edits = NULL, *n_exp = NULL, *n_prio = NULL;
    uint32_t *cbuf = NULL;
    uint32_t *cursor = NULL, *lcount = NULL, *byl = NULL;
    if (tr.len != 128 || pairs.len != 128 * 128 || PyTuple_GET_SIZE(names) != 3 || !PyType_Check(hit_type)) {
        PyErr_SetString(PyExc_ValueError, "Index: tr must be 128 bytes, pairs 16384 bytes, 3 type names");
        goto fail;
    }
    if (!PyAnySet_Check(ncic)) {
        PyErr_SetString(PyExc_TypeError, "Index: ncic_sources must be a set");
        goto fail;
    }
    ix = (Index *)type->tp_alloc(type, 0);
    if (!ix) goto fail;
    memcpy(ix->tr, tr.buf, 128);
    memcpy(ix->pair, pairs.buf, 128 * 128);
    ix->seed = (uint64_t)seed;
    ix->base = mix64((uint64_t)seed ^ 0x5851F42D4C957F2DULL) | 1u;
    Py_INCREF(entries);
    ix->entries = entries;
    Py_INCREF(hit_type);
    ix->hit_type = hit_type;
    for (int i = 0; i < 3; i++) {
        ix->types[i] = PyTuple_GET_ITEM(names, i);
        Py_INCREF(ix->types[i]);
    }
    Py_INCREF(normalize);
    ix->normalize = normalize;
    Py_INCREF(sortfn);
    ix->sortfn = sortfn;
    if (slot_offset(hit_type, "entry", &ix->o_entry) || slot_offset(hit_type, "read_plate", &ix->o_read) ||
        slot_offset(hit_type, "match_type", &ix->o_type) || slot_offset(hit_type, "distance", &ix->o_dist) ||
        slot_offset(hit_type, "_gap", &ix->o_gap) || slot_offset(hit_type, "_aligned", &ix->o_aligned))
        goto fail;

    Py_ssize_t n = PyTuple_GET_SIZE(entries);
    if ((size_t)n >= NONE32 - 1) {
        PyErr_SetString(PyExc_OverflowError, "Index: too many entries");
        goto fail;
    }
    ix->n = n;
    size_t acc = 0;
    ix->rec = xcalloc((size_t)n, sizeof(Rec), &acc);
    src_cache = PyDict_New();
    n_plate = PyUnicode_InternFromString("plate");
    n_source = PyUnicode_InternFromString("source");
    n_fuzzy = PyUnicode_InternFromString("fuzzy");
    n_ocr = PyUnicode_InternFromString("max_ocr_subs");
    n_edits = PyUnicode_InternFromString("max_edits");
    n_exp = PyUnicode_InternFromString("expires_at");
    n_prio = PyUnicode_InternFromString("priority");
    if (!ix->rec || !src_cache || !n_plate || !n_source || !n_fuzzy ||
        !n_ocr || !n_edits || !n_exp || !n_prio) {
        PyErr_NoMemory();
        goto fail;
    }
    /* pass 1: plates, flags, priorities, expiries */
    size_t blob_len = 0, blob_cap = 0;
    Py_ssize_t maxlen = 0, n_edit = 0;
    size_t ndel = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyTuple_GET_ITEM(entries, i);
        PyObject *plate = PyObject_GetAttr(e, n_plate);
        if (!plate) goto fail;
        if (!PyUnicode_Check(plate) || !PyUnicode_IS_ASCII(plate) || PyUnicode_GET_LENGTH(plate) == 0) {
            PyErr_Format(PyExc_ValueError, "entry %zd: plate must be a normalised non-empty A-Z0-9 str", i);
            Py_DECREF(plate);
            goto fail;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(plate);
        const uint8_t *p = PyUnicode_1BYTE_DATA(plate);
        for (Py_ssize_t j = 0; j < len; j++) {
            if (!((p[j] >= 'A' && p[j] <= 'Z') || (p[j] >= '0' && p[j] <= '9')) || !ix->tr[p[j]]) {
                PyErr_Format(PyExc_ValueError, "entry %zd: plate %R is not normalised (A-Z0-9)", i, plate);
                Py_DECREF(plate);
                goto fail;
            }
        }
        Rec *rc = &ix->rec[i];
        if (len <= INLINE_MAX) {
            rc->len = (uint8_t)len;
            memcpy(rc->p.c, p, (size_t)len);
        } else {
            if (blob_len + (size_t)len >= NONE32) {
                Py_DECREF(plate);
                PyErr_SetString(PyExc_OverflowError, "Index: plates too long in total");
                goto fail;
            }
            if (blob_len + (size_t)len > blob_cap) {
                blob_cap = blob_cap ? blob_cap : 4096;
                while (blob_len + (size_t)len > blob_cap) blob_cap *= 2;
                char *nb = realloc(ix->blob, blob_cap);
                if (!nb) {
                    Py_DECREF(plate);
                    PyErr_NoMemory();
                    goto fail;
                }
                ix->blob = nb;
            }
            rc->len = LONG_PLATE;
            rc->p.big.off = (uint32_t)blob_len;
            rc->p.big.len = (uint32_t)len;
            memcpy(ix->blob + blob_len, p, (size_t)len);
            blob_len += (size_t)len;
        }
        if (len > maxlen) maxlen = len;
        Py_DECREF(plate);

        uint8_t f = 0;
        long v = int_attr(e, n_ocr, 0, 2, i);
        if (v < 0) goto fail;
        f |= (uint8_t)v;
        v = int_attr(e, n_edits, 0, 1, i);
        if (v < 0) goto fail;
        if (v) f |= F_EDITS;
        v = int_attr(e, n_prio, 0, 255, i);
        if (v < 0) goto fail;
        rc->prio = (uint8_t)v;
        PyObject *fz = PyObject_GetAttr(e, n_fuzzy);
        if (!fz) goto fail;
        int t = PyObject_IsTrue(fz);
        Py_DECREF(fz);
        if (t < 0) goto fail;
        if (t) f |= F_FUZZY;
        if ((f & F_FUZZY) && (f & F_EDITS)) {
            f |= F_EDITABLE;
            n_edit++;
            ndel += (size_t)len;
        }
        PyObject *src = PyObject_GetAttr(e, n_source);
        if (!src) goto fail;
        PyObject *known = PyDict_GetItemWithError(src_cache, src);
        if (!known) {
            if (PyErr_Occurred()) {
                Py_DECREF(src);
                goto fail;
            }
            PyObject *low = PyObject_CallMethod(src, "lower", NULL);
            if (!low) {
                Py_DECREF(src);
                goto fail;
            }
            int c = PySet_Contains(ncic, low);
            Py_DECREF(low);
            if (c < 0 || PyDict_SetItem(src_cache, src, c ? Py_True : Py_False) < 0) {
                Py_DECREF(src);
                goto fail;
            }
            known = c ? Py_True : Py_False;
        }
        Py_DECREF(src);
        if (known == Py_True) f |= F_NCIC;
        PyObject *ex = PyObject_GetAttr(e, n_exp);
        if (!ex) goto fail;
        if (ex != Py_None) {
            double d = PyFloat_AsDouble(ex);
            Py_DECREF(ex);
            if (d == -1.0 && PyErr_Occurred()) goto fail;
            if (!ix->expires) {
                ix->expires = xcalloc((size_t)n, sizeof(double), &acc);
                if (!ix->expires) {
                    PyErr_NoMemory();
                    goto fail;
                }
            }
            ix->expires[i] = d;
            f |= F_EXPIRES;
        } else {
            Py_DECREF(ex);
        }
        rc->flags = f;
    }
    acc += blob_len;
    cbuf = malloc(((size_t)maxlen + 1) * sizeof(uint32_t));
    if (!cbuf) {
        PyErr_NoMemory();
        goto fail;
    }
    /* canonical tables */
    if (!ctab_init(&ix->exact, n, n, &acc)) {
        PyErr_NoMemory();
        goto fail;
    }
    if (n_edit != n && n_edit > 0 && !ctab_init(&ix->editc, n_edit, n, &acc)) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        Py_ssize_t len;
        const uint8_t *p = rec_plate(ix, &ix->rec[i], &len);
        for (Py_ssize_t j = 0; j < len; j++) cbuf[j] = ix->tr[p[j]];
        ctab_push(ix, &ix->exact, (uint32_t)i, cbuf, len);
        if (ix->editc.slots && (ix->rec[i].flags & F_EDITABLE)) ctab_push(ix, &ix->editc, (uint32_t)i, cbuf, len);
    }
    /* deletion neighbourhood (CSR), in (position, entry) order within a bucket */
    ix->has_edit = n_edit > 0;
    if (ix->has_edit) {
        if (ndel >= NONE32) {
            PyErr_SetString(PyExc_OverflowError, "Index: too many deletion keys");
            goto fail;
        }
        uint64_t nb = 1;
        while (nb < ndel / 2) nb <<= 1;
        ix->dmask = nb - 1;
        ix->ndel = ndel;
        ix->doff = xcalloc(nb + 1, sizeof(uint32_t), &acc);
        ix->dent = xcalloc(ndel, sizeof(uint64_t), &acc);
        cursor = calloc(nb, sizeof(uint32_t));
        if (!ix->doff || !ix->dent || !cursor) {
            PyErr_NoMemory();
            goto fail;
        }
        /* group editable entries by length: a deletion key only comes from entries of one
         * length, so (length, position, entry) order gives each key's candidates in the
         * pure-Python index's order (position, then entry) */
        lcount = calloc((size_t)maxlen + 2, sizeof(uint32_t));
        byl = malloc(sizeof(uint32_t) * (size_t)n_edit);
        if (!lcount || !byl) {
            PyErr_NoMemory();
            goto fail;
        }
        Py_ssize_t len;
        for (Py_ssize_t i = 0; i < n; i++)
            if (ix->rec[i].flags & F_EDITABLE) {
                rec_plate(ix, &ix->rec[i], &len);
                lcount[len + 1]++;
            }
        for (Py_ssize_t l = 0; l <= maxlen; l++) lcount[l + 1] += lcount[l];
        for (Py_ssize_t i = 0; i < n; i++)
            if (ix->rec[i].flags & F_EDITABLE) {
                rec_plate(ix, &ix->rec[i], &len);
                byl[lcount[len]++] = (uint32_t)i;
            }
        /* lcount[l] is now the end of length group l (and the start of group l + 1) */
        for (int pass = 0; pass < 2; pass++) {
            uint32_t start = 0;
            for (Py_ssize_t l = 1; l <= maxlen; l++) {
                uint32_t end = lcount[l];
                for (Py_ssize_t pos = 0; pos < l && end > start; pos++) {
                    for (uint32_t k = start; k < end; k++) {
                        uint32_t i = byl[k];
                        const uint8_t *p = rec_plate(ix, &ix->rec[i], &len);
                        for (Py_ssize_t j = 0; j < l; j++) cbuf[j] = ix->tr[p[j]];
                        uint64_t h = hash_codes(cbuf, l, pos, ix->base, ix->seed);
                        uint64_t b = h & ix->dmask;
                        if (pass == 0)
                            ix->doff[b + 1]++;
                        else
                            ix->dent[cursor[b]++] = ((h >> 32) << 32) | (uint64_t)i;
                    }
                }
                start = end;
            }
            if (pass == 0) {
                for (uint64_t b = 0; b < nb; b++) {
                    ix->doff[b + 1] += ix->doff[b];
                    cursor[b] = ix->doff[b];
                }
            }
        }
    }
    ix->nbytes = acc + sizeof(Index);
    free(lcount);
    free(byl);
    free(cursor);
    free(cbuf);
    Py_DECREF(src_cache);
    Py_DECREF(n_plate);
    Py_DECREF(n_source);
    Py_DECREF(n_fuzzy);
    Py_DECREF(n_ocr);
    Py_DECREF(n_edits);
    Py_DECREF(n_exp);
    Py_DECREF(n_prio);
    PyBuffer_Release(&tr);
    PyBuffer_Release(&pairs);
    return (PyObject *)ix;
fail:
    free(lcount);
    free(byl);
    free(cursor);
    free(cbuf);
    Py_XDECREF(src_cache);
    Py_XDECREF(n_plate);
    Py_XDECREF(n_source);
    Py_XDECREF(n_fuzzy);
    Py_XDECREF(n_ocr);
    Py_XDECREF(n_edits);
    Py_XDECREF(n_exp);
    Py_XDECREF(n_prio);
    PyBuffer_Release(&tr);
    PyBuffer_Release(&pairs);
    Py_XDECREF(ix);
    return NULL;
}

/* ------------------------------------------------------------------ verification */
static inline int cost(const Index *ix, uint8_t a, uint8_t b, int ncic) {
    if (a == b) return 0;
    if (ncic && (a == '0' || a == 'O') && (b == '0' || b == 'O')) return 0;
    return ix->pair[a & 127][b & 127] ? 1 : OTHER;
}

/* HotlistMatcher._score: 1 and (type, distance, gap) when read r hits entry e; gap -1 for
 * equal lengths, else the position of '-' in the shorter string. -1 on memory error. */
static int score(const Index *ix, const uint8_t *r, Py_ssize_t lr, uint32_t e, int *mtype, long *dist,
                 Py_ssize_t *gap) {
    Py_ssize_t le;
    const uint8_t *ep = rec_plate(ix, &ix->rec[e], &le);
    uint8_t f = ix->rec[e].flags;
    int ncic = (f & F_NCIC) != 0;
    long long total = 0;
    if (lr == le) {
        for (Py_ssize_t j = 0; j < lr; j++) {
            if (r[j] != ep[j]) {
                total += cost(ix, r[j], ep[j], ncic);
                if (total >= 2 * OTHER) return 0; /* two edits: over every limit */
            }
        }
        *gap = -1;
    } else if (lr - le == 1 || le - lr == 1) {
        const uint8_t *lo, *sh;
        Py_ssize_t ls;
        if (lr > le) {
            lo = r; sh = ep; ls = le;
        } else {
            lo = ep; sh = r; ls = lr;
        }
        long long pbuf[SMALL + 1], sbuf[SMALL + 1];
        long long *pre = pbuf, *suf = sbuf;
        if (ls + 1 > SMALL + 1) {
            pre = malloc(sizeof(long long) * (size_t)(ls + 1) * 2);
            if (!pre) {
                PyErr_NoMemory();
                return -1;
            }
            suf = pre + ls + 1;
        }
        pre[0] = 0;
        for (Py_ssize_t i = 0; i < ls; i++) pre[i + 1] = pre[i] + cost(ix, lo[i], sh[i], ncic);
        suf[ls] = 0;
        for (Py_ssize_t j = ls - 1; j >= 0; j--) suf[j] = suf[j + 1] + cost(ix, lo[j + 1], sh[j], ncic);
        Py_ssize_t g = 0;
        long long best = pre[0] + suf[0];
        for (Py_ssize_t k = 1; k <= ls; k++) {
            if (pre[k] + suf[k] < best) {
                best = pre[k] + suf[k];
                g = k;
            }
        }
        if (pre != pbuf) free(pre);
        total = best + OTHER;
        *gap = g;
    } else {
        return 0;
    }
    long long edits = total / OTHER, ocr = total % OTHER;
    long long maxocr = f & F_OCR, maxed = (f & F_EDITS) ? 1 : 0;
    if (ocr > maxocr) {
        edits += ocr - maxocr;
        ocr = maxocr;
    }
    if (edits == 0 && ocr == 0) {
        *mtype = T_EXACT;
    } else if (!(f & F_FUZZY) || ocr > maxocr || edits > maxed) {
        return 0;
    } else {
        *mtype = edits == 0 ? T_OCR : T_EDIT;
    }
    *dist = (long)(edits + ocr);
    return 1;
}

/* ------------------------------------------------------------------ query state */
typedef struct {
    uint32_t idx;
    uint8_t rank;
    long dist;
} HitKey;

#define SEEN_LINEAR 32

typedef struct {
    Index *ix;
    PyObject *plate;
    PyObject *now_obj;
    double now;
    int now_ready;
    PyObject *read;        /* normalised read (new ref) */
    const uint8_t *r;
    Py_ssize_t lr;
    PyObject *hits;        /* list */
    HitKey *keys;
    Py_ssize_t nkeys, capkeys;
    HitKey kbuf[8];
    uint32_t seen[SEEN_LINEAR]; /* entries evaluated so far (linear scan while few) */
    Py_ssize_t nseen;
    uint32_t *hset;        /* then an open-addressing set */
    uint32_t hmask;
    Py_ssize_t hcount;
} Query;

static int q_now(Query *q) {
    if (q->now_ready) return 0;
    if (q->now_obj == NULL || q->now_obj == Py_None) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        q->now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    } else {
        q->now = PyFloat_AsDouble(q->now_obj);
        if (q->now == -1.0 && PyErr_Occurred()) return -1;
    }
    q->now_ready = 1;
    return 0;
}

static int q_read(Query *q) {
    if (q->read) return 0;
    PyObject *p = q->plate;
    Py_ssize_t n = PyUnicode_GET_LENGTH(p);
    if (PyUnicode_IS_ASCII(p)) {
        const uint8_t *s = PyUnicode_1BYTE_DATA(p);
        Py_ssize_t keep = 0;
        int same = n > 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint8_t c = s[i];
            if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                keep++;
            else if (c >= 'a' && c <= 'z') {
                keep++;
                same = 0;
            } else
                same = 0;
        }
        if (same) {
            Py_INCREF(p);
            q->read = p;
        } else {
            q->read = PyUnicode_New(keep, 127);
            if (!q->read) return -1;
            uint8_t *d = PyUnicode_1BYTE_DATA(q->read);
            Py_ssize_t k = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                uint8_t c = s[i];
                if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                    d[k++] = c;
                else if (c >= 'a' && c <= 'z')
                    d[k++] = (uint8_t)(c - 32);
            }
        }
    } else {
        q->read = PyObject_CallOneArg(q->ix->normalize, p);
        if (!q->read) return -1;
        if (!PyUnicode_Check(q->read) || !PyUnicode_IS_ASCII(q->read)) {
            PyErr_SetString(PyExc_ValueError, "normalize_plate returned a non-ASCII plate");
            return -1;
        }
    }
    q->r = PyUnicode_1BYTE_DATA(q->read);
    q->lr = PyUnicode_GET_LENGTH(q->read);
    return 0;
}

/* "<read aligned>~<entry aligned>" ('-' at the gap in the shorter string) */
static PyObject *aligned_str(const uint8_t *r, Py_ssize_t lr, const uint8_t *ep, Py_ssize_t le, Py_ssize_t gap) {
    PyObject *s = PyUnicode_New(lr + le + 1 + (gap >= 0), 127);
    if (!s) return NULL;
    uint8_t *d = PyUnicode_1BYTE_DATA(s);
    if (gap >= 0 && lr < le) {
        memcpy(d, r, (size_t)gap);
        d += gap;
        *d++ = '-';
        memcpy(d, r + gap, (size_t)(lr - gap));
        d += lr - gap;
    } else {
        memcpy(d, r, (size_t)lr);
        d += lr;
    }
    *d++ = '~';
    if (gap >= 0 && le < lr) {
        memcpy(d, ep, (size_t)gap);
        d += gap;
        *d++ = '-';
        memcpy(d, ep + gap, (size_t)(le - gap));
    } else {
        memcpy(d, ep, (size_t)le);
    }
    return s;
}

static PyObject *make_hit(Index *ix, uint32_t e, PyObject *read, const uint8_t *r, Py_ssize_t lr, int mtype,
                          long dist, Py_ssize_t gap) {
    PyTypeObject *tp = (PyTypeObject *)ix->hit_type;
    PyObject *entry = PyTuple_GET_ITEM(ix->entries, e);
    PyObject *d = PyLong_FromLong(dist);
    if (!d) return NULL;
    PyObject *g = PyLong_FromSsize_t(gap);
    if (!g) {
        Py_DECREF(d);
        return NULL;
    }
    Py_ssize_t le;
    const uint8_t *ep = rec_plate(ix, &ix->rec[e], &le);
    PyObject *a = aligned_str(r, lr, ep, le, gap);
    if (!a) {
        Py_DECREF(d);
        Py_DECREF(g);
        return NULL;
    }
    PyObject *h = tp->tp_alloc(tp, 0);
    if (!h) {
        Py_DECREF(d);
        Py_DECREF(g);
        Py_DECREF(a);
        return NULL;
    }
    char *base = (char *)h;
    Py_INCREF(entry);
    *(PyObject **)(base + ix->o_entry) = entry;
    Py_INCREF(read);
    *(PyObject **)(base + ix->o_read) = read;
    Py_INCREF(ix->types[mtype]);
    *(PyObject **)(base + ix->o_type) = ix->types[mtype];
    *(PyObject **)(base + ix->o_dist) = d;
    *(PyObject **)(base + ix->o_gap) = g;
    *(PyObject **)(base + ix->o_aligned) = a;
    return h;
}

static int hset_add(Query *q, uint32_t e) { /* 1 present, 0 added, -1 error */
    if ((uint64_t)(q->hcount + 1) * 2 > (uint64_t)q->hmask + 1 || !q->hset) {
        uint32_t cap = q->hset ? (q->hmask + 1) * 2 : 256;
        uint32_t *old = q->hset, oldcap = q->hset ? q->hmask + 1 : 0;
        q->hset = malloc(sizeof(uint32_t) * cap);
        if (!q->hset) {
            q->hset = old;
            PyErr_NoMemory();
            return -1;
        }
        memset(q->hset, 0xFF, sizeof(uint32_t) * cap);
        q->hmask = cap - 1;
        q->hcount = 0;
        for (uint32_t k = 0; k < oldcap; k++)
            if (old[k] != NONE32) hset_add(q, old[k]);
        free(old);
    }
    uint32_t pos = (e * 2654435761u) & q->hmask;
    while (q->hset[pos] != NONE32) {
        if (q->hset[pos] == e) return 1;
        pos = (pos + 1) & q->hmask;
    }
    q->hset[pos] = e;
    q->hcount++;
    return 0;
}

/* 1 if e was evaluated before in this query, else records it (0); -1 error */
static inline int q_seen(Query *q, uint32_t e) {
    if (!q->hset) {
        for (Py_ssize_t k = 0; k < q->nseen; k++)
            if (q->seen[k] == e) return 1;
        if (q->nseen < SEEN_LINEAR) {
            q->seen[q->nseen++] = e;
            return 0;
        }
        for (Py_ssize_t k = 0; k < q->nseen; k++)
            if (hset_add(q, q->seen[k]) < 0) return -1;
    }
    return hset_add(q, e);
}

/* evaluate entry e once; 0 ok, -1 error */
static int q_eval(Query *q, uint32_t e) {
    Index *ix = q->ix;
    int seen = q_seen(q, e);
    if (seen) return seen < 0 ? -1 : 0;
    uint8_t f = ix->rec[e].flags;
    if (f & F_EXPIRES) {
        if (q_now(q) < 0) return -1;
        if (ix->expires[e] <= q->now) return 0;
    }
    if (q_read(q) < 0) return -1;
    int mtype;
    long dist;
    Py_ssize_t gap;
    int ok = score(ix, q->r, q->lr, e, &mtype, &dist, &gap);
    if (ok <= 0) return ok;
    PyObject *h = make_hit(ix, e, q->read, q->r, q->lr, mtype, dist, gap);
    if (!h) return -1;
    if (!q->hits) {
        q->hits = PyList_New(0);
        if (!q->hits) {
            Py_DECREF(h);
            return -1;
        }
    }
    int rc = PyList_Append(q->hits, h);
    Py_DECREF(h);
    if (rc < 0) return -1;
    if (q->nkeys == q->capkeys) {
        Py_ssize_t cap = q->capkeys * 2;
        HitKey *nk = q->keys == q->kbuf ? malloc(sizeof(HitKey) * (size_t)cap)
                                        : realloc(q->keys, sizeof(HitKey) * (size_t)cap);
        if (!nk) {
            PyErr_NoMemory();
            return -1;
        }
        if (q->keys == q->kbuf) memcpy(nk, q->kbuf, sizeof(q->kbuf));
        q->keys = nk;
        q->capkeys = cap;
    }
    q->keys[q->nkeys].idx = e;
    q->keys[q->nkeys].rank = (uint8_t)mtype;
    q->keys[q->nkeys].dist = dist;
    q->nkeys++;
    return 0;
}

static int q_chain(Query *q, const CTable *t, uint32_t head) {
    for (uint32_t e = head; e != NONE32; e = t->next[e])
        if (q_eval(q, e) < 0) return -1;
    return 0;
}

static int q_dels(Query *q, uint64_t h) {
    Index *ix = q->ix;
    uint64_t b = h & ix->dmask;
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t k = ix->doff[b], end = ix->doff[b + 1]; k < end; k++) {
        uint64_t v = ix->dent[k];
        if ((uint32_t)(v >> 32) == tag && q_eval(q, (uint32_t)(v & 0xFFFFFFFFu)) < 0) return -1;
    }
    return 0;
}

/* -1 error, 1 if a sorts strictly before b */
static int key_less(Index *ix, const HitKey *a, const HitKey *b) {
    uint8_t pa = ix->rec[a->idx].prio, pb = ix->rec[b->idx].prio;
    if (pa != pb) return pa < pb;
    if (a->dist != b->dist) return a->dist < b->dist;
    if (a->rank != b->rank) return a->rank < b->rank;
    PyObject *ea = PyTuple_GET_ITEM(ix->entries, a->idx), *eb = PyTuple_GET_ITEM(ix->entries, b->idx);
    PyObject *ia = PyObject_GetAttrString(ea, "entry_id");
    if (!ia) return -1;
    PyObject *ib = PyObject_GetAttrString(eb, "entry_id");
    if (!ib) {
        Py_DECREF(ia);
        return -1;
    }
    int r = PyObject_RichCompareBool(ia, ib, Py_EQ);
    if (r == 0) r = PyObject_RichCompareBool(ia, ib, Py_LT);
    else if (r == 1) r = 0;
    Py_DECREF(ia);
    Py_DECREF(ib);
    return r;
}

/* stable insertion sort of hits by (priority, distance, rule, entry_id); big lists go to
 * the Python sort (same key) */
static int q_sort(Query *q) {
    Py_ssize_t n = q->nkeys;
    if (n < 2) return 0;
    if (n > 32) {
        PyObject *r = PyObject_CallOneArg(q->ix->sortfn, q->hits);
        if (!r) return -1;
        Py_DECREF(r);
        return 0;
    }
    PyObject **items = ((PyListObject *)q->hits)->ob_item;
    for (Py_ssize_t i = 1; i < n; i++) {
        HitKey k = q->keys[i];
        PyObject *h = items[i];
        Py_ssize_t j = i - 1;
        while (j >= 0) {
            int lt = key_less(q->ix, &k, &q->keys[j]);
            if (lt < 0) return -1;
            if (!lt) break;
            q->keys[j + 1] = q->keys[j];
            items[j + 1] = items[j];
            j--;
        }
        q->keys[j + 1] = k;
        items[j + 1] = h;
    }
    return 0;
}

static int parse_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **plate, PyObject **now,
                      const char *fname) {
    *now = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw < 1 || nargs + nkw > 2 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s(plate, now=None) takes 1 or 2 arguments", fname);
        return -1;
    }
    *plate = nargs >= 1 ? args[0] : NULL;
    if (nargs == 2) *now = args[1];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        if (PyUnicode_CompareWithASCIIString(name, "now") == 0 && nargs < 2)
            *now = args[nargs + k];
        else if (PyUnicode_CompareWithASCIIString(name, "plate") == 0 && nargs < 1)
            *plate = args[nargs + k];
        else {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected or repeated keyword argument %R", fname, name);
            return -1;
        }
    }
    if (!*plate) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument 'plate'", fname);
        return -1;
    }
    if (!PyUnicode_Check(*plate)) {
        PyErr_Format(PyExc_TypeError, "%s(): plate must be str, got %.50s", fname, Py_TYPE(*plate)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *run_query(Index *ix, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int full) {
    PyObject *plate, *now;
    if (parse_args(args, nargs, kwnames, &plate, &now, full ? "match" : "lookup") < 0) return NULL;
    Query q;
    memset(&q, 0, sizeof(q));
    q.ix = ix;
    q.plate = plate;
    q.now_obj = now;
    q.keys = q.kbuf;
    q.capkeys = 8;

    /* canonical form of the raw plate (str.translate semantics) */
    Py_ssize_t n = PyUnicode_GET_LENGTH(plate);
    uint32_t cstack[SMALL];
    uint64_t hstack[3 * (SMALL + 1)];
    uint32_t *c = cstack;
    uint64_t *hd = hstack; /* deletion hashes [n], prefix hashes [n + 1], powers [n + 1] */
    PyObject *result = NULL;
    if (n > SMALL) {
        c = malloc(sizeof(uint32_t) * (size_t)n);
        hd = malloc(sizeof(uint64_t) * 3 * ((size_t)n + 1));
        if (!c || !hd) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_ssize_t L = 0;
    int kind = PyUnicode_KIND(plate);
    const void *data = PyUnicode_DATA(plate);
    if (kind == PyUnicode_1BYTE_KIND) {
        const uint8_t *s = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t ch = s[i];
            if (ch < 128) {
                if (ix->tr[ch]) c[L++] = ix->tr[ch];
            } else
                c[L++] = ch;
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t ch = PyUnicode_READ(kind, data, i);
            if (ch < 128) {
                if (ix->tr[ch]) c[L++] = ix->tr[ch];
            } else
                c[L++] = ch;
        }
    }
    uint64_t *P = hd + (L + 1), *pw = P + (L + 1);
    uint64_t B = ix->base;
    P[0] = 0;
    pw[0] = 1;
    for (Py_ssize_t i = 0; i < L; i++) {
        P[i + 1] = P[i] * B + c[i];
        pw[i + 1] = pw[i] * B;
    }
    uint64_t hc = hash_final(P[L], L, ix->seed);
    if (!full) {
        if (q_chain(&q, &ix->exact, ctab_find(ix, &ix->exact, hc, c, L, -1)) < 0) goto done;
    } else {
        const CTable *et = ix->editc.slots ? &ix->editc : &ix->exact;
        if (ix->has_edit) {
            __builtin_prefetch(&ix->doff[hc & ix->dmask]);
            for (Py_ssize_t i = 0; i < L; i++) {
                /* c minus position i: c[0..i) * B^(L-1-i) + (c[i+1..L)) */
                uint64_t w = pw[L - 1 - i];
                uint64_t h = hash_final(P[i] * w + (P[L] - P[i + 1] * w), L - 1, ix->seed);
                hd[i] = h;
                __builtin_prefetch(&et->slots[h & et->mask]);
                __builtin_prefetch(&ix->doff[h & ix->dmask]);
            }
        }
        __builtin_prefetch(&ix->exact.slots[hc & ix->exact.mask]);
        if (q_chain(&q, &ix->exact, ctab_find(ix, &ix->exact, hc, c, L, -1)) < 0) goto done;
        if (ix->has_edit) {
            __builtin_prefetch(&ix->dent[ix->doff[hc & ix->dmask]]);
            for (Py_ssize_t i = 0; i < L; i++) __builtin_prefetch(&ix->dent[ix->doff[hd[i] & ix->dmask]]);
            if (q_dels(&q, hc) < 0) goto done;
            for (Py_ssize_t i = 0; i < L; i++) {
                if (q_chain(&q, et, ctab_find(ix, et, hd[i], c, L, i)) < 0) goto done;
                if (q_dels(&q, hd[i]) < 0) goto done;
            }
        }
    }
    if (!q.hits) {
        result = PyList_New(0);
    } else if (q_sort(&q) == 0) {
        result = q.hits;
        q.hits = NULL;
    }
done:
    if (c != cstack) free(c);
    if (hd != hstack) free(hd);
    if (q.keys != q.kbuf) free(q.keys);
    free(q.hset);
    Py_XDECREF(q.hits);
    Py_XDECREF(q.read);
    return result;
}

static PyObject *Index_match(Index *ix, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return run_query(ix, args, nargs, kwnames, 1);
}

static PyObject *Index_lookup(Index *ix, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return run_query(ix, args, nargs, kwnames, 0);
}

static PyObject *Index_nbytes(Index *ix, PyObject *unused) {
    return PyLong_FromSize_t(ix->nbytes);
}

static Py_ssize_t Index_len(Index *ix) { return ix->n; }

static PyMethodDef Index_methods[] = {
    {"match", (PyCFunction)(void (*)(void))Index_match, METH_FASTCALL | METH_KEYWORDS,
     "match(plate, now=None) -> list[Hit]: exact, OCR-equivalent and edit-distance-1 hits, sorted"},
    {"lookup", (PyCFunction)(void (*)(void))Index_lookup, METH_FASTCALL | METH_KEYWORDS,
     "lookup(plate, now=None) -> list[Hit]: hits among entries with the read's canonical form"},
    {"nbytes", (PyCFunction)Index_nbytes, METH_NOARGS, "bytes held by the index arrays"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Index_as_sequence = {
    .sq_length = (lenfunc)Index_len,
};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "alpr.hotlist._fastmatch.Index",
    .tp_basicsize = sizeof(Index),
    .tp_dealloc = (destructor)Index_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Read-only hotlist index (see matcher.HotlistMatcher); not picklable.",
    .tp_methods = Index_methods,
    .tp_as_sequence = &Index_as_sequence,
    .tp_new = Index_new,
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_fastmatch", "C accelerator for alpr.hotlist.matcher", -1, NULL,
};

PyMODINIT_FUNC PyInit__fastmatch(void) {
    if (PyType_Ready(&IndexType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&IndexType);
    if (PyModule_AddObject(m, "Index", (PyObject *)&IndexType) < 0) {
        Py_DECREF(&IndexType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "OTHER", OTHER) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
