-- articulation: the actuator model's clamps (ctrlrange, forcerange) and
-- velocity actuators on every path that steps the model (step, rollout,
-- batched rollout, nn_rollout, implicit_step, implicit_rollout), and float64
-- central-difference checks of their adjoints with respect to the controls
-- and the gain tensor (gear, kp, kv and the range bounds), with controls and
-- forces inside and outside the clamps.
--
-- Gradient semantics (docs/articulation.md): a clamp passes the identity's
-- gradient inside its range and at a bound (MuJoCo's mju_clip returns the
-- input there), zero strictly outside, and a clamped force's bound gets the
-- gradient instead. The FD checks keep every control and force at least 1e-3
-- from a bound (asserted), where central differences are exact to O(eps^2).
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local art = ds.plugin("articulation")

local CR = {-1, 1}      -- the motor's and the velocity actuator's control range
local FR_POS = {-1.5, 1.2} -- the position servo's force range
local FR_VEL = {-0.6, 0.5} -- the velocity actuator's force range

-- A slide carrying a two-link hinge chain (no contact): a motor with gear and
-- a control range on the slide, a position servo with gear, kv and a force
-- range on the first hinge, a velocity actuator with both ranges on the second.
local function desc(integrator)
  local function capsule(len, r, m)
    return {inertial = {mass = m, pos = {0, 0, -len / 2}, diaginertia = {m * len * len / 12, m * len * len / 12, 0.5 * m * r * r}}}
  end
  local a, b = capsule(0.5, 0.04, 1), capsule(0.4, 0.03, 0.7)
  return {options = {timestep = 2e-3, ground = false, self_collision = false, integrator = integrator or "euler"},
          links = {{name = "cart", pos = {0, 0, 1}, joint = {type = "prismatic", axis = {1, 0, 0}, damping = 0.3},
                    inertial = {mass = 2, diaginertia = {0.01, 0.01, 0.01}}},
                   {name = "a", parent = 1, joint = {type = "revolute", axis = {0, 1, 0}, damping = 0.05}, inertial = a.inertial},
                   {name = "b", parent = 2, pos = {0, 0, -0.5}, joint = {type = "revolute", axis = {0, 1, 0}}, inertial = b.inertial}},
          actuators = {{joint = "cart", type = "motor", gear = 2, ctrlrange = CR},
                       {joint = "a", type = "position", kp = 20, kv = 0.5, gear = 1.5, forcerange = FR_POS},
                       {joint = "b", type = "velocity", kv = 2, gear = 0.8, ctrlrange = CR, forcerange = FR_VEL}}}
end
local model = art.model(desc())

-- Per actuator, the clamp states at (q, qd, u) (Lua rows): the control's and
-- the force's distance to the nearest bound (negative: outside).
local function margins(q, qd, u)
  local function dist(x, r) return math.min(x - r[1], r[2] - x) end
  local c1 = math.max(CR[1], math.min(CR[2], u[1]))
  local f2 = 20 * (u[2] - 1.5 * q[2]) - 0.5 * 1.5 * qd[2]
  local c3 = math.max(CR[1], math.min(CR[2], u[3]))
  local f3 = 2 * (c3 - 0.8 * qd[3])
  return {dist(u[1], CR), dist(f2, FR_POS), dist(u[3], CR), dist(f3, FR_VEL)}
end
local function assert_clear(q, qd, u, what)
  for k, m in ipairs(margins(q, qd, u)) do
    assert.is_true(math.abs(m) > 1e-3, string.format("%s: clamp %d is %.2g from its bound", what, k, m))
  end
end

-- Two rows: row 1 inside every range, row 2 outside every range.
local q = ds.tensor{{0.1, 0.4, -0.3}, {0.1, 0.4, -0.3}}
local qd = ds.tensor{{0.2, -1, 0.5}, {0.2, -1, 0.5}}
local u = ds.tensor{{0.3, 0.62, 0.2}, {-3, 2, 1.7}}
do
  local Q, V, U = q:totable(), qd:totable(), u:totable()
  for k, m in ipairs(margins(Q[1], V[1], U[1])) do assert.is_true(m > 1e-3, "row 1 clamp " .. k .. " " .. m) end
  for k, m in ipairs(margins(Q[2], V[2], U[2])) do assert.is_true(m < -1e-3, "row 2 clamp " .. k .. " " .. m) end
end

local positional = require("art_spec_util").positional
local function check(m, kernel, named, params, opts)
  local ok, rep = ds.gradcheck_kernel("articulation." .. kernel, positional(m, "articulation." .. kernel, named), params,
                                      {eps = opts and opts.eps or 1e-6, rtol = 1e-5, atol = opts and opts.atol or 1e-7,
                                       max_elems = 64})
  print(string.format("articulation.%s (clamped actuators): %d checked, max abs err %.2e, max rel err %.2e", kernel,
                      rep.checked or 0, rep.max_abs_err or 0, rep.max_rel_err or 0))
  assert(ok, rep.message)
end

-- The gradient of sum(w . qd') with respect to the controls of one step.
local function ctrl_grad(m, uq)
  local uu = ds.tensor(uq):requires_grad()
  local tape = ds.tape()
  local loss = tape:record(function()
    local _, v1 = m:step(ds.tensor{{0.1, 0.4, -0.3}}, ds.tensor{{0.2, -1, 0.5}}, uu)
    return ds.sum(v1 * ds.tensor{{1, -2, 3}})
  end)
  tape:backward(loss)
  return uu.grad:totable()[1]
end

describe("articulation actuators: clamps on every path", function()
  it("step: a control beyond its range acts as the bound; a clamped force as its bound", function()
    local function stepped(uu) local a, b = model:step(q, qd, ds.tensor(uu)) return a:totable(), b:totable() end
    local a1, v1 = stepped{{-3, 2, 1.7}, {-3, 2, 1.7}}
    local a2, v2 = stepped{{-1, 2, 1}, {-1, 2, 1}} -- controls at their bounds: the same step
    for b = 1, 2 do for k = 1, 3 do assert.equals(v1[b][k], v2[b][k]); assert.equals(a1[b][k], a2[b][k]) end end
    -- the clamp changes the motion (an unclamped model moves differently)
    local d = desc(); d.actuators[1].ctrlrange = nil
    local _, v3 = art.model(d):step(q, qd, ds.tensor{{-3, 2, 1.7}, {-3, 2, 1.7}})
    assert.is_true(math.abs(v3:totable()[1][1] - v1[1][1]) > 1e-3)
  end)

  it("ctrl gradient: the identity's inside and at a bound, zero strictly outside", function()
    local inside = ctrl_grad(model, {{0.5, 0.62, 0.2}})
    local at = ctrl_grad(model, {{1, 0.62, 0.2}})     -- the motor's control exactly at its upper bound
    local outside = ctrl_grad(model, {{1.5, 0.62, 0.2}})
    print(string.format("d/du1: inside %.6g, at the bound %.6g, outside %.6g", inside[1], at[1], outside[1]))
    assert.is_true(math.abs(inside[1]) > 1e-3)
    assert.equals(inside[1], at[1]) -- a motor is linear in its control: the same number
    assert.equals(0, outside[1])
    -- a clamped force passes no control gradient: the servo pushed past its force range
    assert.equals(0, ctrl_grad(model, {{0.5, 2, 0.2}})[2])
    assert.is_true(math.abs(inside[2]) > 1e-3)
  end)

  it("rollout, batched: every copy as its own clamped rollout; equal to step launches", function()
    local T, B = 20, 3
    local rows = {}
    for t = 1, T do
      rows[t] = {}
      for b = 1, B do rows[t][b] = {2 * b * math.sin(0.2 * t), b * math.cos(0.1 * t), 1.5 * math.sin(0.3 * t + b)} end
    end
    local qb, vb = model:initial(B, {0.1, 0.4, -0.3}, {0.2, -1, 0.5})
    local qs = model:rollout(ds.tensor(rows), qb, vb):totable()
    local a, v = qb, vb
    for t = 1, T do a, v = model:step(a, v, ds.tensor(rows[t])) end
    local A = a:totable()
    for b = 1, B do
      local q1, v1 = model:initial(1, {0.1, 0.4, -0.3}, {0.2, -1, 0.5})
      local one = {}
      for t = 1, T do one[t] = {rows[t][b]} end
      local Q1 = model:rollout(ds.tensor(one), q1, v1):totable()
      for k = 1, 3 do
        assert.equals(Q1[T + 1][1][k], qs[T + 1][b][k])
        assert.is_true(math.abs(A[b][k] - qs[T + 1][b][k]) < 1e-13)
      end
    end
  end)

  it("nn_rollout: the network's output goes through the clamp (equal to a rollout of the recorded controls)", function()
    local net = ds.nn.mlp{sizes = {6, 8, 3}, act = "tanh", out_act = "tanh", seed = 5}
    local q2, v2 = model:initial(2, {0.1, 0.4, -0.3}, {0.2, -1, 0.5})
    local qs, _, us = model:nn_rollout(15, net, q2, v2, {scale = 3})
    local U = us:totable()
    local outside = 0
    for t = 1, 15 do for b = 1, 2 do if math.abs(U[t][b][1]) > 1 then outside = outside + 1 end end end
    assert.is_true(outside > 0, "the network's controls never leave the range")
    local ref = model:rollout(us, q2, v2):totable()
    local Q = qs:totable()
    for b = 1, 2 do for k = 1, 3 do assert.is_true(math.abs(Q[16][b][k] - ref[16][b][k]) < 1e-13) end end
  end)

  it("implicit_step and implicit_rollout clamp too", function()
    local mi = art.model(desc("implicit"))
    local _, v1 = mi:step(q, qd, ds.tensor{{-3, 2, 1.7}, {-3, 2, 1.7}})
    local _, v2 = mi:step(q, qd, ds.tensor{{-1, 2, 1}, {-1, 2, 1}})
    local A, C = v1:totable(), v2:totable()
    for b = 1, 2 do for k = 1, 3 do assert.is_true(math.abs(A[b][k] - C[b][k]) < 1e-12) end end
    local c = ds.tensor{{{-3, 2, 1.7}}, {{3, -2, -1.7}}}
    local cb = ds.tensor{{{-1, 2, 1}}, {{1, -2, -1}}}
    local q1, w1 = mi:initial(1, {0.1, 0.4, -0.3}, {0.2, -1, 0.5})
    local r1, r2 = mi:rollout(c, q1, w1):totable(), mi:rollout(cb, q1, w1):totable()
    for k = 1, 3 do assert.is_true(math.abs(r1[3][1][k] - r2[3][1][k]) < 1e-12) end
  end)
end)

describe("articulation actuators: float64 central differences through the clamps", function()
  it("step: controls, states and every gain (gear, kp, kv, range bounds), rows inside and outside", function()
    check(model, "step", {q = q, qd = qd, ctrl = u, q_out = ds.empty{2, 3}, qd_out = ds.empty{2, 3}}, {dt = 2e-3, dual = 0})
    check(model, "step", {q = q, qd = qd, ctrl = u, q_out = ds.empty{2, 3}, qd_out = ds.empty{2, 3}}, {dt = 2e-3, dual = 1})
  end)

  it("the gain gradient: a clamped control's bound moves the joint, an inactive bound does not", function()
    local gain = model:param("gain")
    local tape = ds.tape()
    local loss = tape:record(function()
      local _, v1 = model:step(q, qd, u)
      return ds.sum(v1 * ds.tensor{{1, 1, 1}, {0, 0, 0}})
    end)
    tape:backward(loss)
    local g = gain.grad:totable()
    -- row 1 (inside) alone weighs: no range bound has a gradient
    for a = 1, 3 do for k = 4, 7 do assert.equals(0, g[a][k]) end end
    tape = ds.tape()
    loss = tape:record(function()
      local _, v1 = model:step(q, qd, u)
      return ds.sum(v1 * ds.tensor{{0, 0, 0}, {1, 1, 1}})
    end)
    gain:zero_grad()
    tape:backward(loss)
    g = gain.grad:totable()
    assert.is_true(math.abs(g[1][4]) > 1e-6) -- the motor's control at its lower bound
    assert.equals(0, g[1][5])
    assert.is_true(math.abs(g[2][7]) > 1e-6) -- the servo's force at its upper bound
    assert.equals(0, g[2][2])                -- and its kp passes nothing while clamped
    model.args.gain = model.args.gain:detach()
  end)

  it("rollout over 12 steps: controls inside and outside, every gain", function()
    local T = 12
    local rows = {}
    for t = 1, T do rows[t] = {{0.3 + 0.01 * t, 0.62, 0.2}, {-3, 2 + 0.05 * t, 1.7}} end
    local c = ds.tensor(rows)
    local qs, qds = model:rollout(c, q, qd)
    local Q, V = qs:totable(), qds:totable()
    for t = 1, T do for b = 1, 2 do assert_clear(Q[t][b], V[t][b], rows[t][b], "rollout step " .. t) end end
    check(model, "rollout", {q0 = q, qd0 = qd, ctrl = c, qs = ds.empty{T + 1, 2, 3}, qds = ds.empty{T + 1, 2, 3}},
          {dt = 2e-3, dual = 0})
  end)

  it("nn_rollout over 10 steps: the network through the clamp (weights, states, gains)", function()
    local net = ds.nn.mlp{sizes = {6, 5, 3}, act = "tanh", out_act = "tanh", seed = 11}
    local ps = net:parameters()
    local qs, qds, us = model:nn_rollout(10, net, q, qd, {scale = 3})
    local Q, V, U = qs:totable(), qds:totable(), us:totable()
    local outside = 0
    for t = 1, 10 do
      for b = 1, 2 do
        assert_clear(Q[t][b], V[t][b], U[t][b], "nn_rollout step " .. t)
        for _, m in ipairs(margins(Q[t][b], V[t][b], U[t][b])) do if m < 0 then outside = outside + 1 end end
      end
    end
    assert.is_true(outside > 0, "no clamp is active")
    local w = ds.randn({11, 2, 3}, 4)
    local gain = model.args.gain:detach()
    local ok, rep = ds.gradcheck(function(q_, qd_, _, _, _, _, g_)
      model.args.gain = g_
      return ds.sum(model:nn_rollout(10, net, q_, qd_, {scale = 3}) * w)
    end, {q, qd, ps[1], ps[2], ps[3], ps[4], gain}, {eps = 1e-7, rtol = 1e-5, atol = 1e-7, max_elems = 30})
    model.args.gain = gain
    print(string.format("articulation.nn_rollout (clamped actuators): %d checked, max abs err %.2e, max rel err %.2e",
                        rep.checked or 0, rep.max_abs_err or 0, rep.max_rel_err or 0))
    assert(ok, rep.message)
  end)

  it("implicit_step and implicit_rollout: controls, states and gains through the clamps", function()
    local mi = art.model(desc("implicit"))
    check(mi, "implicit_step", {q = q, qd = qd, ctrl = u, q_out = ds.empty{2, 3}, qd_out = ds.empty{2, 3}},
          {dt = 2e-3}, {eps = 1e-7, atol = 1e-6})
    local T = 6
    local rows = {}
    for t = 1, T do rows[t] = {{0.3 - 0.02 * t, 0.62, 0.2}, {3, -2 - 0.1 * t, -1.7}} end
    local c = ds.tensor(rows)
    local qs, qds = mi:rollout(c, q, qd)
    local Q, V = qs:totable(), qds:totable()
    -- backward Euler evaluates the forces at the step's end state
    for t = 1, T do for b = 1, 2 do assert_clear(Q[t + 1][b], V[t + 1][b], rows[t][b], "implicit step " .. t) end end
    check(mi, "implicit_rollout", {q0 = q, qd0 = qd, ctrl = c, qs = ds.empty{T + 1, 2, 3}, qds = ds.empty{T + 1, 2, 3}},
          {dt = 2e-3}, {eps = 1e-7, atol = 1e-6})
  end)
end)
