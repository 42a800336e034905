-- articulation: float64 finite-difference checks of every kernel's adjoint
-- (fk, rnea, crba, aba, step, rollout) on a model with every joint type
-- (free, revolute, prismatic, spherical, fixed), every shape in ground contact,
-- motor and position actuators and an active joint limit; inputs: states,
-- controls and every model parameter tensor.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local art = ds.plugin("articulation")
local scenes = dofile("scenes/articulation_models.lua")

local util = require("art_spec_util")

local model = art.model(scenes.zoo())
local B = 2
local q, qd = util.zoo_rows()
local ctrl = ds.tensor{{0.4, 0.1}, {-0.3, 0.02}}

local function positional(kernel, named) return util.positional(model, kernel, named) end

local function check(kernel, named, params, opts)
  opts = opts or {}
  local ok, rep = ds.gradcheck_kernel("articulation." .. kernel, positional("articulation." .. kernel, named), params,
                                      {eps = opts.eps or 1e-6, rtol = opts.rtol or 1e-5, atol = opts.atol or 1e-6,
                                       max_elems = 40})
  print(string.format("articulation.%s: %d checked, max abs err %.2e, max rel err %.2e", kernel, rep.checked or 0,
                      rep.max_abs_err or 0, rep.max_rel_err or 0))
  assert(ok, rep.message)
end

describe("articulation kernels: gradients (float64 central differences)", function()
  it("fk", function()
    check("fk", {q = q, xpos = ds.empty{B, model.nl, 3}, xmat = ds.empty{B, model.nl, 9}})
  end)
  it("world points fixed in links (model:points): values and gradient", function()
    local pts = {{"arm", {0, 0, -0.2}}, {"wrist", {0.01, 0.02, -0.1}}, {1, {0.1, 0.06, 0.04}}}
    local x = model:points(q, pts):totable()
    local xpos, xmat = model:fk(q)
    local P, Rm = xpos:totable(), xmat:totable()
    for b = 1, B do
      for i, pt in ipairs(pts) do
        local li = type(pt[1]) == "string" and model.names[pt[1]] or pt[1]
        local R, p = Rm[b][li], pt[2]
        for a = 1, 3 do
          local want = P[b][li][a] + R[3 * a - 2] * p[1] + R[3 * a - 1] * p[2] + R[3 * a] * p[3]
          assert.is_true(math.abs(x[b][i][a] - want) < 1e-14)
        end
      end
    end
    local w = ds.randn({B, 3, 3}, 8)
    local ok, rep = ds.gradcheck(function(q_, pos_)
      model.args.pos = pos_
      return ds.sum(model:points(q_, pts) * w)
    end, {q, model.args.pos:detach()}, {eps = 1e-6, rtol = 1e-6, atol = 1e-8})
    print(string.format("model:points: %d checked, max abs err %.2e", rep.checked or 0, rep.max_abs_err or 0))
    assert(ok, rep.message)
  end)
  it("rnea", function()
    local qdd = ds.randn({B, model.nv}, 3)
    check("rnea", {q = q, qd = qd, qdd = qdd, tau = ds.empty{B, model.nv}})
  end)
  it("crba", function()
    check("crba", {q = q, M = ds.empty{B, model.nv, model.nv}})
  end)
  it("aba", function()
    local tau = ds.randn({B, model.nv}, 4)
    check("aba", {q = q, qd = qd, tau = tau, qdd = ds.empty{B, model.nv}})
  end)
  it("momentum", function()
    check("momentum", {q = q, qd = qd, h = ds.empty{B, 6}})
  end)
  it("step (contact of box, capsule and sphere, friction, limit, actuators)", function()
    check("step", {q = q, qd = qd, ctrl = ctrl, q_out = ds.empty{B, model.nq}, qd_out = ds.empty{B, model.nv}},
          {dt = 2e-3, dual = 0})
  end)
  it("step with sphere-capsule and capsule-capsule contacts (three free bodies)", function()
    local pm = art.model(scenes.pairs())
    local pq, pqd = pm:initial(1)
    local vq = ds.tensor{{0.1, -0.2, 0.3, 0.5, -0.4, 0.2, -0.3, 0.2, -0.1, 0.3, 0.1, -0.6, 0.2, -0.1, -0.4, 0.3, 0.2, 0.1}}
    -- every pair touches: the momentum changes of the bodies are non-zero and sum to zero
    local _, v1 = pm:step(pq, vq)
    local d = (v1 - vq):tolist()
    for b = 0, 2 do assert.is_true(math.abs(d[6 * b + 1]) + math.abs(d[6 * b + 2]) + math.abs(d[6 * b + 3]) > 1e-3) end
    for k = 1, 3 do assert.is_true(math.abs(d[k] + d[6 + k] + d[12 + k]) < 1e-12) end
    local positional_p = {}
    for i, name in ipairs(ds.kernel("articulation.step"):arg_names()) do
      local named = {q = pq, qd = vq, ctrl = ds.zeros{1, pm.nu}, q_out = ds.empty{1, pm.nq}, qd_out = ds.empty{1, pm.nv}}
      positional_p[i] = (named[name] or pm.args[name]):detach()
    end
    local ok, rep = ds.gradcheck_kernel("articulation.step", positional_p, {dt = 1e-3, dual = 0},
                                        {eps = 1e-7, rtol = 1e-5, atol = 1e-6, max_elems = 40})
    print(string.format("articulation.step (pairs): %d checked, max abs err %.2e, max rel err %.2e", rep.checked or 0,
                        rep.max_abs_err or 0, rep.max_rel_err or 0))
    assert(ok, rep.message)
  end)
  it("implicit_step (backward Euler by Newton, implicit-function adjoint; contact, limit, actuators)", function()
    check("implicit_step", {q = q, qd = qd, ctrl = ctrl, q_out = ds.empty{B, model.nq}, qd_out = ds.empty{B, model.nv}},
          {dt = 2e-3}, {eps = 1e-7, atol = 1e-5})
  end)
  it("nn_rollout (fused kit MLP controller, clock inputs, contact) over 10 steps: weights, states, masses", function()
    local net = ds.nn.mlp{sizes = {8, 6, model.nu}, act = "tanh", out_act = "tanh", seed = 3}
    local obs = {4, 5, 8, 9, 14, 16, 25, 26} -- quaternion parts, joint angles, velocities, sin and cos
    local ps = net:parameters()
    local w = ds.randn({11, B, model.nq}, 21)
    local mass = model.args.mass:detach()
    -- the weights are perturbed in place by the checker; nn_rollout reads net:parameters()
    local ok, rep = ds.gradcheck(function(q_, qd_, _, _, _, _, m_)
      model.args.mass = m_
      local qs = model:nn_rollout(10, net, q_, qd_, {obs = obs, freq = 2, scale = 0.7, phase = {0, 1}})
      return ds.sum(qs * w)
    end, {q, qd, ps[1], ps[2], ps[3], ps[4], mass}, {eps = 1e-7, rtol = 1e-5, atol = 1e-6, max_elems = 30})
    model.args.mass = mass
    print(string.format("articulation.nn_rollout: %d checked, max abs err %.2e, max rel err %.2e", rep.checked or 0,
                        rep.max_abs_err or 0, rep.max_rel_err or 0))
    assert(ok, rep.message)
    -- the same controls and states as the controller composed from ds.nn ops and step launches
    local qs, _, us = model:nn_rollout(10, net, q, qd, {obs = obs, freq = 2, scale = 0.7, phase = {0, 1}})
    local sel = {}
    for i = 1, model.nq + model.nv + 2 do sel[i] = {} for k = 1, #obs do sel[i][k] = obs[k] == i and 1 or 0 end end
    local S = ds.tensor(sel)
    local a, v = q, qd
    for s = 0, 9 do
      local t = s * model.dt
      local clock = ds.tensor{{math.sin(2 * math.pi * 2 * t), math.cos(2 * math.pi * 2 * t)},
                              {math.sin(2 * math.pi * 2 * t + 1), math.cos(2 * math.pi * 2 * t + 1)}}
      local x = ds.matmul(ds.tensor((function()
        local r = {}
        local A, V, C = a:totable(), v:totable(), clock:totable()
        for b = 1, B do
          r[b] = {}
          for i = 1, model.nq do r[b][i] = A[b][i] end
          for i = 1, model.nv do r[b][model.nq + i] = V[b][i] end
          r[b][model.nq + model.nv + 1], r[b][model.nq + model.nv + 2] = C[b][1], C[b][2]
        end
        return r
      end)()), S)
      local u = net:forward(x) * 0.7
      a, v = model:step(a, v, u)
    end
    local A, Q = a:totable(), qs:totable()[11]
    for b = 1, B do for i = 1, model.nq do assert.is_true(math.abs(A[b][i] - Q[b][i]) < 1e-12) end end
  end)
  it("implicit_rollout over 5 steps (and equal to 5 implicit_step launches)", function()
    local T = 5
    local c = ds.randn({T, B, model.nu}, 6) * 0.3
    check("implicit_rollout", {q0 = q, qd0 = qd, ctrl = c, qs = ds.empty{T + 1, B, model.nq},
                               qds = ds.empty{T + 1, B, model.nv}}, {dt = 2e-3}, {eps = 1e-7, atol = 1e-5})
    local d = scenes.zoo()
    d.options.integrator = "implicit"
    local mi = art.model(d)
    local qs = mi:rollout(c, q, qd, 2e-3) -- one implicit_rollout launch
    local a, v = q, qd
    local C = c:totable()
    for s = 1, T do a, v = mi:step(a, v, ds.tensor(C[s]), 2e-3) end -- T implicit_step launches
    local A, Q = a:totable(), qs:totable()[T + 1]
    local worst = 0
    for b = 1, B do for i = 1, model.nq do worst = math.max(worst, math.abs(A[b][i] - Q[b][i])) end end
    print(string.format("implicit_rollout vs implicit_step launches: max |dq| %.2e", worst))
    assert.is_true(worst < 1e-12)
  end)
  it("rollout with the time-of-impact split (options.toi): a falling box's first touch inside a step", function()
    local d = {options = {timestep = 2e-3, toi = true, contact_stiffness = 1e4, contact_damping = 50,
                          contact_smoothing = 1e-3},
               links = {{joint = {type = "free"}, pos = {0, 0, 0.1}, quat = {0.97, 0.15, 0.1, 0.05},
                         inertial = {mass = 1, diaginertia = {0.002, 0.003, 0.004}},
                         geoms = {{type = "box", size = {0.05, 0.04, 0.03}, friction = 0.6}}}}}
    local tm = art.model(d)
    local q0 = ds.tensor{tm.q0}
    local v0 = ds.tensor{{0.3, -0.2, -1.5, 0.5, 0.2, -0.3}}
    -- the lowest corner is ~0.04 m up and falls at 1.5 m/s: the touch falls inside step 13 or so
    local T = 25
    local c = ds.zeros{T, 1, tm.nu}
    local positional_t = {}
    for i, name in ipairs(ds.kernel("articulation.rollout"):arg_names()) do
      local named = {q0 = q0, qd0 = v0, ctrl = c, qs = ds.empty{T + 1, 1, tm.nq}, qds = ds.empty{T + 1, 1, tm.nv}}
      positional_t[i] = (named[name] or tm.args[name]):detach()
    end
    local ok, rep = ds.gradcheck_kernel("articulation.rollout", positional_t, {dt = 2e-3, dual = 0},
                                        {eps = 1e-7, rtol = 1e-5, atol = 1e-6, max_elems = 30})
    print(string.format("articulation.rollout (toi): %d checked, max abs err %.2e, max rel err %.2e", rep.checked or 0,
                        rep.max_abs_err or 0, rep.max_rel_err or 0))
    assert(ok, rep.message)
    -- the split changes the trajectory after the touch, and only after it
    d.options.toi = false
    local naive = art.model(d)
    local a = tm:rollout(T, q0, v0):totable()
    local b = naive:rollout(T, q0, v0):totable()
    local first_diff
    for s = 1, T + 1 do
      if first_diff == nil and math.abs(a[s][1][3] - b[s][1][3]) > 1e-12 then first_diff = s end
    end
    assert.is_truthy(first_diff and first_diff > 5, "the split changed the free fall")
  end)
  it("the reverse-mode adjoint equals the dual-number adjoint (rollout and nn_rollout, every parameter)", function()
    -- the two compile the same dyn.inc; they differ only in summation order
    local names = {"mass", "com", "inertia", "pos", "quat", "axis", "damping", "armature", "gpos", "gsize",
                   "friction", "gain", "opt"}
    local function grads(mode, run) return util.grads(scenes.zoo(), mode, names, q, qd, run) end
    local function compare(what, run)
      local a, b = grads("reverse", run), grads("dual", run)
      local worst, nz = 0, 0
      for i = 1, #b do
        local scale = 0
        for _, v in ipairs(b[i]) do scale = math.max(scale, math.abs(v)) end
        for k, v in ipairs(b[i]) do
          if v ~= 0 then nz = nz + 1 end
          worst = math.max(worst, math.abs(a[i][k] - v) / math.max(scale, 1e-300))
        end
      end
      print(string.format("%s: reverse vs dual adjoint, %d nonzero entries, max rel err %.2e", what, nz, worst))
      assert.is_true(nz > 50)
      assert.is_true(worst < 1e-12, what .. ": reverse and dual adjoints differ by " .. worst)
    end
    local T = 20
    local c = ds.randn({T, B, model.nu}, 9) * 0.3
    local wq, wv = ds.randn({T + 1, B, model.nq}, 10), ds.randn({T + 1, B, model.nv}, 11)
    compare("rollout", function(m, q_, qd_)
      local cc = c:detach():requires_grad()
      local qs, qds = m:rollout(cc, q_, qd_)
      return ds.sum(qs * wq) + ds.sum(qds * wv), {cc}
    end)
    compare("nn_rollout", function(m, q_, qd_)
      local net = ds.nn.mlp{sizes = {8, 6, model.nu}, act = "tanh", out_act = "tanh", seed = 3}
      local qs, qds = m:nn_rollout(T, net, q_, qd_, {obs = {4, 5, 8, 9, 14, 16, 25, 26}, freq = 2, scale = 0.7})
      return ds.sum(qs * wq) + ds.sum(qds * wv), net:parameters()
    end)
  end)
  it("rollout over 12 steps", function()
    local T = 12
    local c = ds.randn({T, B, model.nu}, 5) * 0.3
    check("rollout", {q0 = q, qd0 = qd, ctrl = c, qs = ds.empty{T + 1, B, model.nq}, qds = ds.empty{T + 1, B, model.nv}},
          {dt = 2e-3, dual = 0}, {eps = 1e-7, atol = 1e-5}) -- inertias ~1e-3: a smaller step keeps FD truncation down
  end)
end)
