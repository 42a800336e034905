-- rigid2d boxes: float64 finite-difference checks of box_step and box_rollout
-- (every differentiable input), the time-of-impact sign test, and bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local rigid2d = ds.plugin("rigid2d")

-- Two boxes tied by a spring and a joint; box 1 tilted with a corner about to hit
-- the ground while sliding (friction acts), box 2 in the air.
local function pair(opts)
  opts = opts or {}
  return rigid2d.boxes{
    bodies = {{x = {0.3, 0.16}, halfsize = {0.05, 0.04}, rotation = 0.3, v = {0.4, -1.5}, omega = 0.7},
              {x = {0.45, 0.3}, halfsize = {0.04, 0.03}, rotation = -0.2, v = {-0.1, 0.2}, omega = -0.4}},
    springs = {{1, 2, {0.03, 0.02}, {-0.02, 0.01}, rest = 0.12, k = 50, amp = 0.1},
               {1, 2, {0.05, 0.04}, {-0.04, -0.03}, joint = opts.joint ~= false, k = 30, amp = 0.1, rest = 0.05}},
    density = 1.3, gravity = -9.8, damping = 2, friction = opts.friction or 0.4, restitution = 0.3,
    ground_y = 0.1, dt = opts.dt or 5e-3, toi = opts.toi ~= false,
  }
end

local function positional(kernel, named)
  local out = {}
  for i, name in ipairs(ds.kernel(kernel):arg_names()) do
    assert(named[name] ~= nil, "no value for " .. name)
    out[i] = named[name]:detach()
  end
  return out
end
local function tensors(sys, a)
  a = sys:args(a)
  for _, k in ipairs{"density", "gravity", "damping", "friction", "restitution"} do
    if not ds.is_tensor(a[k]) then a[k] = ds.tensor(a[k]) end
  end
  return a
end

describe("rigid2d boxes: gradients (float64 central differences)", function()
  for _, case in ipairs{{toi = true, friction = 0.4}, {toi = false, friction = 0.4}, {toi = true, friction = 5}} do
    local label = string.format("box_step (contact, spring, joint), toi = %s, friction = %g", tostring(case.toi), case.friction)
    it(label, function()
      local sys = pair(case)
      local st = sys.state0
      -- make sure the step really has a contact (the corner's predicted height is below ground)
      local out = sys:step(st, ds.tensor{0.5, 0})
      local a = tensors(sys, {state = st, act = ds.tensor{0.5, 0}, state_out = ds.empty{2, 6}})
      local ok, rep = ds.gradcheck_kernel("rigid2d.box_step", positional("rigid2d.box_step", a), sys.params,
                                          {eps = 1e-7, rtol = 1e-5, atol = 1e-8, max_elems = 64})
      assert(ok, rep.message)
      print(string.format("%s: %d checked, max abs err %.2e, max rel err %.2e", label, rep.checked, rep.max_abs_err,
        rep.max_rel_err))
      -- the first box's velocity changed by more than gravity and damping: contact acted
      local v0, v1 = st:totable()[1][5], out:totable()[1][5]
      assert.is_true(v1 - v0 > 0.1, "no contact impulse: vy " .. v0 .. " -> " .. v1)
    end)
  end
  -- A joint drives the anchors' relative velocity to ~0, where its |v_rel| has
  -- a kink (the reference's formula): central differences across a kink are
  -- meaningless, so the rollout is checked with two springs (the step check
  -- covers the joint, from a state where |v_rel| is far from 0).
  it("box_rollout over 30 steps (two springs, actuation, in the air)", function()
    local sys = pair{dt = 2e-3, joint = false}
    local st = sys.state0 + ds.tensor{{0, 0.3, 0, 0, 1.5, 0}, {0, 0.3, 0, 0, 0, 0}}
    local a = tensors(sys, {state = st, acts = ds.randn({30, 2}, 3, 0.5), states = ds.empty{31, 2, 6}})
    local p = {steps = 30}
    for k, v in pairs(sys.params) do p[k] = v end
    -- eps 1e-6: with 1e-7 the round-off of 30 steps (~1e-14 in the outputs) is
    -- 1e-7 of a stiffness derivative; at 1e-5 the truncation of the stiff rest-length one is 1e-5
    local ok, rep = ds.gradcheck_kernel("rigid2d.box_rollout", positional("rigid2d.box_rollout", a), p,
                                        {eps = 1e-6, rtol = 1e-5, atol = 1e-7, max_elems = 64})
    print(string.format("box_rollout: %d checked, max abs err %.2e, max rel err %.2e", rep.checked, rep.max_abs_err,
      rep.max_rel_err))
    assert(ok, rep.message)
  end)
end)

describe("rigid2d boxes: a row of boxes landing (the adjoint's record grows)", function()
  -- 24 boxes chained by springs, each tilted and sliding down onto the ground: a
  -- step's record then outgrows its first 4096 nodes (~20k), so the growth path
  -- of the record (rev.h) is in the check. rtol 1e-4: with this many corners the
  -- loss has jumps of ~1e-11 (presumably the contact sweeps' stopping test), so the
  -- d/d damping quotient of a weighted loss of all states (analytic -6.7502193) is
  -- off by 4e-6 at eps 1e-6 and 6e-5 at 1e-7, while at eps 1e-3 and 1e-4 it agrees
  -- to 1e-9; eps 1e-5 already steps over a contact event for some rest lengths.
  it("box_rollout over 12 steps, 24 boxes", function()
    local bodies, springs = {}, {}
    for i = 1, 24 do
      bodies[i] = {x = {0.1 + 0.05 * i, 0.125 + 0.002 * (i % 3)}, halfsize = {0.02, 0.02}, rotation = 0.1 * (i % 2 * 2 - 1),
                   v = {0.3, -0.8}, omega = 0.5}
      if i > 1 then springs[#springs + 1] = {i - 1, i, {0.02, 0}, {-0.02, 0}, rest = 0.012, k = 20, amp = 0.1} end
    end
    local sys = rigid2d.boxes{bodies = bodies, springs = springs, density = 1, gravity = -9.8, damping = 1,
                              friction = 0.5, restitution = 0.2, ground_y = 0.1, dt = 2e-3}
    local a = tensors(sys, {state = sys.state0, acts = ds.randn({12, 23}, 5, 0.5), states = ds.empty{13, 24, 6}})
    local p = {steps = 12}
    for k, v in pairs(sys.params) do p[k] = v end
    local ok, rep = ds.gradcheck_kernel("rigid2d.box_rollout", positional("rigid2d.box_rollout", a), p,
                                        {eps = 1e-6, rtol = 1e-4, atol = 1e-7, max_elems = 24})
    print(string.format("box_rollout, 24 boxes landing: %d checked, max abs err %.2e, max rel err %.2e", rep.checked,
      rep.max_abs_err, rep.max_rel_err))
    assert(ok, rep.message)
    -- they did land: the lowest corner of every box ends on (not under) the ground
    local st = sys:rollout(12):totable()[13]
    for i = 1, 24 do
      local b = st[i]
      local low = b[2] - 0.02 * (math.abs(math.cos(b[3])) + math.abs(math.sin(b[3])))
      assert.is_true(math.abs(low - 0.1) < 2e-3, "box " .. i .. " lowest corner at " .. low)
    end
  end)
end)

describe("rigid2d boxes: physics", function()
  -- A square turned 45 degrees touches the ground with one corner right below its
  -- centre: no torque, so an elastic frictionless bounce is a point's bounce. No
  -- gravity, v0 = (-1, -2), 204 steps of 2e-3 (SCENES.md, time of impact).
  local function bounce(toi, dy)
    local sys = rigid2d.boxes{bodies = {{x = {0.7, 0.5 + dy}, halfsize = {0.02, 0.02}, rotation = math.pi / 4,
                                         v = {-1, -2}}},
                              gravity = 0, damping = 0, friction = 0, restitution = 1, dt = 2e-3, toi = toi}
    local s0 = sys.state0:requires_grad()
    local tape = ds.tape()
    local y = tape:record(function() return ds.pick(sys:rollout(204, {state0 = s0}), 204 * 6 + 2) end)
    tape:backward(y)
    return y:item(), s0.grad:totable()[1][2]
  end
  it("time of impact gives d y_final / d y0 = -1, the naive integrator +1", function()
    local _, g_toi = bounce(true, 0)
    local _, g_naive = bounce(false, 0)
    assert.is_true(math.abs(g_toi + 1) < 1e-9, "toi " .. g_toi)
    assert.is_true(math.abs(g_naive - 1) < 1e-9, "naive " .. g_naive)
    -- and the TOI answer is the true slope of y_final(y0)
    local yp = bounce(true, 1e-6)
    local ym = bounce(true, -1e-6)
    assert.is_true(math.abs((yp - ym) / 2e-6 + 1) < 1e-6)
  end)
end)

describe("rigid2d boxes: bad input", function()
  local function err_of(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    return tostring(e)
  end
  it("zero or negative size or density, NaN state, bad springs", function()
    local sys = pair()
    sys.halfsize = ds.tensor{{0.05, 0}, {0.04, 0.03}}
    local e = err_of(sys.step, sys, sys.state0)
    assert.truthy(e:find("rigid2d.box_step", 1, true) and e:find("'halfsize'", 1, true), e)
    sys = pair()
    sys.density = -1
    e = err_of(sys.rollout, sys, 3)
    assert.truthy(e:find("rigid2d.box_rollout", 1, true) and e:find("'density'", 1, true), e)
    sys = pair()
    e = err_of(sys.rollout, sys, 3, {state0 = ds.tensor{{0 / 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}}})
    assert.truthy(e:find("'state'", 1, true) and e:find("non-finite", 1, true), e)
    sys = pair()
    sys.springs = ds.tensor({{0, 5, 0}, {0, 1, 1}}, "i32")
    e = err_of(sys.rollout, sys, 3)
    assert.truthy(e:find("'springs'", 1, true), e)
    e = err_of(rigid2d.boxes, {bodies = {{x = {0, 0}, halfsize = {1, 1}}}, springs = {{1, 2}}})
    assert.truthy(e:find("rigid2d.boxes", 1, true), e)
  end)
end)
