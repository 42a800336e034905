-- The example plugin: its adjoint is right for every input (positions,
-- velocities, the acceleration as a 0-dim tensor, the list of forces), it
-- integrates a projectile exactly as semi-implicit Euler should, and it keeps
-- per-context state and refuses bad input by name.
local ffi = require("ffi")
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local ex = ds.plugin("example")

describe("example plugin", function()
  it("adjoint matches central differences (x, v, accel, two forces)", function()
    local w1, w2 = ds.randn({5}, 11), ds.randn({5}, 12)
    local ok, rep = ds.gradcheck(function(x, v, a, f1, f2)
      local x1, v1 = ex.step(x, v, 0.1, a, {f1, f2})
      return ds.dot(x1, w1) + ds.dot(v1, w2)
    end, {ds.randn({5}, 1), ds.randn({5}, 2), ds.tensor(-9.8), ds.randn({5}, 3), ds.randn({5}, 4)},
      {rtol = 1e-7, atol = 1e-10})
    assert.is_true(ok, rep.message)
    print(string.format("fd example.step wrt x,v,accel,forces max_rel_err %.3g max_abs_err %.3g", rep.max_rel_err,
      rep.max_abs_err))
  end)

  it("the kernel's own check (ds.gradcheck_kernel) on the fixed slots", function()
    local ok, rep = ds.gradcheck_kernel("example.step",
      {ds.randn({5}, 1), ds.randn({5}, 2), ds.tensor(-9.8), ds.empty{5}, ds.empty{5}}, {dt = 0.1})
    assert.is_true(ok, rep.message)
  end)

  it("n steps reproduce the closed form of semi-implicit Euler", function()
    -- v_n = v0 + n dt a;  x_n = x0 + n dt v0 + dt^2 a n (n + 1) / 2
    local x, v = ds.tensor{0}, ds.tensor{2}
    local dt, a, n = 0.01, -9.8, 100
    for _ = 1, n do x, v = ex.step(x, v, dt, a) end
    assert.is_true(math.abs(v:item() - (2 + n * dt * a)) < 1e-12)
    assert.is_true(math.abs(x:item() - (n * dt * 2 + dt * dt * a * n * (n + 1) / 2)) < 1e-12)
  end)

  it("forces add to the acceleration: accel = 0 with a force -9.8 equals accel = -9.8", function()
    local x1, v1 = ex.step(ds.tensor{1, 2}, ds.tensor{3, 4}, 0.05, -9.8)
    local x2, v2 = ex.step(ds.tensor{1, 2}, ds.tensor{3, 4}, 0.05, 0, {ds.tensor{-4.9, -4.9}, ds.tensor{-4.9, -4.9}})
    assert.are.same(x1:tolist(), x2:tolist())
    assert.are.same(v1:tolist(), v2:tolist())
  end)

  it("gradient through a rollout: dx_n/dv0 = n dt and dx_n/daccel = dt^2 n (n + 1) / 2", function()
    local v0 = ds.tensor{2}:requires_grad()
    local g = ds.tensor(-9.8):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local x, v = ds.tensor{0}, v0
      for _ = 1, 50 do x, v = ex.step(x, v, 0.01, g) end
      return ds.sum(x)
    end)
    tape:backward(loss)
    assert.is_true(math.abs(v0.grad:item() - 0.5) < 1e-12)
    assert.is_true(math.abs(g.grad:item() - 1e-4 * 50 * 51 / 2) < 1e-12)
  end)

  it("per-context state: a long step is reported once per context", function()
    local seen = {}
    ds.set_log(function(_, msg) seen[#seen + 1] = msg end)
    for _ = 1, 3 do ex.step(ds.tensor{0}, ds.tensor{0}, 2, 0) end
    ds.set_log(nil)
    local n = 0
    for _, m in ipairs(seen) do if m:find("dt = 2 s is long", 1, true) then n = n + 1 end end
    assert.are.equal(1, n)
  end)

  it("checks its params and arguments by name", function()
    local ok, err = pcall(ex.step, ds.tensor{0}, ds.tensor{0}, -1, 0)
    assert.is_false(ok)
    assert.matches("example.step: param 'dt' must be positive", err, 1, true)
    ok, err = pcall(ex.step, ds.tensor{0, 1}, ds.tensor{0}, 0.1, 0)
    assert.is_false(ok)
    assert.matches("argument 'v' (#2) has shape {1}, expected {2}", err, 1, true)
    ok, err = pcall(ex.step, ds.tensor{0, 1}, ds.tensor{0, 1}, 0.1, 0, {ds.tensor{1, 2, 3}})
    assert.is_false(ok)
    assert.matches("argument 'forces' (#6) has shape {3}, expected {2}", err, 1, true)
    ok, err = pcall(ex.step, ds.tensor{0}, ds.tensor{0}, 0.1, 0 / 0)
    assert.is_false(ok)
    assert.matches("example.step: argument 'accel' must be finite", err, 1, true)
  end)

  it("the mock device's implementation is merged into the same kernel", function()
    local k = ds.kernel("example.step")
    assert.is_true(ds.C.ds_kernel_has_device(k.ptr, 2, 0) ~= 0) -- DS_MOCK forward
    assert.is_true(ds.C.ds_kernel_has_device(k.ptr, 0, 1) ~= 0) -- DS_CPU adjoint
  end)
end)
