-- The peer check: the same MJCF file loaded by diffsim (io/mjcf.lua ->
-- articulation.model) and by MuJoCo (the shim), stepped from the same state
-- with the same step, and the trajectories compared.
--
-- Tolerances, and why:
--  * pendulum chains (no contact, no damping): both engines integrate with
--    semi-implicit Euler (v += h a; q += h v) at the same h in float64, and
--    ABA and MuJoCo's M^-1 (tau - C) are the same function, so trajectories
--    agree to rounding; 1e-10 rad leaves room for the chain's chaos to grow
--    rounding over 1000 steps (measured: 1e-16 to 1e-14).
--  * mixed.xml (slide, hinge, ball and free joints, a motor with gear 2 and a
--    position servo, a box tumbling about its intermediate axis) under a
--    control sequence: the same argument, 1e-10 (measured ~1e-14).
--  * gimbal.xml (bodies with two joints each, made chains of links with a
--    1e-9 mass fraction on the extra links): 1e-6 (measured ~1e-9).
--  * mixed's gradient: diffsim's adjoint against MuJoCo central differences
--    (eps 1e-6, truncation and rounding ~1e-9): 1e-6.
--  * the box dropped on the ground: the free fall is contact free, so it is
--    compared as tightly (1e-12 m); the contact models differ (MuJoCo: hard
--    constraints with soft regularisation; diffsim: a smooth penalty with
--    smoothed Coulomb friction, see docs/articulation.md), so after landing
--    only the rest height (3 mm: the penalty's sinking), orientation (0.01 rad) and drift (5 mm)
--    are compared.
--  * the legged robot: the fall before the feet touch is compared tightly
--    (its joints do not move, so MuJoCo's implicit damping changes nothing),
--    then the resting torso height (1 cm) and uprightness, loosely.
local mj, why = require("plugins.articulation.mujoco.peer").open()
local ds = require("diffsim")
ds.init{precision = "f64", threads = 1}
local ok_art, art = pcall(ds.plugin, "articulation")
if not ok_art then why = why or ("articulation plugin not loadable: " .. tostring(art)) end
local mjcf = require("diffsim.io.mjcf")

if not mj or not ok_art then
  describe("articulation vs MuJoCo", function()
    it("skips: " .. why, function() pending(why) end)
  end)
  return
end

local SCENES = "scenes/articulation/"

-- Both engines from q0 (nil: the model's own) for T steps: MuJoCo's states
-- after each step and diffsim's, as Lua rows indexed 1..T.
local function both(name, T, q0, qd0, ctrl)
  local path = SCENES .. name .. ".xml"
  local model = art.model(mjcf.load(path))
  local m = mj.load_file(path)
  assert.equals(m.nq, model.nq)
  assert.equals(m.nv, model.nv)
  q0 = q0 or model.q0
  m:set_state(q0, qd0)
  local Q = m:rollout(T, ctrl)
  local q, qd = model:initial(1, q0, qd0)
  local c = T
  if ctrl then
    local rows = {}
    for t = 1, T do
      local r = {}
      for k = 1, m.nu do r[k] = ctrl[(t - 1) * m.nu + k] end
      rows[t] = {r}
    end
    c = ds.tensor(rows)
  end
  local qs = model:rollout(c, q, qd):totable()
  local D = {}
  for t = 1, T do D[t] = qs[t + 1][1] end
  return Q, D, model, m
end

local function max_diff(A, B, t0, t1, idx)
  local worst = 0
  for t = t0, t1 do
    for _, i in ipairs(idx) do worst = math.max(worst, math.abs(A[t][i] - B[t][i])) end
  end
  return worst
end

local function range(n) local r = {} for i = 1, n do r[i] = i end return r end

-- angle between two unit quaternions {w,x,y,z} stored at q[k..k+3]
local function qangle(a, b, k)
  local d = 0
  for i = 0, 3 do d = d + a[k + i] * b[k + i] end
  return 2 * math.acos(math.min(1, math.abs(d)))
end

describe("articulation vs MuJoCo " .. mj.version, function()
  for _, c in ipairs({{"pendulum", 1}, {"chain2", 2}, {"chain5", 5}}) do
    it(c[1] .. ": trajectories agree to rounding over 1000 steps (1 s)", function()
      local q0 = {}
      for i = 1, c[2] do q0[i] = 0.4 * (-1) ^ i end
      local Q, D = both(c[1], 1000, q0)
      local d = max_diff(Q, D, 1, 1000, range(c[2]))
      print(string.format("peer %s max |dq| %.3g rad", c[1], d))
      assert.is_true(d < 1e-10, c[1] .. ": " .. d)
      -- the motion is not trivial: the pendulum swung through zero
      assert.is_true(Q[1000][1] * q0[1] < 0.2 or math.abs(Q[1000][1] - q0[1]) > 0.05)
    end)
  end

  it("mixed: every joint type and actuator kind under controls agrees to rounding", function()
    local T = 1000
    local q0 = {0, 0.3, math.cos(0.1), math.sin(0.1), 0, 0}
    -- the free body's pose from the model (its initial pose), spun fast about y
    local model = art.model(mjcf.load(SCENES .. "mixed.xml"))
    for i = 7, 13 do q0[i] = model.q0[i] end
    local qd0 = {0.5, -1, 0.3, 2, -1, 0.1, 0.2, 0.3, 0.01, 5, 0.01}
    local u = {}
    for t = 1, T do u[2 * t - 1] = 3 * math.sin(0.01 * t); u[2 * t] = 0.5 * math.cos(0.007 * t) end
    local Q, D = both("mixed", T, q0, qd0, u)
    local d = max_diff(Q, D, 1, T, range(13))
    print(string.format("peer mixed max |dq| %.3g", d))
    assert.is_true(d < 1e-10, "mixed " .. d)
    assert.is_true(math.abs(Q[T][1]) > 0.1, "the cart moved")
  end)

  it("gimbal: bodies with several joints (a chain of links) agree with MuJoCo", function()
    local T = 1000
    local q0, qd0 = {0.3, -0.2, 0.05, 0.4}, {1, -0.5, 0.2, 2}
    local u = {}
    for t = 1, T do u[2 * t - 1], u[2 * t] = 0.5 * math.sin(0.01 * t), 0.1 * math.cos(0.02 * t) end
    local Q, D = both("gimbal", T, q0, qd0, u)
    local d = max_diff(Q, D, 1, T, range(4))
    print(string.format("peer gimbal max |dq| %.3g", d))
    -- the extra links' 1e-9 mass fraction (mjcf.AUX_MASS) is the only change
    assert.is_true(d < 1e-6, "gimbal " .. d)
  end)

  it("mixed: diffsim's adjoint gradient equals MuJoCo's finite differences", function()
    -- J = q_T[slide] + q_T[hinge] + q_T[free x] after 60 steps from a moving
    -- state under controls; d J / d qd0 and d J / d ctrl from diffsim's tape
    -- and from MuJoCo's central differences (eps 1e-6: error ~1e-9)
    local path = SCENES .. "mixed.xml"
    local model = art.model(mjcf.load(path))
    local m = mj.load_file(path)
    local G, nu = 60, 2
    local q0 = {0, 0.3, math.cos(0.1), math.sin(0.1), 0, 0}
    for i = 7, 13 do q0[i] = model.q0[i] end
    local v0 = {0.5, -1, 0.3, 2, -1, 0.1, 0.2, 0.3, 0.01, 5, 0.01}
    local u, rows = {}, {}
    for t = 1, G do
      u[2 * t - 1], u[2 * t] = math.sin(0.1 * t), 0.3 * math.cos(0.1 * t)
      rows[t] = {{u[2 * t - 1], u[2 * t]}}
    end
    local wq, wv = {}, {}
    for i = 1, 13 do wq[i] = 0 end
    for i = 1, 11 do wv[i] = 0 end
    wq[1], wq[2], wq[7] = 1, 1, 1
    local _, _, gv, gu = m:fd_rollout(q0, v0, u, G, wq, wv, 1e-6)
    local qt = ds.tensor({q0})
    local vt = ds.tensor({v0}):requires_grad()
    local ct = ds.tensor(rows):requires_grad()
    local w = ds.tensor({wq})
    local tape = ds.tape()
    local loss = tape:record(function()
      local qs = model:rollout(ct, qt, vt)
      return ds.sum(ds.mul(ds.reshape(ds.slice_rows(ds.reshape(qs, {G + 1, 13}), G + 1, 1), {1, 13}), w))
    end)
    tape:backward(loss)
    local dv, dc = vt.grad:totable()[1], ct.grad:totable()
    local worst, big = 0, 0
    for i = 1, 11 do worst = math.max(worst, math.abs(dv[i] - gv[i])); big = math.max(big, math.abs(gv[i])) end
    for t = 1, G do
      for k = 1, nu do worst = math.max(worst, math.abs(dc[t][1][k] - gu[(t - 1) * nu + k])) end
    end
    print(string.format("peer mixed gradient: max |diffsim - mujoco FD| %.3g (largest entry %.3g)", worst, big))
    assert.is_true(big > 0.01, "the gradient is not trivial")
    assert.is_true(worst < 1e-6, "gradients differ by " .. worst)
  end)

  it("box_drop: free fall to 1e-12, then the rest pose loosely", function()
    local T = 1500
    local Q, D = both("box_drop", T)
    -- contact at z = 0.1 after sqrt(2 * 0.5 / 9.81) = 0.319 s: compare 300 steps
    local fall = max_diff(Q, D, 1, 300, range(7))
    print(string.format("peer box_drop free fall max |dq| %.3g", fall))
    assert.is_true(fall < 1e-12, "free fall " .. fall)
    assert.is_true(Q[300][3] < 0.6 - 0.4, "it fell")
    local dz = math.abs(Q[T][3] - D[T][3])
    local drift = math.sqrt((Q[T][1] - D[T][1]) ^ 2 + (Q[T][2] - D[T][2]) ^ 2)
    local ang = qangle(Q[T], D[T], 4)
    print(string.format("peer box_drop rest z: mujoco %.5f diffsim %.5f (|dz| %.2g), drift %.2g m, angle %.2g rad",
                        Q[T][3], D[T][3], dz, drift, ang))
    assert.is_true(math.abs(D[T][3] - 0.1) < 3e-3, "rests on its face")
    -- the penalty contact rests sunk by about m g / (4 k) = 1 mm plus its
    -- smoothing width (1 mm); MuJoCo's by a fraction of that
    assert.is_true(dz < 3e-3, "rest height " .. dz)
    assert.is_true(drift < 5e-3, "drift " .. drift)
    assert.is_true(ang < 0.01, "orientation " .. ang)
  end)

  it("legged: the fall before touch-down agrees, the resting torso loosely", function()
    local T = 1500
    local Q, D = both("legged", T)
    -- the feet (0.48 m below the torso at 0.55 m) touch after ~0.119 s
    local fall = max_diff(Q, D, 1, 100, range(15))
    print(string.format("peer legged fall max |dq| %.3g", fall))
    assert.is_true(fall < 1e-9, "fall " .. fall)
    local dz = math.abs(Q[T][3] - D[T][3])
    local tilt = qangle(D[T], {0, 0, 0, 1, 0, 0, 0}, 4)
    print(string.format("peer legged rest torso z: mujoco %.4f diffsim %.4f (|dz| %.2g), diffsim tilt %.2g rad",
                        Q[T][3], D[T][3], dz, tilt))
    assert.is_true(dz < 1e-2, "torso height " .. dz)
    assert.is_true(tilt < 0.05, "upright")
  end)
end)
