-- Networks and optimizers: gradients of an MLP are right, and every optimizer
-- drives a known problem to its known minimum.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

describe("nn", function()
  it("mlp shapes, parameter count and gradient", function()
    local net = ds.nn.mlp{sizes = {5, 8, 3}, act = "tanh", out_act = "tanh", seed = 1}
    assert.are.equal(5 * 8 + 8 + 8 * 3 + 3, ds.nn.count(net:parameters()))
    assert.are.same({4, 3}, net:forward(ds.randn({4, 5}, 2)):shape())
    assert.are.same({3}, net:forward(ds.randn({5}, 2)):shape())
    local x = ds.randn({4, 5}, 3)
    local ps = net:parameters()
    local ok, rep = ds.gradcheck(function(W1, b1, W2, b2)
      return ds.sum(ds.square(net:forward(x)))
    end, ps)
    assert.is_true(ok, rep.message)
  end)

  it("relu mlp learns a linear map with adam", function()
    local net = ds.nn.mlp{sizes = {2, 16, 1}, act = "relu", seed = 4}
    local x = ds.randn({64, 2}, 5)
    local y = ds.matmul(x, ds.tensor{{0.5}, {-1.5}})
    local opt = ds.optim.adam(net:parameters(), {lr = 1e-2})
    local tape = ds.tape()
    local first, last
    for i = 1, 300 do
      opt:zero_grad()
      local loss = tape:record(function() return ds.mse(net:forward(x), y) end)
      tape:backward(loss)
      opt:step()
      if i == 1 then first = loss:item() end
      last = loss:item()
    end
    assert.is_true(last < first * 0.02, string.format("%g -> %g", first, last))
  end)
end)

-- f(x) = sum (x - c)^2 with minimum at c
local function quadratic(opt_fn, opts, iters)
  local c = ds.tensor{1, -2, 3}
  local x = ds.zeros{3}:requires_grad()
  local opt = opt_fn({x}, opts)
  local tape = ds.tape()
  local function closure()
    opt:zero_grad()
    local loss = tape:record(function() return ds.sum(ds.square(x - c)) end)
    tape:backward(loss)
    return loss
  end
  for _ = 1, iters do
    local l = closure()
    opt:step()
  end
  return x:tolist()
end

describe("optim", function()
  it("sgd with momentum", function()
    local x = quadratic(ds.optim.sgd, {lr = 0.1, momentum = 0.5}, 100)
    assert.is_true(math.abs(x[1] - 1) < 1e-6 and math.abs(x[2] + 2) < 1e-6 and math.abs(x[3] - 3) < 1e-6)
  end)
  it("adam", function()
    local x = quadratic(ds.optim.adam, {lr = 0.1}, 500)
    assert.is_true(math.abs(x[1] - 1) < 1e-3 and math.abs(x[3] - 3) < 1e-3)
  end)
  it("normalised and clipped gradient descent take fixed-length steps", function()
    local x = ds.zeros{2}:requires_grad()
    local opt = ds.optim.gd({x}, {lr = 0.1, normalize = true})
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(x * ds.tensor{30, 40}) end)
    tape:backward(loss)
    opt:step()
    local v = x:tolist()
    assert.is_true(math.abs(math.sqrt(v[1] ^ 2 + v[2] ^ 2) - 0.1) < 1e-8)
  end)
  it("lbfgs solves the Rosenbrock function", function()
    local x = ds.tensor{-1.2, 1}:requires_grad()
    local opt = ds.optim.lbfgs({x}, {max_iter = 200, history = 10})
    local tape = ds.tape()
    local loss = opt:step(function()
      opt:zero_grad()
      local l = tape:record(function()
        local x1 = ds.slice_rows(x, 1, 1)
        local x2 = ds.slice_rows(x, 2, 1)
        return ds.sum(ds.square(1 - x1) + 100 * ds.square(x2 - ds.square(x1)))
      end)
      tape:backward(l)
      return l
    end)
    local v = x:tolist()
    assert.is_true(loss < 1e-10, "loss " .. loss)
    assert.is_true(math.abs(v[1] - 1) < 1e-4 and math.abs(v[2] - 1) < 1e-4)
    assert.is_true(opt.evals < 400)
  end)
end)
