-- Shapes are checked in Lua before they reach a fixed-size FFI buffer.
local probe = require("probe")
local P = probe.prelude

describe("bad shapes", function()
  local many = "local s = {} for i = 1, 101 do s[i] = 1 end\n"
  local cases = {
    {"ds.zeros{1, 1, 1, 1, 1}", "ds.zeros: at most 4 dims, got 5"},
    {many .. "ds.zeros(s)", "ds.zeros: at most 4 dims, got 101"},
    {many .. "ds.empty(s)", "ds.empty: at most 4 dims, got 101"},
    {many .. "ds.randn(s, 1)", "ds.randn: at most 4 dims, got 101"},
    {many .. "ds.reshape(ds.zeros{1}, s)", "ds.reshape: at most 4 dims, got 101"},
    {"ds.zeros{1.5}", "ds.zeros: dimension 1 must be a non-negative integer, got 1.5"},
    {"ds.zeros{2, -1}", "ds.zeros: dimension 2 must be a non-negative integer, got -1"},
    {"ds.zeros{0/0}", "ds.zeros: dimension 1 must be a non-negative integer, got nan"},
    {"ds.zeros{1/0}", "ds.zeros: dimension 1 must be a non-negative integer, got inf"},
    {"ds.zeros{1e300}", "ds.zeros: dimension 1 must be a non-negative integer of at most 2^40"},
    {"ds.zeros{'3'}", "ds.zeros: dimension 1 must be a non-negative integer, got the string '3'"},
    {"ds.zeros{2, nil, 3}", "ds.zeros: shape must be a list of sizes"},
    {"ds.zeros{2, x = 3}", "ds.zeros: shape must be a list of sizes; it has a key 'x'"},
    {"ds.ones('x')", "ds.ones: shape must be a table of sizes, got string"},
    {"ds.full(nil, 1)", "ds.full: shape must be a table of sizes, got nil"},
    {"ds.zeros(ds.zeros{2})", "ds.zeros: shape must be a table of sizes, got a tensor"},
    {"ds.reshape(ds.zeros{6}, {-2, -3})", "ds.reshape: dimension 1 must be a non-negative integer, got -2"},
    {"ds.reshape(ds.zeros{6}, {4})", "ds.reshape: a tensor of shape {6} (6 elements) cannot take the shape {4}"},
    {"ds.tensor{{{{{1}}}}}", "ds.tensor: more than 4 levels of nesting"},
    {"ds.tensor{{1, 2}, {3}}", "ds.tensor: ragged table"},
    {"ds.tensor{1, nil, 3}", "ds.tensor:"},
    {"ds.tensor{{1, 2}, {nil, 3}}", "ds.tensor: element 3 is nil"},
    {"ds.tensor{1, 'a'}", "ds.tensor: element 2 is not a number (string)"},
    {"ds.tensor{1, 2, x = 3}", "ds.tensor: key 'x' is not a list index"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() probe.fails_cleanly(P .. c[1], c[2]) end)
  end
  it("good shapes still work", function()
    local ds = require("diffsim")
    ds.init{precision = "f64", threads = 2}
    assert.same({2, 3, 1, 4}, ds.zeros{2, 3, 1, 4}:shape())
    assert.same({}, ds.zeros{}:shape())
    assert.same({0}, ds.zeros{0}:shape())
    assert.same({5}, ds.zeros(5):shape())
    assert.same({3, 2}, ds.reshape(ds.zeros{6}, {3, 2}):shape())
  end)
end)
