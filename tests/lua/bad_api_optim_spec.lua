-- Optimizers refuse bad values and bad parameter lists with an error naming
-- the optimizer and the option; weight_decay works (SGD: L2 added to the
-- gradient; Adam: decoupled, AdamW).
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function err_of(f)
  local ok, err = pcall(function() local r = f(); return r end)
  assert.is_false(ok, "expected an error")
  assert.matches("bad_api_optim_spec.lua:%d+: ", tostring(err))
  return tostring(err)
end

describe("optimizer values", function()
  local x = ds.zeros{3}:requires_grad()
  local ctors = {"gd", "sgd", "adam", "adamw", "lbfgs"}

  it("lr must be a finite positive number, in every optimizer", function()
    for _, name in ipairs(ctors) do
      for _, bad in ipairs({-1, 0, 0 / 0, 1 / 0, "0.1", true}) do
        local err = err_of(function() return ds.optim[name]({x}, {lr = bad}) end)
        assert.matches("ds.optim." .. name .. ": option 'lr' must be", err, 1, true)
      end
    end
  end)

  it("betas, eps, momentum, weight_decay and the L-BFGS counts", function()
    assert.matches("option 'betas[2]' must be", err_of(function() return ds.optim.adam({x}, {betas = {0.9, 1}}) end), 1, true)
    assert.matches("option 'betas[1]' must be", err_of(function() return ds.optim.adam({x}, {betas = {-0.1, 0.9}}) end), 1, true)
    assert.matches("option 'betas' must be a list of two", err_of(function() return ds.optim.adam({x}, {betas = 0.9}) end), 1, true)
    assert.matches("option 'betas' must be a list of two", err_of(function() return ds.optim.adam({x}, {betas = {0.9}}) end), 1, true)
    assert.matches("option 'eps' must be", err_of(function() return ds.optim.adam({x}, {eps = 0}) end), 1, true)
    assert.matches("ds.optim.sgd: option 'momentum' must be", err_of(function() return ds.optim.sgd({x}, {momentum = 1.5}) end), 1, true)
    assert.matches("ds.optim.sgd: option 'weight_decay' must be", err_of(function() return ds.optim.sgd({x}, {weight_decay = -1}) end), 1, true)
    assert.matches("ds.optim.adam: option 'weight_decay' must be", err_of(function() return ds.optim.adam({x}, {weight_decay = 0 / 0}) end), 1, true)
    assert.matches("ds.optim.gd: option 'clip' must be", err_of(function() return ds.optim.gd({x}, {clip = -1}) end), 1, true)
    assert.matches("ds.optim.gd: option 'normalize' must be true or false", err_of(function() return ds.optim.gd({x}, {normalize = "yes"}) end), 1, true)
    assert.matches("ds.optim.lbfgs: option 'history' must be an integer", err_of(function() return ds.optim.lbfgs({x}, {history = 2.5}) end), 1, true)
    assert.matches("ds.optim.lbfgs: option 'max_iter' must be an integer", err_of(function() return ds.optim.lbfgs({x}, {max_iter = 0}) end), 1, true)
    assert.matches("ds.optim.lbfgs: option 'c1' must be", err_of(function() return ds.optim.lbfgs({x}, {c1 = 1}) end), 1, true)
  end)

  it("params: a non-empty list of distinct real leaf tensors", function()
    assert.matches("ds.optim.adam: argument 'params' is an empty list", err_of(function() return ds.optim.adam({}) end), 1, true)
    assert.matches("ds.optim.adam: argument 'params' must be a list of tensors, got a tensor",
      err_of(function() return ds.optim.adam(x) end), 1, true)
    assert.matches("ds.optim.sgd: argument 'params' must be a non-empty list of tensors, got nil",
      err_of(function() return ds.optim.sgd() end), 1, true)
    assert.matches("ds.optim.gd: params[2] is not a tensor (got 5)", err_of(function() return ds.optim.gd({x, 5}) end), 1, true)
    assert.matches("ds.optim.gd: params[1] is an i32 tensor", err_of(function() return ds.optim.gd({ds.zeros({2}, "i32")}) end), 1, true)
    assert.matches("ds.optim.gd: params[2] is the same tensor as params[1]", err_of(function() return ds.optim.gd({x, x}) end), 1, true)
    local tape, y = ds.tape(), nil
    tape:record(function() y = x * 2; return ds.sum(y) end)
    assert.matches("ds.optim.adam: params[1] is not a leaf tensor", err_of(function() return ds.optim.adam({y}) end), 1, true)
    local f = ds.zeros{2}
    f:free()
    assert.matches("ds.optim.adam: params[1] has been freed", err_of(function() return ds.optim.adam({f}) end), 1, true)
    -- a leaf that does not require grad yet is marked (documented)
    local z = ds.zeros{2}
    ds.optim.sgd({z})
    assert.is_true(z:needs_grad())
  end)

  it("step: closures, methods, freed parameters, a schedule that sets a bad lr", function()
    local p = ds.zeros{2}:requires_grad()
    local o = ds.optim.adam({p})
    assert.matches("adam:step: argument 'closure' must be a function", err_of(function() return o:step(3) end), 1, true)
    assert.matches("adam:step: call it as a method", err_of(function() return o.step() end), 1, true)
    assert.matches("adam:step: the closure must return the loss", err_of(function() return o:step(function() return {} end) end), 1, true)
    o.lr = -1
    assert.matches("adam:step: option 'lr' must be", err_of(function() return o:step() end), 1, true)
    local l = ds.optim.lbfgs({p})
    assert.matches("lbfgs:step: argument 'closure' must be a function", err_of(function() return l:step() end), 1, true)
    assert.matches("lbfgs:step: the closure returned a NaN loss", err_of(function() return l:step(function() return 0 / 0 end) end), 1, true)
    local q = ds.zeros{2}:requires_grad()
    local s = ds.optim.sgd({q})
    q:free()
    assert.matches("sgd:step: parameter 1 has been freed", err_of(function() return s:step() end), 1, true)
  end)
end)

-- One step on f(p) = sum(c * p) (gradient c) from p0.
local function one_step(make, p0, c)
  local p = ds.tensor(p0):requires_grad()
  local opt = make({p})
  local tape = ds.tape()
  opt:zero_grad()
  local loss = tape:record(function() return ds.sum(p * ds.tensor(c)) end)
  tape:backward(loss)
  opt:step()
  return p:tolist(), opt
end

describe("weight_decay", function()
  local p0, c = {1, -2, 3}, {0.5, 0.25, -1}

  it("sgd: the gradient gets wd p (L2), with and without momentum", function()
    local lr, wd = 0.1, 0.01
    local v = one_step(function(ps) return ds.optim.sgd(ps, {lr = lr, weight_decay = wd}) end, p0, c)
    for i = 1, 3 do assert.is_true(math.abs(v[i] - (p0[i] - lr * (c[i] + wd * p0[i]))) < 1e-14) end
    v = one_step(function(ps) return ds.optim.sgd(ps, {lr = lr, momentum = 0.9, weight_decay = wd}) end, p0, c)
    for i = 1, 3 do assert.is_true(math.abs(v[i] - (p0[i] - lr * (c[i] + wd * p0[i]))) < 1e-14) end
  end)

  it("adam: decoupled (AdamW), p -= lr wd p before the Adam step", function()
    local lr, wd = 0.1, 0.5
    local plain = one_step(function(ps) return ds.optim.adam(ps, {lr = lr}) end, p0, c)
    local v = one_step(function(ps) return ds.optim.adam(ps, {lr = lr, weight_decay = wd}) end, p0, c)
    -- the first Adam step moves every entry by lr * sign(g) (to eps), decay or not
    for i = 1, 3 do
      assert.is_true(math.abs(v[i] - (p0[i] * (1 - lr * wd) + (plain[i] - p0[i]))) < 1e-12)
    end
    local w, opt = one_step(function(ps) return ds.optim.adamw(ps, {lr = lr}) end, p0, c)
    assert.are.equal(1e-2, opt.weight_decay)
    for i = 1, 3 do assert.is_true(math.abs(w[i] - (p0[i] * (1 - lr * 1e-2) + (plain[i] - p0[i]))) < 1e-12) end
  end)

  it("weight_decay = 0 is the plain update, bit for bit", function()
    local a = one_step(function(ps) return ds.optim.adam(ps, {lr = 0.1}) end, p0, c)
    local b = one_step(function(ps) return ds.optim.adam(ps, {lr = 0.1, weight_decay = 0}) end, p0, c)
    assert.are.same(a, b)
  end)
end)
