-- Shared by the articulation specs: a batch of two zoo states and a kernel's
-- positional arguments from named states and a model's tensors.
local ds = require("diffsim")
local scenes = dofile("scenes/articulation_models.lua")
local U = {}

-- The zoo's state (scenes.zoo_state) as B = 2 rows: q twice; qd, then qd
-- scaled by -0.7 (two different velocities).
function U.zoo_rows()
  local q0, qd0 = scenes.zoo_state()
  local function rows(r, scale)
    local out = {}
    for b = 1, 2 do
      out[b] = {}
      for k, v in ipairs(r) do out[b][k] = v * (b == 1 and 1 or scale or 1) end
    end
    return ds.tensor(out)
  end
  return rows(q0), rows(qd0, -0.7)
end

-- kernel's arguments in order: named[name], else the model tensor m.args[name]
function U.positional(m, kernel, named)
  local out = {}
  for i, name in ipairs(ds.kernel(kernel):arg_names()) do
    local v = named[name] or m.args[name]
    assert(v ~= nil, "no value for " .. name)
    out[i] = v:detach()
  end
  return out
end

-- The gradients (flat lists) of run(m, q, qd)'s loss, on a fresh model of
-- desc with m.adjoint = mode, in q, qd, the model tensors named in names and
-- the extra tensors run returns after the loss.
function U.grads(desc, mode, names, q, qd, run)
  local m = ds.plugin("articulation").model(desc)
  m.adjoint = mode
  local ins = {q:detach():requires_grad(), qd:detach():requires_grad()}
  for _, n in ipairs(names) do ins[#ins + 1] = m:param(n) end
  local tape = ds.tape()
  local extra
  local loss = tape:record(function() local l; l, extra = run(m, ins[1], ins[2]); return l end)
  tape:backward(loss)
  local out = {}
  for _, t in ipairs(ins) do out[#out + 1] = t.grad:reshape{t.grad:numel()}:totable() end
  for _, t in ipairs(extra or {}) do out[#out + 1] = t.grad:reshape{t.grad:numel()}:totable() end
  return out
end

return U
