-- fem cloth (tri_membrane + hinge_bend on the incremental-potential stepper):
-- float64 finite-difference checks of the IFT gradients of one implicit step,
-- a short rollout with a moving pin and a static drape, with respect to the
-- membrane and bending stiffness, the start state and the pinned positions;
-- physics (a free cloth's momentum, a symmetric drape's mirror symmetry). Bad
-- input: bad_plugin_fem_shell_spec.lua.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local fem = ds.plugin("fem")

local E0, K0 = 2e4, 5e-4

-- A 0.5 m square (N x N cells) pinned at the corners of its z = 0 edge.
local function cloth(N, o)
  o = o or {}
  local sheet = fem.cloth_mesh{size = {0.5, 0.5}, res = {N, N}}
  local pins = {sheet.index(0, 0), sheet.index(N, 0)}
  if o.pins == false then pins = nil end
  local body = fem.cloth{verts = sheet.verts, tris = sheet.tris, E = E0, nu = 0.3, thickness = 1e-3,
    areal_density = 0.2, k_bend = K0, pins = pins,
    gravity = {0, -9.81, 0}, dt = o.dt or 1e-2, tol = 1e-12, max_iters = 100, damping = o.damping}
  return body, sheet
end

-- A deterministic non-flat state: the sheet folded a little (so hinges bend) and stretched.
local function bent(body, amp)
  local x = body.rest:totable()
  for i, p in ipairs(x) do
    p[2] = p[2] - amp * math.sin(3 * p[1] + 1) * p[3] - 0.3 * amp * p[3] * p[3]
    p[1] = p[1] * (1 + 0.05 * amp) + 0.02 * amp * math.cos(5 * p[3] + i)
  end
  return ds.tensor(x)
end

local function weights(n, seed) return ds.randn({n, 3}, seed) end

-- One line per check: the largest absolute error against the largest gradient entry.
local function report(what, rep, inputs)
  local g = 0
  for _, x in ipairs(inputs) do
    for _, v in ipairs(x.grad and x.grad:tolist() or {}) do g = math.max(g, math.abs(v)) end
  end
  print(string.format("%s: max abs err %.2e, largest gradient entry %.3g (%d elements checked)", what, rep.max_abs_err, g,
    rep.checked))
end

-- ds.gradcheck of f(...) with the first two inputs scaling E and k_bend (inputs ~1), then the report.
local function check(what, body, inputs, f)
  local ok, rep = ds.gradcheck(function(e, k, ...)
    body:set_param(1, "E", e * E0)
    body:set_param(2, "k_bend", k * K0)
    return f(...)
  end, inputs, {rtol = 1e-5, atol = 1e-9})
  report(what, rep, inputs)
  assert.is_true(ok, rep.message)
end

describe("fem cloth gradients (f64 finite differences)", function()
  it("one implicit step: membrane E, bending k, start positions and velocities, pin targets", function()
    local body = cloth(4)
    local x0, v0 = bent(body, 0.4), ds.randn({body.n, 3}, 3) * 0.1
    local pin0 = ds.gather(x0, body.pins)
    local w1, w2 = weights(body.n, 5), weights(body.n, 6)
    local inputs = {ds.tensor(1.0), ds.tensor(1.3), x0, v0, pin0}
    check("cloth step", body, inputs, function(x, v, pp)
      local x1, v1 = body:step(x, v, {pin_pos = pp})
      return ds.dot(x1, w1) + ds.dot(v1, w2) * 0.01
    end)
  end)

  it("a 3-step rollout with a moving pin: gradients w.r.t. stiffnesses, v0 and the pin velocity", function()
    local body = cloth(3)
    local x0 = bent(body, 0.3)
    local base = ds.gather(x0, body.pins)
    local w = weights(body.n, 8)
    local inputs = {ds.tensor(0.8), ds.tensor(1.5), ds.randn({body.n, 3}, 9) * 0.1, ds.tensor({{0.1, 0.2, 0}, {-0.1, 0.3, 0.05}})}
    check("cloth rollout", body, inputs, function(v, pv)
      local xs = body:rollout(3, x0, v, {pins = function(t) return base + pv * (t * 0.01) end})
      return ds.dot(xs[4], w)
    end)
  end)

  it("a static drape: gradients w.r.t. E, k_bend and the pinned positions", function()
    local body = cloth(4)
    -- settle once without the tape: one implicit step off the flat sheet (whose static Hessian is
    -- singular: a free rotation about the pinned edge), then a static solve
    local x = body:step(ds.copy(body.rest), ds.zeros{body.n, 3})
    local warm = body:static(x)
    local pins = ds.gather(warm, body.pins)
    local w = weights(body.n, 10)
    local inputs = {ds.tensor(1.0), ds.tensor(1.0), pins + 0.01}
    check("cloth static drape", body, inputs, function(pp)
      return ds.dot(body:static(warm, {pin_pos = pp}), w)
    end)
  end)
end)

describe("fem cloth: every shell parameter and the rest shape (f64 finite differences)", function()
  -- A curved rest shape (rest angles and lengths from it), per-element / per-hinge values.
  local function curved(N, membrane)
    local body0, sheet = cloth(N)
    local m, h = body0.tris:shape()[1], body0.hinges:shape()[1]
    local function make(rest, e, nu, t, rho, k)
      return fem.cloth{verts = sheet.verts, rest = rest, tris = sheet.tris, membrane = membrane, E = e * E0, nu = nu,
        thickness = t * 1e-3,
        areal_density = rho, k_bend = k * K0, pins = {sheet.index(0, 0), sheet.index(N, 0)}, dt = 1e-2, tol = 1e-12,
        max_iters = 100}
    end
    local values = {bent(body0, 0.2), ds.ones{m} + ds.randn({m}, 14) * 0.1, ds.tensor(0.3),
                    ds.ones{m} + ds.randn({m}, 15) * 0.1, ds.full({m}, 0.2), ds.ones{h} + ds.randn({h}, 16) * 0.1}
    return body0, make, values
  end

  for _, membrane in ipairs{"stvk", "neohookean"} do
  it(membrane .. " fem.residual: y, x, v, per-element E, nu, thickness, areal density, per-hinge k_bend, rest shape", function()
    local body0, make, values = curved(3, membrane)
    local n = body0.n
    local W = weights(n, 13)
    local inputs = {bent(body0, 0.5), bent(body0, 0.45), ds.randn({n, 3}, 12) * 0.1}
    for _, v in ipairs(values) do inputs[#inputs + 1] = v end
    local ok, rep = ds.gradcheck(function(y, x, v, rest, e, nu, t, rho, k)
      return ds.dot(make(rest, e, nu, t, rho, k):residual(y, x, v), W)
    end, inputs, {rtol = 1e-5, atol = 1e-9})
    report("cloth residual (" .. membrane .. ")", rep, inputs)
    assert.is_true(ok, rep.message)
  end)
  end

  it("one implicit step (Neo-Hookean membrane): the rest shape, nu, thickness and areal density", function()
    local body0, make, values = curved(3, "neohookean")
    local x0, v0 = bent(body0, 0.35), ds.randn({body0.n, 3}, 17) * 0.1
    local W = weights(body0.n, 18)
    local e, k = values[2], values[6]
    local inputs = {values[1], values[3], values[4], values[5]}
    local ok, rep = ds.gradcheck(function(rest, nu, t, rho)
      local x1, v1 = make(rest, e, nu, t, rho, k):step(x0, v0)
      return ds.dot(x1, W) + 0.01 * ds.dot(v1, W)
    end, inputs, {rtol = 1e-5, atol = 1e-9})
    report("cloth step (rest, nu, thickness, density)", rep, inputs)
    assert.is_true(ok, rep.message)
  end)
end)

describe("fem cloth physics", function()
  it("a free cloth's momentum changes by exactly h m g per implicit step (internal forces sum to zero)", function()
    local body = cloth(4, {pins = false})
    local x0, v0 = bent(body, 0.5), ds.randn({body.n, 3}, 4) * 0.2
    local _, v1 = body:step(x0, v0)
    local m = body:masses() -- lumped: areal density x rest area / 3 per triangle corner
    local p0, p1, mt = {0, 0, 0}, {0, 0, 0}, 0
    local V0, V1 = v0:totable(), v1:totable()
    for i = 1, body.n do
      mt = mt + m[i]
      for d = 1, 3 do p0[d], p1[d] = p0[d] + m[i] * V0[i][d], p1[d] + m[i] * V1[i][d] end
    end
    assert.is_true(math.abs(mt - 0.05) < 1e-12)
    local g = {0, -9.81, 0}
    for d = 1, 3 do
      assert.is_true(math.abs(p1[d] - p0[d] - 1e-2 * mt * g[d]) < 1e-9, string.format("momentum along %d: change %.10g, h m g %.10g", d, p1[d] - p0[d], 1e-2 * mt * g[d]))
    end
  end)

  it("a drape pinned at two mirror-image corners is mirror-symmetric", function()
    local body = cloth(6)
    local x = body:step(ds.copy(body.rest), ds.zeros{body.n, 3})
    local y = body:static(x):totable()
    local N, err, sag = 6, 0, 0
    for i = 0, N do
      for j = 0, N do
        local p, q = y[i * (N + 1) + j + 1], y[(N - i) * (N + 1) + j + 1]
        err = math.max(err, math.abs(p[1] - (0.5 - q[1])), math.abs(p[2] - q[2]), math.abs(p[3] - q[3]))
        sag = math.min(sag, p[2])
      end
    end
    assert.is_true(sag < -0.2, "the cloth hangs down (lowest y " .. sag .. ")")
    assert.is_true(err < 1e-9, "mirror asymmetry " .. err)
  end)
end)
