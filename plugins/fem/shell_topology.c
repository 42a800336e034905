/* Hinges of a triangle mesh and the checks that make them well defined: every
 * interior edge joins exactly two consistently oriented triangles, and every
 * vertex's triangles form one fan. See shell.h. */
#include <stdio.h>
#include <stdlib.h>

#include "shell.h"

typedef struct half_edge {
  int32_t lo, hi;   /* the edge's vertices, lo < hi: the sort key */
  int32_t a, b, c;  /* the triangle walks a -> b; c is its third vertex */
  int32_t tri;
} half_edge;

static int half_edge_cmp(const void *p, const void *q) {
  const half_edge *x = p, *y = q;
  if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
  if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
  return x->tri < y->tri ? -1 : x->tri > y->tri;
}

static int32_t uf_find(int32_t *parent, int32_t i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}
static void uf_union(int32_t *parent, int32_t i, int32_t j) {
  i = uf_find(parent, i);
  j = uf_find(parent, j);
  if (i != j) parent[i < j ? j : i] = i < j ? i : j;
}

/* The corner of triangle t at vertex v (v is one of its vertices). */
static int32_t corner(const int32_t *tri, int32_t t, int32_t v) {
  return 3 * t + (tri[3 * t] == v ? 0 : tri[3 * t + 1] == v ? 1 : 2);
}

int64_t fem_shell_hinges(const int32_t *tri, int64_t ntri, int64_t nvert, int32_t *hinges, char *err, int errlen) {
  for (int64_t t = 0; t < ntri; t++) {
    const int32_t *f = tri + 3 * t;
    for (int k = 0; k < 3; k++)
      if (f[k] < 0 || f[k] >= nvert) {
        snprintf(err, errlen, "triangle %lld (0-based) has vertex index %d, outside [0, %lld)", (long long)t, f[k],
                 (long long)nvert);
        return -1;
      }
    if (f[0] == f[1] || f[1] == f[2] || f[0] == f[2]) {
      snprintf(err, errlen, "triangle %lld (0-based) repeats a vertex: {%d, %d, %d}", (long long)t, f[0], f[1], f[2]);
      return -1;
    }
  }
  half_edge *he = malloc(sizeof *he * (size_t)(3 * ntri + 1));
  int32_t *parent = malloc(sizeof *parent * (size_t)(3 * ntri + 1));
  int32_t *root = malloc(sizeof *root * (size_t)(nvert + 1));
  if (!he || !parent || !root) {
    free(he), free(parent), free(root);
    snprintf(err, errlen, "out of memory for %lld triangles", (long long)ntri);
    return -1;
  }
  for (int64_t t = 0; t < ntri; t++)
    for (int k = 0; k < 3; k++) {
      half_edge *h = &he[3 * t + k];
      h->a = tri[3 * t + k];
      h->b = tri[3 * t + (k + 1) % 3];
      h->c = tri[3 * t + (k + 2) % 3];
      h->lo = h->a < h->b ? h->a : h->b;
      h->hi = h->a < h->b ? h->b : h->a;
      h->tri = (int32_t)t;
    }
  qsort(he, (size_t)(3 * ntri), sizeof *he, half_edge_cmp);
  for (int64_t i = 0; i < 3 * ntri; i++) parent[i] = (int32_t)i;
  int64_t nh = 0, rc = 0;
  for (int64_t i = 0; i < 3 * ntri && !rc;) {
    int64_t j = i + 1;
    while (j < 3 * ntri && he[j].lo == he[i].lo && he[j].hi == he[i].hi) j++;
    const half_edge *p = &he[i], *q = &he[i + 1];
    if (j - i > 2) {
      snprintf(err, errlen, "edge {%d, %d} is shared by %lld triangles (%d, %d, %d%s; 0-based): a triangle mesh must be "
               "a manifold, at most two triangles per edge", p->lo, p->hi, (long long)(j - i), p->tri, q->tri,
               he[i + 2].tri, j - i > 3 ? ", ..." : "");
      rc = -1;
    } else if (j - i == 2) {
      if (p->a == q->a) {
        snprintf(err, errlen, "triangles %d and %d (0-based) both walk their shared edge %d -> %d: inconsistent "
                 "orientation (list every triangle counter-clockwise seen from the same side)", p->tri, q->tri, p->a,
                 p->b);
        rc = -1;
      } else {
        int32_t *h = hinges + 4 * nh++;
        h[0] = p->a, h[1] = p->b, h[2] = p->c, h[3] = q->c;
        uf_union(parent, corner(tri, p->tri, p->a), corner(tri, q->tri, p->a));
        uf_union(parent, corner(tri, p->tri, p->b), corner(tri, q->tri, p->b));
      }
    }
    i = j;
  }
  /* one fan per vertex: all its corners in one class */
  for (int64_t v = 0; v < nvert && !rc; v++) root[v] = -1;
  for (int64_t i = 0; i < 3 * ntri && !rc; i++) {
    const int32_t v = tri[i], r = uf_find(parent, (int32_t)i);
    if (root[v] < 0) root[v] = r;
    else if (root[v] != r) {
      snprintf(err, errlen, "vertex %d is where separate sheets meet (triangles %d and %d, 0-based, touch only "
               "there): a triangle mesh must be a manifold", v, root[v] / 3, (int32_t)(i / 3));
      rc = -1;
    }
  }
  free(he), free(parent), free(root);
  return rc ? -1 : nh;
}
