-- Float64 finite-difference checks of every wave kernel's adjoint, and the bad
-- inputs each must refuse with a clear message.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local wave = ds.plugin("wave")

local function check(name, args, params, eps)
  local ok, rep = ds.gradcheck_kernel(name, args, params, {max_elems = 200, rtol = 1e-6, atol = 1e-9, eps = eps})
  assert(ok, name .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 0)
  return rep
end

-- A non-square grid so that a swapped row/column index would show.
local H, W = 7, 9
local function field(seed) return ds.randn({H, W}, seed) end

describe("wave kernels: adjoints match central differences in f64", function()
  for _, bc in ipairs{0, 1} do
    for _, alpha in ipairs{0, 0.002} do
      local p = wave.params{n = 8, alpha = alpha, boundary = bc}
      local pl = {p.c, p.dt, p.dx, p.alpha, p.boundary}
      it(string.format("wave.step boundary=%d alpha=%g", bc, alpha), function()
        check("wave.step", {field(1), field(2), ds.zeros{H, W}}, pl)
      end)
      it(string.format("wave.step_src boundary=%d alpha=%g", bc, alpha), function()
        local pl6 = {pl[1], pl[2], pl[3], pl[4], pl[5], 3e8}
        check("wave.step_src", {field(1), field(2), field(3), ds.zeros{H, W}}, pl6)
      end)
      it(string.format("wave.start boundary=%d alpha=%g", bc, alpha), function()
        -- the kernel is linear, so a large eps loses nothing to truncation and keeps the
        -- small dt-sized velocity gradient clear of round-off
        check("wave.start", {field(4), field(5), ds.zeros{H, W}}, pl, 1e-2)
      end)
      it(string.format("wave.energy boundary=%d alpha=%g", bc, alpha), function()
        local a = field(6)
        local b = a + ds.randn({H, W}, 7, 0.1)
        check("wave.energy", {a, b, ds.zeros{}}, pl)
      end)
    end
  end
  it("wave.drops (positions, amplitudes, widths)", function()
    local drops = ds.tensor{{3.3, 4.1, 1.5, 1.7}, {1.2, 6.6, -0.7, 2.4}}
    check("wave.drops", {drops, ds.zeros{H, W}}, {})
  end)
  it("a 1-wide grid (edge paths only)", function()
    local p = wave.params{n = 8, boundary = 1}
    check("wave.step", {ds.randn({5, 1}, 1), ds.randn({5, 1}, 2), ds.zeros{5, 1}}, {p.c, p.dt, p.dx, 0, 1})
  end)
end)

describe("wave: whole rollouts", function()
  it("gradient of a 30-step rollout w.r.t. initial height and velocity (f64)", function()
    local p = wave.params{n = 12, alpha = 0.001}
    local u0, v0 = ds.randn({12, 12}, 11, 0.1), ds.randn({12, 12}, 12, 0.1 / p.dt)
    local target = ds.randn({12, 12}, 13, 0.1)
    local ok, rep = ds.gradcheck(function(u, v)
      local uT = wave.rollout(u, p, {steps = 30, v0 = v})
      return ds.sum(ds.square(uT - target))
    end, {u0, v0}, {max_elems = 40})
    assert(ok, rep.message)
  end)
  it("reference start (level 1 = 0) and sources", function()
    local p = wave.params{n = 10}
    local u0, src = ds.randn({10, 10}, 21, 0.1), ds.randn({10, 10}, 22)
    local ok, rep = ds.gradcheck(function(u, s)
      local uT = wave.rollout(u, p, {steps = 20, reference = true, src = s, gain = 1e7})
      return ds.sum(ds.square(uT))
    end, {u0, src}, {max_elems = 30})
    assert(ok, rep.message)
  end)
  it("checkpointed rollout gives the same gradient as the plain one", function()
    local p = wave.params{n = 16}
    local u0 = ds.randn({16, 16}, 31, 0.1)
    local target = ds.randn({16, 16}, 32, 0.1)
    local function grad(seg)
      local x = u0:detach():requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local uT = wave.rollout(x, p, {steps = 40, tape = tape, checkpoint = seg})
        return ds.sum(ds.square(uT - target))
      end)
      tape:backward(loss)
      return x.grad:tolist(), loss:item()
    end
    local g1, l1 = grad(nil)
    local g2, l2 = grad(7)
    assert.are.equal(l1, l2)
    for i = 1, #g1 do assert.are.equal(g1[i], g2[i]) end
  end)
end)

describe("wave: optimisable sources", function()
  it("a drop's position, amplitude and width are recovered from the wave it makes", function()
    local p = wave.params{n = 48}
    local function final(d) return wave.rollout(wave.drops(d, {48, 48}), p, {steps = 40}) end
    local target = ds.no_grad(final, ds.tensor{{20, 26, 0.5, 3}})
    local d = ds.tensor{{17, 22, 0.3, 2.5}}:requires_grad()
    local o = ds.optim.adam({d}, {lr = 0.1})
    for _ = 1, 120 do
      o:zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function() return ds.sum(ds.square(final(d) - target)) end)
      tape:backward(loss)
      o:step()
    end
    local got = d:tolist()
    assert.is_true(math.abs(got[1] - 20) < 0.05 and math.abs(got[2] - 26) < 0.05, "position " .. got[1] .. ", " .. got[2])
    assert.is_true(math.abs(got[3] - 0.5) < 0.01 and math.abs(got[4] - 3) < 0.05, "amplitude/width " .. got[3] .. ", " .. got[4])
  end)
end)

describe("wave: bad input", function()
  local p = wave.params{n = 8}
  it("refuses a time step past the CFL limit, naming kernel and param", function()
    local bad = wave.params{n = 8, dt = 1.01 * wave.dt_max(340, 1 / 8)}
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, bad)
    assert.is_false(ok)
    assert.matches("wave.step", err, 1, true)
    assert.matches("'dt'", err, 1, true)
    assert.matches("CFL", err, 1, true)
    -- exactly at the limit is allowed; damping lowers the limit
    assert.has_no.errors(function() wave.step(ds.zeros{8, 8}, ds.zeros{8, 8}, wave.params{n = 8, dt = wave.dt_max(340, 1 / 8)}) end)
    local damped = wave.params{n = 8, alpha = 0.01, dt = wave.dt_max(340, 1 / 8)}
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, damped)
    assert.is_false(ok)
    assert.matches("CFL", err, 1, true)
  end)
  it("refuses mismatched shapes, naming the argument", function()
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 7}, p)
    assert.is_false(ok)
    assert.matches("wave.step", err, 1, true)
    assert.matches("'u' (#2)", err, 1, true)
    ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, p, ds.zeros{4, 4})
    assert.is_false(ok)
    assert.matches("'src'", err, 1, true)
    ok, err = pcall(wave.step, ds.zeros{64}, ds.zeros{64}, p)
    assert.is_false(ok)
    assert.matches("dims", err, 1, true)
  end)
  it("refuses bad physical parameters", function()
    for _, bad in ipairs{{c = -1}, {dx = 0}, {alpha = -1}} do
      local q = wave.params{n = 8}
      for k, v in pairs(bad) do q[k] = v end
      local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, q)
      assert.is_false(ok)
      assert.matches("wave.step", err, 1, true)
    end
    local q = wave.params{n = 8}
    q.boundary = 3
    local ok, err = pcall(wave.step, ds.zeros{8, 8}, ds.zeros{8, 8}, q)
    assert.is_false(ok)
    assert.matches("boundary", err, 1, true)
    assert.has_error(function() wave.params{boundary = "periodic"} end)
  end)
  it("refuses drops with non-positive width", function()
    local ok, err = pcall(wave.drops, ds.tensor{{1, 1, 1, 0}}, {4, 4})
    assert.is_false(ok)
    assert.matches("wave.drops", err, 1, true)
    assert.matches("width", err, 1, true)
  end)
end)
