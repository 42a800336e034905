-- Every method and function on a freed tensor or tape is a clear Lua error
-- naming the method, never a crash. Each probe runs in a child process.
local probe = require("probe")
local P = probe.prelude .. "local t = ds.tensor{1, 2, 3}; local a = ds.tensor{4, 5, 6}; t:free()\n"
local TP = probe.prelude .. "local x = ds.tensor{1, 2}:requires_grad(); local tp = ds.tape()\n" ..
           "local loss = tp:record(function() return ds.sum(x * x) end); tp:free()\n"

describe("a freed tensor", function()
  local cases = {
    {"local v = t:get(1)", "tensor:get: tensor used after t:free()"},
    {"t:set(1, 2)", "tensor:set: tensor used after t:free()"},
    {"t:fill_(1)", "tensor:fill_: tensor used after t:free()"},
    {"a:copy_(t)", "tensor:copy_: source was used after x:free()"},
    {"t:copy_(a)", "tensor:copy_: tensor used after t:free()"},
    {"t:requires_grad()", "tensor:requires_grad: tensor used after t:free()"},
    {"local p = t:data()", "tensor:data: tensor used after t:free()"},
    {"local s = t:shape()", "tensor:shape: tensor used after t:free()"},
    {"local s = tostring(t)", "tostring: tensor used after t:free()"},
    {"local n = t:numel()", "tensor:numel: tensor used after t:free()"},
    {"local v = t:item()", "tensor:item: tensor used after t:free()"},
    {"local v = t:totable()", "tensor:totable: tensor used after t:free()"},
    {"local v = t:tolist()", "tensor:tolist: tensor used after t:free()"},
    {"local v = t:detach()", "tensor:detach: tensor used after t:free()"},
    {"local v = t:to('cpu')", "tensor:to: tensor used after t:free()"},
    {"t:zero_grad()", "tensor:zero_grad: tensor used after t:free()"},
    {"t:clamp_(0, 1)", "tensor:clamp_: tensor used after t:free()"},
    {"a:axpy_(1, t)", "tensor:axpy_: x was used after x:free()"},
    {"t:scale_(2)", "tensor:scale_: tensor used after t:free()"},
    {"local g = t.grad", "tensor.grad: tensor used after t:free()"},
    {"local d = t.device", "tensor.device: tensor used after t:free()"},
    {"local p = t.p", "used after t:free()"},
    {"local v = t + a", "ds.add: tensor used after t:free()"},
    {"local v = a * t", "ds.mul: tensor used after t:free()"},
    {"local v = t * 2", "ds.mul: tensor used after t:free()"},
    {"local v = 2 / t", "ds.div: tensor used after t:free()"},
    {"local v = -t", "ds.neg: tensor used after t:free()"},
    {"local v = ds.tanh(t)", "ds.tanh: tensor used after t:free()"},
    {"local v = ds.sum(t)", "core.sum: argument 'x' (#1) was freed"},
    {"local v = ds.sum(t, 1)", "ds.sum: tensor used after t:free()"},
    {"local v = ds.matmul(t, a)", "ds.matmul: tensor used after t:free()"},
    {"local v = ds.reshape(t, {3})", "ds.reshape: tensor used after t:free()"},
    {"local v = ds.empty_like(t)", "ds.empty_like: tensor used after t:free()"},
    {"ds.io.write_png('/tmp/ds_freed.png', t)", "ds.io.write_png: argument 't' has been freed"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() probe.fails_cleanly(P .. c[1], c[2]) end)
  end
  it("free twice is fine", function()
    local r = probe.run(P .. "t:free(); t:free(); print('fine')")
    assert.is_true(r.ok, r.output)
  end)
end)

describe("a freed tape", function()
  local cases = {
    {"local n = tp:size()", "tape:size: tape used after tape:free()"},
    {"tp:record(function() end)", "tape:record: tape used after tape:free()"},
    {"tp:backward(loss)", "tape:backward: tape used after tape:free()"},
    {"tp:clear()", "tape:clear: tape used after tape:free()"},
    {"local n = tp:kernel_names()", "tape:kernel_names: tape used after tape:free()"},
    {"tp:checkpoint(function() end)", "tape:checkpoint: tape used after tape:free()"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() probe.fails_cleanly(TP .. c[1], c[2]) end)
  end
  it("freeing a tape inside its own record waits until the record ends", function()
    local r = probe.run(probe.prelude .. [[
      local x = ds.tensor{1, 2}:requires_grad(); local tp = ds.tape()
      local l = tp:record(function() tp:free(); return ds.sum(x * x) end)
      assert(l:item() == 5)
      local ok, err = pcall(tp.size, tp)
      assert(not ok and err:find("tape used after tape:free()", 1, true), err)
      tp:free()
      print("fine")]])
    assert.is_false(r.crashed, r.output)
    assert.is_true(r.ok, r.output)
  end)
end)
