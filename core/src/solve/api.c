/* The solver table the host hands to plugins (host->solve). Append-only: new
 * entries go at the end, and `size` lets a plugin check that an entry exists. */
#include "solve_internal.h"

static const ds_solve_api API = {
    sizeof(ds_solve_api),
    ds_cg,
    ds_bicgstab,
    ds_solve_dot,
    ds_sparse_new,
    ds_sparse_free,
    ds_sparse_set_values,
    ds_sparse_rows,
    ds_sparse_cols,
    ds_sparse_nnz,
    ds_sparse_slot,
    ds_sparse_matvec,
    ds_sparse_matvec_t,
    ds_sparse_linop,
    ds_sparse_is_symmetric,
    ds_sparse_factor,
    ds_sparse_solve,
    ds_sparse_factored,
    ds_newton,
    ds_ift_adjoint,
    ds_cg_work_bytes,
};

const ds_solve_api *ds_solve_api_get(void) { return &API; }
