-- Elementwise ops on two tensors: identical shapes, or one side with one
-- element (scalar broadcast). Everything else is an error naming the op and
-- both shapes (docs/lua-api.md, "Broadcasting").
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function fails_with(text, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error with " .. text)
  assert.is_truthy(tostring(err):find(text, 1, true), "expected '" .. text .. "' in: " .. tostring(err))
end

describe("the elementwise shape rule", function()
  local ops = {
    {"add", function(a, b) return a + b end}, {"sub", function(a, b) return a - b end},
    {"mul", function(a, b) return a * b end}, {"div", function(a, b) return a / b end},
  }
  for _, o in ipairs(ops) do
    it("core." .. o[1] .. " refuses same-count, different shapes", function()
      fails_with("core." .. o[1] .. ": arguments 'a' and 'b' have shapes {2,3} and {3,2}", o[2], ds.ones{2, 3}, ds.ones{3, 2})
      fails_with("core." .. o[1] .. ": arguments 'a' and 'b' have shapes {3,1} and {1,3}", o[2], ds.ones{3, 1}, ds.ones{1, 3})
      fails_with("core." .. o[1] .. ": arguments 'a' and 'b' have shapes {3} and {3,1}", o[2], ds.ones{3}, ds.ones{3, 1})
      fails_with("core." .. o[1] .. ": arguments 'a' and 'b' have 3 and 4 elements (shapes {3} and {4})", o[2],
        ds.ones{3}, ds.ones{4})
    end)
  end
  it("identical shapes and one-element operands work, with the bigger operand's shape", function()
    assert.same({{2, 2, 2}, {2, 2, 2}}, (ds.ones{2, 3} + ds.ones{2, 3}):totable())
    assert.same({2, 3}, (ds.ones{2, 3} * ds.tensor{2}):shape())
    assert.same({2, 3}, (ds.ones{1, 1} - ds.ones{2, 3}):shape())
    assert.same({2, 3}, (ds.ones{} / ds.ones{2, 3}):shape())
    assert.same({{3, 3, 3}, {3, 3, 3}}, (ds.ones{2, 3} + 2):totable())
  end)
  it("the gradient of a broadcast operand is the sum", function()
    local s = ds.tensor{2}:requires_grad()
    local x = ds.tensor{{1, 2}, {3, 4}}
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(x * s) end)
    tape:backward(loss)
    assert.are.equal(10, s.grad:item())
  end)
end)

describe("sum and mean over one axis", function()
  local x = ds.tensor{{1, 2, 3}, {4, 5, 6}}
  it("forward", function()
    assert.same({5, 7, 9}, ds.sum(x, 1):totable())
    assert.same({6, 15}, ds.sum(x, 2):totable())
    assert.same({6, 15}, ds.sum(x, -1):totable())
    assert.same({2.5, 3.5, 4.5}, ds.mean(x, 1):totable())
    assert.same({2, 5}, x:mean(2):totable())
    assert.same({2, 2}, ds.sum(ds.ones{2, 3, 2}, 2):shape())
    assert.are.equal(21, ds.sum(x):item())
  end)
  it("gradients (float64 central differences)", function()
    local y = ds.rand({3, 4, 2}, 5, -1, 1)
    for dim = 1, 3 do
      local ok, rep = ds.gradcheck(function(v) return ds.sum(ds.square(ds.sum(v, dim))) end, {y})
      assert.is_true(ok, rep.message)
      ok, rep = ds.gradcheck(function(v) return ds.sum(ds.square(ds.mean(v, dim))) end, {y})
      assert.is_true(ok, rep.message)
    end
  end)
  it("a bad dim or extra arguments are errors", function()
    fails_with("ds.sum: dim must be an integer in 1..2 (or -2..-1) for a tensor of 2 dims, got 3", ds.sum, x, 3)
    fails_with("ds.sum: dim must be an integer in 1..2", ds.sum, x, 0)
    fails_with("ds.mean: dim must be an integer in 1..2", ds.mean, x, 1.5)
    fails_with("ds.mean: dim must be an integer in 1..2", ds.mean, x, "1")
    fails_with("ds.sum: expected (x [, dim]), got 3 arguments", ds.sum, x, 1, 2)
    fails_with("ds.norm: expected (x), got 2 arguments", ds.norm, x, 1)
    fails_with("ds.sum: dim must be an integer in 1..0", ds.sum, ds.tensor(3), 1)
  end)
end)
