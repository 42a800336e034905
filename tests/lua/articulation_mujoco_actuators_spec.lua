-- The peer check of the actuator model: control ranges, force ranges,
-- velocity actuators and gear on servos, each the same MJCF text loaded by
-- diffsim (io/mjcf.lua -> articulation.model) and by MuJoCo (the shim),
-- stepped from the same state under the same controls, and the trajectories
-- compared.
--
-- Tolerance: 1e-12 rad over 1000 steps. Without contact both engines
-- integrate semi-implicit Euler at the same step in float64 with the same
-- actuator law (MuJoCo's: the control clipped to ctrlrange, force = gain ctrl
-- + bias with length gear q and velocity gear qd, clipped to forcerange, the
-- joint gets gear force), so they agree to rounding (measured ~1e-15); each
-- case also checks that its clamp or actuator is active (the trajectory
-- without it differs by far more), so the test cannot pass by accident.
local mj, why = require("plugins.articulation.mujoco.peer").open()
local ds = require("diffsim")
ds.init{precision = "f64", threads = 1}
local ok_art, art = pcall(ds.plugin, "articulation")
if not ok_art then why = why or ("articulation plugin not loadable: " .. tostring(art)) end
local mjcf = require("diffsim.io.mjcf")

if not mj or not ok_art then
  describe("articulation actuators vs MuJoCo", function()
    it("skips: " .. why, function() pending(why) end)
  end)
  return
end

local TOL = 1e-12

-- A two-link hinge chain on a slide with the given actuators and options;
-- no contact (MuJoCo would collide the cart's box with the lower link, a
-- pair the plugin does not simulate).
local function chain(actuators, extra)
  return string.format([[
<mujoco model="act">
  <compiler angle="radian"/>
  <option timestep="0.002">%s</option>
  <worldbody>
    <body name="cart" pos="0 0 1">
      <joint name="s" type="slide" axis="1 0 0" damping="0.3"/>
      <geom type="box" size="0.1 0.05 0.05" mass="2" contype="0" conaffinity="0"/>
      <body name="a" pos="0 0 0">
        <joint name="h1" type="hinge" axis="0 1 0" damping="0.05"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04" mass="1" contype="0" conaffinity="0"/>
        <body name="b" pos="0 0 -0.5">
          <joint name="h2" type="hinge" axis="0 1 0"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.03" mass="0.7" contype="0" conaffinity="0"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>%s</actuator>
</mujoco>]], extra or "", actuators)
end

-- Both engines over T steps from (q0, qd0) under ctrl(t) -> {u1, ...}:
-- MuJoCo's and diffsim's states after each step (rows 1..T).
local function both(xml, T, q0, qd0, ctrl)
  local model = art.model(mjcf.parse(xml, "act.xml"))
  local m = mj.load_string(xml)
  assert.equals(m.nq, model.nq)
  assert.equals(m.nu, model.nactuators)
  local flat, rows = {}, {}
  for t = 1, T do
    local u = ctrl(t)
    for k = 1, m.nu do flat[(t - 1) * m.nu + k] = u[k] end
    rows[t] = {u}
  end
  m:set_state(q0, qd0)
  local Q, V = m:rollout(T, flat)
  local q, qd = model:initial(1, q0, qd0)
  local qs, qds = model:rollout(ds.tensor(rows), q, qd)
  local D, DV = {}, {}
  local qt, vt = qs:totable(), qds:totable()
  for t = 1, T do D[t], DV[t] = qt[t + 1][1], vt[t + 1][1] end
  return Q, D, V, DV, model
end

local function max_diff(A, B)
  local worst = 0
  for t = 1, #A do
    for i = 1, #A[t] do worst = math.max(worst, math.abs(A[t][i] - B[t][i])) end
  end
  return worst
end

local q0, qd0 = {0.1, 0.4, -0.3}, {0.2, -1, 0.5}
local function wave(a, b, c) return function(t) return {a * math.sin(0.011 * t), b * math.cos(0.007 * t), c * math.sin(0.013 * t + 1)} end end

describe("articulation actuators vs MuJoCo " .. mj.version, function()
  it("ctrlrange: motors with gear clamp their controls as MuJoCo does (1000 steps)", function()
    local acts = [[
      <motor joint="s" gear="2" ctrlrange="-1 1" ctrllimited="true"/>
      <motor joint="h1" gear="3" ctrlrange="-0.5 0.2" ctrllimited="true"/>
      <motor joint="h2" gear="-1.5" ctrlrange="-0.3 0.4" ctrllimited="true"/>]]
    local Q, D = both(chain(acts), 1000, q0, qd0, wave(3, 2, 1))
    local d = max_diff(Q, D)
    print(string.format("peer ctrlrange max |dq| %.3g", d))
    assert.is_true(d < TOL, "ctrlrange " .. d)
    -- the clamp is active: without the ranges MuJoCo's trajectory differs by a lot
    local Q2 = both(chain((acts:gsub(' ctrlrange="[^"]*" ctrllimited="true"', ""))), 1000, q0, qd0, wave(3, 2, 1))
    assert.is_true(max_diff(Q, Q2) > 0.1, "the control clamp is inactive")
  end)

  it("ctrlrange with <compiler autolimits>, and <flag clampctrl=\"disable\"> leaves controls unclamped", function()
    local acts = [[<motor joint="s" ctrlrange="-1 1"/><motor joint="h1" ctrlrange="-0.5 0.5"/><motor joint="h2" ctrlrange="-0.1 0.1"/>]]
    local auto = chain(acts):gsub('<compiler angle="radian"/>', '<compiler angle="radian" autolimits="true"/>')
    local Q, D = both(auto, 1000, q0, qd0, wave(3, 2, 1))
    local d = max_diff(Q, D)
    assert.is_true(d < TOL, "autolimits " .. d)
    local off = chain(acts, '<flag clampctrl="disable"/>'):gsub('<compiler angle="radian"/>',
                                                                   '<compiler angle="radian" autolimits="true"/>')
    local Q2, D2 = both(off, 1000, q0, qd0, wave(3, 2, 1))
    local d2 = max_diff(Q2, D2)
    print(string.format("peer autolimits %.3g, clampctrl off %.3g", d, d2))
    assert.is_true(d2 < TOL, "clampctrl disabled " .. d2)
    assert.is_true(max_diff(Q, Q2) > 0.1, "clampctrl changes nothing")
  end)

  it("forcerange: the actuator force is clamped before the gear (motor, position servo with gear)", function()
    local acts = [[
      <motor joint="s" gear="3" forcerange="-0.4 0.6" forcelimited="true"/>
      <position joint="h1" kp="40" gear="1.5" forcerange="-2 1.5" forcelimited="true"/>
      <motor joint="h2" gear="2" ctrlrange="-1 1" ctrllimited="true" forcerange="-0.3 0.2" forcelimited="true"/>]]
    local Q, D, _, _, model = both(chain(acts), 1000, q0, qd0, wave(2, 1, 1.5))
    local d = max_diff(Q, D)
    print(string.format("peer forcerange max |dq| %.3g", d))
    -- the compiled ranges are the loader's
    local fr, g = mj.load_string(chain(acts)):field("actuator_forcerange"), model.args.gain:totable()
    for a = 1, 3 do assert.same({fr[2 * a - 1], fr[2 * a]}, {g[a][6], g[a][7]}) end
    assert.is_true(d < TOL, "forcerange " .. d)
    local Q2 = both(chain((acts:gsub(' forcerange="[^"]*" forcelimited="true"', ""))), 1000, q0, qd0, wave(2, 1, 1.5))
    assert.is_true(max_diff(Q, Q2) > 0.1, "the force clamp is inactive")
  end)

  it("position servos with gear != 1: kp (ctrl - gear q) on the joint times gear", function()
    local acts = [[<position joint="s" kp="30" gear="2"/><position joint="h1" kp="20" gear="-0.5"/>
                   <position joint="h2" kp="5" gear="3"/>]]
    local Q, D = both(chain(acts), 1000, q0, qd0, wave(0.5, 0.3, 0.2))
    local d = max_diff(Q, D)
    print(string.format("peer position gear max |dq| %.3g", d))
    assert.is_true(d < TOL, "position gear " .. d)
  end)

  it("velocity actuators: kv (ctrl - gear qd) times gear, explicit in MuJoCo's Euler (joint damping alone is implicit)", function()
    local acts = [[<velocity joint="s" kv="40" gear="1.5"/><velocity joint="h1" kv="3" gear="2" ctrlrange="-1 1" ctrllimited="true"/>
                   <velocity joint="h2" kv="1" forcerange="-0.5 0.5" forcelimited="true"/>]]
    local Q, D = both(chain(acts), 1000, q0, qd0, wave(1, 2, 3))
    local d = max_diff(Q, D)
    print(string.format("peer velocity max |dq| %.3g", d))
    assert.is_true(d < TOL, "velocity " .. d)
    -- MuJoCo treats the actuator's damping explicitly: a velocity actuator at
    -- zero control and a joint damping gear^2 kv (implicit) differ by O(dt)
    local vel = [[<velocity joint="s" kv="40" gear="1.5"/><velocity joint="h1" kv="3" gear="2"/><velocity joint="h2" kv="1"/>]]
    local zero = function() return {0, 0, 0} end
    local Qa, Da = both(chain(vel), 500, q0, qd0, zero)
    local damped = chain([[<motor joint="s"/><motor joint="h1"/><motor joint="h2"/>]])
      :gsub('axis="1 0 0" damping="0.3"', 'axis="1 0 0" damping="' .. (0.3 + 40 * 1.5 ^ 2) .. '"')
      :gsub('axis="0 1 0" damping="0.05"', 'axis="0 1 0" damping="' .. (0.05 + 3 * 4) .. '"')
      :gsub('name="h2" type="hinge" axis="0 1 0"', 'name="h2" type="hinge" axis="0 1 0" damping="1"')
    local Qb, Db = both(damped, 500, q0, qd0, zero)
    local explicit_vs_implicit = max_diff(Qa, Qb)
    print(string.format("peer velocity at zero control vs the same implicit joint damping: %.3g (diffsim %.3g, %.3g)",
                        explicit_vs_implicit, max_diff(Qa, Da), max_diff(Qb, Db)))
    assert.is_true(explicit_vs_implicit > 1e-4, "MuJoCo's velocity actuator damping looks implicit")
    assert.is_true(max_diff(Qa, Da) < TOL and max_diff(Qb, Db) < TOL)
  end)

  it("a velocity actuator's class default and a position default before it (MuJoCo's shared actuator default)", function()
    local xml = chain([[<velocity joint="s" class="v"/><position joint="h1" class="p"/><motor joint="h2"/>]])
      :gsub("<worldbody>", [[<default><default class="v"><velocity kv="7" ctrlrange="-0.5 0.5" ctrllimited="true"/></default>
        <default class="p"><position kp="9" forcerange="-1 1" forcelimited="true"/></default></default><worldbody>]])
    local Q, D = both(xml, 1000, q0, qd0, wave(1, 1, 0.2))
    local d = max_diff(Q, D)
    print(string.format("peer actuator defaults max |dq| %.3g", d))
    assert.is_true(d < TOL, "defaults " .. d)
  end)
  it("the gradient through the clamps: diffsim's adjoint equals MuJoCo's finite differences", function()
    -- J = sum of q_T after 60 steps; dJ/dqd0 and dJ/dctrl from diffsim's tape
    -- and from MuJoCo's central differences (eps 1e-6) with controls inside
    -- and outside their ranges (zero gradient there in both)
    local xml = chain([[<motor joint="s" gear="2" ctrlrange="-1 1" ctrllimited="true"/>
      <position joint="h1" kp="10" gear="1.5" forcerange="-1.5 1.5" forcelimited="true"/>
      <velocity joint="h2" kv="2" ctrlrange="-0.5 0.5" ctrllimited="true"/>]])
    local model = art.model(mjcf.parse(xml, "g.xml"))
    local m = mj.load_string(xml)
    local G, nu = 60, 3
    local u, rows, outside = {}, {}, 0
    for t = 1, G do
      local r = {1.6 * math.sin(0.1 * t) + 0.05, 0.3 * math.cos(0.1 * t), 0.9 * math.sin(0.07 * t + 0.3)}
      for k = 1, nu do
        u[(t - 1) * nu + k] = r[k]
        if math.abs(r[k]) > (k == 1 and 1 or 0.5) and k ~= 2 then outside = outside + 1 end
      end
      rows[t] = {r}
    end
    assert.is_true(outside > 10)
    local wq, wv = {1, 1, 1}, {0, 0, 0}
    local _, _, gv, gu = m:fd_rollout(q0, qd0, u, G, wq, wv, 1e-6)
    local vt = ds.tensor({qd0}):requires_grad()
    local ct = ds.tensor(rows):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local qs = model:rollout(ct, ds.tensor({q0}), vt)
      return ds.sum(ds.slice_rows(ds.reshape(qs, {G + 1, 3}), G + 1, 1))
    end)
    tape:backward(loss)
    local dv, dc = vt.grad:totable()[1], ct.grad:totable()
    local worst, big, zeros = 0, 0, 0
    for i = 1, 3 do worst = math.max(worst, math.abs(dv[i] - gv[i])); big = math.max(big, math.abs(gv[i])) end
    for t = 1, G do
      for k = 1, nu do
        local g = gu[(t - 1) * nu + k]
        worst = math.max(worst, math.abs(dc[t][1][k] - g))
        if dc[t][1][k] == 0 then zeros = zeros + 1 end
      end
    end
    print(string.format("peer clamped gradient: max |diffsim - mujoco FD| %.3g (largest entry %.3g, %d zero control entries)",
                        worst, big, zeros))
    assert.is_true(big > 0.01, "the gradient is not trivial")
    assert.is_true(zeros >= outside, "controls past their range have a gradient")
    assert.is_true(worst < 1e-6, "gradients differ by " .. worst)
  end)
end)
