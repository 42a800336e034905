-- Physics of mpm.substep: conservation, APIC, free fall, resting contact,
-- determinism across thread counts, and the errors bad inputs get.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local mpm = ds.plugin("mpm")
local blocks = require("scenes.mpm_blocks")

local function total_momentum(sim, s)
  local m = sim.mass:item()
  local v = ds.sum_rows(s.v):totable()
  return {m * v[1], m * v[2]}
end

describe("mpm physics", function()
  it("P2G/G2P conserve mass and momentum (gravity 0, no walls touched)", function()
    -- internal MLS forces sum to zero (the B-spline's first moment vanishes), so the
    -- total momentum changes by round-off only; the mass rides on the particles.
    -- Heavy particles (mass = vol = 1e4, density 1) make the reference's 1e-10 in
    -- v_i = mv_i / (m_i + 1e-10) negligible (it biases light edge nodes by 1e-10 / m_i).
    local sim = mpm.sim{grid = 32, dt = 1e-4, mu = 50, lam = 50, gravity = 0, x = blocks.square(12, 0.5, 1 / 32, 10, 10),
                        floor = "slip", mass = 1e4, vol = 1e4}
    local s = sim:state{v = ds.randn({sim.n, 2}, 1) * 0.3}
    s.C = ds.randn({sim.n, 2, 2}, 2)
    s.F = s.F + ds.randn({sim.n, 2, 2}, 3) * 0.05
    local p0 = total_momentum(sim, s)
    local s1 = sim:rollout(s, 10)
    local p1 = total_momentum(sim, s1)
    local scale = math.abs(p0[1]) + math.abs(p0[2]) + 1
    for k = 1, 2 do assert.is_true(math.abs(p1[k] - p0[k]) < 1e-10 * scale, "momentum " .. k) end
  end)

  it("APIC transfers a rigid rotation exactly (v and C unchanged)", function()
    local sim = mpm.sim{grid = 32, dt = 1e-3, mu = 0, lam = 0, gravity = 0, x = blocks.square(10, 0.6, 1 / 32, 11, 11),
                        floor = "slip", mass = 1e4, vol = 1e4}
    local c, w = {0.27, 0.31}, 1.5
    local x = sim.x0:totable()
    local v = {}
    for i, p in ipairs(x) do v[i] = {-w * (p[2] - c[2]), w * (p[1] - c[1])} end
    local s = sim:state{v = ds.tensor(v)}
    local Ct = {}
    for i = 1, sim.n do Ct[i] = {{0, -w}, {w, 0}} end
    s.C = ds.tensor(Ct)
    local s1 = sim:substep(s)
    local v1, C1 = s1.v:totable(), s1.C:totable()
    local worst = 0
    for i = 1, sim.n do
      worst = math.max(worst, math.abs(v1[i][1] - v[i][1]), math.abs(v1[i][2] - v[i][2]),
        math.abs(C1[i][1][2] + w), math.abs(C1[i][2][1] - w), math.abs(C1[i][1][1]), math.abs(C1[i][2][2]))
    end
    assert.is_true(worst < 1e-11, "worst deviation " .. worst)
  end)

  it("a free-falling block's centre of mass follows g t^2 / 2 until it touches the floor", function()
    local g, dt = 9.8, 1e-3
    local sim = mpm.sim{grid = 64, dt = dt, mu = 20, lam = 20, gravity = g, x = blocks.square(10, 0.5, 1 / 64, 20, 40),
                        floor = "coulomb"}
    local s = sim:state()
    local y0 = mpm.mean_x(s.x):totable()[2]
    local bottom0 = 40 / 64
    local n_steps = 0
    local ok = true
    for t = 1, 200 do
      s = sim:substep(s)
      local y = mpm.mean_x(s.x):totable()[2]
      local drop = y0 - y
      -- the discrete (symplectic Euler) law and, to first order in dt, g t^2 / 2
      local exact = g * dt * dt * t * (t + 1) / 2
      local tt = t * dt
      if bottom0 - drop < (3 + 2) / 64 then break end -- within reach of the floor band: stop
      n_steps = t
      if math.abs(drop - exact) > 1e-9 or math.abs(drop - g * tt * tt / 2) > g * dt * tt then ok = false end
    end
    assert.is_true(n_steps > 100)
    assert.is_true(ok)
  end)

  it("a block resting on the Coulomb floor settles without drift", function()
    local sim = mpm.sim{grid = 32, dt = 5e-4, mu = 30, lam = 30, gravity = 9.8, x = blocks.square(8, 0.5, 1 / 32, 12.25, 3.2),
                        floor = "coulomb", friction = 0.5}
    local s = sim:state()
    local x0 = mpm.mean_x(s.x):totable()
    s = sim:rollout(s, 1000)
    local xm = mpm.mean_x(s.x):totable()
    s = sim:rollout(s, 500)
    local x1 = mpm.mean_x(s.x):totable()
    -- the block is mirror-symmetric about node 14 (x = 12.25 dx + 0.5 dx i, i = 0..7),
    -- so friction has no side to prefer: it must not creep
    assert.is_true(math.abs(x1[1] - xm[1]) < 1e-8, "late drift " .. (x1[1] - xm[1]))
    local vmax = 0
    for _, r in ipairs(s.v:totable()) do vmax = math.max(vmax, math.abs(r[1]), math.abs(r[2])) end
    assert.is_true(math.abs(x1[1] - x0[1]) < 1e-5, "horizontal drift " .. (x1[1] - x0[1]))
    assert.is_true(math.abs(x1[2] - x0[2]) < 0.01, "sank " .. (x0[2] - x1[2]))
    assert.is_true(vmax < 0.05, "still moving: " .. vmax)
  end)

  it("a fluid column spreads along the floor and conserves its volume", function()
    -- dam break: a 0.125 x 0.375 column (h0) of weakly compressible fluid (density
    -- 1, bulk modulus K = 200) against the left wall, 2 particles per cell per axis.
    -- Volume is sum vol_p det F_p (the fluid reset keeps det F = J). Under its own
    -- weight the fluid compresses by about rho g h / (2 K) < 1% on average and the
    -- collapse sloshes a little: the stated tolerance is 2% at every 0.02 s. The
    -- front runs out at a steady speed below Ritter's ideal dam-break front
    -- 2 sqrt(g h0) (no friction or turbulence) and above sqrt(g h0).
    local dx, K, g, h0 = 1 / 64, 200, 9.8, 0.375
    local pos = {}
    for i = 0, 15 do
      for j = 0, 47 do pos[#pos + 1] = {dx * (3.25 + 0.5 * i), dx * (3.25 + 0.5 * j)} end
    end
    local sim = mpm.sim{grid = 64, dt = 2e-4, gravity = g, x = pos, material = "fluid", bulk = K, mu = 0, lam = 0,
                        wall = "slip", floor = "slip"}
    local function extent(s)
      local right, top = 0, 0
      for _, r in ipairs(s.x:totable()) do right, top = math.max(right, r[1]), math.max(top, r[2]) end
      return right, top
    end
    local function volume(s)
      local J = 0
      for _, f in ipairs(s.F:totable()) do J = J + f[1][1] * f[2][2] - f[1][2] * f[2][1] end
      return J / sim.n -- relative to the initial volume (det F = 1)
    end
    local s = sim:state()
    local r0, t0 = extent(s)
    local worst, front = 0, {}
    for k = 1, 15 do -- 0.3 s, before the front reaches the right wall
      s = sim:rollout(s, 100)
      worst = math.max(worst, math.abs(volume(s) - 1))
      front[k] = extent(s)
    end
    local r1, t1 = extent(s)
    local speed = (front[15] - front[10]) / 0.1
    print(string.format("# mpm fluid column: front %.3f -> %.3f (speed %.2f = %.2f sqrt(g h0)), top %.3f -> %.3f, "
      .. "worst |V/V0 - 1| %.4f", r0, r1, speed, speed / math.sqrt(g * h0), t0, t1, worst))
    assert.is_true(speed > math.sqrt(g * h0) and speed < 2 * math.sqrt(g * h0), "front speed " .. speed)
    assert.is_true(r1 > r0 + 0.5, "the front ran out along the floor")
    assert.is_true(t1 < 0.6 * t0, "the column fell")
    assert.is_true(worst < 0.02, "volume changed by " .. worst)
  end)

  it("sticky walls stop tangential motion, slip walls keep it", function()
    local function run(wall)
      local sim = mpm.sim{grid = 32, dt = 5e-4, mu = 10, lam = 10, gravity = 0, x = blocks.square(6, 0.5, 1 / 32, 3.1, 14),
                          wall = wall, floor = "slip"}
      local s = sim:rollout(sim:state{v = ds.full({sim.n, 2}, 0)  + ds.add_row(ds.zeros{sim.n, 2}, ds.tensor{-0.5, 0.5})}, 40)
      return mpm.mean_x(s.v):totable()[2]
    end
    assert.is_true(run("slip") > 0.3)
    assert.is_true(run("sticky") < run("slip") - 0.05)
  end)
end)

describe("mpm determinism", function()
  -- neo-Hookean runs the scalar material code; corotated the 8-lane vector paths
  -- (lanes.c, p2g_adj_lanes.c); both run the vector G2P
  for _, material in ipairs{"neohookean", "corotated"} do
  it("results and gradients are bitwise identical on 1, 2 and 3 threads (" .. material .. ")", function()
    -- keep: the grid kept for the adjoint (the default) or recomputed in it
    local function run(threads, keep)
      ds.set_threads(threads)
      local sim = mpm.sim{grid = 64, dt = 5e-4, mu = 20, lam = 20, x = blocks.square(30, 0.5, 1 / 64, 10, 6),
                          material = material, floor = "coulomb"}
      local v0 = ds.randn({sim.n, 2}, 7) * 0.2
      v0:requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local s = sim:rollout(sim:state{v = v0}, 20, {keep_grid = keep})
        return ds.sum(ds.square(s.x)) + ds.sum(s.C)
      end)
      tape:backward(loss)
      return {loss:item(), v0.grad:totable()}
    end
    for _, keep in ipairs{true, false} do
      local a, b, c = run(1, keep), run(2, keep), run(3, keep)
      ds.set_threads(2)
      assert.are.same(a, b)
      assert.are.same(a, c)
    end
  end)
  end
end)

describe("mpm bad input", function()
  local function sim_args(o)
    o = o or {}
    local pos = o.pos or blocks.square(4, 0.5, 1 / 32, 12, 12)
    local sim = mpm.sim{grid = o.grid or 32, dt = o.dt or 1e-3, mu = 10, lam = 10, x = pos, floor = "slip"}
    return sim
  end
  local function expect(fn, ...)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    err = tostring(err)
    for _, pat in ipairs{...} do assert.is_truthy(err:find(pat, 1, true), "'" .. pat .. "' not in: " .. err) end
  end

  it("zero, negative or non-finite density", function()
    local pos = blocks.square(4, 0.5, 1 / 32, 12, 12)
    for _, rho in ipairs{0, -1, 0 / 0, ds.tensor(-3)} do
      expect(function() mpm.sim{grid = 32, x = pos, density = rho} end, "mpm.sim", "density must be")
    end
    local per = {}
    for i = 1, #pos do per[i] = i == 5 and -2 or 1 end
    expect(function() mpm.sim{grid = 32, x = pos, density = ds.tensor(per)} end, "mpm.sim", "density", "entry 5")
    -- a density tensor that turns bad later (an optimiser step) is caught at the next rollout
    local rho = ds.tensor(1)
    local sim = mpm.sim{grid = 32, x = pos, density = rho, mu = 10, lam = 10}
    rho:data()[0] = 0
    expect(function() sim:rollout(sim:state(), 2) end, "mpm.sim", "density must be positive")
    expect(function() mpm.sim{grid = 32, x = pos, density = 1, mass = 1} end, "mpm.sim", "mass or density")
  end)
  it("a particle outside the grid", function()
    local sim = sim_args{pos = {{0.5, 0.5}, {0.999, 0.5}}}
    expect(function() sim:substep(sim:state()) end, "mpm.substep", "'x'", "particle 1", "outside the grid")
  end)
  it("dt past the elastic stability limit", function()
    local sim = sim_args{dt = 0.05}
    expect(function() sim:substep(sim:state()) end, "mpm.substep", "'dt'", "stability limit")
  end)
  it("a velocity past the CFL limit even split into 16 sub-substeps", function()
    local sim = sim_args{} -- 1000 m/s at dt 1e-3, dx 1/32: 32 cells per substep
    expect(function() sim:substep(sim:state{v = ds.full({sim.n, 2}, 1000)}) end, "mpm.substep", "'v'",
           "16 sub-substeps", "CFL")
  end)
  it("non-finite F", function()
    local sim = sim_args{}
    local s = sim:state()
    s.F:data()[5] = 0 / 0
    expect(function() sim:substep(s) end, "mpm.substep", "'F'", "particle 1", "not finite")
  end)
  it("non-positive mass and volume", function()
    local sim = sim_args{}
    sim.mass = ds.tensor(0)
    expect(function() sim:substep(sim:state()) end, "mpm.substep", "'mass'", "positive")
    sim.mass = ds.tensor(1)
    sim.vol = ds.tensor(-1)
    expect(function() sim:substep(sim:state()) end, "mpm.substep", "'vol'", "positive")
  end)
  it("a grid too small", function()
    local sim = sim_args{grid = 8, pos = {{0.5, 0.5}}}
    expect(function() sim:substep(sim:state()) end, "mpm.substep", "grid too small", "'nx'")
  end)
  it("wrong shapes and bad boundary names", function()
    local sim = sim_args{}
    local s = sim:state()
    s.C = ds.zeros{sim.n, 2}
    expect(function() sim:substep(s) end, "mpm.substep", "'C'")
    expect(function() mpm.sim{x = {{0.5, 0.5}}, floor = "ice"} end, "mpm.sim", "floor")
  end)
end)
