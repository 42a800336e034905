-- Kernels, launches and the differentiable core ops.
local ffi = require("ffi")

return function(ds)
  local V = ds.view
  local C, ctx = ds.C, ds.ctx
  local tensor_mt = ds.tensor_mt
  local argbuf = ffi.new("ds_tensor *[16]")
  local parbuf = ffi.new("double[64]")
  local raise = ds.raise

  local Kernel = {}
  Kernel.__index = Kernel
  local cache = {}

  -- ds.kernel("plugin.op") -> a kernel handle with :launch(args, params)
  function ds.kernel(name)
    local k = cache[name]
    if k then return k end
    if type(name) ~= "string" then error("ds.kernel: name must be a string like 'plugin.op'", 2) end
    local p = C.ds_kernel_find(ctx, name)
    if p == nil then raise(2) end
    k = setmetatable({ptr = p, name = name, nargs = C.ds_kernel_nargs(p), nparams = C.ds_kernel_nparams(p)}, Kernel)
    cache[name] = k
    return k
  end

  local function fill(k, args, params, level)
    local n = #args
    if n ~= k.nargs then
      error(string.format("%s: expected %d tensor arguments, got %d", k.name, k.nargs, n), level)
    end
    for i = 1, n do
      local a = args[i]
      if getmetatable(a) ~= tensor_mt then
        error(string.format("%s: argument '%s' (#%d) must be a tensor, got %s", k.name,
          ffi.string(C.ds_kernel_arg_name(k.ptr, i - 1)), i, type(a)), level)
      end
      if a.p == nil then error(string.format("%s: argument #%d was freed", k.name, i), level) end
      argbuf[i - 1] = a.p
    end
    local np = params and #params or 0
    if np ~= k.nparams then
      error(string.format("%s: expected %d params, got %d", k.name, k.nparams, np), level)
    end
    for i = 1, np do
      local v = params[i]
      if type(v) ~= "number" then
        if type(v) == "boolean" then v = v and 1 or 0
        else error(string.format("%s: param #%d must be a number, got %s", k.name, i, type(v)), level) end
      end
      parbuf[i - 1] = v
    end
    return n, np
  end

  function Kernel:launch(args, params)
    local n, np = fill(self, args, params, 3)
    if C.ds_launch(ctx, self.ptr, argbuf, n, parbuf, np) ~= 0 then raise(2) end
  end
  -- Runs the adjoint alone (no tape): used by kernel gradient checks.
  function Kernel:launch_adjoint(args, params)
    local n, np = fill(self, args, params, 3)
    if C.ds_launch_adjoint(ctx, self.ptr, argbuf, n, parbuf, np) ~= 0 then raise(2) end
  end
  function Kernel:arg_names()
    local out = {}
    for i = 0, self.nargs - 1 do out[i + 1] = ffi.string(C.ds_kernel_arg_name(self.ptr, i)) end
    return out
  end

  function ds.kernels()
    local out = {}
    for i = 0, C.ds_kernel_count(ctx) - 1 do out[#out + 1] = ffi.string(C.ds_kernel_name_at(ctx, i)) end
    return out
  end

  -- Plugins: the C side by name on the search path, then its Lua front end.
  local fronts = {}
  function ds.load_plugin(name)
    if type(name) ~= "string" then error("ds.plugin: name must be a string", 2) end
    if C.ds_plugin_load(ctx, name) ~= 0 then raise(2) end
  end
  function ds.plugin(name)
    if fronts[name] then return fronts[name] end
    ds.load_plugin(name)
    if name:find("/") then return true end
    local ok, front = pcall(require, name)
    if not ok then
      if tostring(front):find("module '" .. name .. "' not found", 1, true) then
        front = {} -- a plugin may have no Lua front end; its kernels are still there
      else
        error(front, 2)
      end
    end
    fronts[name] = front
    return front
  end
  function ds.add_plugin_path(dir) ds.check(C.ds_plugin_add_path(ctx, dir), 2) end

  -- Monotonic wall-clock seconds, for benchmarks (kernels run on several threads,
  -- so os.clock's CPU time would overcount).
  local ts = ffi.new("ds_timespec")
  function ds.now()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end

  function ds.set_threads(n) ds.check(C.ds_set_threads(ctx, n), 2) end
  function ds.threads() return C.ds_threads(ctx) end
  function ds.set_anomaly(on) C.ds_set_anomaly(ctx, on and 1 or 0) end
  local mem = ffi.new("int64_t[3]")
  function ds.memory()
    C.ds_mem_stats(ctx, mem, mem + 1, mem + 2)
    return {live = tonumber(mem[0]), peak = tonumber(mem[1]), cached = tonumber(mem[2])}
  end
  function ds.reset_peak_memory() C.ds_mem_reset_peak(ctx) end
  function ds.trim_memory() collectgarbage("collect"); C.ds_mem_trim(ctx) end

  -- ---- differentiable ops ---------------------------------------------------
  local K = setmetatable({}, {__index = function(t, name)
    local k = ds.kernel("core." .. name)
    t[name] = k
    return k
  end})
  local empty, empty_like = ds.empty, ds.empty_like
  local is_tensor = ds.is_tensor

  local function unary(name)
    return function(x, ...)
      if not is_tensor(x) then error("ds." .. name .. ": argument must be a tensor", 2) end
      local out = empty_like(x)
      K[name]:launch({x, out}, {...})
      return out
    end
  end
  for _, n in ipairs{"tanh", "sin", "cos", "exp", "log", "sqrt", "square", "abs", "relu", "sigmoid", "copy"} do
    ds[n] = unary(n)
  end
  local affine_k, rdiv_k = K.affine, K.rdiv
  function ds.affine(x, a, b) local out = empty_like(x); affine_k:launch({x, out}, {a, b}); return out end
  function ds.clamp(x, lo, hi) local out = empty_like(x); K.clamp:launch({x, out}, {lo, hi}); return out end
  ds.clone = ds.copy
  function ds.neg(x) return ds.affine(x, -1, 0) end
  function ds.scale(x, a) return ds.affine(x, a, 0) end

  local function bigger(a, b) return (V(b).count > V(a).count) and b or a end
  local function binary(name)
    local k = K[name]
    return function(a, b)
      local out = empty_like(bigger(a, b))
      k:launch({a, b, out})
      return out
    end
  end
  local add_t, sub_t, mul_t, div_t = binary("add"), binary("sub"), binary("mul"), binary("div")

  local function arith(tt, tn, nt)
    return function(a, b)
      local ta, tb = is_tensor(a), is_tensor(b)
      if ta and tb then return tt(a, b) end
      if ta and type(b) == "number" then return tn(a, b) end
      if tb and type(a) == "number" then return nt(a, b) end
      error("tensor arithmetic: operands must be tensors or numbers, got " .. type(a) .. " and " .. type(b), 2)
    end
  end
  ds.add = arith(add_t, function(a, b) return ds.affine(a, 1, b) end, function(a, b) return ds.affine(b, 1, a) end)
  ds.sub = arith(sub_t, function(a, b) return ds.affine(a, 1, -b) end, function(a, b) return ds.affine(b, -1, a) end)
  ds.mul = arith(mul_t, function(a, b) return ds.affine(a, b, 0) end, function(a, b) return ds.affine(b, a, 0) end)
  ds.div = arith(div_t, function(a, b) return ds.affine(a, 1 / b, 0) end,
    function(a, b) local out = empty_like(b); rdiv_k:launch({b, out}, {a}); return out end)

  local scalar = {}
  local function reduce(name)
    local k = K[name]
    return function(x)
      local out = empty(scalar)
      k:launch({x, out})
      return out
    end
  end
  ds.sum, ds.mean, ds.norm = reduce("sum"), reduce("mean"), reduce("norm")
  function ds.dot(a, b) local out = empty(scalar); K.dot:launch({a, b, out}); return out end
  function ds.sum_rows(x)
    local s = x:shape()
    table.remove(s, 1)
    local out = empty(s)
    K.sum_rows:launch({x, out})
    return out
  end

  -- matmul(a, b [, transpose_a, transpose_b]); 1-D operands act as a row / column.
  function ds.matmul(a, b, ta, tb)
    local a2, b2 = a, b
    local vec_a, vec_b = V(a).ndim == 1, V(b).ndim == 1
    if vec_a then a2 = ds.reshape(a, {1, a:numel()}) end
    if vec_b then b2 = ds.reshape(b, {b:numel(), 1}) end
    if V(a2).ndim ~= 2 or V(b2).ndim ~= 2 then error("ds.matmul: operands must be 1-D or 2-D", 2) end
    local m = ta and V(a2).dims[1] or V(a2).dims[0]
    local n = tb and V(b2).dims[0] or V(b2).dims[1]
    local out = empty({tonumber(m), tonumber(n)})
    K.matmul:launch({a2, b2, out}, {ta and 1 or 0, tb and 1 or 0})
    if vec_a and vec_b then return ds.reshape(out, {}) end
    if vec_a or vec_b then return ds.reshape(out, {out:numel()}) end
    return out
  end

  function ds.add_row(x, bias)
    local out = empty_like(x)
    K.add_row:launch({x, bias, out})
    return out
  end

  -- A differentiable reshape: a copy with another shape.
  function ds.reshape(x, shape)
    local out = empty_like(x)
    K.copy:launch({x, out})
    local nd = #shape
    local buf = ffi.new("int64_t[4]")
    for i = 1, nd do buf[i - 1] = shape[i] end
    if C.ds_tensor_reshape(out.p, nd, buf) ~= 0 then raise(2) end
    return out
  end

  local function rows_shape(x, n)
    local s = x:shape()
    s[1] = n
    return s
  end
  function ds.gather(src, idx)
    local out = empty(rows_shape(src, idx:numel()))
    K.gather:launch({src, idx, out})
    return out
  end
  function ds.scatter_add(src, idx, nrows, into)
    local out = into or ds.zeros(rows_shape(src, nrows))
    K.scatter_add:launch({src, idx, out})
    return out
  end
  -- element i (1-based, flat) of x as a one-element tensor
  function ds.pick(x, i)
    local out = empty(scalar)
    K.pick:launch({x, out}, {i - 1})
    return out
  end
  -- rows [start, start + count) of x, 1-based start like Lua
  function ds.slice_rows(x, start, count)
    local out = empty(rows_shape(x, count))
    K.slice_rows:launch({x, out}, {start - 1})
    return out
  end
  function ds.concat(list)
    if type(list) ~= "table" or #list == 0 then error("ds.concat: expected a non-empty list of tensors", 2) end
    local rows = 0
    for i = 1, #list do
      if not is_tensor(list[i]) or V(list[i]).ndim < 1 then error("ds.concat: element " .. i .. " must be a tensor with rows", 2) end
      rows = rows + tonumber(V(list[i]).dims[0])
    end
    local out = ds.zeros(rows_shape(list[1], rows))
    local at = 0
    for i = 1, #list do
      K.place_rows:launch({list[i], out}, {at})
      at = at + tonumber(V(list[i]).dims[0])
    end
    return out
  end

  local mt = ds.tensor_mt
  mt.__add, mt.__sub, mt.__mul, mt.__div = ds.add, ds.sub, ds.mul, ds.div
  mt.__unm = ds.neg
  for _, n in ipairs{"sum", "mean", "norm", "tanh", "sin", "cos", "exp", "log", "sqrt", "square", "abs",
                     "relu", "sigmoid", "reshape", "clamp", "dot", "matmul", "copy"} do
    ds.tensor_methods[n] = ds[n]
  end
  ds.tensor_methods.clone = ds.copy
end
