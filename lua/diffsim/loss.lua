-- Losses built from core ops (differentiable through the tape).
return function(ds)
  local M = {}
  function M.mse(a, b) return ds.mean(ds.square(a - b)) end
  function M.sse(a, b) return ds.sum(ds.square(a - b)) end
  function M.l2(a, b) return ds.norm(a - b) end
  ds.mse = M.mse
  return M
end
