-- articulation: physics checks. The rod pendulum's period against the
-- small-angle formula (SCENES.md), energy conservation of an undamped chain,
-- momentum conservation of a free-floating system driven by internal torques,
-- ABA's accelerations against M^-1 (tau - C) from CRBA and RNEA, gravity and
-- friction on a box at rest and sliding, and batch copies equal to single runs.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local art = ds.plugin("articulation")
local scenes = dofile("scenes/articulation_models.lua")

local function crossings(xs)
  local t = {}
  for i = 2, #xs do
    if (xs[i - 1] > 0) ~= (xs[i] > 0) then t[#t + 1] = (i - 2) + xs[i - 1] / (xs[i - 1] - xs[i]) end
  end
  return t
end

-- x = A^-1 b by Gaussian elimination with partial pivoting (A a Lua matrix)
local function solve(A, b)
  local n = #b
  local M = {}
  for i = 1, n do M[i] = {}; for j = 1, n do M[i][j] = A[i][j] end; M[i][n + 1] = b[i] end
  for c = 1, n do
    local p = c
    for r = c + 1, n do if math.abs(M[r][c]) > math.abs(M[p][c]) then p = r end end
    M[c], M[p] = M[p], M[c]
    for r = c + 1, n do
      local f = M[r][c] / M[c][c]
      for j = c, n + 1 do M[r][j] = M[r][j] - f * M[c][j] end
    end
  end
  local x = {}
  for i = n, 1, -1 do
    local s = M[i][n + 1]
    for j = i + 1, n do s = s - M[i][j] * x[j] end
    x[i] = s / M[i][i]
  end
  return x
end

describe("articulation physics", function()
  it("a 1 m rod released from 5 degrees swings with the small-angle period (within 1%)", function()
    local m = art.model(scenes.pendulum{dt = 1e-3})
    local th0 = 5 * math.pi / 180
    local q, qd = m:initial(1, {th0})
    local qs = m:rollout(5000, q, qd)
    local t = crossings(qs:tolist())
    assert.is_true(#t >= 5, "too few zero crossings")
    local period = 2 * (t[#t] - t[1]) / (#t - 1) * 1e-3
    local small = 2 * math.pi * math.sqrt(2 * 1 / (3 * 9.81))
    print(string.format("pendulum period %.5f s, small-angle %.5f s (rel %.2e), with the th0^2/16 term %.5f s",
                        period, small, period / small - 1, small * (1 + th0 ^ 2 / 16)))
    assert.is_true(math.abs(period / small - 1) < 0.01)
    assert.is_true(math.abs(period / (small * (1 + th0 ^ 2 / 16)) - 1) < 2e-3)
  end)

  it("an undamped 3-link chain keeps its energy (bounded drift)", function()
    local m = art.model(scenes.chain(3, {dt = 2e-4}))
    local q, qd = m:initial(1, {1.2, -0.5, 0.8})
    local e0 = m:energy(q, qd)[1]
    local qs, qds = m:rollout(10000, q, qd) -- 2 s
    local Q, V = qs:totable(), qds:totable()
    local worst = 0
    for s = 1, #Q, 250 do
      local e = m:energy(ds.tensor{Q[s][1]}, ds.tensor{V[s][1]})[1]
      worst = math.max(worst, math.abs(e - e0))
    end
    -- the scale: the chain's potential energy change of 1 rad swings, ~ m g L
    local scale = 3 * 9.81 * 0.5
    print(string.format("3-link chain: energy %.4f J, worst drift over 2 s %.2e J (%.2e of m g L)", e0, worst, worst / scale))
    assert.is_true(worst / scale < 5e-3)
  end)

  it("a free-floating system driven by internal torques keeps its momentum", function()
    local d = {options = {gravity = {0, 0, 0}, ground = false, timestep = 1e-3},
               links = {{joint = {type = "free"}, pos = {0, 0, 1},
                         inertial = {mass = 2, fullinertia = {0.05, 0.04, 0.03, 0.002, 0.001, -0.003}}},
                        {parent = 1, pos = {0.2, 0, 0}, joint = {type = "revolute", axis = {0, 0.3, 1}},
                         inertial = {mass = 0.5, pos = {0.1, 0, 0}, diaginertia = {0.001, 0.004, 0.004}}},
                        {parent = 2, pos = {0.2, 0, 0}, joint = {type = "spherical"},
                         inertial = {mass = 0.3, pos = {0.05, 0.02, 0}, diaginertia = {0.001, 0.002, 0.003}}},
                        {parent = 1, pos = {-0.2, 0, 0}, joint = {type = "prismatic", axis = {1, 0, 0}},
                         inertial = {mass = 0.4, diaginertia = {0.001, 0.001, 0.001}}}},
               actuators = {{joint = 2, gear = 1}, {joint = 4, gear = 1}}}
    local m = art.model(d)
    -- semi-implicit Euler conserves momentum up to O(dt): the drift must be small and halve with dt
    local function drift(dt)
      local q, qd = m:initial(1)
      qd = ds.tensor{{0.3, -0.1, 0.2, 0.5, -0.3, 0.8, 1.0, 0.4, -0.6, 0.2, 0.3}}
      local T = math.floor(1 / dt + 0.5)
      local c = {}
      for s = 1, T do local t = (s - 1) * dt; c[s] = {{0.2 * math.sin(7 * t), 0.5 * math.cos(5 * t)}} end
      local qs, qds = m:rollout(ds.tensor(c), q, qd, dt)
      local h0 = m:momentum(q, qd):totable()[1]
      local Q, V = qs:totable(), qds:totable()
      local worst, scale = 0, 0
      for k = 1, 6 do scale = math.max(scale, math.abs(h0[k])) end
      for s = 1, T + 1, T / 10 do
        local h = m:momentum(ds.tensor{Q[s][1]}, ds.tensor{V[s][1]}):totable()[1]
        for k = 1, 6 do worst = math.max(worst, math.abs(h[k] - h0[k])) end
      end
      return worst, scale
    end
    local d1, scale = drift(1e-3)
    local d2 = drift(5e-4)
    print(string.format("free-floating, 1 s of internal torques: |h| %.3f, momentum drift %.2e (dt 1 ms), %.2e (0.5 ms)",
                        scale, d1, d2))
    assert.is_true(d1 < 1e-2 * scale)
    assert.is_true(d2 < 0.6 * d1)
  end)

  it("ABA's accelerations equal M^-1 (tau - C) from CRBA and RNEA", function()
    local m = art.model(scenes.zoo())
    local q0, qd0 = scenes.zoo_state()
    local q, qd = ds.tensor{q0}, ds.tensor{qd0}
    local tau = ds.randn({1, m.nv}, 4)
    local qdd = m:aba(q, qd, tau):totable()[1]
    local H = m:crba(q):totable()[1]
    local C = m:rnea(q, qd, ds.zeros{1, m.nv}):totable()[1]
    local t = tau:totable()[1]
    local b = {}
    for i = 1, m.nv do b[i] = t[i] - C[i] end
    local x = solve(H, b)
    local worst, scale = 0, 0
    for i = 1, m.nv do worst = math.max(worst, math.abs(x[i] - qdd[i])); scale = math.max(scale, math.abs(x[i])) end
    print(string.format("ABA vs CRBA/RNEA: max |diff| %.2e (|qdd| up to %.2e)", worst, scale))
    assert.is_true(worst < 1e-9 * scale)
    -- M is symmetric positive definite
    for i = 1, m.nv do for j = 1, m.nv do assert.is_true(math.abs(H[i][j] - H[j][i]) < 1e-14) end end
  end)

  it("a box dropped on the ground comes to rest on it; pushed, it slides and stops (friction)", function()
    local d = {options = {timestep = 1e-3, contact_stiffness = 2e4, contact_damping = 200},
               links = {{joint = {type = "free"}, pos = {0, 0, 0.3},
                         inertial = {mass = 1, diaginertia = {0.0017, 0.0017, 0.0027}},
                         geoms = {{type = "box", size = {0.05, 0.05, 0.02}, friction = 0.5}}}}}
    local m = art.model(d)
    local q, qd = m:initial(1)
    local qs = m:rollout(1500, q, qd)
    local z = qs:totable()[1501][1][3]
    -- 4 corners of stiffness k carry m g: depth ~ g / (4 k) = 1.2e-4 m (plus the softplus offset)
    print(string.format("box at rest: centre height %.5f m (half height 0.02)", z))
    assert.is_true(math.abs(z - 0.02) < 1e-3)
    -- slide: 1 m/s along x; Coulomb friction mu g = 4.9 m/s^2 stops it after ~ v^2 / (2 mu g) = 0.10 m
    local Q = qs:totable()[1501][1]
    local q1 = ds.tensor{Q}
    local qd1 = ds.tensor{{1, 0, 0, 0, 0, 0}}
    local qs2, qds2 = m:rollout(600, q1, qd1)
    local Qe, Ve = qs2:totable()[601][1], qds2:totable()[601][1]
    local dist = Qe[1] - Q[1]
    print(string.format("sliding box: stopped after %.4f m (Coulomb: %.4f m), final speed %.2e m/s", dist, 1 / (2 * 0.5 * 9.81), Ve[1]))
    assert.is_true(math.abs(dist - 1 / (2 * 0.5 * 9.81)) < 0.02)
    assert.is_true(math.abs(Ve[1]) < 0.05)
  end)

  it("implicit Euler stays stable where semi-implicit Euler diverges, and both agree at small steps", function()
    local function servo(integ, dt)
      local d = scenes.pendulum{dt = dt}
      d.options.integrator, d.options.gravity = integ, {0, 0, 0}
      d.actuators = {{joint = 1, type = "position", kp = 1e4, kv = 0}} -- omega = 173 rad/s
      return art.model(d)
    end
    local function final(m, T)
      local q, qd = m:initial(1, {0.5})
      local qs = m:rollout(T, q, qd):tolist()
      return qs[#qs]
    end
    local ti, te = final(servo("implicit", 0.02), 100), final(servo("euler", 0.02), 100)
    print(string.format("stiff servo, dt = 0.02 s (omega dt = 3.5): implicit %.3g rad, semi-implicit %.3g rad", ti, te))
    assert.is_true(math.abs(ti) < 1e-3)
    assert.is_true(math.abs(te) > 1e3)
    -- the rod pendulum from 30 degrees, 0.4 s: the two integrators converge to one trajectory
    local function swing(integ, dt)
      local d = scenes.pendulum{dt = dt}
      d.options.integrator = integ
      local m = art.model(d)
      local q, qd = m:initial(1, {0.5})
      local qs = m:rollout(math.floor(0.4 / dt + 0.5), q, qd):tolist()
      return qs[#qs]
    end
    local a, b = swing("implicit", 1e-4), swing("euler", 1e-4)
    local a2, b2 = swing("implicit", 1e-3), swing("euler", 1e-3)
    print(string.format("pendulum at 0.4 s: implicit %.6f, semi-implicit %.6f (dt 1e-4); %.6f, %.6f (dt 1e-3)", a, b, a2, b2))
    assert.is_true(math.abs(a - b) < 2e-3)
    assert.is_true(math.abs(a - b) < 0.2 * math.abs(a2 - b2))
  end)

  it("batched copies evolve exactly like single runs", function()
    local m = art.model(scenes.chain(3, {dt = 1e-3}))
    local qa, qb = {0.3, -0.2, 0.5}, {1.0, 0.1, -0.4}
    local qs = m:rollout(200, ds.tensor{qa, qb}, ds.zeros{2, 3}):totable()
    local sa = m:rollout(200, ds.tensor{qa}, ds.zeros{1, 3}):totable()
    local sb = m:rollout(200, ds.tensor{qb}, ds.zeros{1, 3}):totable()
    for k = 1, 3 do
      assert.are.equal(sa[201][1][k], qs[201][1][k])
      assert.are.equal(sb[201][1][k], qs[201][2][k])
    end
    assert.are_not.equal(qs[201][1][1], qs[201][2][1])
  end)

  it("a batch of 130 copies (work shared by blocks of copies) gives each copy's states and gradients", function()
    local m = art.model(scenes.zoo())
    local a, b = scenes.zoo_state()
    local B = 130
    local rows, vrows = {}, {}
    for k = 1, B do
      rows[k], vrows[k] = {}, {}
      for i, v in ipairs(a) do rows[k][i] = v end
      for i, v in ipairs(b) do vrows[k][i] = v * (1 + 0.01 * k) end
    end
    local mass = m:param("mass")
    local qd0 = ds.tensor(vrows):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum((m:rollout(15, ds.tensor(rows), qd0))) end)
    tape:backward(loss)
    local gm, gv = mass.grad:tolist(), qd0.grad:totable()
    -- copies 1 and 130 alone
    for _, k in ipairs{1, 130} do
      local v1 = ds.tensor{vrows[k]}:requires_grad()
      local l1 = tape:record(function() return ds.sum((m:rollout(15, ds.tensor{rows[k]}, v1))) end)
      tape:backward(l1)
      local g1 = v1.grad:tolist()
      for i = 1, m.nv do assert.is_true(math.abs(g1[i] - gv[k][i]) <= 1e-12 * math.max(1, math.abs(g1[i]))) end
    end
    assert.is_true(math.abs(gm[1]) > 0) -- the mass gradient summed over all copies
  end)
end)
