-- Conversions: i32 values must be integers in range; dtypes are the context's
-- precision ("real" or its own name) or "i32"; indices are 1-based.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function fails_with(text, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error with " .. text)
  assert.is_truthy(tostring(err):find(text, 1, true), "expected '" .. text .. "' in: " .. tostring(err))
end

describe("values converted to i32", function()
  it("NaN, +-Inf and out-of-range values are errors naming the function and the element", function()
    fails_with("ds.tensor: element 2 is nan, which an i32 tensor cannot hold", ds.tensor, {1, 0 / 0}, "i32")
    fails_with("ds.tensor: element 3 is inf", ds.tensor, {1, 2, 1 / 0}, "i32")
    fails_with("ds.tensor: element 1 is -inf", ds.tensor, {-1 / 0}, "i32")
    fails_with("ds.tensor: element 4 is 3000000000", ds.tensor, {{1, 2}, {3, 3e9}}, "i32")
    fails_with("ds.tensor: the value is nan", ds.tensor, 0 / 0, "i32")
    local t = ds.tensor({1, 2}, "i32")
    fails_with("tensor:set: value is inf, which an i32 tensor cannot hold", t.set, t, 1, 1 / 0)
    fails_with("tensor:set: value is nan", t.set, t, 2, 0 / 0)
    fails_with("tensor:fill_: value is 10000000000", t.fill_, t, 1e10)
    fails_with("ds.full: value is nan", ds.full, {2}, 0 / 0, "i32")
    assert.same({1, 2}, t:totable())
    assert.same({-2147483648, 2147483647}, ds.tensor({-2147483648, 2147483647}, "i32"):totable())
  end)
end)

describe("dtypes and the context's precision", function()
  it("the other precision is an error that says which precision the context has", function()
    fails_with("ds.zeros: dtype 'f32' is not available: this context's precision is f64", ds.zeros, {2}, "f32")
    fails_with("ds.init{precision = ...} chooses it", ds.tensor, {1, 2}, "f32")
    fails_with("ds.empty: dtype 'f32'", ds.empty, {2}, {dtype = "f32"})
    fails_with("ds.empty: unknown dtype 'f16'", ds.empty, {2}, "f16")
    fails_with("ds.ones: expected a dtype string or an options table", ds.ones, {2}, 5)
  end)
  it("'real' and the context's own name are the real dtype", function()
    assert.are.equal("real", ds.zeros({2}, "f64"):dtype_name())
    assert.are.equal("real", ds.tensor({1, 2}, "real"):dtype_name())
    assert.are.equal("real", ds.tensor({1, 2}, {dtype = "f64"}):dtype_name())
    assert.are.equal("i32", ds.tensor({1, 2}, "i32"):dtype_name())
  end)
end)

describe("indices are 1-based", function()
  local t = ds.tensor{10, 20, 30}
  it("get and set refuse 0, negative, out-of-range, fractional and non-number indices", function()
    for _, i in ipairs{0, -1, 4, 1.5, 0 / 0, 1 / 0} do
      fails_with("tensor:get: index " .. tostring(i) .. " is out of range: indices are 1-based integers in [1, 3]", t.get, t, i)
      fails_with("tensor:set: index " .. tostring(i) .. " is out of range", t.set, t, i, 1)
    end
    fails_with("tensor:get: index of type string is out of range", t.get, t, "1")
    fails_with("tensor:set: value must be a number, got string", t.set, t, 1, "x")
    assert.are.equal(10, t:get(1))
    assert.are.equal(30, t:get(3))
    t:set(3, 5)
    assert.are.equal(5, t:get(3))
  end)
end)
