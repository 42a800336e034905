-- articulation: the analytic step adjoint (model.adjoint = "analytic", kernel
-- param dual = 2; step_adjoint.c, dyn_adjoint.inc) against float64 central
-- differences and against the reverse-mode tape adjoint it replaced as the
-- default. Its three routes are each covered: the per-link reverse of the
-- kinematics and inertias (a geometry or inertia parameter wants its
-- gradient), the subtree rigid-motion reverse (q only: no such parameter), and
-- the ABA-factorised solve (more than 32 dofs) beside the Cholesky one.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local art = ds.plugin("articulation")
local scenes = dofile("scenes/articulation_models.lua")
local mjcf = require("diffsim.io.mjcf")

local util = require("art_spec_util")

local ANALYTIC = 2
local model = art.model(scenes.zoo())
local B = 2
local q, qd = util.zoo_rows()
local positional = util.positional

-- a kernel's float64 central-difference check on args with params
local function report(what, ok, rep)
  print(string.format("%s: %d checked, max abs err %.2e, max rel err %.2e", what, rep.checked or 0, rep.max_abs_err or 0,
                      rep.max_rel_err or 0))
  assert(ok, rep.message)
end
local function kcheck(what, kernel, args, params, eps, atol)
  report(what, ds.gradcheck_kernel(kernel, args, params, {eps = eps, rtol = 1e-5, atol = atol, max_elems = 40}))
end

describe("articulation analytic adjoint: float64 central differences", function()
  it("step on the zoo (free, revolute, prismatic, spherical, fixed; ground contact of every shape; limit; "
     .. "actuators), every model tensor", function()
    local ctrl = ds.tensor{{0.4, 0.1}, {-0.3, 0.02}}
    local args = positional(model, "articulation.step", {q = q, qd = qd, ctrl = ctrl, q_out = ds.empty{B, model.nq},
                                                         qd_out = ds.empty{B, model.nv}})
    kcheck("articulation.step (analytic)", "articulation.step", args, {dt = 2e-3, dual = ANALYTIC}, 1e-6, 1e-6)
  end)
  it("step with sphere-capsule and capsule-capsule contacts between links (three free bodies)", function()
    local pm = art.model(scenes.pairs())
    local pq = pm:initial(1)
    local vq = ds.tensor{{0.1, -0.2, 0.3, 0.5, -0.4, 0.2, -0.3, 0.2, -0.1, 0.3, 0.1, -0.6, 0.2, -0.1, -0.4, 0.3, 0.2, 0.1}}
    local args = positional(pm, "articulation.step", {q = pq, qd = vq, ctrl = ds.zeros{1, pm.nu},
                                                      q_out = ds.empty{1, pm.nq}, qd_out = ds.empty{1, pm.nv}})
    kcheck("articulation.step (analytic, pairs)", "articulation.step", args, {dt = 1e-3, dual = ANALYTIC}, 1e-7, 1e-6)
  end)
  it("rollout over 12 steps on the zoo, every model tensor", function()
    local T = 12
    local c = ds.randn({T, B, model.nu}, 5) * 0.3
    local args = positional(model, "articulation.rollout", {q0 = q, qd0 = qd, ctrl = c,
                                                            qs = ds.empty{T + 1, B, model.nq},
                                                            qds = ds.empty{T + 1, B, model.nv}})
    kcheck("articulation.rollout (analytic)", "articulation.rollout", args, {dt = 2e-3, dual = ANALYTIC}, 1e-7, 1e-5)
  end)
  it("rollout on the zoo in q0, qd0 and the controls only (the rigid-motion reverse)", function()
    local m = art.model(scenes.zoo())
    m.adjoint = "analytic"
    local T = 12
    local w = ds.randn({T + 1, B, m.nq}, 12)
    local wv = ds.randn({T + 1, B, m.nv}, 13)
    local ok, rep = ds.gradcheck(function(q_, qd_, c_)
      local qs, qds = m:rollout(c_, q_, qd_, 2e-3)
      return ds.sum(qs * w) + ds.sum(qds * wv)
    end, {q, qd, ds.randn({T, B, m.nu}, 14) * 0.3}, {eps = 1e-7, rtol = 1e-5, atol = 1e-5, max_elems = 40})
    report("rollout (analytic, q-only route)", ok, rep)
  end)
  it("nn_rollout over 10 steps (controller, contact): states, weights, masses", function()
    local m = art.model(scenes.zoo())
    m.adjoint = "analytic"
    local net = ds.nn.mlp{sizes = {8, 6, m.nu}, act = "tanh", out_act = "tanh", seed = 3}
    local ps = net:parameters()
    local w = ds.randn({11, B, m.nq}, 21)
    local mass = m.args.mass:detach()
    local ok, rep = ds.gradcheck(function(q_, qd_, _, _, _, _, m_)
      m.args.mass = m_
      local qs = m:nn_rollout(10, net, q_, qd_, {obs = {4, 5, 8, 9, 14, 16, 25, 26}, freq = 2, scale = 0.7})
      return ds.sum(qs * w)
    end, {q, qd, ps[1], ps[2], ps[3], ps[4], mass}, {eps = 1e-7, rtol = 1e-5, atol = 1e-6, max_elems = 30})
    m.args.mass = mass
    report("nn_rollout (analytic)", ok, rep)
  end)
end)

describe("articulation analytic adjoint: equals the tape adjoint", function()
  local GEO = {"mass", "com", "inertia", "pos", "quat", "anchor", "axis"}
  local OTHER = {"damping", "armature", "range", "gpos", "gquat", "gsize", "friction", "gain", "opt"}
  local function concat(a, b)
    local r = {}
    for _, v in ipairs(a) do r[#r + 1] = v end
    for _, v in ipairs(b) do r[#r + 1] = v end
    return r
  end
  local grads = util.grads
  -- the largest difference relative to each tensor's largest entry; every tensor gets a gradient
  local function compare(what, desc, names, qq, qqd, run, min_nz, tol)
    local a, b = grads(desc, "analytic", names, qq, qqd, run), grads(desc, "tape", names, qq, qqd, run)
    local worst, nz = 0, 0
    for i = 1, #b do
      local scale = 0
      for _, v in ipairs(b[i]) do scale = math.max(scale, math.abs(v)) end
      assert.is_true(scale > 0, what .. ": input " .. i .. " got no gradient")
      for k, v in ipairs(b[i]) do
        if v ~= 0 then nz = nz + 1 end
        worst = math.max(worst, math.abs(a[i][k] - v) / scale)
      end
    end
    print(string.format("%s: analytic vs tape adjoint, %d nonzero entries, max rel err %.2e", what, nz, worst))
    assert.is_true(nz > (min_nz or 50))
    assert.is_true(worst < (tol or 1e-12), what .. ": analytic and tape adjoints differ by " .. worst)
    return worst
  end
  local T = 20
  local c = ds.randn({T, B, model.nu}, 9) * 0.3
  local wq, wv = ds.randn({T + 1, B, model.nq}, 10), ds.randn({T + 1, B, model.nv}, 11)
  local function zoo_rollout(m, q_, qd_)
    local cc = c:detach():requires_grad()
    local qs, qds = m:rollout(cc, q_, qd_)
    return ds.sum(qs * wq) + ds.sum(qds * wv), {cc}
  end
  it("zoo rollout, every parameter (per-link reverse)", function()
    compare("zoo rollout, all parameters", scenes.zoo(), concat(GEO, OTHER), q, qd, zoo_rollout)
  end)
  it("zoo rollout, no geometry parameter (rigid-motion reverse)", function()
    compare("zoo rollout, q-only route", scenes.zoo(), OTHER, q, qd, zoo_rollout)
  end)
  it("zoo nn_rollout, every parameter and without the geometry ones", function()
    local function run(m, q_, qd_)
      local net = ds.nn.mlp{sizes = {8, 6, model.nu}, act = "tanh", out_act = "tanh", seed = 3}
      local qs, qds = m:nn_rollout(T, net, q_, qd_, {obs = {4, 5, 8, 9, 14, 16, 25, 26}, freq = 2, scale = 0.7})
      return ds.sum(qs * wq) + ds.sum(qds * wv), net:parameters()
    end
    compare("zoo nn_rollout, all parameters", scenes.zoo(), concat(GEO, OTHER), q, qd, run)
    compare("zoo nn_rollout, q-only route", scenes.zoo(), OTHER, q, qd, run)
  end)
  it("chain5 (MJCF) and the walker, 200 steps", function()
    local d = mjcf.load("scenes/articulation/chain5.xml")
    local m = art.model(d)
    local cq = ds.tensor{{0.4, -0.4, 0.4, -0.4, 0.4}}
    local cqd = ds.tensor{{0.3, -0.1, 0.2, 0, -0.5}}
    local w = ds.randn({201, 1, m.nq}, 3)
    compare("chain5 rollout", d, {"opt"}, cq, cqd, function(mm, q_, qd_)
      return ds.sum(mm:rollout(200, q_, qd_) * w)
    end, 9)
    local wd = scenes.walker()
    local wm = art.model(wd)
    local wq, wqd = wm:initial(1)
    local uw = ds.randn({200, 1, wm.nu}, 4) * 0.5
    local ww = ds.randn({201, 1, wm.nq}, 5)
    compare("walker rollout", wd, concat(GEO, {"damping", "gain", "friction"}), wq, wqd, function(mm, q_, qd_)
      local cc = uw:detach():requires_grad()
      return ds.sum(mm:rollout(cc, q_, qd_) * ww), {cc}
    end)
  end)
  it("a 34-link chain (above the Cholesky route's 32 dofs: ABA's factorisation)", function()
    local d = scenes.chain(34, {length = 0.05, damping = (function() local r = {} for i = 1, 34 do r[i] = 0.01 * i end return r end)()})
    local m = art.model(d)
    local a0 = {}
    for i = 1, 34 do a0[i] = 0.3 * math.sin(i) end
    local cq, cqd = ds.tensor{a0}, ds.zeros{1, 34}
    local w = ds.randn({31, 1, 34}, 6)
    -- dJ/dq of a long chain cancels: the tape and the dual-number adjoints
    -- differ by ~1e-10 of its largest entry here too; the bound is 10x their spread
    local function run(mm, q_, qd_) return ds.sum(mm:rollout(30, q_, qd_) * w) end
    local t, dn = grads(d, "tape", {"mass", "damping"}, cq, cqd, run), grads(d, "dual", {"mass", "damping"}, cq, cqd, run)
    local floor = 1e-12
    for i = 1, #t do
      local scale = 0
      for _, v in ipairs(t[i]) do scale = math.max(scale, math.abs(v)) end
      for k, v in ipairs(t[i]) do floor = math.max(floor, math.abs(dn[i][k] - v) / scale) end
    end
    print(string.format("chain34: tape vs dual adjoint spread %.2e", floor))
    compare("chain34 rollout", d, {"mass", "damping"}, cq, cqd, run, 50, 10 * floor)
    compare("chain34 rollout, q-only route", d, {"damping"}, cq, cqd, run, 50, 10 * floor)
  end)
end)
