-- The 2D Poisson solve cases shared by scripts/bench/solve.lua and
-- scripts/bench/core.lua: one line per size and method (see solve.lua's header).
--   require("scripts.bench.poisson_solves")(ds, {reps =, sizes = "64,256,512",
--                                              methods = "cholmod,umfpack,cg", cg_max =})
return function(ds, opt)
  local now = ds.now

  local function poisson(N)
    local n, nnz = N * N, 5 * N * N - 4 * N
    local rows, cols, vals = ds.empty({nnz}, "i32"), ds.empty({nnz}, "i32"), ds.empty{nnz}
    local r, c, v = rows:data(), cols:data(), vals:data()
    local k = 0
    local function add(i, j, x) r[k], c[k], v[k] = i, j, x; k = k + 1 end
    for i = 0, N - 1 do
      for j = 0, N - 1 do
        local p = i * N + j
        if i > 0 then add(p, p - N, -1) end
        if j > 0 then add(p, p - 1, -1) end
        add(p, p, 4)
        if j < N - 1 then add(p, p + 1, -1) end
        if i < N - 1 then add(p, p + N, -1) end
      end
    end
    assert(k == nnz)
    rows:touch(); cols:touch(); vals:touch()
    return rows, cols, vals, n
  end
  
  local function best(fn)
    local b = math.huge
    for _ = 1, opt.reps do
      collectgarbage("collect")
      local t0 = now()
      fn()
      b = math.min(b, (now() - t0) * 1e3)
    end
    return b
  end
  
  -- The adjoint: tape:backward of dot(x, w), one transposed solve, best of --reps.
  local function adjoint_ms(rows, cols, vals0, n, b, w, o)
    local vals = vals0:detach():requires_grad()
    local Ag = ds.sparse(rows, cols, vals, {n, n})
    local back = math.huge
    for _ = 1, opt.reps do
      local tape = ds.tape()
      local loss = tape:record(function() return ds.dot(ds.solve(Ag, b, o), w) end)
      local t0 = now()
      tape:backward(loss)
      back = math.min(back, (now() - t0) * 1e3)
      vals:zero_grad()
    end
    return back
  end

  local tol = ds.precision == "f64" and 1e-10 or 1e-6
  for size in tostring(opt.sizes):gmatch("%d+") do
    local N = tonumber(size)
    local rows, cols, vals0, n = poisson(N)
    local b = ds.rand({n}, 1, -1, 1)
    local w = ds.rand({n}, 2, -1, 1)
    for method in tostring(opt.methods):gmatch("[%a]+") do
      if method ~= "cg" or N <= opt.cg_max then
        local o = {method = method, tol = tol}
        if method == "cg" then
          local A = ds.sparse(rows, cols, vals0, {n, n})
          local fwd = best(function() ds.solve(A, b, o) end)
          local back = adjoint_ms(rows, cols, vals0, n, b, w, o)
          ds.bench.case(string.format("poisson_%d_cg", N), {n = n, forward_ms = fwd, adjoint_ms = back, ratio = back / fwd},
            {"n", "forward_ms", "adjoint_ms", "ratio"})
        else
          -- factor: a fresh values tensor every time (new id, so the cache misses)
          local first = best(function() ds.solve(ds.sparse(rows, cols, vals0:detach(), {n, n}), b, o) end)
          local A = ds.sparse(rows, cols, vals0, {n, n})
          ds.solve(A, b, o)
          local solve = best(function() ds.solve(A, b, o) end)
          local back = adjoint_ms(rows, cols, vals0, n, b, w, o)
          local factor = math.max(first - solve, 0)
          ds.bench.case(string.format("poisson_%d_%s", N, method),
            {n = n, factor_ms = factor, solve_ms = solve, adjoint_ms = back, ratio = back / first},
            {"n", "factor_ms", "solve_ms", "adjoint_ms", "ratio"})
        end
      end
    end
  end
end
