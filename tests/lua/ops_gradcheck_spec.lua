-- Float64 finite-difference check of the adjoint of every core kernel, and a
-- guard that fails when a core kernel is added without a check here.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function rnd(shape, seed, lo, hi) return ds.rand(shape, seed, lo or -1, hi or 1) end
local function pos(shape, seed) return ds.rand(shape, seed, 0.5, 2) end
local function idx(list) return ds.tensor(list, "i32") end

-- kernel -> function building {args, params}; outputs may hold anything
local cases = {
  add = function() return {rnd({5}, 1), rnd({5}, 2), ds.empty{5}} end,
  sub = function() return {rnd({5}, 1), rnd({5}, 2), ds.empty{5}} end,
  mul = function() return {rnd({5}, 1), rnd({5}, 2), ds.empty{5}} end,
  div = function() return {rnd({5}, 1), pos({5}, 2), ds.empty{5}} end,
  tanh = function() return {rnd({6}, 3), ds.empty{6}} end,
  sin = function() return {rnd({6}, 3), ds.empty{6}} end,
  cos = function() return {rnd({6}, 3), ds.empty{6}} end,
  exp = function() return {rnd({6}, 3), ds.empty{6}} end,
  log = function() return {pos({6}, 3), ds.empty{6}} end,
  sqrt = function() return {pos({6}, 3), ds.empty{6}} end,
  square = function() return {rnd({6}, 3), ds.empty{6}} end,
  abs = function() return {ds.tensor{-0.7, -0.2, 0.3, 0.9}, ds.empty{4}} end,
  relu = function() return {ds.tensor{-0.7, -0.2, 0.3, 0.9}, ds.empty{4}} end,
  sigmoid = function() return {rnd({6}, 3), ds.empty{6}} end,
  affine = function() return {rnd({6}, 3), ds.empty{6}}, {-1.5, 0.25} end,
  rdiv = function() return {pos({6}, 3), ds.empty{6}}, {2.0} end,
  clamp = function() return {ds.tensor{-0.9, -0.2, 0.1, 0.7}, ds.empty{4}}, {-0.5, 0.5} end,
  copy = function() return {rnd({2, 3}, 3), ds.empty{2, 3}} end,
  sum = function() return {rnd({7}, 4), ds.empty{}} end,
  mean = function() return {rnd({7}, 4), ds.empty{}} end,
  norm = function() return {rnd({7}, 4), ds.empty{}} end,
  dot = function() return {rnd({7}, 4), rnd({7}, 5), ds.empty{}} end,
  sum_rows = function() return {rnd({4, 3}, 4), ds.empty{3}} end,
  sum_dim = function() return {rnd({3, 4, 2}, 4), ds.empty{3, 2}}, {1} end,
  mean_dim = function() return {rnd({3, 4, 2}, 4), ds.empty{4, 2}}, {0} end,
  matmul = function() return {rnd({3, 4}, 6), rnd({4, 2}, 7), ds.empty{3, 2}}, {0, 0} end,
  add_row = function() return {rnd({3, 4}, 6), rnd({4}, 7), ds.empty{3, 4}} end,
  gather = function() return {rnd({4, 2}, 8), idx{3, 0, 3, 1, 2}, ds.empty{5, 2}} end,
  scatter_add = function() return {rnd({5, 2}, 8), idx{3, 0, 3, 1, 2}, rnd({4, 2}, 9)} end,
  slice_rows = function() return {rnd({5, 2}, 8), ds.empty{2, 2}}, {2} end,
  pick = function() return {rnd({3, 2}, 8), ds.empty{}}, {4} end,
  place_rows = function() return {rnd({2, 3}, 8), rnd({5, 3}, 9)}, {1} end,
  -- the kit (more cases, 3D and clamping in kit_spec.lua); positions inside [0.5, n - 1.5) dx
  p2g = function() return {rnd({6, 2}, 8, 0.3, 1.7), rnd({6, 2}, 9), ds.empty{5, 6, 2}}, {0.5, 0, 0, 0, 0} end,
  g2p = function() return {rnd({6, 2}, 8, 0.3, 1.7), rnd({5, 6, 2}, 9), ds.empty{6, 2}}, {0.5, 0, 0, 0, 0} end,
  mlp = function() return {rnd({3, 4}, 8), rnd({4 * 5 + 5 + 5 * 2 + 2}, 9), idx{4, 5, 2, 1, 3}, ds.empty{3, 2}} end,
  -- 3 x 4 matrix with a duplicate (1, 2); tests/lua/solve_spec.lua covers the solvers in depth
  sparse_matvec = function()
    return {idx{0, 1, 1, 2, 1}, idx{0, 2, 3, 1, 2}, rnd({5}, 10), rnd({4}, 11), ds.empty{3}}, {3, 4}
  end,
  -- params n, m, method (umfpack), tol, max_iters
  sparse_solve = function()
    return {idx{0, 1, 2, 0, 2, 1}, idx{0, 1, 2, 2, 1, 1}, ds.tensor{3, 2.5, 4, 0.5, -0.7, 0.5}, rnd({3}, 12),
            ds.empty{3}}, {3, 3, 1, 0, 0}
  end,
}
-- extra variants: transposes and scalar broadcasting
local variants = {
  {"matmul", function() return {rnd({4, 3}, 6), rnd({2, 4}, 7), ds.empty{3, 2}}, {1, 1} end},
  {"matmul", function() return {rnd({4, 3}, 6), rnd({4, 2}, 7), ds.empty{3, 2}}, {1, 0} end},
  {"matmul", function() return {rnd({3, 4}, 6), rnd({2, 4}, 7), ds.empty{3, 2}}, {0, 1} end},
  {"mul", function() return {rnd({}, 1), rnd({5}, 2), ds.empty{5}} end},
  {"div", function() return {rnd({5}, 1), pos({}, 2), ds.empty{5}} end},
  {"sub", function() return {rnd({}, 1), rnd({5}, 2), ds.empty{5}} end},
  {"sum_dim", function() return {rnd({3, 4, 2}, 4), ds.empty{3, 4}}, {2} end},
  {"mean_dim", function() return {rnd({3, 4}, 4), ds.empty{3}}, {1} end},
}

describe("core kernel adjoints (float64 central differences)", function()
  for name, make in pairs(cases) do
    it("core." .. name, function()
      local args, params = make()
      local ok, rep = ds.gradcheck_kernel("core." .. name, args, params, {eps = 1e-6, rtol = 1e-6, atol = 1e-9})
      assert.is_true(ok, rep.message)
      assert.is_true(rep.checked > 0)
    end)
  end
  for i, v in ipairs(variants) do
    it("core." .. v[1] .. " variant " .. i, function()
      local args, params = v[2]()
      local ok, rep = ds.gradcheck_kernel("core." .. v[1], args, params, {eps = 1e-6, rtol = 1e-6, atol = 1e-9})
      assert.is_true(ok, rep.message)
    end)
  end

  it("covers every registered core kernel", function()
    for _, k in ipairs(ds.kernels()) do
      local op = k:match("^core%.(.+)$")
      if op then assert.is_not_nil(cases[op], "no gradient check for " .. k) end
    end
  end)

  it("composite ops through the Lua layer", function()
    local x, W, b = rnd({2, 3}, 11), rnd({3, 4}, 12), rnd({4}, 13)
    local ok, rep = ds.gradcheck(function(x, W, b)
      local h = ds.tanh(ds.add_row(ds.matmul(x, W), b))
      local y = ds.concat{ds.slice_rows(h, 2, 1), h}
      return ds.mean(ds.square(y - 0.5)) + ds.norm(ds.gather(y, ds.tensor({2, 0}, "i32"))) / (2 - ds.sum(x) * 0.1)
    end, {x, W, b})
    assert.is_true(ok, rep.message)
  end)
end)
