-- Bad input from Lua raises a clear error that names the kernel or function
-- and the argument. Nothing here may crash the process.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}

local function fails_with(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err), 1, true)
end

describe("bad input", function()
  local a, b = ds.tensor{1, 2, 3}, ds.tensor{1, 2, 3, 4}

  it("wrong shapes", function()
    fails_with("core.add: arguments 'a' and 'b' have 3 and 4 elements", function() return a + b end)
    fails_with("core.matmul: inner dimensions differ", ds.matmul, ds.zeros{2, 3}, ds.zeros{2, 3})
    fails_with("core.add_row: argument 'bias' (#2) has shape {4}, expected {3}", ds.add_row, ds.zeros{2, 3}, b)
  end)

  it("wrong dtypes", function()
    fails_with("argument 'b' (#2) has dtype i32, expected real", function() return a + ds.tensor({1, 2, 3}, "i32") end)
    fails_with("argument 'idx' (#2) has dtype real, expected i32", ds.gather, a, a)
    fails_with("an i32 tensor cannot require a gradient", function() ds.tensor({1}, "i32"):requires_grad() end)
  end)

  it("wrong argument and param counts", function()
    local k = ds.kernel("core.add")
    fails_with("core.add: expected 3 tensor arguments, got 2", k.launch, k, {a, a})
    fails_with("core.add: argument 'b' (#2) must be a tensor, got number", k.launch, k, {a, 3, a})
    fails_with("core.affine: expected 2 params, got 1", ds.kernel("core.affine").launch, ds.kernel("core.affine"),
               {a, ds.empty{3}}, {1})
    fails_with("core.affine: param 'scale' must be a number, got string", ds.kernel("core.affine").launch,
               ds.kernel("core.affine"), {a, ds.empty{3}}, {"x", 1})
    fails_with("core.affine: param 'scale' is not finite", ds.affine, a, 0 / 0, 1)
  end)

  it("unknown kernels and plugins", function()
    fails_with("unknown kernel 'core.nope'", ds.kernel, "core.nope")
    fails_with("plugin 'nope' not found", ds.plugin, "nope")
    fails_with("cannot open", ds.plugin, "/nonexistent/libds_x_f64.so")
  end)

  it("out-of-range indices", function()
    fails_with("core.gather: argument 'idx' (#2): index 5 at position 1", ds.gather, ds.zeros{3, 2}, ds.tensor({0, 5}, "i32"))
    fails_with("index -1 at position 0", ds.scatter_add, ds.zeros{1, 2}, ds.tensor({-1}, "i32"), 3)
    fails_with("core.slice_rows: rows [2, 5) are out of range", ds.slice_rows, ds.zeros{4, 2}, 3, 3)
    fails_with("out of range", a.set, a, 9, 1)
    fails_with("core.pick: param 'index'=3 is out of range [0, 3)", ds.pick, a, 4)
  end)

  it("bad constructors and tensors", function()
    fails_with("ds.zeros: dimension 1 must be a non-negative integer", ds.zeros, {-1})
    fails_with("ds.zeros: at most 4 dims", ds.zeros, {1, 1, 1, 1, 1})
    fails_with("ragged table", ds.tensor, {{1, 2}, {3}})
    fails_with("ds.empty: unknown dtype 'f16'", ds.empty, {2}, "f16")
    fails_with("tensor:item: tensor has 3 elements", a.item, a)
    fails_with("tensor arithmetic: operands must be tensors or numbers", function() return a + "x" end)
    fails_with("ds.init: already initialised with precision f64", ds.init, {precision = "f32"})
  end)

  it("backward misuse", function()
    local tape = ds.tape()
    local y = tape:record(function() return ds.sum(a) end)
    fails_with("the loss does not depend on any tensor that requires grad", tape.backward, tape, y)
    local x = ds.tensor{1, 2}:requires_grad()
    local v = tape:record(function() return x * 2 end)
    fails_with("loss must have one element", tape.backward, tape, v)
  end)

  it("a freed tensor is refused, not a crash; free twice is fine", function()
    local t = ds.tensor{1, 2, 3}
    t:free()
    t:free()
    fails_with("used after t:free()", function() return t + a end)
    fails_with("core.sum: argument 'x' (#1) was freed", ds.sum, t)
  end)

  it("anomaly mode names the first kernel that made a NaN, in forward and adjoint", function()
    ds.set_anomaly(true)
    fails_with("kernel core.log forward produced NaN", ds.log, ds.tensor{-1})
    local x = ds.tensor{0}:requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(ds.sqrt(x)) end)
    fails_with("kernel core.sqrt adjoint produced Inf in the gradient of 'x'", tape.backward, tape, loss)
    ds.set_anomaly(false)
  end)
end)

describe("kernels launched by name", function()
  local k = ds.kernel("core.affine")
  local x = ds.tensor{1, 2, 3}

  it("named arguments and params give the same result as positional ones", function()
    local a, b = ds.empty{3}, ds.empty{3}
    k:launch({x, a}, {2, 1})
    k:launch({out = b, x = x}, {shift = 1, scale = 2})
    assert.same(a:totable(), b:totable())
    assert.same({3, 5, 7}, b:totable())
    assert.same({"x", "out"}, k:arg_names())
    assert.same({"scale", "shift"}, k:param_names())
  end)

  it("a wrong, missing or extra name is a clear error naming the kernel and listing the names", function()
    local out = ds.empty{3}
    fails_with("core.affine: no argument named 'y' (arguments: x, out)", k.launch, k, {x = x, y = out}, {1, 0})
    fails_with("core.affine: argument 'out' is missing", k.launch, k, {x = x}, {1, 0})
    fails_with("core.affine: no param named 'scal' (params: scale, shift)", k.launch, k, {x = x, out = out},
               {scal = 1, shift = 0})
    fails_with("core.affine: param 'shift' is missing", k.launch, k, {x = x, out = out}, {scale = 1})
    fails_with("core.affine: expected 2 params, got 0", k.launch, k, {x = x, out = out})
    fails_with("core.affine: argument 'x' (#1) must be a tensor, got string", k.launch, k, {x = "x", out = out},
               {1, 0})
  end)

  it("a tensor that requires grad in a slot the kernel does not differentiate is an error while recording", function()
    ds.plugin("smoke")
    local inflow = ds.kernel("smoke.inflow")
    local s, value = ds.zeros{4, 4}, ds.ones{4, 4}
    local mask = ds.ones{4, 4}:requires_grad()
    local tape = ds.tape()
    fails_with("smoke.inflow: argument 'mask' (#2) requires grad, but the kernel does not differentiate it",
      tape.record, tape, function()
        local out = ds.empty{4, 4}
        inflow:launch({s = s:requires_grad(), mask = mask, value = value, out = out})
        return ds.sum(out)
      end)
    tape:clear()
    -- outside a recording nothing is lost, so nothing is refused
    inflow:launch({s = s, mask = mask, value = value, out = ds.empty{4, 4}})
  end)

end)
