-- mpm.substep3 (3D): float64 central-difference checks of the adjoint for each
-- material and boundary w.r.t. the state, actuation and every constant; a
-- 20-substep rollout of neo-Hookean, fluid and corotated particles (plain and
-- checkpointed); physics (momentum, APIC rotation,
-- free fall), determinism across thread counts and the bad-input errors.
local ds = require("diffsim")
local U = require("mpm_spec_util")
ds.init{precision = "f64", threads = 2}
local mpm = ds.plugin("mpm")

local errs = {}

-- a 4 x 4 x 3 block in a 12^3 grid, its low corner in the x, y and z bands (bound 3)
local function block(ox, oy, oz, h)
  ox, oy, oz, h = ox or 0.13, oy or 0.13, oz or 0.13, h or 0.045
  local pos = {}
  for i = 0, 3 do
    for j = 0, 3 do
      for k = 0, 2 do pos[#pos + 1] = {ox + h * i + 0.004 * j, oy + h * j + 0.003 * k, oz + h * k + 0.005 * i} end
    end
  end
  return pos
end

local cycle = U.cycle

local function setup(o)
  local pos = block()
  local n = #pos
  local sim = mpm.sim{grid = 12, dt = 1e-3, x = pos, material = cycle(n, o.mats), group = cycle(n, {-1, 0, 1}),
                      groups = 2, wall = o.wall or "slip", floor = o.floor or "coulomb", reference = o.reference,
                      strength = 5}
  local s = sim:state{v = ds.add_row(ds.randn({n, 3}, 3) * 0.4, ds.tensor{-0.3, -0.3, -0.3})}
  local C = ds.randn({n, 3, 3}, 4) * 0.5
  local F = o.F and o.F(n) or s.F + ds.randn({n, 3, 3}, 5) * 0.05
  if o.F then C = ds.zeros{n, 3, 3} end -- Fn = F exactly: the singular values o.F chose
  local args = {x = s.x, v = s.v, C = C, F = F,
                act = ds.tensor{0.3, -0.2}, group = sim.group, material = sim.material,
                mass = o.per_particle and (ds.randn({n}, 6) * 0.1 + 1.2) or ds.tensor(1.2),
                vol = o.per_particle and (ds.randn({n}, 7) * 0.1 + 0.9) or ds.tensor(0.9),
                mu = ds.tensor(10), lam = ds.tensor(8), bulk = ds.tensor(5), gravity = ds.tensor(9.8),
                friction = ds.tensor(0.4), x_out = ds.empty{n, 3}, v_out = ds.empty{n, 3},
                C_out = ds.empty{n, 3, 3}, F_out = ds.empty{n, 3, 3}}
  return sim, args
end

local function check_kernel(key, o)
  local sim, args = setup(o)
  -- eps 1e-6 as in 2D: truncation (eps^2 f'''/6, f''' ~ 1/dx^3) and round-off balance there
  local ok, rep = ds.gradcheck_kernel("mpm.substep3", args, sim.params,
    {eps = 1e-6, rtol = 1e-5, atol = 1e-7, max_elems = 100})
  assert(ok, key .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 300)
  errs[key] = rep.max_abs_err
end

describe("mpm.substep3 adjoint matches central differences (f64)", function()
  for _, m in ipairs{{"neohookean", {2}}, {"fluid", {0}}, {"corotated", {1}}, {"mixed", {0, 1, 2}}} do
    it("material " .. m[1] .. ", Coulomb floor, slip walls", function()
      check_kernel("substep3 " .. m[1], {mats = m[2]})
    end)
  end
  -- corotated at F = Q diag(s) P^T with repeated and nearly repeated singular
  -- values (where an SVD's adjoint divides by s_i - s_j) and far from I: the polar
  -- adjoint solves with tr S I - S, eigenvalues s_i + s_j, and stays accurate
  local rot, mul = U.rot3, U.mul3
  local function F_with(svals)
    return function(n)
      local t = {}
      for p = 1, n do
        local Q = rot(0.3 * p, 0.7 - 0.1 * p, 0.2 * p)
        local P = rot(-0.5 * p, 0.4, 0.1 * p)
        local s = svals[(p - 1) % #svals + 1]
        local D = {{s[1], 0, 0}, {0, s[2], 0}, {0, 0, s[3]}}
        local Pt = {{P[1][1], P[2][1], P[3][1]}, {P[1][2], P[2][2], P[3][2]}, {P[1][3], P[2][3], P[3][3]}}
        t[p] = mul(mul(Q, D), Pt)
      end
      return ds.tensor(t)
    end
  end
  it("corotated near repeated singular values and large rotations", function()
    check_kernel("substep3 corotated degenerate s", {mats = {1}, F = F_with{{1, 1, 1}, {1.1, 1.1 + 1e-9, 0.9},
      {0.8, 0.8, 0.8}, {1.3, 0.7, 0.7 + 1e-7}, {2, 0.5, 1}}})
  end)
  it("sticky walls, slip floor", function() check_kernel("substep3 sticky walls", {mats = {2}, wall = "sticky", floor = "slip"}) end)
  it("sticky floor", function() check_kernel("substep3 sticky floor", {mats = {0, 2}, floor = "sticky"}) end)
  it("reference floor", function() check_kernel("substep3 reference floor", {mats = {2}, reference = true}) end)
  it("per-particle mass and volume", function()
    check_kernel("substep3 per-particle mass/vol", {mats = {0, 2}, per_particle = true})
  end)
  it("the Coulomb floor's friction gradient is nonzero", function()
    local sim, args = setup{mats = {2}}
    args.friction:requires_grad()
    args.friction:zero_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      mpm.kernels.substep3:launch(args, sim.params)
      return ds.sum(args.v_out)
    end)
    tape:backward(loss)
    assert.is_true(math.abs(args.friction.grad:item()) > 1e-6)
  end)
end)

-- A launch whose particles cross more than one cell in dt is split into k equal
-- sub-substeps (substep3.c; it used to be refused with the CFL error). The
-- setup block at dt = 1e-2 (dx = 1/12): |v| dt / dx = 0.12 |v|, so vy ~ 12
-- needs k = 2. vy ~ 15.5 with gravity -400 (upwards) starts at k = 2, but the
-- second half-step's input (vy ~ 17.5, 1.05 cells per half-step) breaks the
-- limit, so the substep restarts at k = 3.
local function fast(vy, g)
  local sim, args = setup{mats = {0, 1, 2}}
  local p = {}
  for k, v in pairs(sim.params) do p[k] = v end
  p.dt = 1e-2
  args.v = ds.add_row(ds.randn({sim.n, 3}, 3) * 0.1, ds.tensor{0.3, vy, -0.2})
  args.gravity = ds.tensor(g)
  return p, args
end

local function launch3(args, p)
  local o = {}
  for k, v in pairs(args) do o[k] = v end
  for _, k in ipairs{"x_out", "v_out", "C_out", "F_out"} do o[k] = ds.empty_like(args[k]) end
  mpm.kernels.substep3:launch(o, p)
  return o
end

-- the largest difference between a split launch and k plain launches of dt / k
local function split_gap(vy, g, k, only)
  local p, args = fast(vy, g)
  if only then
    -- one particle at `only` cells per step along y, the others at rest
    args.v = ds.zeros{#block(), 3}
    args.v:data()[1] = only * (1 / 12) / p.dt
  end
  return U.split_gap(launch3, args, p, k)
end

describe("mpm.substep3 splits a substep at the CFL limit", function()
  it("a launch at 1.5 cells per step is two launches of dt / 2", function()
    assert.is_true(split_gap(12, 9.8, 2) < 1e-12)
    assert.is_true(split_gap(12, 9.8, 3) > 1e-6) -- and not three
  end)
  it("a velocity that grows past the limit inside the substep restarts it with k = 3", function()
    assert.is_true(split_gap(15.5, -400, 3) < 1e-12)
    assert.is_true(split_gap(15.5, -400, 2) > 1e-6)
  end)
  it("splits exactly where a particle would cross more than one cell", function()
    U.assert_split_threshold(function(k, cells) return split_gap(0, 9.8, k, cells) end)
  end)
  for _, c in ipairs{{"k = 2", 12, 9.8}, {"k = 3 after a restart", 15.5, -400}} do
    it("the adjoint of a split launch (" .. c[1] .. ") matches central differences", function()
      local p, args = fast(c[2], c[3])
      -- eps 1e-5, not 1e-6: the fast block's outputs (v ~ 15) make the weighted sum
      -- ~10x larger, so at 1e-6 round-off (|f| 1e-16 / eps ~ 5e-7) passes atol;
      -- at 1e-5 the truncation error is ~1e-6 relative (it scales as eps^2)
      local ok, rep = ds.gradcheck_kernel("mpm.substep3", args, p, {eps = 1e-5, rtol = 1e-5, atol = 1e-7, max_elems = 100})
      assert(ok, tostring(rep.message))
      assert.is_true(rep.checked > 300)
      errs["substep3 split " .. c[1]] = rep.max_abs_err
    end)
  end
  it("a checkpointed rollout through split substeps matches central differences", function()
    local pos = block(0.2, 0.13, 0.2, 0.04)
    local n = #pos
    local sim = mpm.sim{grid = 12, dt = 1e-2, x = pos, material = cycle(n, {2, 0, 1}), group = cycle(n, {-1, 0}),
                        groups = 1, mu = 10, lam = 8, bulk = 5, strength = 5, gravity = 9.8}
    local v0 = ds.add_row(ds.randn({n, 3}, 12) * 0.2, ds.tensor{1, 11, 0.5})
    local ok, rep = ds.gradcheck(function(v, act)
      local sT = sim:rollout(sim:state{v = v}, 4, {act = act, checkpoint = 2, tape = ds.tape()})
      return ds.sum(ds.square(sT.x)) + ds.sum(ds.square(sT.v)) * 0.01
    end, {v0, ds.tensor{0.4}}, {rtol = 1e-5, atol = 1e-9, max_elems = 12})
    assert(ok, tostring(rep.message))
    errs["rollout3 split, checkpoints of 2"] = rep.max_abs_err
  end)
end)

describe("mpm 3D rollouts match central differences (f64)", function()
  for _, seg in ipairs{false, 6} do
    local key = seg and "rollout3 20 substeps, checkpoints of 6" or "rollout3 20 substeps"
    it(key, function()
      local pos = block()
      local n = #pos
      local sim = mpm.sim{grid = 12, dt = 1e-3, x = pos, material = cycle(n, {2, 0, 1}), group = cycle(n, {-1, 0}),
                          groups = 1, floor = "coulomb", mu = 10, lam = 10, bulk = 5, strength = 5}
      local x0 = sim.x0:detach()
      local v0 = ds.randn({n, 3}, 11) * 0.2
      local mu, lam, g, act = ds.tensor(10), ds.tensor(8), ds.tensor(9.8), ds.tensor{0.5}
      local target = ds.tensor{0.2, 0.1, 0.2}
      local ok, rep = ds.gradcheck(function(x, v, mu_, lam_, g_, act_)
        sim.mu, sim.lam, sim.gravity = mu_, lam_, g_
        local sT = sim:rollout(sim:state{x = x, v = v}, 20,
          {act = act_, checkpoint = seg or nil, tape = seg and ds.tape() or nil})
        local d = mpm.mean_x(sT.x) - target
        return ds.sum(ds.square(d)) * 0.5 + ds.sum(ds.square(sT.v)) * 0.01
      end, {x0, v0, mu, lam, g, act}, {rtol = 1e-5, atol = 1e-9, max_elems = 12})
      assert(ok, tostring(rep.message))
      assert.is_true(rep.checked >= 28)
      errs[key] = rep.max_abs_err
    end)
  end
end)

local function momentum(s, m)
  local v = ds.sum_rows(s.v):totable()
  return {m * v[1], m * v[2], m * v[3]}
end

describe("mpm 3D physics", function()
  it("conserves momentum without gravity or walls (internal forces cancel)", function()
    local sim = mpm.sim{grid = 16, dt = 1e-4, gravity = 0, mu = 50, lam = 50, x = block(0.35, 0.35, 0.35, 0.04),
                        floor = "slip", mass = 1e4, vol = 1e4, material = cycle(48, {0, 1, 2}), bulk = 50}
    local s = sim:state{v = ds.randn({sim.n, 3}, 1) * 0.3}
    s.C = ds.randn({sim.n, 3, 3}, 2)
    s.F = s.F + ds.randn({sim.n, 3, 3}, 3) * 0.05
    local p0 = momentum(s, 1e4)
    local p1 = momentum(sim:rollout(s, 10), 1e4)
    local scale = math.abs(p0[1]) + math.abs(p0[2]) + math.abs(p0[3]) + 1
    for k = 1, 3 do assert.is_true(math.abs(p1[k] - p0[k]) < 1e-10 * scale, "momentum " .. k) end
  end)

  it("APIC transfers a rigid rotation about z exactly", function()
    local sim = mpm.sim{grid = 16, dt = 1e-3, mu = 0, lam = 0, gravity = 0, x = block(0.35, 0.35, 0.35, 0.04),
                        floor = "slip", mass = 1e4, vol = 1e4}
    local c, w = {0.41, 0.43}, 1.5
    local v = {}
    for i, p in ipairs(sim.x0:totable()) do v[i] = {-w * (p[2] - c[2]), w * (p[1] - c[1]), 0} end
    local s = sim:state{v = ds.tensor(v)}
    local Ct = {}
    for i = 1, sim.n do Ct[i] = {{0, -w, 0}, {w, 0, 0}, {0, 0, 0}} end
    s.C = ds.tensor(Ct)
    local s1 = sim:substep(s)
    local v1, C1 = s1.v:totable(), s1.C:totable()
    local worst = 0
    for i = 1, sim.n do
      for d = 1, 3 do
        worst = math.max(worst, math.abs(v1[i][d] - v[i][d]))
        for e = 1, 3 do worst = math.max(worst, math.abs(C1[i][d][e] - Ct[i][d][e])) end
      end
    end
    assert.is_true(worst < 1e-11, "worst deviation " .. worst)
  end)

  it("a free-falling block follows the discrete law g dt^2 n (n + 1) / 2", function()
    local g, dt = 10, 2e-3
    local sim = mpm.sim{grid = 16, dt = dt, mu = 10, lam = 10, gravity = g, x = block(0.4, 0.6, 0.4, 0.04)}
    local s = sim:state()
    local y0 = mpm.mean_x(s.x):totable()[2]
    local n = 20
    local y = mpm.mean_x(sim:rollout(s, n).x):totable()[2]
    local expect = y0 - g * dt * dt * n * (n + 1) / 2
    assert.is_true(math.abs(y - expect) < 1e-9, string.format("y %.12g expected %.12g", y, expect))
  end)

  it("a block on the sticky floor settles in place", function()
    local sim = mpm.sim{grid = 16, dt = 2e-3, mu = 10, lam = 10, gravity = 10, x = block(0.4, 0.2, 0.4, 0.04),
                        floor = "sticky"}
    local sT = sim:rollout(sim:state(), 1000) -- E = 10 jelly: its wobble decays over ~1000 substeps
    local m = mpm.mean_x(sT.x):totable()
    local m0 = mpm.mean_x(sim.x0):totable()
    local speed = ds.sum(ds.abs(sT.v)):item() / sim.n
    -- the sheared block settles (it spreads and wobbles; its centre stays within 2/3 of a cell)
    assert.is_true(speed < 0.05, "mean |v| " .. speed)
    assert.is_true(math.abs(m[1] - m0[1]) < 0.04 and math.abs(m[3] - m0[3]) < 0.04)
    assert.is_true(m[2] > 3 / 16, "above the floor band")
  end)

  it("corotated stress from a single particle matches 2 mu (F - R) F^T + lam (J - 1) J I, R = Q P^T", function()
    -- One particle, no gravity, v = C = 0: the grid velocity is A (x_i - x_p) / m,
    -- so C_out = A / m exactly (sum w d d^T = dx^2 / 4 I) and A = -(dt vol 4/dx^2) tau:
    -- the kernel's tau read back, against the closed form with F = Q diag(s) P^T.
    local dt, dx, mu, lam = 1e-4, 1 / 16, 10, 8
    local function tau_of(F)
      local sim = mpm.sim{grid = 16, dt = dt, mu = mu, lam = lam, gravity = 0, x = {{0.51, 0.49, 0.52}},
                          material = "corotated", floor = "slip"}
      local s = sim:state()
      s.F = ds.tensor{F}
      local C = sim:substep(s).C:totable()[1]
      local k = -dt * 4 / (dx * dx) -- vol = m = 1
      local t = {}
      for r = 1, 3 do
        t[r] = {}
        for c = 1, 3 do t[r][c] = C[r][c] / k end
      end
      return t
    end
    local mul, rot = U.mul3, U.rot3
    local function T(A) return {{A[1][1], A[2][1], A[3][1]}, {A[1][2], A[2][2], A[3][2]}, {A[1][3], A[2][3], A[3][3]}} end
    local worst, scale = 0, 0
    for _, case in ipairs{{{1, 1, 1}, 0.3, 1.1}, {{1.2, 0.9, 1.05}, 0, 0}, {{1.3, 0.8, 0.8}, 0.7, -0.4},
                          {{2, 0.5, 1}, 2.5, 1.9}} do
      local sv, Q, P = case[1], rot(case[2], 0.3, -0.2), rot(case[3], -0.6, 0.4)
      local F = mul(mul(Q, {{sv[1], 0, 0}, {0, sv[2], 0}, {0, 0, sv[3]}}), T(P))
      local R = mul(Q, T(P))
      local J = sv[1] * sv[2] * sv[3]
      local D = {}
      for i = 1, 3 do
        D[i] = {}
        for j = 1, 3 do D[i][j] = F[i][j] - R[i][j] end
      end
      local want = mul(D, T(F))
      local got = tau_of(F)
      for i = 1, 3 do
        for j = 1, 3 do
          local w = 2 * mu * want[i][j] + (i == j and lam * (J - 1) * J or 0)
          worst = math.max(worst, math.abs(got[i][j] - w))
          scale = math.max(scale, math.abs(w))
        end
      end
    end
    -- a pure rotation (s = 1, 1, 1) has zero stress, so the scale comes from the others
    assert.is_true(worst < 1e-8 * scale, string.format("worst %.3g of %.3g", worst, scale))
  end)

  for _, mat in ipairs{"neohookean", "corotated"} do
    it("a mirror-symmetric " .. mat .. " block dropped on the sticky floor settles without drift", function()
      -- 4 x 4 x 4 particles symmetric about the node planes x = z = 0.5: the floor
      -- has no side to prefer, so the centre may not move sideways (round-off only)
      local h, pos = 1 / 32, {}
      for i = 0, 3 do
        for j = 0, 3 do
          for k = 0, 3 do pos[#pos + 1] = {0.5 + (i - 1.5) * h, 0.22 + j * h, 0.5 + (k - 1.5) * h} end
        end
      end
      local sim = mpm.sim{grid = 16, dt = 2e-3, mu = 10, lam = 10, gravity = 10, x = pos, floor = "sticky",
                          material = mat}
      local sT = sim:rollout(sim:state(), 1000)
      local m, m0 = mpm.mean_x(sT.x):totable(), mpm.mean_x(sim.x0):totable()
      local speed = ds.sum(ds.abs(sT.v)):item() / sim.n
      assert.is_true(speed < 0.02, "mean |v| " .. speed)
      assert.is_true(math.abs(m[1] - m0[1]) < 1e-12 and math.abs(m[3] - m0[3]) < 1e-12, "sideways drift")
      assert.is_true(m[2] > 3 / 16 and m[2] < m0[2], "fell onto the floor, above its band")
    end)
  end
end)

describe("mpm 3D determinism and errors", function()
  it("results and gradients are bitwise identical on 1, 2 and 3 threads", function()
    local function run(threads)
      ds.set_threads(threads)
      local sim = mpm.sim{grid = 16, dt = 1e-3, x = block(0.3, 0.2, 0.3, 0.03), material = cycle(48, {0, 1, 2}),
                          bulk = 5, group = cycle(48, {-1, 0}), strength = 5}
      local v0 = (ds.randn({sim.n, 3}, 7) * 0.2):requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        return ds.sum(ds.square(sim:rollout(sim:state{v = v0}, 8, {act = ds.tensor{0.4}}).x))
      end)
      tape:backward(loss)
      return {loss:item(), v0.grad:totable()}
    end
    local a, b, c = run(1), run(2), run(3)
    ds.set_threads(2)
    assert.are.same(a, b)
    assert.are.same(a, c)
  end)

  local function launch_err(mod)
    local sim, args = setup{mats = {2}}
    local p = {}
    for k, v in pairs(sim.params) do p[k] = v end
    mod(args, p)
    local ok, err = pcall(function() mpm.kernels.substep3:launch(args, p) end)
    assert.is_false(ok)
    return tostring(err)
  end
  it("names the kernel and the argument", function()
    assert.truthy(launch_err(function(a) a.x:data()[0] = 2 end):find("mpm.substep3.*'x'.*outside"))
    assert.truthy(launch_err(function(a) a.F:data()[4] = 0 / 0 end):find("mpm.substep3.*'F'"))
    assert.truthy(launch_err(function(a) a.material:data()[0] = 3 end):find("mpm.substep3.*'material'"))
    assert.truthy(launch_err(function(a) a.mass = ds.tensor(-1) end):find("mpm.substep3.*'mass'"))
    assert.truthy(launch_err(function(a) a.mass = ds.tensor(0) end):find("mpm.substep3.*'mass'"))
    assert.truthy(launch_err(function(a) a.vol = ds.tensor(0) end):find("mpm.substep3.*'vol'"))
    assert.truthy(launch_err(function(a) a.F:data()[0] = -1 end):find("mpm.substep3.*'F'.*inverted"))
    -- 1e4 m/s at dt 1e-3, dx 1/12: 120 cells per substep, past 16 sub-substeps
    assert.truthy(launch_err(function(a) a.v:data()[0] = 1e4 end):find("mpm.substep3.*'v'.*16 sub%-substeps.*CFL"))
    assert.truthy(launch_err(function(_, p) p.dt = 0.5 end):find("'dt'"))
    assert.truthy(launch_err(function(_, p) p.nz = 4 end):find("grid too small"))
    assert.truthy(launch_err(function(a) a.v = ds.zeros{#block(), 2} end):find("'v'"))
  end)
end)

describe("mpm 3D report", function()
  it("prints the worst errors", function()
    U.report(errs, 38)
  end)
end)
