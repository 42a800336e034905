/* fem: the table of element types. The index of a type is its id in the
 * kernels' `sets` argument and in fem.lua's TYPES table: append only, never
 * reorder (element.h says how to add a type). */
#include "element.h"

const fem_elem_type *const fem_types[] = {
    &fem_type_tet_snh,
    &fem_type_tet_corot,
    &fem_type_tet_linear,
    &fem_type_tri_membrane, /* shell_types.c */
    &fem_type_hinge_bend,
    &fem_type_tri_neohookean,
};
const int fem_ntypes = (int)(sizeof fem_types / sizeof fem_types[0]);
