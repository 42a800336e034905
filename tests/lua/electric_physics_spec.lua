-- electric physics and bad input: a charge between two equal electrodes stays
-- at the midpoint (and drifts back to it, or away, by the sign of the charges);
-- Coulomb's law against a hand computation; the clamp; clear errors.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local el = ds.plugin("electric")

describe("electric physics", function()
  it("a charge at the midpoint of two equal electrodes stays there for 500 steps", function()
    local e = ds.tensor{{0.2, 0.5}, {0.8, 0.5}}
    for _, q in ipairs{1, -1, 0.3} do
      local x, v = ds.tensor{0.5, 0.5}, ds.tensor{0, 0}
      local g = ds.tensor{q, q}
      for _ = 1, 500 do x, v = el.step(x, v, g, {electrodes = e}) end
      local xa, va = x:totable(), v:totable()
      assert.is_true(math.abs(xa[1] - 0.5) < 1e-14 and math.abs(xa[2] - 0.5) < 1e-14, "moved to " .. xa[1] .. ", " .. xa[2])
      assert.is_true(math.abs(va[1]) < 1e-14 and math.abs(va[2]) < 1e-14)
    end
  end)
  it("displaced along the axis: repelled from the nearer electrode for like charges (F = K q r/|r|^3)", function()
    local e = ds.tensor{{0.2, 0.5}, {0.8, 0.5}}
    local _, v = el.step(ds.tensor{0.55, 0.5}, ds.tensor{0, 0}, ds.tensor{1, 1}, {electrodes = e, K = 1, damping = 0, dt = 0.01})
    -- F = 1/0.35^2 - 1/0.25^2 (pointing to -x: towards the midpoint)
    local F = 1 / 0.35 ^ 2 - 1 / 0.25 ^ 2
    assert.is_true(math.abs(v:totable()[1] - 0.01 * F) < 1e-12)
    assert.are.equal(0, v:totable()[2])
  end)
  it("inside the clamp the force is K q r / rmin^3 (finite on the electrode)", function()
    local e = ds.tensor{{0.5, 0.5}}
    local _, v = el.step(ds.tensor{0.5, 0.5}, ds.tensor{0, 0}, ds.tensor{1}, {electrodes = e, K = 1, damping = 0})
    assert.are.same({0, 0}, v:totable())
    local _, v2 = el.step(ds.tensor{0.53, 0.5}, ds.tensor{0, 0}, ds.tensor{1}, {electrodes = e, K = 1, damping = 0, dt = 1})
    assert.is_true(math.abs(v2:totable()[1] - 0.03 / 0.1 ^ 3) < 1e-9)
  end)
  it("damping: v decays by exp(-damping dt) without charges", function()
    local _, v = el.step(ds.tensor{0.5, 0.5}, ds.tensor{1, 0}, ds.zeros{8}, {damping = 0.2, dt = 0.03})
    assert.is_true(math.abs(v:totable()[1] - math.exp(-0.006)) < 1e-15)
  end)
end)

describe("electric bad input", function()
  local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
  it("names the kernel and the argument", function()
    local x, v = ds.tensor{0.3, 0.6}, ds.tensor{0, 0}
    assert.matches("electric.step.*charges", err(function() el.step(x, v, ds.zeros{7}) end))
    assert.matches("electric.step.*electrodes", err(function() el.step(x, v, ds.zeros{3}, {electrodes = ds.zeros{3, 3}}) end))
    assert.matches("electric.step.*'x'.*non%-finite", err(function() el.step(ds.tensor{0 / 0, 0.5}, v, ds.zeros{8}) end))
    assert.matches("electric.step.*damping", err(function() el.step(x, v, ds.zeros{8}, {damping = -1}) end))
    assert.matches("electric.step.*dt", err(function() el.step(x, v, ds.zeros{8}, {dt = 0}) end))
    assert.matches("electric.step.*unknown option", err(function() el.step(x, v, ds.zeros{8}, {dT = 0.1}) end))
    local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}}, 10, 9)
    local w = {ds.zeros{8, 4}, ds.zeros{4}, ds.zeros{4, 7}, ds.zeros{7}}
    assert.matches("electric.nn_rollout.*spec.*one per electrode", err(function() el.nn_rollout(w, x, v, goal, goal_v) end))
    w = {ds.zeros{8, 4}, ds.zeros{4}, ds.zeros{4, 8}, ds.tensor{0, 0, 0, 0 / 0, 0, 0, 0, 0}}
    assert.matches("electric.nn_rollout.*'w'.*non%-finite", err(function() el.nn_rollout(w, x, v, goal, goal_v) end))
    w[4] = ds.zeros{8}
    assert.matches("electric.nn_rollout.*goal_v", err(function() el.nn_rollout(w, x, v, goal, ds.zeros{8, 2}) end))
    assert.matches("electric.goal_path.*T", err(function() el.goal_path({{0.3, 0.4}, {0.6, 0.7}}, 10, 10) end))
  end)
end)
