-- articulation in float32: the same kernels built with float reals. The rod
-- pendulum's period, ABA against CRBA/RNEA (to float rounding), a rollout's
-- gradient against central differences, and the state checks.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local art = ds.plugin("articulation")
local scenes = dofile("scenes/articulation_models.lua")

describe("articulation (float32)", function()
  it("the rod pendulum's period is within 1% of the small-angle formula", function()
    local m = art.model(scenes.pendulum{dt = 1e-3})
    local q, qd = m:initial(1, {5 * math.pi / 180})
    local xs = m:rollout(4000, q, qd):tolist()
    local c = {}
    for i = 2, #xs do if (xs[i - 1] > 0) ~= (xs[i] > 0) then c[#c + 1] = (i - 2) + xs[i - 1] / (xs[i - 1] - xs[i]) end end
    local period = 2 * (c[#c] - c[1]) / (#c - 1) * 1e-3
    local small = 2 * math.pi * math.sqrt(2 / (3 * 9.81))
    print(string.format("f32 pendulum period %.5f s (small-angle %.5f s)", period, small))
    assert.is_true(math.abs(period / small - 1) < 0.01)
  end)

  it("ABA's accelerations satisfy M qdd + C = tau to float rounding", function()
    local m = art.model(scenes.zoo())
    local a, b = scenes.zoo_state()
    local q, qd = ds.tensor{a}, ds.tensor{b}
    local tau = ds.randn({1, m.nv}, 4)
    local qdd = m:aba(q, qd, tau)
    local r = m:rnea(q, qd, qdd):tolist()
    local t = tau:tolist()
    local worst = 0
    for i = 1, m.nv do worst = math.max(worst, math.abs(r[i] - t[i])) end
    print(string.format("f32 |RNEA(ABA(tau)) - tau| = %.2e", worst))
    assert.is_true(worst < 1e-3)
  end)

  it("a rollout's gradient matches central differences (3-link chain, 50 steps)", function()
    local m = art.model(scenes.chain(3, {dt = 2e-3, damping = {0.1, 0.2, 0.1}}))
    local b = {0.5, -0.3, 0.8}
    local q0 = ds.tensor{{0.4, -0.2, 0.3}}
    local qd0 = ds.tensor{b}:requires_grad()
    local w = ds.randn({51, 1, 3}, 3)
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(m:rollout(50, q0, qd0) * w) end)
    tape:backward(loss)
    local g = qd0.grad:tolist()
    for k = 1, 3 do
      local function f(v)
        local bb = {b[1], b[2], b[3]}
        bb[k] = v
        return ds.sum(m:rollout(50, q0, ds.tensor{bb}) * w):item()
      end
      local h = 1e-2
      local fd = (f(b[k] + h) - f(b[k] - h)) / (2 * h)
      print(string.format("f32 rollout d/dqd0[%d]: adjoint %.6g, central difference %.6g", k, g[k], fd))
      assert.is_true(math.abs(g[k] - fd) < 2e-3 * math.max(1, math.abs(fd)))
    end
  end)

  it("the analytic adjoint equals the tape adjoint to float rounding (zoo rollout, 20 steps, masses)", function()
    local qa, va = scenes.zoo_state()
    local function grads(mode)
      local m = art.model(scenes.zoo())
      m.adjoint = mode
      local q, qd = ds.tensor{qa}:requires_grad(), ds.tensor{va}:requires_grad()
      local mass = m:param("mass")
      local w = ds.randn({21, 1, m.nq}, 7)
      local tape = ds.tape()
      local loss = tape:record(function() return ds.sum(m:rollout(20, q, qd) * w) end)
      tape:backward(loss)
      return {q.grad:tolist(), qd.grad:tolist(), mass.grad:tolist()}
    end
    local a, b = grads("analytic"), grads("tape")
    for i = 1, 3 do
      local x, y = a[i], b[i]
      if type(x[1]) == "table" then x, y = x[1], y[1] end
      local scale, worst = 0, 0
      for k = 1, #y do scale = math.max(scale, math.abs(y[k])) end
      for k = 1, #y do worst = math.max(worst, math.abs(x[k] - y[k]) / scale) end
      print(string.format("f32 analytic vs tape adjoint, input %d: max rel err %.2e", i, worst))
      assert.is_true(scale > 0 and worst < 1e-4)
    end
  end)

  it("backward Euler (Newton in float32) agrees with semi-implicit Euler at small steps", function()
    local function swing(integ)
      local d = scenes.pendulum{dt = 2e-4}
      d.options.integrator = integ
      local m = art.model(d)
      local q, qd = m:initial(1, {0.5})
      local qs = m:rollout(2000, q, qd):tolist()
      return qs[#qs]
    end
    local a, b = swing("implicit"), swing("euler")
    print(string.format("f32 pendulum at 0.4 s: implicit %.5f, semi-implicit %.5f", a, b))
    assert.is_true(math.abs(a - b) < 5e-3)
  end)

  it("refuses a non-unit quaternion and NaN states", function()
    local m = art.model(scenes.zoo())
    local a, b = scenes.zoo_state()
    a[4] = 2
    local ok, err = pcall(m.step, m, ds.tensor{a}, ds.tensor{b})
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("articulation.step: argument 'q' row 0: the quaternion", 1, true))
    a[4] = 1
    b[2] = 0 / 0
    ok, err = pcall(m.step, m, ds.tensor{a}, ds.tensor{b})
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("argument 'qd' entry 1 is NaN", 1, true))
  end)
  it("clamped controls and forces and a velocity actuator: a command past a range acts as the bound, no gradient past it", function()
    local d = scenes.chain(2, {dt = 2e-3})
    d.actuators = {{joint = 1, type = "motor", gear = 2, ctrlrange = {-1, 1}},
                   {joint = 2, type = "velocity", kv = 2, forcerange = {-0.3, 0.3}}}
    local m = art.model(d)
    local q, qd = ds.tensor{{0.3, -0.2}}, ds.tensor{{0.5, 0.4}}
    local _, v1 = m:step(q, qd, ds.tensor{{5, 3}})
    local _, v2 = m:step(q, qd, ds.tensor{{1, 0.4 + 0.15}}) -- kv (0.55 - 0.4) = 0.3: the force bound
    local a, b = v1:totable()[1], v2:totable()[1]
    for k = 1, 2 do assert.is_true(math.abs(a[k] - b[k]) < 1e-6, k .. ": " .. a[k] .. " vs " .. b[k]) end
    local u = ds.tensor{{5, 0.45}}:requires_grad()
    local tape = ds.tape()
    tape:backward(tape:record(function() local _, v = m:step(q, qd, u) return ds.sum(v) end))
    local g = u.grad:totable()[1]
    assert.equals(0, g[1])                 -- the motor's control past its range
    assert.is_true(math.abs(g[2]) > 1e-4)  -- the velocity actuator inside its force range
  end)
end)
