-- Kernels with several list slots (velocity in, velocity out): by name, in
-- slot order, equal lengths enforced, adjoint checked in float64.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local dir = os.getenv("DIFFSIM_TEST_PLUGIN_DIR") or "build/tests/plugins"
ds.load_plugin(dir .. "/libds_two_devices_f64.so")
local k = ds.kernel("two_devices.scale_all")

local function fails_with(msg, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error containing: " .. msg)
  assert.matches(msg, tostring(err), 1, true)
end

describe("list slots", function()
  local x1, x2, x3 = ds.tensor{1, 2}, ds.tensor{3}, ds.tensor{{4, 5}}
  it("two lists by name and in slot order give the same result", function()
    local y1, y2, y3 = ds.empty{2}, ds.empty{1}, ds.empty{1, 2}
    k:launch{a = 2, xs = {x1, x2, x3}, ys = {y1, y2, y3}}
    assert.same({2, 4}, y1:totable())
    assert.same({6}, y2:totable())
    assert.same({{8, 10}}, y3:totable())
    local z1, z2, z3 = ds.empty{2}, ds.empty{1}, ds.empty{1, 2}
    k:launch({ds.tensor(2), {x1, x2, x3}, {z1, z2, z3}})
    assert.same(y3:totable(), z3:totable())
    assert.same({"a", "xs", "ys"}, k:arg_names())
  end)

  it("lists of different lengths, a tensor for a list, and a misplaced size are clear errors", function()
    fails_with("two_devices.scale_all: list 'ys' has 1 tensors, list 'xs' has 2", k.launch, k,
      {a = 1, xs = {x1, x2}, ys = {ds.empty{2}}})
    fails_with("two_devices.scale_all: argument 'xs' is a list: pass a table of tensors", k.launch, k,
      {a = 1, xs = x1, ys = {ds.empty{2}}})
    fails_with("two_devices.scale_all: xs[2] and ys[2] differ in size", k.launch, k,
      {a = 1, xs = {x1, x2}, ys = {ds.empty{2}, ds.empty{2}}})
  end)

  it("the C side refuses a flat layout whose lists cannot have one length", function()
    fails_with("two_devices.scale_all: expected 1 tensor arguments then 2 lists of one length", k.launch_flat, k,
      {ds.tensor(1), x1, x2, ds.empty{2}})
  end)

  it("gradients through every entry of both lists match central differences", function()
    local ok, rep = ds.gradcheck_kernel("two_devices.scale_all",
      {a = ds.tensor(1.5), xs = {ds.randn({3}, 1), ds.randn({2, 2}, 2)}, ys = {ds.empty{3}, ds.empty{2, 2}}})
    assert.is_true(ok, rep.message)
    assert.are.equal(1 + 3 + 4, rep.checked)
  end)
end)

describe("a plugin without a Lua front end", function()
  it("gives its kernels by op name and refuses any other key", function()
    ds.add_plugin_path(dir)
    local front = ds.plugin("two_devices")
    assert.are.equal("two_devices.bump", front.bump.name)
    fails_with("ds.plugin('two_devices'): the plugin has no Lua front end", function() return front.bumpp end)
    fails_with("kernels: bump, scale_all, count", function() return front.nope end)
  end)
end)
