-- Float64 finite-difference checks of every smoke kernel's adjoint (2D and 3D,
-- periodic and walls), determinism across thread counts, and the bad inputs each
-- kernel must refuse with a message naming the kernel and the argument.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local smoke = ds.plugin("smoke")

local function check(name, args, params, opts)
  opts = opts or {}
  local ok, rep = ds.gradcheck_kernel(name, args, params,
    {max_elems = opts.max_elems or 400, rtol = opts.rtol or 1e-6, atol = opts.atol or 1e-8, eps = 1e-6})
  assert(ok, name .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 0)
  return rep
end

-- Non-square grids so that a swapped axis shows; velocities of a few cells so
-- samples wrap or hit the walls.
local NX, NY = 9, 8
local S3 = {6, 5, 4}
local function f2(seed, std) return ds.randn({NX, NY}, seed, std or 1) end
local function f3(seed, std) return ds.randn(S3, seed, std or 1) end
local function e2() return ds.zeros{NX, NY} end
local function e3() return ds.zeros(S3) end

describe("smoke kernels: adjoints match central differences in f64", function()
  for _, bc in ipairs{0, 1} do
    local tag = bc == 0 and "periodic" or "walls"
    it("advect " .. tag, function()
      check("smoke.advect", {f2(1), f2(2, 2.5), f2(3, 2.5), e2()}, {bc})
    end)
    it("advect with displacements of several grid lengths " .. tag, function()
      check("smoke.advect", {f2(1), f2(2, 25), f2(3, 25), e2()}, {bc})
    end)
    it("advect_vel " .. tag, function()
      check("smoke.advect_vel", {f2(4, 2), f2(5, 2), e2(), e2()}, {bc})
    end)
    for _, K in ipairs{0, 1, 2, 6} do
      it(string.format("project (Jacobi, %d sweeps) %s", K, tag), function()
        check("smoke.project", {f2(6), f2(7), e2(), e2(), e2()}, {bc, K, 1 / NX})
      end)
    end
    it("step (fused advect_vel + Jacobi projection + advect) " .. tag, function()
      check("smoke.step", {f2(4, 2), f2(5, 2), ds.rand({NX, NY}, 6), e2(), e2(), e2()}, {bc, 6, 1 / NX})
      check("smoke.step3", {f3(4, 1.5), f3(5, 1.5), f3(6, 1.5), ds.rand(S3, 7), e3(), e3(), e3(), e3()}, {bc, 4, 0.2})
    end)
    it("project_cg (implicit adjoint) " .. tag, function()
      check("smoke.project_cg", {f2(8), f2(9), ds.zeros{NX, NY}, e2(), e2(), e2()}, {bc, 1 / NX, 1e-13, 10000})
    end)
    it("project_cg from a warm start " .. tag, function()
      check("smoke.project_cg", {f2(8), f2(9), f2(10), e2(), e2(), e2()}, {bc, 1 / NX, 1e-13, 10000})
    end)
    it("divergence, gradsub, laplacian " .. tag, function()
      check("smoke.divergence", {f2(11), f2(12), e2()}, {bc, 0.1})
      check("smoke.gradsub", {f2(13), f2(14), f2(15), e2(), e2()}, {bc, 0.1})
      check("smoke.laplacian", {f2(16), e2()}, {bc})
    end)
    it("advect3 and advect_vel3 " .. tag, function()
      check("smoke.advect3", {f3(1), f3(2, 2), f3(3, 2), f3(4, 2), e3()}, {bc})
      check("smoke.advect_vel3", {f3(5, 2), f3(6, 2), f3(7, 2), e3(), e3(), e3()}, {bc})
    end)
    it("project3 (Jacobi) and project3_cg " .. tag, function()
      check("smoke.project3", {f3(8), f3(9), f3(10), e3(), e3(), e3(), e3()}, {bc, 3, 0.2})
      check("smoke.project3_cg", {f3(8), f3(9), f3(10), ds.zeros(S3), e3(), e3(), e3(), e3()}, {bc, 0.2, 1e-13, 10000})
    end)
    it("divergence3, gradsub3, laplacian (3D) " .. tag, function()
      check("smoke.divergence3", {f3(11), f3(12), f3(13), e3()}, {bc, 0.2})
      check("smoke.gradsub3", {f3(14), f3(15), f3(16), f3(17), e3(), e3(), e3()}, {bc, 0.2})
      check("smoke.laplacian", {f3(18), e3()}, {bc})
    end)
  end
  it("force (external field + buoyancy) and force3", function()
    check("smoke.force", {f2(1), f2(2), f2(3), f2(4), f2(5), e2(), e2()}, {0.3, 0.5, -2})
    check("smoke.force3", {f3(1), f3(2), f3(3), f3(4), f3(5), f3(6), f3(7), e3(), e3(), e3()}, {0.3, 0.5, -2, 1})
  end)
  it("inflow", function()
    check("smoke.inflow", {f2(1), ds.rand({NX, NY}, 2), f2(3), e2()}, {})
  end)
  it("the tiled multi-block Jacobi projection (grid large enough to split)", function()
    local big = {96, 64}
    check("smoke.project", {ds.randn(big, 1), ds.randn(big, 2), ds.zeros(big), ds.zeros(big), ds.zeros(big)},
      {0, 6, 1 / 96}, {max_elems = 60, atol = 1e-7})
    check("smoke.project", {ds.randn(big, 1), ds.randn(big, 2), ds.zeros(big), ds.zeros(big), ds.zeros(big)},
      {1, 6, 1 / 96}, {max_elems = 60, atol = 1e-7})
  end)
end)

-- Runs fn with t threads and returns every value it produced as flat lists.
local function with_threads(t, fn)
  ds.set_threads(t)
  local res = {fn()}
  ds.set_threads(2)
  local out = {}
  for i, x in ipairs(res) do out[i] = x:tolist() end
  return out
end

local function same_bits(a, b)
  for i = 1, #a do
    for j = 1, #a[i] do
      if a[i][j] ~= b[i][j] then return false, string.format("output %d element %d: %.17g vs %.17g", i, j, a[i][j], b[i][j]) end
    end
  end
  return true
end

describe("smoke kernels: deterministic for any thread count", function()
  local n = {96, 72}
  local vx, vy, s = ds.randn(n, 1, 3), ds.randn(n, 2, 3), ds.rand(n, 3)
  local function run()
    local a, b = vx:detach():requires_grad(), vy:detach():requires_grad()
    local s0 = s:detach():requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local st = smoke.rollout({v = {a, b}, s = s0}, 3, {})
      return ds.sum(ds.square(st.s)) + ds.dot(st.v[1], st.v[2])
    end)
    local st = ds.no_grad(smoke.rollout, {v = {a, b}, s = s0}, 3, {})
    tape:backward(loss)
    return st.s, st.v[1], st.v[2], a.grad, b.grad, s0.grad
  end
  it("a 3-step rollout and its gradients are bitwise equal with 1, 2 and 3 threads", function()
    local r1, r2, r3 = with_threads(1, run), with_threads(2, run), with_threads(3, run)
    assert(same_bits(r1, r2))
    assert(same_bits(r1, r3))
  end)
  it("the CG projection and its adjoint are bitwise equal with 1 and 2 threads", function()
    local function cg()
      local a, b = vx:detach():requires_grad(), vy:detach():requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local x, y, p = smoke.project(a, b, {solver = "cg", tol = 1e-10})
        return ds.dot(x, y) + ds.sum(ds.square(p))
      end)
      tape:backward(loss)
      return a.grad, b.grad
    end
    assert(same_bits(with_threads(1, cg), with_threads(2, cg)))
  end)
end)

describe("smoke kernels: bad input gives a clear error", function()
  local function fails(pattern, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find(pattern), "message was: " .. tostring(err))
  end
  it("a non-finite velocity names the kernel and the argument", function()
    local vx, vy, s = ds.zeros{8, 8}, ds.zeros{8, 8}, ds.zeros{8, 8}
    vy:set(10, 0 / 0)
    fails("smoke%.advect: argument 'vy' %(#3%) holds a non%-finite velocity", function() smoke.advect(s, vx, vy) end)
    vx:set(3, math.huge)
    fails("smoke%.advect_vel: argument 'vx' %(#1%) holds a non%-finite velocity", function() smoke.advect_velocity(vx, vy) end)
    local v3 = ds.zeros{4, 4, 4}
    local w3 = ds.zeros{4, 4, 4}
    w3:set(5, -1 / 0)
    fails("smoke%.advect3: argument 'vz'", function() smoke.advect(v3, v3, v3, w3) end)
  end)
  it("a non-finite velocity inside a fused step names smoke.step and the argument", function()
    local vx = ds.zeros{8, 8}
    vx:set(7, 0 / 0)
    fails("smoke%.step: argument 'vx' %(#1%) holds a non%-finite velocity",
      function() smoke.rollout({v = {vx, ds.zeros{8, 8}}, s = ds.zeros{8, 8}}, 3, {}) end)
  end)
  it("an absurd finite velocity is refused too (it would overflow the cell index)", function()
    local vx = ds.full({8, 8}, 1e12)
    fails("out%-of%-range velocity", function() smoke.advect(ds.zeros{8, 8}, vx, ds.zeros{8, 8}) end)
  end)
  it("a grid too small for the stencil", function()
    fails("smoke%.project: argument 'vx' %(#1%): grid axis 1 has 3 cells; the stencils need at least 4",
      function() smoke.project(ds.zeros{3, 8}, ds.zeros{3, 8}) end)
    fails("smoke%.project_cg: .*need at least 4", function()
      smoke.project(ds.zeros{8, 2}, ds.zeros{8, 2}, {solver = "cg"}) end)
    fails("smoke%.advect: argument 'f' %(#1%): grid axis 2 has 1 cells", function()
      smoke.advect(ds.zeros{8, 1}, ds.zeros{8, 1}, ds.zeros{8, 1}) end)
  end)
  it("mismatched shapes name the argument", function()
    fails("smoke%.advect: argument 'vy' %(#3%) has shape {8,9}, expected {8,8}", function()
      smoke.advect(ds.zeros{8, 8}, ds.zeros{8, 8}, ds.zeros{8, 9}) end)
    fails("smoke%.project: argument 'vy' %(#2%) has shape", function() smoke.project(ds.zeros{8, 8}, ds.zeros{9, 8}) end)
    fails("smoke%.advect: argument 'f' %(#1%) must be a 2D grid, got 3 dims", function()
      smoke.advect(ds.zeros{4, 4, 4}, ds.zeros{4, 4}, ds.zeros{4, 4}) end)
  end)
  it("bad options and params", function()
    fails("bc must be 'periodic' or 'wall'", function() smoke.advect(ds.zeros{8, 8}, ds.zeros{8, 8}, ds.zeros{8, 8}, {bc = "open"}) end)
    fails("solver must be 'jacobi' or 'cg'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {solver = "sor"}) end)
    fails("param 'tol'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {solver = "cg", tol = 2}) end)
    fails("param 'iters' must be an integer", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {iters = 2.5}) end)
    fails("param 'h'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {h = -1}) end)
  end)
end)
