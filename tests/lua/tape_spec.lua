-- The tape from Lua: checkpointing gives the same gradients with less memory,
-- stale inputs are refused, and runs are bitwise reproducible.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local ex = ds.plugin("example")

-- A toy rollout: n steps of x <- example.step(tanh(x) * w, v); loss = |x|^2 + sum v
local function rollout(x0, v0, w, n, seg, tape)
  local function steps(x, v, k)
    for _ = 1, k do x, v = ex.step(ds.tanh(x) * w, v, 0.01, -1) end
    return x, v
  end
  return tape:record(function()
    local x, v = x0, v0
    for _ = 1, n / seg do
      if seg > 1 then x, v = tape:checkpoint(steps, x, v, seg) else x, v = steps(x, v, 1) end
    end
    return ds.sum(ds.square(x)) + ds.sum(v)
  end)
end

local function grads_and_peak(seg, n)
  local x0 = ds.randn({2000}, 1):requires_grad()
  local v0 = ds.randn({2000}, 2):requires_grad()
  local w = ds.full({2000}, 1.01):requires_grad()
  collectgarbage("collect")
  ds.reset_peak_memory()
  local tape = ds.tape()
  local loss = rollout(x0, v0, w, n, seg, tape)
  tape:backward(loss)
  return loss:item(), x0.grad:tolist(), w.grad:tolist(), ds.memory().peak
end

describe("tape", function()
  it("checkpointed rollouts give the same gradients with lower peak memory", function()
    local l1, gx1, gw1, peak1 = grads_and_peak(1, 1000)
    local l2, gx2, gw2, peak2 = grads_and_peak(25, 1000)
    assert.are.equal(l1, l2)
    for i = 1, #gx1, 97 do
      assert.is_true(math.abs(gx1[i] - gx2[i]) <= 1e-12 * (1 + math.abs(gx1[i])))
      assert.is_true(math.abs(gw1[i] - gw2[i]) <= 1e-12 * (1 + math.abs(gw1[i])))
    end
    assert.is_true(peak2 < peak1 / 3, string.format("peak %d vs %d", peak2, peak1))
  end)

  it("nested checkpoints give the same gradients", function()
    local x0 = ds.randn({50}, 3):requires_grad()
    local function inner(x) for _ = 1, 5 do x = ds.sin(x) * 1.1 end return x end
    local function run(nested)
      x0:zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local x = x0
        for _ = 1, 4 do
          if nested then
            x = tape:checkpoint(function(y) return tape:checkpoint(inner, tape:checkpoint(inner, y)) end, x)
          else
            x = inner(inner(x))
          end
        end
        return ds.sum(x)
      end)
      tape:backward(loss)
      return x0.grad:tolist()
    end
    local a, b = run(false), run(true)
    for i = 1, #a do assert.are.equal(a[i], b[i]) end
  end)

  it("refuses backward when a recorded input was overwritten", function()
    local x = ds.tensor{1, 2, 3}:requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(x * x) end)
    x:set(1, 5)
    local ok, err = pcall(tape.backward, tape, loss)
    assert.is_false(ok)
    assert.matches("core.mul", err, 1, true)
    assert.matches("overwritten", err, 1, true)
  end)

  it("refuses a checkpoint whose captured tensor changed before backward", function()
    local x = ds.tensor{0.1, 0.2}:requires_grad()
    local w = ds.tensor{1, 1}:requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local y = tape:checkpoint(function(z) return ds.tanh(z * w) end, x)
      return ds.sum(y)
    end)
    w:set(1, 2)
    local ok, err = pcall(tape.backward, tape, loss)
    assert.is_false(ok)
    assert.matches("checkpoint segment", err, 1, true)
  end)

  it("leaf grads accumulate until zeroed; intermediates keep none", function()
    local x = ds.tensor{1, 2}:requires_grad()
    local tape = ds.tape()
    local mid
    for _ = 1, 2 do
      local loss = tape:record(function() mid = x * 3; return ds.sum(mid) end)
      tape:backward(loss)
    end
    assert.are.same({6, 6}, x.grad:totable())
    assert.is_nil(mid.grad)
    x:zero_grad()
    assert.are.same({0, 0}, x.grad:totable())
  end)

  it("training does not grow memory from one iteration to the next", function()
    local net = ds.nn.mlp{sizes = {4, 16, 2}, act = "tanh", seed = 3}
    local opt = ds.optim.adam(net:parameters(), {lr = 1e-3})
    local x0 = ds.randn({32, 2}, 4)
    local tape = ds.tape()
    local function live_after(iters)
      for _ = 1, iters do
        opt:zero_grad()
        local loss = tape:record(function()
          local x, v = x0, ds.zeros{32, 2}
          for _ = 1, 20 do
            local a = net:forward(ds.concat{ds.reshape(x, {32, 2}), v}:reshape({32, 4}))
            x, v = ex.step(x, v + a * 0.01, 0.01, 0)
          end
          return ds.mean(ds.square(x))
        end)
        tape:backward(loss)
        opt:step()
      end
      collectgarbage("collect")
      collectgarbage("collect")
      return ds.memory().live
    end
    local after10 = live_after(10)
    local after60 = live_after(50)
    assert.are.equal(after10, after60)
  end)

  it("is bitwise reproducible", function()
    local function once()
      local net = ds.nn.mlp{sizes = {4, 16, 3}, act = "tanh", seed = 5}
      local x = ds.randn({8, 4}, 9)
      local tape = ds.tape()
      local loss = tape:record(function() return ds.mean(ds.square(net:forward(x))) end)
      tape:backward(loss)
      return loss:item(), net:parameters()[1].grad:tolist()
    end
    local l1, g1 = once()
    local l2, g2 = once()
    assert.are.equal(l1, l2)
    for i = 1, #g1 do assert.are.equal(g1[i], g2[i]) end
  end)

  it("records nothing that does not need a gradient, and frees the tape after backward", function()
    local x, y = ds.tensor{1, 2}, ds.tensor{3, 4}:requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() local a = x * x; return ds.sum(a * y) end)
    assert.are.equal(2, tape:size()) -- a*y and sum; x*x needs no gradient
    tape:backward(loss)
    assert.are.equal(0, tape:size())
    assert.are.same({1, 4}, y.grad:totable())
  end)
end)
