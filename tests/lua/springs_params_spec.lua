-- springs plugin: the differentiable physical parameters (mass, gravity, damping,
-- ground friction, restitution). float64 central differences of whole rollouts
-- through the Lua API, plain numbers vs tensors, and the errors.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local springs = ds.plugin("springs")

-- A 2D frame falling onto the ground (y = 0.1) with Coulomb friction and
-- restitution; mass 6 is pinned.
local MASS = {1, 2, 1, 0.5, 1, 1.5}
local function frame(ground)
  return springs.system{
    x = {{0.20, 0.105}, {0.30, 0.13}, {0.40, 0.104}, {0.21, 0.21}, {0.31, 0.20}, {0.42, 0.22}},
    v = {{0.3, -1.0}, {-0.2, 0.4}, {0.5, -2.0}, {0.1, 0.3}, {-0.4, -0.1}, {0.6, 0.2}},
    springs = {{1, 2}, {2, 3}, {4, 5}, {5, 6}, {1, 4}, {2, 5}, {3, 6}, {1, 5}, {2, 4}, {2, 6}, {3, 5}},
    stiffness = 300, amplitude = 0.2, spring_damping = 0.7, mass = MASS, fixed = {6},
    dt = 4e-3, damping = 3, gravity = -4.8,
    ground = ground or {mode = "toi", y = 0.1, restitution = 0.3, friction = 0.4},
  }
end

-- The physical parameters as tensors: gravity, damping, friction, restitution, mass {n}.
local function param_tensors()
  return ds.tensor(-4.8), ds.tensor(3), ds.tensor(0.4), ds.tensor(0.3), ds.tensor(MASS)
end

-- loss = <w, xs> + <u, vs> with fixed random weights: every state counts.
local function weighted(xs, vs)
  local s = xs:shape()
  return ds.dot(xs, ds.randn(s, 71)) + ds.dot(vs, ds.randn(s, 72))
end

local function install(sys, g, d, mu, e, m)
  sys.gravity, sys.damping, sys.friction, sys.restitution, sys.mass = g, d, mu, e, m
end

local function report(label, rep)
  io.stderr:write(string.format("  %s: %d elements, max abs err %.3g, max rel err %.3g\n", label, rep.checked,
                                rep.max_abs_err, rep.max_rel_err))
end

local FD = {eps = 1e-6, rtol = 1e-5, atol = 1e-8}

describe("springs physical parameters: gradients (float64 central differences)", function()
  it("rollout: 40 steps with TOI contact, restitution and Coulomb friction", function()
    local sys = frame()
    local T = 40
    -- the rollout must bounce off the ground for the check to mean anything
    local xs, vs = sys:rollout(T)
    local lowest, bounced = math.huge, false
    local xl, vl, per = xs:tolist(), vs:tolist(), 2 * sys.n
    for i = 2, #xl, 2 do
      lowest = math.min(lowest, xl[i])
      if i > per and vl[i - per] < -0.1 and vl[i] > 0 then bounced = true end
    end
    assert.is_true(lowest >= 0.1 - 1e-12 and lowest < 0.1 + 1e-3, "lowest " .. lowest)
    assert.is_true(bounced, "no mass bounced off the ground")
    local inputs = {param_tensors()}
    local ok, rep = ds.gradcheck(function(g, d, mu, e, m)
      install(sys, g, d, mu, e, m)
      return weighted(sys:rollout(T))
    end, inputs, FD)
    report("rollout", rep)
    assert(ok, rep.message)
    assert.are.equal(4 + 6, rep.checked)
    -- friction and restitution really acted (nonzero gradients)
    assert.is_true(inputs[3].grad:item() ~= 0 and inputs[4].grad:item() ~= 0)
  end)

  it("the pinned mass gets no gradient, the others do", function()
    local sys = frame()
    local g, d, mu, e, m = param_tensors()
    m:requires_grad()
    install(sys, g, d, mu, e, m)
    local tape = ds.tape()
    local loss = tape:record(function() return weighted(sys:rollout(20)) end)
    tape:backward(loss)
    local gm = m.grad:tolist()
    assert.are.equal(0, gm[6])
    for i = 1, 5 do assert.is_true(gm[i] ~= 0) end
  end)

  it("step: naive ground and walls, and a single 0-dim mass", function()
    local sys = frame{mode = "naive", y = 0.1, restitution = 0.5, friction = 0.2}
    sys:set_physics{wall = {lo = 0.205, hi = 0.41, friction = 0.3}}
    local ok, rep = ds.gradcheck(function(g, d, mu, e, m)
      install(sys, g, d, mu, e, m)
      local x, v = sys:step(sys.x0, sys.v0)
      for _ = 1, 4 do x, v = sys:step(x, v) end
      return weighted(ds.reshape(x, {1, sys.n, 2}), ds.reshape(v, {1, sys.n, 2}))
    end, {ds.tensor(-4.8), ds.tensor(3), ds.tensor(0.2), ds.tensor(0.5), ds.tensor(1.3)}, FD)
    report("step", rep)
    assert(ok, rep.message)
  end)

  it("3D: Coulomb friction is isotropic", function()
    local sys = springs.system{
      x = {{0, 0.105, 0}, {0.1, 0.13, 0.02}, {0.03, 0.2, 0.1}, {0.12, 0.22, 0.11}},
      v = {{0.3, -1, 0.2}, {-0.2, 0.4, 0.1}, {0.1, 0.3, -0.3}, {0.5, -0.2, 0.1}},
      springs = {{1, 2}, {1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 4}},
      stiffness = 300, spring_damping = 0.5, dt = 4e-3, damping = 2, gravity = -9.8,
      ground = {mode = "toi", y = 0.1, restitution = 0.2, friction = 0.5},
    }
    local ok, rep = ds.gradcheck(function(g, d, mu, e, m)
      install(sys, g, d, mu, e, m)
      return weighted(sys:rollout(30))
    end, {ds.tensor(-9.8), ds.tensor(2), ds.tensor(0.5), ds.tensor(0.2), ds.tensor{1, 2, 0.5, 1}}, FD)
    report("3d rollout", rep)
    assert(ok, rep.message)
  end)

  it("nn_rollout: the fused controller over a Coulomb ground", function()
    local sys = frame()
    local net = sys:controller{hidden = 8, seed = 5}
    local ok, rep = ds.gradcheck(function(g, d, mu, e, m)
      install(sys, g, d, mu, e, m)
      local xs, vs = sys:nn_rollout(30, net)
      return weighted(xs, vs)
    end, {param_tensors()}, FD)
    report("nn_rollout", rep)
    assert(ok, rep.message)
  end)

  it("a sticking node differentiates the sticking branch: no friction gradient", function()
    -- one mass sliding slowly onto the ground with a large mu: it sticks at once
    local sys = springs.system{x = {{0.5, 0.1005}}, v = {{0.01, -0.5}}, springs = {}, dt = 2e-3, gravity = 0,
                               damping = 0, ground = {mode = "toi", y = 0.1, restitution = 0.5, friction = 2}}
    local mu = ds.tensor(2):requires_grad()
    sys.friction = mu
    local tape = ds.tape()
    local loss = tape:record(function() return springs.select(sys:rollout(5), -1, 1, 1) end)
    tape:backward(loss)
    assert.are.equal(0, mu.grad:item())
  end)
end)

describe("springs physical parameters: numbers and tensors", function()
  it("plain numbers and 0-dim tensors give bitwise the same rollout and gradients", function()
    local a, b = frame(), frame()
    install(b, param_tensors())
    local function run(sys)
      local x0 = sys.x0:detach():requires_grad()
      local tape = ds.tape()
      local xs, vs
      local loss = tape:record(function()
        xs, vs = sys:rollout(40, {x0 = x0})
        return weighted(xs, vs)
      end)
      tape:backward(loss)
      return xs:tolist(), x0.grad:tolist()
    end
    local xa, ga = run(a)
    local xb, gb = run(b)
    for i = 1, #xa do assert.are.equal(xa[i], xb[i]) end
    for i = 1, #ga do assert.are.equal(ga[i], gb[i]) end
  end)

  it("scene tables take tensors too, and set_physics keeps what it is not given", function()
    local g = ds.tensor(-2)
    local sys = springs.system{x = {{0, 1}}, springs = {}, dt = 1e-2, gravity = g, damping = 0, ground = "none",
                               mass = ds.tensor{2}}
    assert.are.equal(g, sys.gravity)
    sys:set_physics{dt = 1e-2}
    assert.are.equal(g, sys.gravity)
    local xs = sys:rollout(1)
    assert.is_true(math.abs(xs:tolist()[4] - (1 - 2e-4)) < 1e-15)
  end)
end)

describe("springs physical parameters: bad input", function()
  it("an out-of-range tensor value names the kernel and the argument", function()
    local sys = frame()
    sys.restitution = ds.tensor(1.5)
    local ok, err = pcall(sys.rollout, sys, 3)
    assert.is_false(ok)
    assert.matches("springs.rollout", err, 1, true)
    assert.matches("argument 'restitution'", err, 1, true)
    sys.restitution, sys.damping = 0.3, ds.tensor(-1)
    ok, err = pcall(sys.step, sys, sys.x0, sys.v0)
    assert.is_false(ok)
    assert.matches("springs.step", err, 1, true)
    assert.matches("argument 'damping'", err, 1, true)
    sys.damping = ds.tensor{1, 2}
    ok, err = pcall(sys.step, sys, sys.x0, sys.v0)
    assert.is_false(ok)
    assert.matches("damping", err, 1, true)
    sys.damping, sys.mass = 3, ds.tensor{1, 2}
    ok, err = pcall(sys.step, sys, sys.x0, sys.v0)
    assert.is_false(ok)
    assert.matches("mass", err, 1, true)
  end)

  it("a tensor that requires grad where a kernel cannot differentiate is an error", function()
    local sys = frame()
    local x = sys.x0:detach():requires_grad()
    local tape = ds.tape()
    local ok, err = pcall(tape.record, tape, function() return sys:render(x) end)
    assert.is_false(ok)
    assert.matches("springs.render", err, 1, true)
    assert.matches("'x'", err, 1, true)
  end)
end)
