-- Differentiable buoyancy (f64): the force kernel's coefficient is a tensor
-- that gets its gradient, checked against central differences of whole short
-- rollouts whose loss depends on the velocity; plain numbers keep working and
-- give the same numbers; the inflow mask stays non-differentiable.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local smoke = ds.plugin("smoke")

local function fails(pattern, fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  assert.is_truthy(tostring(err):find(pattern), "message was: " .. tostring(err))
end

-- A 4-step buoyant rollout; the loss reads the final velocity and smoke.
local function rollout_loss(shape, buoyancy, sim)
  local nd = #shape
  local s0 = smoke.blob(shape, {shape[1] * 0.4, shape[2] * 0.5, (shape[3] or 1) * 0.5}, shape[1] / 3)
  local v = {}
  for d = 1, nd do v[d] = ds.randn(shape, 10 + d, 0.3) end
  local st = {v = v, s = s0}
  for _ = 1, 4 do
    st.v = smoke.force(st.v, st.s, nil, {dt = 0.5, buoyancy = buoyancy})
    st = smoke.step(st, sim)
  end
  local loss = ds.sum(ds.square(st.s)) * 0.1
  for d = 1, nd do loss = loss + ds.sum(ds.square(st.v[d])) + ds.dot(st.v[d], ds.randn(shape, 20 + d)) end
  return loss
end

local function check(fn, inputs)
  local ok, rep = ds.gradcheck(fn, inputs, {eps = 1e-6, rtol = 1e-6, atol = 1e-9})
  assert(ok, rep.message)
  assert.is_true(rep.checked > 0)
  io.stderr:write(string.format("fd buoyancy checked %d max_abs_err %.2e max_rel_err %.2e\n", rep.checked,
    rep.max_abs_err, rep.max_rel_err))
end

describe("smoke buoyancy is a differentiable parameter", function()
  it("0-dim coefficients per component (2D, periodic, Jacobi fused step) match central differences", function()
    local bx, by = ds.tensor(-0.7):requires_grad(), ds.tensor(0.2):requires_grad()
    check(function() return rollout_loss({12, 10}, {bx, by}, {iters = 6}) end, {bx, by})
  end)
  it("one {D} coefficient vector (3D, walls, CG) matches central differences", function()
    local b = ds.tensor({-0.4, 0.1, 0.25}):requires_grad()
    check(function() return rollout_loss({8, 6, 7}, b, {bc = "wall", solver = "cg", tol = 1e-12}) end, {b})
  end)
  it("the gradient flows through a tape: one backward fills b.grad", function()
    local b = ds.tensor({-0.5, 0.3}):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return rollout_loss({10, 10}, b, {iters = 4}) end)
    tape:backward(loss)
    local g = b.grad:totable()
    assert.is_true(math.abs(g[1]) > 0 and math.abs(g[2]) > 0)
  end)
  it("plain numbers and a mixed table keep working, with the numbers of the tensor form", function()
    local a = ds.no_grad(rollout_loss, {10, 10}, {-0.5, 0.3}, {iters = 4}):item()
    local b = ds.no_grad(rollout_loss, {10, 10}, ds.tensor({-0.5, 0.3}), {iters = 4}):item()
    local c = ds.no_grad(rollout_loss, {10, 10}, {ds.tensor(-0.5), 0.3}, {iters = 4}):item()
    assert.are.equal(a, b)
    assert.are.equal(a, c)
  end)
  it("a missing component means no buoyancy along it", function()
    local s = ds.ones{6, 6}
    local v = smoke.force({ds.zeros{6, 6}, ds.zeros{6, 6}}, s, nil, {dt = 1, buoyancy = {2}})
    assert.are.equal(2, v[1]:totable()[3][3])
    assert.are.equal(0, v[2]:totable()[3][3])
  end)
  it("a bad coefficient is an error naming the kernel and the argument", function()
    local z = ds.zeros{6, 6}
    fails("smoke%.force: argument 'buoyancy' %(#4%) must be a 0%-dim tensor", function()
      smoke.force({z, z}, z, nil, {buoyancy = ds.tensor({1, 2, 3})}) end)
    fails("smoke%.force: buoyancy%[2%] must be a number or a tensor", function()
      smoke.force({z, z}, z, nil, {buoyancy = {1, "up"}}) end)
  end)
  it("the inflow mask is not differentiable: a mask that requires grad is refused while recording", function()
    local s, value, mask = ds.zeros{6, 6}:requires_grad(), ds.ones{6, 6}, ds.ones{6, 6}:requires_grad()
    local tape = ds.tape()
    fails("smoke%.inflow: argument 'mask' %(#2%) requires grad", function()
      tape:record(function() return ds.sum(smoke.inflow(s, mask, value)) end)
    end)
    tape:clear()
  end)
end)
