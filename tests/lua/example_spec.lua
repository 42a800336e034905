-- The example plugin: its adjoint is right, and it integrates a projectile
-- exactly as semi-implicit Euler should.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local ex = ds.plugin("example")

describe("example plugin", function()
  it("adjoint matches central differences", function()
    local ok, rep = ds.gradcheck_kernel("example.step", {ds.randn({5}, 1), ds.randn({5}, 2), ds.empty{5}, ds.empty{5}},
                                        {0.1, -9.8})
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

  it("gradient through a rollout: dx_n/dv0 = n dt", function()
    local v0 = ds.tensor{2}:requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local x, v = ds.tensor{0}, v0
      for _ = 1, 50 do x, v = ex.step(x, v, 0.01, -9.8) end
      return ds.sum(x)
    end)
    tape:backward(loss)
    assert.is_true(math.abs(v0.grad:item() - 0.5) < 1e-12)
  end)

  it("checks its params", function()
    local ok, err = pcall(ex.step, ds.tensor{0}, ds.tensor{0}, -1, 0)
    assert.is_false(ok)
    assert.matches("example.step: param 'dt' must be positive", err, 1, true)
    ok, err = pcall(ex.step, ds.tensor{0, 1}, ds.tensor{0}, 0.1, 0)
    assert.is_false(ok)
    assert.matches("argument 'v' (#2) has shape {1}, expected {2}", err, 1, true)
  end)
end)
