-- Sparse matrices and linear solves, differentiable.
--
--   local A = ds.sparse(rows, cols, vals, {n, m})  -- i32 rows/cols (0-based), real vals
--   local y = A:matvec(x)                         -- differentiable in x and vals
--   local x = ds.solve(A, b, {method = "cholmod" | "umfpack" | "cg" | "bicgstab", tol =, max_iters =})
--
-- ds.solve's gradient is the implicit-function adjoint: one solve with A^T
-- (reusing the forward factorization), never unrolled iterations. Keep the
-- same rows/cols tensors across steps: the symbolic analysis is then reused.
return function(ds)
  local V = ds.view
  local is_tensor = ds.is_tensor

  local Sparse = {}
  Sparse.__index = Sparse
  ds.Sparse = Sparse

  local METHODS = {cholmod = 0, umfpack = 1, cg = 2, bicgstab = 3}

  local function vector(t, fn, what, dtype)
    if not is_tensor(t) then error(fn .. ": " .. what .. " must be a tensor, got " .. type(t), 3) end
    if V(t).ndim ~= 1 then error(fn .. ": " .. what .. " must be 1-D, got " .. V(t).ndim .. " dims", 3) end
    if t:dtype_name() ~= dtype then error(fn .. ": " .. what .. " must have dtype " .. dtype .. ", got " .. t:dtype_name(), 3) end
    return t:numel()
  end

  local function size(v, fn, what)
    if type(v) ~= "number" or v < 0 or v ~= math.floor(v) then
      error(fn .. ": " .. what .. " must be a non-negative integer, got " .. tostring(v), 3)
    end
    return v
  end

  function ds.sparse(rows, cols, vals, shape)
    local fn = "ds.sparse"
    local nr = vector(rows, fn, "rows", "i32")
    local nc = vector(cols, fn, "cols", "i32")
    local nv = vector(vals, fn, "vals", "real")
    if nr ~= nv or nc ~= nv then
      error(string.format("%s: rows, cols and vals must have the same length, got %d, %d and %d", fn, nr, nc, nv), 2)
    end
    if type(shape) ~= "table" then error(fn .. ": shape must be a table {n, m}", 2) end
    local n = size(shape[1], fn, "shape[1] (rows)")
    local m = size(shape[2] or shape[1], fn, "shape[2] (columns)")
    return setmetatable({rows = rows, cols = cols, vals = vals, n = n, m = m}, Sparse)
  end

  function ds.is_sparse(A) return getmetatable(A) == Sparse end
  function Sparse:shape() return {self.n, self.m} end
  function Sparse:nnz() return self.vals:numel() end
  -- The same pattern with other values (e.g. a new step's Jacobian).
  function Sparse:with_values(vals)
    return ds.sparse(self.rows, self.cols, vals, {self.n, self.m})
  end

  function Sparse:matvec(x)
    if not ds.is_sparse(self) then error("A:matvec: call it as A:matvec(x) on a ds.sparse matrix", 2) end
    local nx = vector(x, "A:matvec", "x", "real")
    if nx ~= self.m then
      error(string.format("A:matvec: x has %d elements, the matrix has %d columns", nx, self.m), 2)
    end
    local y = ds.empty{self.n}
    ds.kernel("core.sparse_matvec"):launch({self.rows, self.cols, self.vals, x, y}, {self.n, self.m})
    return y
  end

  function ds.solve(A, b, opts)
    if not ds.is_sparse(A) then error("ds.solve: A must be a ds.sparse matrix, got " .. type(A), 2) end
    if A.n ~= A.m then error(string.format("ds.solve: A is %d x %d, not square", A.n, A.m), 2) end
    local nb = vector(b, "ds.solve", "b", "real")
    if nb ~= A.n then error(string.format("ds.solve: b has %d elements, A has %d rows", nb, A.n), 2) end
    opts = opts or {}
    if type(opts) ~= "table" then error("ds.solve: opts must be a table", 2) end
    local method = opts.method or "umfpack"
    local code = METHODS[method]
    if not code then
      error("ds.solve: unknown method '" .. tostring(method) .. "' (use 'cholmod', 'umfpack', 'cg' or 'bicgstab')", 2)
    end
    local tol = opts.tol or 0
    if type(tol) ~= "number" or tol < 0 then error("ds.solve: tol must be a non-negative number", 2) end
    local max_iters = opts.max_iters or 0
    if type(max_iters) ~= "number" or max_iters < 0 then error("ds.solve: max_iters must be a non-negative number", 2) end
    local x = ds.empty{A.n}
    ds.kernel("core.sparse_solve"):launch({A.rows, A.cols, A.vals, b, x}, {A.n, A.m, code, tol, max_iters})
    return x
  end
  function Sparse:solve(b, opts) return ds.solve(self, b, opts) end
end
