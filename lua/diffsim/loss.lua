-- Losses built from core ops (differentiable through the tape).
--   ds.loss.mse(a, b [, {reduction = "mean" | "sum"}])   mean (or sum) of (a - b)^2
--   ds.loss.sse(a, b)    sum of (a - b)^2          ds.loss.l2(a, b)   |a - b|
-- a and b are tensors of the same shape (b may also be a number); anything else,
-- and any unknown option, is an error naming the loss.
return function(ds)
  local O = require("diffsim.options").install(ds)
  local M = {}

  local function args(who, a, b)
    if not ds.is_tensor(a) then O.raise(who .. ": argument 'a' must be a tensor, got " .. O.describe(a)) end
    if a.ptr == nil then O.raise(who .. ": argument 'a' has been freed") end
    if type(b) == "number" then return end
    if not ds.is_tensor(b) then
      O.raise(who .. ": argument 'b' must be a tensor or a number, got " .. O.describe(b))
    end
    if b.ptr == nil then O.raise(who .. ": argument 'b' has been freed") end
    local sa, sb = a:shape(), b:shape()
    local same = #sa == #sb
    for i = 1, #sa do if sa[i] ~= sb[i] then same = false end end
    if not same then
      O.raise(string.format("%s: arguments 'a' {%s} and 'b' {%s} must have the same shape", who,
        table.concat(sa, ", "), table.concat(sb, ", ")))
    end
  end
  local NONE, MSE_OPTS = {}, {"reduction"}

  function M.mse(a, b, opts)
    args("ds.loss.mse", a, b)
    opts = O.check("ds.loss.mse", opts, MSE_OPTS)
    local r = O.choice("ds.loss.mse", "reduction", opts.reduction, "mean", {"mean", "sum"})
    if r == "sum" then return ds.sum(ds.square(a - b)) end
    return ds.mean(ds.square(a - b))
  end
  function M.sse(a, b, opts)
    args("ds.loss.sse", a, b)
    O.check("ds.loss.sse", opts, NONE)
    return ds.sum(ds.square(a - b))
  end
  function M.l2(a, b, opts)
    args("ds.loss.l2", a, b)
    O.check("ds.loss.l2", opts, NONE)
    return ds.norm(a - b)
  end
  ds.mse = M.mse
  return M
end
