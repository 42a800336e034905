/* fem meshing: TetGen behind a C interface (tetgen_wrap.h), built as a small
 * library of its own (libds_fem_tetgen.so, beside the plugins) that fem's Lua
 * front end loads through the FFI. It is not a plugin: meshing makes arrays
 * whose sizes only TetGen knows, which a kernel (outputs allocated before the
 * launch) cannot return, and nothing about it is differentiable.
 *
 * TetGen, not gmsh, because it is a re-entrant library call with no process
 * state (gmsh's API is one global model behind initialize/finalize), it
 * tetrahedralizes a closed triangle surface as it is (a piecewise linear
 * complex), and it reports failures (self-intersections, tiny features) as
 * error codes we can turn into messages. See docs/fem.md. */
#define TETLIBRARY
#include <tetgen.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

extern "C" {
#include "shell.h"
#include "tetgen_wrap.h"
}

struct fem_tetmesh {
  std::vector<double> verts;  /* nv x 3 */
  std::vector<int32_t> tets;  /* nt x 4, 0-based, positive orientation */
};

static const char *tetgen_error(int code) {
  switch (code) {
  case 1: return "out of memory";
  case 2: return "internal error";
  case 3: return "the surface intersects itself";
  case 4: return "the surface has a feature too small for the mesh (nearly touching faces or very short edges)";
  case 5: return "two facets of the surface overlap";
  case 10: return "the input has no facets";
  default: return "unknown error";
  }
}

extern "C" fem_tetmesh *fem_tetgen(const double *verts, int64_t nv, const int32_t *faces, int64_t nf,
                                   double max_volume, double quality, char *err, int errlen) {
  err[0] = 0;
  if (nv < 4 || nf < 4) {
    snprintf(err, errlen, "a closed surface needs at least 4 vertices and 4 faces, got %lld and %lld", (long long)nv,
             (long long)nf);
    return nullptr;
  }
  /* closed, oriented 2-manifold: every edge in exactly two faces, walked both ways */
  std::vector<int32_t> hinges(4 * (size_t)(3 * nf / 2 + 1));
  const int64_t nh = fem_shell_hinges(faces, nf, nv, hinges.data(), err, errlen);
  if (nh < 0) return nullptr;
  if (2 * nh != 3 * nf) {
    snprintf(err, errlen, "the surface is not closed: %lld of its edges belong to one face only (a hole)",
             (long long)(3 * nf - 2 * nh));
    return nullptr;
  }
  for (int64_t i = 0; i < 3 * nv; i++)
    if (!std::isfinite(verts[i])) {
      snprintf(err, errlen, "vertex %lld (0-based) has a non-finite coordinate", (long long)(i / 3));
      return nullptr;
    }
  tetgenio in, out;
  in.firstnumber = 0;
  in.numberofpoints = (int)nv;
  in.pointlist = new double[3 * nv];
  std::memcpy(in.pointlist, verts, sizeof(double) * 3 * nv);
  in.numberoffacets = (int)nf;
  in.facetlist = new tetgenio::facet[nf];
  in.facetmarkerlist = nullptr;
  for (int64_t f = 0; f < nf; f++) {
    tetgenio::facet *fc = &in.facetlist[f];
    tetgenio::init(fc);
    fc->numberofpolygons = 1;
    fc->polygonlist = new tetgenio::polygon[1];
    tetgenio::init(&fc->polygonlist[0]);
    fc->polygonlist[0].numberofvertices = 3;
    fc->polygonlist[0].vertexlist = new int[3];
    for (int k = 0; k < 3; k++) fc->polygonlist[0].vertexlist[k] = faces[3 * f + k];
  }
  /* TetGen 1.5.0 frees its memory pools before it throws an error code and again while
     unwinding, which crashes the process instead of reporting (a self-intersecting
     surface segfaults). Its d switch only looks for intersecting facets and returns
     them, so that pass goes first and an intersecting surface is refused here. */
  try {
    tetgenio det;
    char dsw[] = "pdzQ";
    tetrahedralize(dsw, &in, &det);
    if (det.numberoftrifaces > 0) {
      const int *t = det.trifacelist;
      snprintf(err, errlen, "the surface intersects itself: %d of its faces cross others (one has vertices %d, %d, %d, "
               "0-based)", det.numberoftrifaces, t[0], t[1], t[2]);
      return nullptr;
    }
  } catch (int code) {
    snprintf(err, errlen, "TetGen's intersection check failed (code %d): %s", code, tetgen_error(code));
    return nullptr;
  }
  /* p: mesh the surface as a PLC; q: radius-edge ratio bound; a: volume bound;
     z: 0-based numbering; Q: quiet */
  char sw[128];
  int n = snprintf(sw, sizeof sw, "pz");
  if (quality > 0) n += snprintf(sw + n, sizeof sw - n, "q%.17g", quality);
  if (max_volume > 0) n += snprintf(sw + n, sizeof sw - n, "a%.17g", max_volume);
  snprintf(sw + n, sizeof sw - n, "Q");
  try {
    tetrahedralize(sw, &in, &out);
  } catch (int code) {
    snprintf(err, errlen, "TetGen failed (code %d): %s", code, tetgen_error(code));
    return nullptr;
  } catch (const std::bad_alloc &) {
    snprintf(err, errlen, "TetGen failed: out of memory");
    return nullptr;
  } catch (...) {
    snprintf(err, errlen, "TetGen failed with an unknown exception");
    return nullptr;
  }
  if (out.numberoftetrahedra <= 0 || out.numberofcorners < 4) {
    snprintf(err, errlen, "TetGen made no tetrahedra (is the surface closed and not flat?)");
    return nullptr;
  }
  fem_tetmesh *m = new (std::nothrow) fem_tetmesh;
  if (!m) return snprintf(err, errlen, "out of memory"), nullptr;
  m->verts.assign(out.pointlist, out.pointlist + 3 * (size_t)out.numberofpoints);
  m->tets.resize(4 * (size_t)out.numberoftetrahedra);
  for (int t = 0; t < out.numberoftetrahedra; t++) {
    const int *c = out.tetrahedronlist + (size_t)t * out.numberofcorners;
    int32_t *o = &m->tets[4 * (size_t)t];
    for (int k = 0; k < 4; k++) o[k] = c[k];
    /* TetGen's corner order has negative orientation; fem wants (x1-x0, x2-x0, x3-x0) positive */
    const double *a = &m->verts[3 * o[0]], *b = &m->verts[3 * o[1]], *cc = &m->verts[3 * o[2]], *d = &m->verts[3 * o[3]];
    double u[3], v[3], w[3];
    for (int k = 0; k < 3; k++) u[k] = b[k] - a[k], v[k] = cc[k] - a[k], w[k] = d[k] - a[k];
    const double det = u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
                       u[2] * (v[0] * w[1] - v[1] * w[0]);
    if (det < 0) std::swap(o[2], o[3]);
  }
  return m;
}

extern "C" int64_t fem_tetmesh_nvert(const fem_tetmesh *m) { return (int64_t)(m->verts.size() / 3); }
extern "C" int64_t fem_tetmesh_ntet(const fem_tetmesh *m) { return (int64_t)(m->tets.size() / 4); }

extern "C" void fem_tetmesh_copy(const fem_tetmesh *m, void *verts, int real_size, int32_t *tets) {
  if (real_size == 8) std::memcpy(verts, m->verts.data(), sizeof(double) * m->verts.size());
  else
    for (size_t i = 0; i < m->verts.size(); i++) static_cast<float *>(verts)[i] = (float)m->verts[i];
  std::memcpy(tets, m->tets.data(), sizeof(int32_t) * m->tets.size());
}

extern "C" void fem_tetmesh_free(fem_tetmesh *m) { delete m; }
