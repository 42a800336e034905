/* fem meshing through TetGen: the C interface of libds_fem_tetgen.so
 * (tetgen_wrap.cpp). fem.lua declares these four functions with ffi.cdef. */
#ifndef FEM_TETGEN_WRAP_H
#define FEM_TETGEN_WRAP_H

#include <stdint.h>

typedef struct fem_tetmesh fem_tetmesh;

/* Tetrahedralizes the closed surface (verts nv x 3, faces nf x 3, 0-based,
 * consistently oriented). max_volume > 0 bounds each tet's volume, quality > 0
 * bounds the radius-edge ratio (TetGen's q; >= 1.1, 2 is a good default);
 * 0 turns either off. Returns NULL with a message in err on failure. */
fem_tetmesh *fem_tetgen(const double *verts, int64_t nv, const int32_t *faces, int64_t nf, double max_volume,
                        double quality, char *err, int errlen);
int64_t fem_tetmesh_nvert(const fem_tetmesh *m);
int64_t fem_tetmesh_ntet(const fem_tetmesh *m);
/* verts: nvert x 3 reals of real_size bytes (4 or 8); tets: ntet x 4, positively oriented. */
void fem_tetmesh_copy(const fem_tetmesh *m, void *verts, int real_size, int32_t *tets);
void fem_tetmesh_free(fem_tetmesh *m);

#endif
