-- rigid2d discs: float64 finite-difference checks of disc_step and disc_rollout
-- (away from contact-set changes), the restitution law of a two-disc collision,
-- the broad phase equal to the O(n^2) reference loop, and bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local rigid2d = ds.plugin("rigid2d")

-- Three discs that collide during the step (predicted overlap, approaching),
-- unequal masses and radii, plus a far one that does not.
local function cluster(reference)
  return rigid2d.discs{
    x = {{0.30, 0.50}, {0.355, 0.515}, {0.33, 0.448}, {0.8, 0.8}},
    v = {{1.2, 0.1}, {-0.7, 0.2}, {0.3, 1.1}, {0.1, 0}},
    radius = {0.03, 0.025, 0.028, 0.03}, mass = {1, 2, 0.7, 1}, restitution = 0.8, dt = 3e-3,
    reference = reference,
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

describe("rigid2d discs: gradients (float64 central differences)", function()
  for _, ref in ipairs{false, true} do
    it("disc_step in contact, every input (x, v, radius, mass, restitution), reference = " .. tostring(ref), function()
      local s = cluster(ref)
      local args = s:args{x = s.x0, v = s.v0, x_out = ds.empty{4, 2}, v_out = ds.empty{4, 2}}
      args.restitution = ds.tensor(0.8)
      local ok, rep = ds.gradcheck_kernel("rigid2d.disc_step", positional("rigid2d.disc_step", args), s.params,
                                          {eps = 1e-7, rtol = 1e-5, atol = 1e-8})
      assert(ok, rep.message)
      assert.is_true(rep.checked >= 20, "checked " .. tostring(rep.checked))
      print(string.format("disc_step ref=%s: %d checked, max abs err %.2e, max rel err %.2e", tostring(ref), rep.checked, rep.max_abs_err, rep.max_rel_err))
    end)
  end
  it("disc_rollout over 40 steps through a collision", function()
    local s = cluster(false)
    local args = s:args{x0 = s.x0, v0 = s.v0, xs = ds.empty{41, 4, 2}, vs = ds.empty{41, 4, 2}}
    args.restitution = ds.tensor(0.8)
    local ok, rep = ds.gradcheck_kernel("rigid2d.disc_rollout", positional("rigid2d.disc_rollout", args),
                                        {dt = 3e-3, steps = 40, reference = 0, allow_overlap = 0}, {eps = 1e-7, rtol = 1e-5, atol = 1e-8})
    assert(ok, rep.message)
  end)
  it("a short billiards rollout: d loss / d cue state by gradcheck", function()
    local scene = require("scenes.billiards")
    local sys = rigid2d.discs(scene.discs())
    local rest = ds.slice_rows(sys.x0, 2, sys.n - 1)
    local ok, rep = ds.gradcheck(function(cx, cv)
      local x0 = ds.concat{ds.reshape(cx, {1, 2}), rest}
      local v0 = ds.concat{ds.reshape(cv, {1, 2}), ds.zeros{sys.n - 1, 2}}
      local xs = sys:rollout(150, {x0 = x0, v0 = v0})
      local a, b = rigid2d.select(xs, -1, sys.n, 1), rigid2d.select(xs, -1, sys.n, 2)
      return ds.square(a - 0.9) + ds.square(b - 0.75) + ds.square(rigid2d.select(xs, -1, 2, 1))
    end, {ds.tensor{0.4, 0.5}, ds.tensor{1.0, 0.02}}, {eps = 1e-7, rtol = 1e-5, atol = 1e-9})
    assert(ok, rep.message)
  end)
end)

describe("rigid2d discs: physics", function()
  it("a frictionless two-disc collision keeps momentum and loses the restitution law's energy", function()
    local m1, m2, e = 1.0, 2.5, 0.6
    local s = rigid2d.discs{x = {{0.3, 0.5}, {0.5, 0.53}}, v = {{1, 0}, {-0.5, 0}}, radius = {0.05, 0.04},
                            mass = {m1, m2}, restitution = e, dt = 1e-3}
    local xs, vs = s:rollout(300)
    local v0, v1 = vs:totable()[1], vs:totable()[301]
    local x1 = xs:totable()[301]
    for d = 1, 2 do
      local p0 = m1 * v0[1][d] + m2 * v0[2][d]
      local p1 = m1 * v1[1][d] + m2 * v1[2][d]
      assert.is_true(math.abs(p1 - p0) < 1e-12, "momentum " .. d .. ": " .. p0 .. " -> " .. p1)
    end
    -- the contact normal at the collision: the line of centres when they touched;
    -- the normal relative velocity reverses with factor e, the tangential stays
    local n = {x1[1][1] - x1[2][1], x1[1][2] - x1[2][2]}
    -- after the collision the discs move apart along the normal at contact time:
    -- find it from the velocity change of disc 1 (impulse is along the normal)
    local dv = {v1[1][1] - v0[1][1], v1[1][2] - v0[1][2]}
    local l = math.sqrt(dv[1] ^ 2 + dv[2] ^ 2)
    n = {dv[1] / l, dv[2] / l}
    local function dot(a, b) return a[1] * b[1] + a[2] * b[2] end
    local rel0 = {v0[1][1] - v0[2][1], v0[1][2] - v0[2][2]}
    local rel1 = {v1[1][1] - v1[2][1], v1[1][2] - v1[2][2]}
    local before, after = dot(rel0, n), dot(rel1, n)
    assert.is_true(before < 0)
    assert.is_true(math.abs(after / before + e) < 1e-4, "restitution " .. (-after / before))
    local t = {-n[2], n[1]}
    assert.is_true(math.abs(dot(rel1, t) - dot(rel0, t)) < 1e-4 * math.abs(before))
    local function ke(v) return 0.5 * m1 * (v[1][1] ^ 2 + v[1][2] ^ 2) + 0.5 * m2 * (v[2][1] ^ 2 + v[2][2] ^ 2) end
    local mu = m1 * m2 / (m1 + m2)
    local lost = ke(v0) - ke(v1)
    local law = 0.5 * mu * (1 - e * e) * before ^ 2
    assert.is_true(math.abs(lost - law) < 1e-4 * law, string.format("energy lost %.8g, law %.8g", lost, law))
    -- and they no longer overlap once apart
    local d = math.sqrt((x1[1][1] - x1[2][1]) ^ 2 + (x1[1][2] - x1[2][2]) ^ 2)
    assert.is_true(d > 0.09)
  end)

  it("the broad phase gives the O(n^2) reference loop's results bit for bit (200 discs)", function()
    local x, v = {}, {}
    local k = 0
    for i = 0, 19 do
      for j = 0, 9 do
        k = k + 1
        x[k] = {0.05 + 0.045 * i, 0.05 + 0.045 * j + 0.01 * (i % 2)}
        v[k] = {math.sin(7 * k), math.cos(3 * k)}
      end
    end
    local a = rigid2d.discs{x = x, v = v, radius = 0.02, restitution = 0.9, dt = 2e-3}
    local b = rigid2d.discs{x = x, v = v, radius = 0.02, restitution = 0.9, dt = 2e-3, reference = true}
    local xa, va = a:rollout(300)
    local xb, vb = b:rollout(300)
    assert.are.same(xb:totable(), xa:totable())
    assert.are.same(vb:totable(), va:totable())
  end)
end)

describe("rigid2d discs: bad input", function()
  local function err_of(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    return tostring(e)
  end
  it("overlapping discs at the start", function()
    local s = rigid2d.discs{x = {{0.3, 0.5}, {0.34, 0.5}}, radius = 0.03}
    local e = err_of(s.rollout, s, 5)
    assert.truthy(e:find("rigid2d.disc_rollout", 1, true) and e:find("'x0'", 1, true) and e:find("overlap", 1, true), e)
  end)
  it("zero or negative mass or radius", function()
    local s = rigid2d.discs{x = {{0.3, 0.5}, {0.5, 0.5}}, mass = {1, 0}}
    local e = err_of(s.rollout, s, 5)
    assert.truthy(e:find("rigid2d.disc_rollout", 1, true) and e:find("'mass'", 1, true), e)
    s = rigid2d.discs{x = {{0.3, 0.5}, {0.5, 0.5}}, radius = {0.03, -0.01}}
    e = err_of(s.step, s, s.x0, s.v0)
    assert.truthy(e:find("rigid2d.disc_step", 1, true) and e:find("'radius'", 1, true), e)
  end)
  it("NaN states and a bad restitution", function()
    local s = rigid2d.discs{x = {{0.3, 0.5}, {0.5, 0.5}}}
    local e = err_of(s.rollout, s, 5, {v0 = ds.tensor{{0 / 0, 0}, {0, 0}}})
    assert.truthy(e:find("'v0'", 1, true) and e:find("non-finite", 1, true), e)
    s.restitution = 1.5
    e = err_of(s.rollout, s, 5)
    assert.truthy(e:find("'restitution'", 1, true), e)
  end)
  it("wrong shapes name the argument", function()
    local s = rigid2d.discs{x = {{0.3, 0.5}, {0.5, 0.5}}}
    local e = err_of(s.rollout, s, 5, {v0 = ds.zeros{3, 2}})
    assert.truthy(e:find("'v0'", 1, true), e)
  end)
end)
