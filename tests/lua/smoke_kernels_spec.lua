-- Float64 finite-difference checks of every smoke kernel's adjoint (2D and 3D,
-- periodic and walls), determinism across thread counts, and the bad inputs each
-- kernel must refuse with a message naming the kernel and the argument.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local smoke = ds.plugin("smoke")

-- Every check's worst errors, printed at the end when SMOKE_FD_REPORT is set.
local fd_report = {}

-- Checks a kernel's adjoint against central differences of its forward
-- (ds.gradcheck_kernel: loss = sum_j <w_j, out_j> for fixed random weights;
-- args positional or named, list slots as tables; every real input, each list
-- entry included, is perturbed).
local function check(name, args, params, opts)
  opts = opts or {}
  local o = {max_elems = opts.max_elems or 400, rtol = opts.rtol or 1e-6, atol = opts.atol or 1e-8, eps = 1e-6}
  local ok, rep = ds.gradcheck_kernel(name, args, params, o)
  assert(ok, name .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 0)
  fd_report[#fd_report + 1] = string.format("fd %-18s checked %4d max_abs_err %.2e max_rel_err %.2e", name, rep.checked,
    rep.max_abs_err, rep.max_rel_err)
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
      check("smoke.advect", {f = f2(1), out = e2(), v = {f2(2, 2.5), f2(3, 2.5)}}, {bc = bc})
    end)
    it("advect with displacements of several grid lengths " .. tag, function()
      check("smoke.advect", {f = f2(1), out = e2(), v = {f2(2, 25), f2(3, 25)}}, {bc = bc})
    end)
    it("advect_vel " .. tag, function()
      check("smoke.advect_vel", {v = {f2(4, 2), f2(5, 2)}, v_out = {e2(), e2()}}, {bc = bc})
    end)
    for _, K in ipairs{0, 1, 2, 6} do
      it(string.format("project (Jacobi, %d sweeps) %s", K, tag), function()
        check("smoke.project", {p = e2(), v = {f2(6), f2(7)}, v_out = {e2(), e2()}}, {bc = bc, iters = K, h = 1 / NX})
      end)
    end
    it("step (fused advect_vel + Jacobi projection + advect) " .. tag, function()
      check("smoke.step", {s = ds.rand({NX, NY}, 6), s_out = e2(), v = {f2(4, 2), f2(5, 2)}, v_out = {e2(), e2()}},
        {bc = bc, iters = 6, h = 1 / NX})
      check("smoke.step", {s = ds.rand(S3, 7), s_out = e3(), v = {f3(4, 1.5), f3(5, 1.5), f3(6, 1.5)},
        v_out = {e3(), e3(), e3()}}, {bc = bc, iters = 4, h = 0.2})
    end)
    it("project_cg (implicit adjoint) " .. tag, function()
      check("smoke.project_cg", {p_guess = ds.zeros{NX, NY}, p = e2(), v = {f2(8), f2(9)}, v_out = {e2(), e2()}},
        {bc = bc, h = 1 / NX, tol = 1e-13, max_iters = 10000})
    end)
    it("project_cg from a warm start " .. tag, function()
      check("smoke.project_cg", {p_guess = f2(10), p = e2(), v = {f2(8), f2(9)}, v_out = {e2(), e2()}},
        {bc = bc, h = 1 / NX, tol = 1e-13, max_iters = 10000})
    end)
    it("divergence, gradsub, laplacian " .. tag, function()
      check("smoke.divergence", {div = e2(), v = {f2(11), f2(12)}}, {bc = bc, h = 0.1})
      for axis = 0, 1 do
        check("smoke.gradsub", {v = f2(13 + axis), p = f2(15), out = e2()}, {bc = bc, h = 0.1, axis = axis})
      end
      check("smoke.laplacian", {f2(16), e2()}, {bc})
    end)
    it("advect and advect_vel in 3D " .. tag, function()
      check("smoke.advect", {f = f3(1), out = e3(), v = {f3(2, 2), f3(3, 2), f3(4, 2)}}, {bc = bc})
      check("smoke.advect_vel", {v = {f3(5, 2), f3(6, 2), f3(7, 2)}, v_out = {e3(), e3(), e3()}}, {bc = bc})
    end)
    it("project (Jacobi) and project_cg in 3D " .. tag, function()
      check("smoke.project", {p = e3(), v = {f3(8), f3(9), f3(10)}, v_out = {e3(), e3(), e3()}}, {bc = bc, iters = 3, h = 0.2})
      check("smoke.project_cg", {p_guess = ds.zeros(S3), p = e3(), v = {f3(8), f3(9), f3(10)}, v_out = {e3(), e3(), e3()}},
        {bc = bc, h = 0.2, tol = 1e-13, max_iters = 10000})
    end)
    it("divergence, gradsub, laplacian (3D) " .. tag, function()
      check("smoke.divergence", {div = e3(), v = {f3(11), f3(12), f3(13)}}, {bc = bc, h = 0.2})
      for axis = 0, 2 do
        check("smoke.gradsub", {v = f3(14 + axis), p = f3(17), out = e3()}, {bc = bc, h = 0.2, axis = axis})
      end
      check("smoke.laplacian", {f3(18), e3()}, {bc})
    end)
  end
  it("force (external field + buoyancy; the coefficient is differentiable), 2D and 3D", function()
    -- a 0-dim coefficient per component, and one {D} vector
    check("smoke.force", {v = f2(1), s = f2(3), f = f2(4), buoyancy = ds.tensor(0.5), out = e2()}, {dt = 0.3, axis = 0})
    check("smoke.force", {v = f2(2), s = f2(3), f = f2(5), buoyancy = ds.tensor({0.5, -2}), out = e2()},
      {dt = 0.3, axis = 1})
    check("smoke.force", {v = f3(1), s = f3(4), f = f3(5), buoyancy = ds.tensor({0.5, -2, 1}), out = e3()},
      {dt = 0.3, axis = 2})
  end)
  it("inflow", function()
    check("smoke.inflow", {f2(1), ds.rand({NX, NY}, 2), f2(3), e2()}, {})
  end)
  it("the tiled multi-block Jacobi projection (grid large enough to split)", function()
    local big = {96, 64}
    for bc = 0, 1 do
      check("smoke.project", {p = ds.zeros(big), v = {ds.randn(big, 1), ds.randn(big, 2)}, v_out = {ds.zeros(big), ds.zeros(big)}},
        {bc = bc, iters = 6, h = 1 / 96}, {max_elems = 60, atol = 1e-7})
    end
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
    fails("smoke%.advect: argument 'v%[2%]' %(#4%) holds a non%-finite velocity", function() smoke.advect(s, vx, vy) end)
    vx:set(3, math.huge)
    fails("smoke%.advect_vel: argument 'v%[1%]' %(#1%) holds a non%-finite velocity", function() smoke.advect_velocity(vx, vy) end)
    local v3 = ds.zeros{4, 4, 4}
    local w3 = ds.zeros{4, 4, 4}
    w3:set(5, -1 / 0)
    fails("smoke%.advect: argument 'v%[3%]'", function() smoke.advect(v3, v3, v3, w3) end)
  end)
  it("a non-finite velocity inside a fused step names smoke.step and the argument", function()
    local vx = ds.zeros{8, 8}
    vx:set(7, 0 / 0)
    fails("smoke%.step: argument 'v%[1%]' %(#3%) holds a non%-finite velocity",
      function() smoke.rollout({v = {vx, ds.zeros{8, 8}}, s = ds.zeros{8, 8}}, 3, {}) end)
  end)
  it("an absurd finite velocity is refused too (it would overflow the cell index)", function()
    local vx = ds.full({8, 8}, 1e12)
    fails("out%-of%-range velocity", function() smoke.advect(ds.zeros{8, 8}, vx, ds.zeros{8, 8}) end)
  end)
  it("a grid too small for the stencil", function()
    fails("smoke%.project: argument 'p' %(#1%): grid axis 1 has 3 cells; the stencils need at least 4",
      function() smoke.project(ds.zeros{3, 8}, ds.zeros{3, 8}) end)
    fails("smoke%.project_cg: .*need at least 4", function()
      smoke.project(ds.zeros{8, 2}, ds.zeros{8, 2}, {solver = "cg"}) end)
    fails("smoke%.advect: argument 'f' %(#1%): grid axis 2 has 1 cells", function()
      smoke.advect(ds.zeros{8, 1}, ds.zeros{8, 1}, ds.zeros{8, 1}) end)
  end)
  it("mismatched shapes name the argument", function()
    fails("smoke%.advect: argument 'v%[2%]' %(#4%) has shape {8,9}, expected {8,8}", function()
      smoke.advect(ds.zeros{8, 8}, ds.zeros{8, 8}, ds.zeros{8, 9}) end)
    fails("smoke%.project: argument 'v%[2%]' %(#3%) has shape", function() smoke.project(ds.zeros{8, 8}, ds.zeros{9, 8}) end)
    fails("smoke%.advect: argument 'f' %(#1%) must be a 2D grid, got 3 dims", function()
      smoke.advect(ds.zeros{4, 4, 4}, ds.zeros{4, 4}, ds.zeros{4, 4}) end)
  end)
  it("a velocity list of the wrong length, a bad axis, a wrong buoyancy shape", function()
    local z = ds.zeros{8, 8}
    fails("smoke%.advect: argument 'v' %(the velocity list%) needs 2 or 3 components, got 1", function()
      ds.kernel("smoke.advect"):launch({f = z, out = ds.zeros{8, 8}, v = {z}}, {bc = 0}) end)
    fails("smoke%.divergence: argument 'v' %(the velocity list%) needs 2 or 3 components, got 4", function()
      ds.kernel("smoke.divergence"):launch({div = ds.zeros{8, 8}, v = {z, z, z, z}}, {bc = 0, h = 1}) end)
    fails("smoke%.gradsub: param 'axis' must be an integer in %[0, 1%], got 2", function()
      ds.kernel("smoke.gradsub"):launch({v = z, p = z, out = ds.zeros{8, 8}}, {bc = 0, h = 1, axis = 2}) end)
    fails("smoke%.force: argument 'f' %(#3%) has shape {8,9}, expected {8,8}", function()
      ds.kernel("smoke.force"):launch({v = z, s = z, f = ds.zeros{8, 9}, buoyancy = ds.tensor(1), out = ds.zeros{8, 8}},
        {dt = 1, axis = 0}) end)
  end)
  it("bad options and params", function()
    fails("bc must be 'periodic' or 'wall'", function() smoke.advect(ds.zeros{8, 8}, ds.zeros{8, 8}, ds.zeros{8, 8}, {bc = "open"}) end)
    fails("solver must be 'jacobi' or 'cg'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {solver = "sor"}) end)
    fails("param 'tol'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {solver = "cg", tol = 2}) end)
    fails("param 'iters' must be an integer", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {iters = 2.5}) end)
    fails("param 'h'", function() smoke.project(ds.zeros{8, 8}, ds.zeros{8, 8}, {h = -1}) end)
  end)
end)

if os.getenv("SMOKE_FD_REPORT") then
  describe("smoke kernels: FD report", function()
    it("prints the worst errors of every check", function()
      for _, l in ipairs(fd_report) do io.stderr:write(l, "\n") end
      assert.is_true(#fd_report > 0)
    end)
  end)
end
