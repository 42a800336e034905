-- ds.sparse / A:matvec / ds.solve: values, float64 finite-difference gradients
-- for every method, and clear errors on bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local GC = {eps = 1e-6, rtol = 1e-6, atol = 1e-9}

-- 2D Poisson (5 points, Dirichlet) on N x N; the diagonal 4 comes as 2 + 2.
-- Symmetric pairs share one parameter: vals = theta[param], so a perturbation
-- keeps the matrix symmetric (CHOLMOD and CG need that).
local function poisson(N)
  local rows, cols, param, theta = {}, {}, {}, {}
  local pair = {}
  local function add(i, j, v)
    local key = math.min(i, j) * N * N + math.max(i, j)
    if not pair[key] or i == j then
      theta[#theta + 1] = v
      pair[key] = #theta - 1
    end
    rows[#rows + 1], cols[#cols + 1], param[#param + 1] = i, j, pair[key]
  end
  for i = 0, N - 1 do
    for j = 0, N - 1 do
      local k = i * N + j
      add(k, k, 2)
      if i > 0 then add(k, k - N, -1) end
      if j > 0 then add(k, k - 1, -1) end
      if j < N - 1 then add(k, k + 1, -1) end
      if i < N - 1 then add(k, k + N, -1) end
      add(k, k, 2)
    end
  end
  return ds.tensor(rows, "i32"), ds.tensor(cols, "i32"), ds.tensor(param, "i32"), ds.tensor(theta), N * N
end

-- A non-symmetric, diagonally dominant n x n matrix with a duplicate entry.
local function nonsym(n)
  local rows, cols, vals = {}, {}, {}
  local s = 7
  local function rnd() s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 end
  for i = 0, n - 1 do
    rows[#rows + 1], cols[#cols + 1], vals[#vals + 1] = i, i, 4 + rnd()
    rows[#rows + 1], cols[#cols + 1], vals[#vals + 1] = i, (i + 1) % n, 1.5
    rows[#rows + 1], cols[#cols + 1], vals[#vals + 1] = i, (i * 3 + 2) % n, rnd() - 0.5
  end
  rows[#rows + 1], cols[#cols + 1], vals[#vals + 1] = 0, 0, 0.25 -- duplicate of (0, 0)
  return ds.tensor(rows, "i32"), ds.tensor(cols, "i32"), ds.tensor(vals)
end

local function dense(rows, cols, vals, n, m)
  local A = {}
  for i = 1, n do A[i] = {} for j = 1, m do A[i][j] = 0 end end
  local r, c, v = rows:tolist(), cols:tolist(), vals:tolist()
  for k = 1, #v do A[r[k] + 1][c[k] + 1] = A[r[k] + 1][c[k] + 1] + v[k] end
  return A
end

local function err_of(f)
  local ok, e = pcall(f)
  assert.is_false(ok)
  return tostring(e)
end

describe("ds.sparse", function()
  it("matvec matches the dense product, duplicates summed", function()
    local rows, cols, vals = nonsym(7)
    local A = ds.sparse(rows, cols, vals, {7, 7})
    local x = ds.rand({7}, 3, -1, 1)
    local y = A:matvec(x):tolist()
    local D, xs = dense(rows, cols, vals, 7, 7), x:tolist()
    for i = 1, 7 do
      local s = 0
      for j = 1, 7 do s = s + D[i][j] * xs[j] end
      assert.is_true(math.abs(s - y[i]) < 1e-12)
    end
    -- a rectangular matrix
    local R = ds.sparse(ds.tensor({0, 1, 1}, "i32"), ds.tensor({2, 0, 2}, "i32"), ds.tensor{1, 2, 3}, {2, 3})
    assert.are.same({1, 2 + 3}, R:matvec(ds.tensor{1, 2, 1}):tolist())
  end)

  it("matvec gradients in x and vals (float64 central differences)", function()
    local rows, cols, vals = nonsym(6)
    local x = ds.rand({6}, 5, -1, 1)
    local w = ds.rand({6}, 6, -1, 1)
    local ok, rep = ds.gradcheck(function(v, xx)
      return ds.dot(ds.sparse(rows, cols, v, {6, 6}):matvec(xx), w)
    end, {vals, x}, GC)
    assert.is_true(ok, rep.message)
    assert.is_true(rep.checked > 20)
  end)
end)

describe("ds.solve", function()
  it("solves a Poisson system with every method", function()
    local rows, cols, param, theta, n = poisson(5)
    local A = ds.sparse(rows, cols, ds.gather(theta, param), {n, n})
    local b = ds.rand({n}, 9, -1, 1)
    for _, m in ipairs{"cholmod", "umfpack", "cg", "bicgstab"} do
      local x = ds.solve(A, b, {method = m, tol = 1e-12})
      local r = (A:matvec(x) - b):tolist()
      for i = 1, n do assert.is_true(math.abs(r[i]) < 1e-9, m .. " residual " .. r[i]) end
    end
  end)

  for _, method in ipairs{"cholmod", "umfpack", "cg"} do
    it("gradients in b and vals, method " .. method .. " (symmetric, float64 central differences)", function()
      local rows, cols, param, theta, n = poisson(3)
      local b = ds.rand({n}, 11, -1, 1)
      local w = ds.rand({n}, 12, -1, 1)
      -- a shifted Laplacian with parameters theta shared by symmetric pairs
      local ok, rep = ds.gradcheck(function(th, bb)
        local A = ds.sparse(rows, cols, ds.gather(th, param), {n, n})
        local x = ds.solve(A, bb, {method = method, tol = 1e-13})
        return ds.dot(x, w) + ds.sum(ds.square(x)) * 0.5
      end, {theta, b}, GC)
      assert.is_true(ok, rep.message)
    end)
  end

  for _, method in ipairs{"umfpack", "bicgstab"} do
    it("gradients in b and vals, method " .. method .. " (non-symmetric)", function()
      local rows, cols, vals = nonsym(8)
      local b = ds.rand({8}, 13, -1, 1)
      local w = ds.rand({8}, 14, -1, 1)
      local ok, rep = ds.gradcheck(function(v, bb)
        local x = ds.solve(ds.sparse(rows, cols, v, {8, 8}), bb, {method = method, tol = 1e-13})
        return ds.dot(x, w)
      end, {vals, b}, GC)
      assert.is_true(ok, rep.message)
      assert.is_true(rep.checked == 25 + 8)
    end)
  end

  it("a chain of solves longer than the factorization cache keeps exact gradients", function()
    local rows, cols, vals = nonsym(6)
    local b = ds.rand({6}, 15, -1, 1)
    local ok, rep = ds.gradcheck(function(v, bb)
      local x = bb
      for i = 1, 12 do
        x = ds.solve(ds.sparse(rows, cols, v * (1 + 0.05 * i), {6, 6}), x * 3)
      end
      return ds.sum(x)
    end, {vals, b}, GC)
    assert.is_true(ok, rep.message)
  end)

  it("rejects bad input with messages that name the function and argument", function()
    local rows, cols, vals = nonsym(4)
    local A = ds.sparse(rows, cols, vals, {4, 4})
    assert.matches("ds.sparse: rows must have dtype i32", err_of(function() ds.sparse(vals, cols, vals, {4, 4}) end), 1, true)
    assert.matches("ds.sparse: rows, cols and vals must have the same length",
      err_of(function() ds.sparse(rows, cols, ds.ones{3}, {4, 4}) end), 1, true)
    assert.matches("ds.sparse: shape must be a table", err_of(function() ds.sparse(rows, cols, vals) end), 1, true)
    assert.matches("ds.solve: b has 3 elements, A has 4 rows", err_of(function() ds.solve(A, ds.ones{3}) end), 1, true)
    assert.matches("A:matvec: x has 5 elements", err_of(function() A:matvec(ds.ones{5}) end), 1, true)
    assert.matches("ds.solve: A must be a ds.sparse matrix", err_of(function() ds.solve(vals, vals) end), 1, true)
    assert.matches("ds.solve: unknown method 'lu'", err_of(function() ds.solve(A, ds.ones{4}, {method = "lu"}) end), 1, true)
    local R = ds.sparse(rows, cols, vals, {4, 5})
    assert.matches("ds.solve: A is 4 x 5, not square", err_of(function() ds.solve(R, ds.ones{4}) end), 1, true)
    -- indices past the declared shape
    local small = ds.sparse(rows, cols, vals, {3, 3})
    assert.matches("core.sparse_solve: cols[7] = 3 is out of range for 3 columns", err_of(function() ds.solve(small, ds.ones{3}) end), 1, true)
    assert.matches("out of range", err_of(function() small:matvec(ds.ones{3}) end), 1, true)
    -- numerics
    assert.matches("ds.solve: matrix is not symmetric",
      err_of(function() ds.solve(A, ds.ones{4}, {method = "cholmod"}) end), 1, true)
    assert.matches("method 'cg' needs a symmetric", err_of(function() ds.solve(A, ds.ones{4}, {method = "cg"}) end), 1, true)
    local d = ds.tensor({0, 1, 2}, "i32")
    local ind = ds.sparse(d, d, ds.tensor{1, -2, 3}, {3, 3})
    assert.matches("ds.solve: matrix is not positive definite (CHOLMOD failed at column 1); use method 'umfpack'",
      err_of(function() ds.solve(ind, ds.ones{3}, {method = "cholmod"}) end), 1, true)
    local sing = ds.sparse(d, ds.tensor({0, 1, 1}, "i32"), ds.tensor{1, 1, 1}, {3, 3})
    assert.matches("ds.solve: matrix is singular", err_of(function() ds.solve(sing, ds.ones{3}) end), 1, true)
    local nan = ds.sparse(d, d, ds.tensor{1, 0 / 0, 1}, {3, 3})
    assert.matches("ds.solve: vals[1] is NaN", err_of(function() ds.solve(nan, ds.ones{3}) end), 1, true)
    assert.matches("b[2] is infinite", err_of(function() ds.solve(ds.sparse(d, d, ds.ones{3}, {3, 3}), ds.tensor{1, 1, 1 / 0}) end), 1, true)
    assert.matches("did not converge", err_of(function()
      local rw, cl, pr, th, n = poisson(6)
      ds.solve(ds.sparse(rw, cl, ds.gather(th, pr), {n, n}), ds.ones{n}, {method = "cg", max_iters = 2})
    end), 1, true)
  end)
end)
