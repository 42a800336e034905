-- electric: float64 central-difference checks of electric.step (outside and
-- inside the |r| clamp, every input including the electrodes, K and damping)
-- and of a short fused rollout; the fused rollout against the same rollout
-- composed from electric.step and ds.kit.mlp (bit for bit); the t-1 semantics.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local el = ds.plugin("electric")

local STRICT = {rtol = 1e-6, atol = 1e-9, max_elems = 200}
local function step_args(x)
  return {x, ds.tensor{0.1, -0.2}, ds.tensor{0.5, -0.3, 0.2, 0.9, -0.7, 0.1, 0.4, -0.2}, el.electrodes(),
          ds.tensor(1e-3), ds.tensor(0.2), ds.empty{2}, ds.empty{2}}
end

describe("electric.step adjoint (f64 central differences)", function()
  it("outside the clamp: x, v, charges, electrodes, K, damping", function()
    local ok, rep = ds.gradcheck_kernel("electric.step", step_args(ds.tensor{0.3, 0.6}), {dt = 0.03, rmin = 0.1}, STRICT)
    assert(ok, rep.message)
    print(string.format("electric.step: max abs err %.2e over %d elements", rep.max_abs_err, rep.checked))
  end)
  it("inside the clamp (|r| < rmin of electrode 1)", function()
    local ok, rep = ds.gradcheck_kernel("electric.step", step_args(ds.tensor{0.13, 0.12}), {dt = 0.03, rmin = 0.1}, STRICT)
    assert(ok, rep.message)
  end)
end)

local function net(seed, H)
  return {ds.rand({8, H}, seed, -0.15, 0.15), ds.rand({H}, seed + 1, -0.1, 0.1),
          ds.rand({H, 8}, seed + 2, -0.15, 0.15), ds.rand({8}, seed + 3, -0.1, 0.1)}
end

describe("electric.nn_rollout adjoint (f64 central differences)", function()
  it("12 steps: weights, x0, v0, K, damping, electrodes, goal, goal_v, every output", function()
    local w = net(1, 16)
    local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}, {0.5, 0.2}}, 8, 12)
    local ok, rep = ds.gradcheck(function(W1, b1, W2, b2, x0, v0, K, damping, e, g, gv)
      -- K x 100: forces big enough that the state depends visibly on everything
      local xs, vs, hid, ch = el.nn_rollout({W1, b1, W2, b2}, x0, v0, g, gv, {K = K * 100, damping = damping, electrodes = e})
      return ds.sum(ds.square(xs)) + ds.sum(vs) + ds.sum(hid) * 0.1 + ds.sum(ch) * 0.3
    end, {w[1], w[2], w[3], w[4], ds.tensor{0.3, 0.4}, ds.tensor{0.1, 0.0}, ds.tensor(1e-3), ds.tensor(0.2),
          el.electrodes(), goal, goal_v}, STRICT)
    assert(ok, rep.message)
    print(string.format("electric.nn_rollout: max abs err %.2e over %d elements", rep.max_abs_err, rep.checked))
  end)
  it("a flat weight tensor and a 3-layer sin network (the z slots recomputed)", function()
    local m = ds.nn.mlp{sizes = {8, 6, 5, 8}, act = "sin", seed = 3}
    local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}}, 10, 9)
    local ok, rep = ds.gradcheck(function(w)
      local xs = el.nn_rollout({layers = m.layers, parameters = function() return {w} end, act = m.act,
        out_act = m.out_act, act_name = m.act_name, out_act_name = m.out_act_name}, ds.tensor{0.3, 0.4},
        ds.tensor{0, 0}, goal, goal_v, {K = 0.1})
      return ds.sum(ds.square(xs))
    end, {ds.kit.flatten(m:parameters())}, STRICT)
    assert(ok, rep.message)
  end)
end)

describe("electric.nn_rollout semantics", function()
  it("equals electric.step + ds.kit.mlp composed in Lua, reading the state of step t-1, bit for bit", function()
    local w = net(7, 64)
    local T = 20
    local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}, {0.5, 0.2}}, 16, T)
    local x0, v0 = ds.tensor{0.35, 0.45}, ds.tensor{0.05, -0.02}
    local xs, vs, _, ch = el.nn_rollout(w, x0, v0, goal, goal_v)
    local spec = {sizes = {8, 64, 8}, acts = {"tanh", "tanh"}, w = ds.kit.flatten(w)}
    local x, v = x0, v0
    local G, GV = goal:totable(), goal_v:totable()
    local xt, vt, ct = xs:totable(), vs:totable(), ch:totable()
    for t = 1, T do
      local xa, va = x:totable(), v:totable()
      local input = ds.tensor{xa[1] - 0.5, xa[2] - 0.5, va[1], va[2], G[t][1] - 0.5, G[t][2] - 0.5,
                              GV[t][1] - 0.5, GV[t][2] - 0.5}
      local g = ds.kit.mlp(spec, input)
      x, v = el.step(x, v, g)
      local gg, xx, vv = g:totable(), x:totable(), v:totable()
      for i = 1, 8 do assert.are.equal(gg[i], ct[t][i]) end
      assert.are.same({xt[t + 1][1], xt[t + 1][2]}, xx)
      assert.are.same({vt[t + 1][1], vt[t + 1][2]}, vv)
    end
  end)
end)
