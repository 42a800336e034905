-- Kernels, launches and the differentiable core ops.
local ffi = require("ffi")

return function(ds)
  local V = ds.view
  local C, ctx = ds.C, ds.ctx
  local is_tensor = ds.is_tensor
  local argbuf = ffi.new("ds_tensor *[64]")
  local parbuf = ffi.new("double[64]")
  local raise = ds.raise

  local Kernel = {}
  Kernel.__index = Kernel
  local cache = {}
  local LIST = 1

  -- ds.kernel("plugin.op") -> a kernel handle with :launch(args, params). Its
  -- argument and param names come from the C tables, so Lua never restates them.
  function ds.kernel(name)
    local k = cache[name]
    if k then return k end
    if type(name) ~= "string" then error("ds.kernel: name must be a string like 'plugin.op', got " .. type(name), 2) end
    local p = C.ds_kernel_find(ctx, name)
    if p == nil then raise(2) end
    local nslots, nparams = C.ds_kernel_nargs(p), C.ds_kernel_nparams(p)
    k = setmetatable({ptr = p, name = name, nargs = nslots, nparams = nparams, slots = {}, slot_index = {},
                      scalar = {}, params = {}, param_index = {}}, Kernel)
    for i = 0, nslots - 1 do
      local s = ffi.string(C.ds_kernel_arg_name(p, i))
      k.slots[i + 1], k.slot_index[s] = s, i + 1
      -- a real input of 0 dims may be given as a plain number
      k.scalar[i + 1] = C.ds_kernel_arg_dtype(p, i) == 0 and C.ds_kernel_arg_ndim(p, i) == 0 and
                        C.ds_kernel_arg_role(p, i) ~= 2 and C.ds_kernel_arg_role(p, i) ~= 3
    end
    -- list slots are the last ones: [first_list, nslots]
    k.first_list = nslots + 1
    for i = nslots - 1, 0, -1 do
      if bit.band(C.ds_kernel_arg_flags(p, i), LIST) ~= 0 then k.first_list = i + 1 end
    end
    k.list = k.first_list <= nslots
    for i = 0, nparams - 1 do
      local s = ffi.string(C.ds_kernel_param_name(p, i))
      k.params[i + 1], k.param_index[s] = s, i + 1
    end
    cache[name] = k
    return k
  end

  local function put(k, i, a, slot, level)
    if not is_tensor(a) then
      if type(a) == "number" and k.scalar[slot] then
        a = ds.tensor(a)
      else
        error(string.format("%s: argument '%s' (#%d) must be a tensor, got %s", k.name, k.slots[slot], i,
          type(a)), level + 1)
      end
    end
    if a.ptr == nil then error(string.format("%s: argument '%s' (#%d) was freed", k.name, k.slots[slot], i), level + 1) end
    if i > 64 then error(string.format("%s: more than 64 tensor arguments", k.name), level + 1) end
    argbuf[i - 1] = a.ptr
    return a
  end

  -- Positional: args[i] in slot order; a list slot takes a table of tensors
  -- (with a single list, its tensors may also follow the fixed ones flat).
  -- Named: args.name for each slot (a list slot takes a table of tensors).
  -- Lists of one launch have one length. Plain numbers given for 0-dim real
  -- inputs become tensors; they are kept in `keep` until the launch returns.
  local keep = {}
  local function fill_list(k, a, slot, n, len, level)
    if is_tensor(a) or type(a) ~= "table" then
      error(string.format("%s: argument '%s' is a list: pass a table of tensors", k.name, k.slots[slot]), level + 1)
    end
    if len and #a ~= len then
      error(string.format("%s: list '%s' has %d tensors, list '%s' has %d; lists of one launch have one length",
        k.name, k.slots[slot], #a, k.slots[k.first_list], len), level + 1)
    end
    for j = 1, #a do n = n + 1; keep[n] = put(k, n, a[j], slot, level + 1) end
    return n, #a
  end

  local function fill_args(k, args, level)
    if type(args) ~= "table" then error(k.name .. ": arguments must be a table", level) end
    local ns, fl, n = k.nargs, k.first_list, 0
    if args[1] ~= nil or next(args) == nil then
      local total, len = #args, nil
      local flat = k.list and fl == ns and (total ~= fl or is_tensor(args[fl]))
      for i = 1, total do
        local a = args[i]
        if i >= fl and not flat then
          if i > ns then
            error(string.format("%s: expected %d arguments (%s), got %d", k.name, ns, table.concat(k.slots, ", "),
              total), level)
          end
          n, len = fill_list(k, a, i, n, len, level)
        else
          n = n + 1
          keep[n] = put(k, n, a, i < fl and i or fl, level)
        end
      end
      if n < fl - 1 or (n > ns and not k.list) or (not flat and k.list and total < ns) then
        error(string.format("%s: expected %s%d tensor arguments, got %d (arguments: %s)", k.name,
          k.list and "at least " or "", k.list and fl - 1 or ns, n, table.concat(k.slots, ", ")), level)
      end
      return n
    end
    for key in pairs(args) do
      if not k.slot_index[key] then
        error(string.format("%s: no argument named '%s' (arguments: %s)", k.name, tostring(key),
          table.concat(k.slots, ", ")), level)
      end
    end
    local len
    for i = 1, ns do
      local a = args[k.slots[i]]
      if i >= fl then
        n, len = fill_list(k, a == nil and {} or a, i, n, len, level)
      elseif a == nil then
        error(string.format("%s: argument '%s' is missing", k.name, k.slots[i]), level)
      else
        n = n + 1
        keep[n] = put(k, n, a, i, level)
      end
    end
    return n
  end

  -- (a top-level function: LuaJIT cannot compile closure creation in a hot path)
  local function num(k, v, name, level)
    if type(v) == "number" then return v end
    if type(v) == "boolean" then return v and 1 or 0 end
    error(string.format("%s: param '%s' must be a number, got %s", k.name, name, type(v)), level + 1)
  end

  local function fill_params(k, params, level)
    local np = k.nparams
    if params == nil then
      if np > 0 then error(string.format("%s: expected %d params, got 0 (params: %s)", k.name, np,
        table.concat(k.params, ", ")), level) end
      return 0
    end
    if type(params) ~= "table" then error(k.name .. ": params must be a table", level) end
    if params[1] ~= nil or next(params) == nil then
      local n = #params
      if n ~= np then
        error(string.format("%s: expected %d params, got %d (params: %s)", k.name, np, n, table.concat(k.params, ", ")),
          level)
      end
      for i = 1, n do parbuf[i - 1] = num(k, params[i], k.params[i], level) end
      return n
    end
    for key in pairs(params) do
      if not k.param_index[key] then
        error(string.format("%s: no param named '%s' (params: %s)", k.name, tostring(key),
          table.concat(k.params, ", ")), level)
      end
    end
    for i = 1, np do
      local v = params[k.params[i]]
      if v == nil then error(string.format("%s: param '%s' is missing", k.name, k.params[i]), level) end
      parbuf[i - 1] = num(k, v, k.params[i], level)
    end
    return np
  end

  local function release_keep(n) for i = 1, n do keep[i] = nil end end

  -- A launch made by a ds.* function on behalf of its caller: errors point at
  -- the line that called the ds.* function.
  local function klaunch(k, args, params)
    local n = fill_args(k, args, 4)
    local np = fill_params(k, params, 4)
    local rc = C.ds_launch(ctx, k.ptr, argbuf, n, parbuf, np)
    release_keep(n)
    if rc ~= 0 then raise(3) end
  end

  function Kernel:launch(args, params)
    if getmetatable(self) ~= Kernel then error("kernel:launch: call it as k:launch(...) on a handle from ds.kernel", 2) end
    local n = fill_args(self, args, 3)
    local np = fill_params(self, params, 3)
    local rc = C.ds_launch(ctx, self.ptr, argbuf, n, parbuf, np)
    release_keep(n)
    if rc ~= 0 then raise(2) end
  end
  -- The flat argument list the kernel sees (lists expanded in slot order), for
  -- tools such as the gradient checker; the C side validates the layout.
  function Kernel:launch_flat(flat, params)
    if getmetatable(self) ~= Kernel then error("kernel:launch_flat: call it as k:launch_flat(...) on a handle from ds.kernel", 2) end
    local n = #flat
    if n > 64 then error(self.name .. ": more than 64 tensor arguments", 2) end
    for i = 1, n do
      if not is_tensor(flat[i]) or flat[i].ptr == nil then
        error(string.format("%s: flat argument #%d is not a live tensor", self.name, i), 2)
      end
      argbuf[i - 1] = flat[i].ptr
    end
    local np = fill_params(self, params, 3)
    if C.ds_launch(ctx, self.ptr, argbuf, n, parbuf, np) ~= 0 then raise(2) end
  end
  -- Runs the adjoint alone (no tape): used by kernel gradient checks.
  function Kernel:launch_adjoint(args, params)
    if getmetatable(self) ~= Kernel then error("kernel:launch_adjoint: call it as k:launch_adjoint(...) on a handle from ds.kernel", 2) end
    local n = fill_args(self, args, 3)
    local np = fill_params(self, params, 3)
    local rc = C.ds_launch_adjoint(ctx, self.ptr, argbuf, n, parbuf, np)
    release_keep(n)
    if rc ~= 0 then raise(2) end
  end
  function Kernel:arg_names()
    local out = {}
    for i = 1, self.nargs do out[i] = self.slots[i] end
    return out
  end
  function Kernel:param_names()
    local out = {}
    for i = 1, self.nparams do out[i] = self.params[i] end
    return out
  end

  function ds.kernels()
    local out = {}
    for i = 0, C.ds_kernel_count(ctx) - 1 do out[#out + 1] = ffi.string(C.ds_kernel_name_at(ctx, i)) end
    return out
  end

  -- Plugins: the C side by name on the search path, then its Lua front end.
  local fronts = {}
  local function load_plugin(name, fn, level)
    if type(name) ~= "string" or name == "" then
      error(fn .. ": name must be a plugin name or a path to a shared object, got " ..
        (name == "" and "an empty string" or type(name)), level + 1)
    end
    if name:find("\0", 1, true) then error(fn .. ": name contains a NUL byte", level + 1) end
    if C.ds_plugin_load(ctx, name) ~= 0 then error(fn .. ": " .. ffi.string(C.ds_last_error(ctx)), level + 1) end
  end
  function ds.load_plugin(name) load_plugin(name, "ds.load_plugin", 2) end
  -- ds.plugin(name): loads the plugin's kernels and returns its Lua front end.
  -- A plugin without a front end is legitimate: its kernels are there through
  -- ds.kernel, and ds.plugin returns them by op name. A front end that exists
  -- but fails to load is an error. The front end is looked for, first found wins:
  --   1. <name>.lua in the folder the plugin's .so was loaded from (a plugin
  --      built in its own folder: no LUA_PATH needed);
  --   2. require(name): LUA_PATH (the source tree's plugins/<name>/<name>.lua);
  --   3. diffsim/plugins/<name>.lua beside this package (installed front ends,
  --      namespaced so generic names like "wave" never clash with other modules).
  local pkg_dir = debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*)/ops%.lua$") or "."
  local function is_file(p)
    local fh = io.open(p, "rb")
    if fh then fh:close() return true end
    return false
  end
  -- The .so the loader picked: the same search, in the same order, as the core's.
  local function plugin_file(name)
    local path = ffi.string(C.ds_plugin_path(ctx))
    for dir in path:gmatch("[^:]+") do
      for _, form in ipairs({"%s/libds_%s_%s.so", "%s/ds_%s_%s.so", "%s/%s_%s.so"}) do
        local p = string.format(form, dir, name, ds.precision)
        if is_file(p) then return p, dir end
      end
    end
  end
  local function load_front_file(name, file)
    local chunk, err = loadfile(file)
    if not chunk then return false, err end
    local ok, mod = pcall(chunk, name, file)
    if not ok then return false, mod end
    if mod == nil then mod = true end
    package.loaded[name] = package.loaded[name] or mod
    return true, mod
  end
  local function find_front(name)
    local _, dir = plugin_file(name)
    if dir and is_file(dir .. "/" .. name .. ".lua") then return load_front_file(name, dir .. "/" .. name .. ".lua") end
    local ok, front = pcall(require, name)
    if ok or not tostring(front):find("module '" .. name .. "' not found", 1, true) then return ok, front end
    local installed = pkg_dir .. "/plugins/" .. name .. ".lua"
    if is_file(installed) then return load_front_file(name, installed) end
    return false, front
  end
  function ds.plugin(name)
    local f = fronts[name]
    if f then return f end
    load_plugin(name, "ds.plugin", 2)
    if name:find("/") then return true end
    local ok, front = find_front(name)
    if not ok then
      if tostring(front):find("module '" .. name .. "' not found", 1, true) then
        -- No Lua front end: the plugin's kernels by op name (front.step is the
        -- kernel "name.step"); any other key is an error, never a silent nil.
        front = setmetatable({}, {__index = function(_, op)
          if type(op) == "string" and C.ds_kernel_find(ctx, name .. "." .. op) ~= nil then
            return ds.kernel(name .. "." .. op)
          end
          C.ds_clear_error(ctx)
          local ops = {}
          for _, k in ipairs(ds.kernels()) do
            if k:sub(1, #name + 1) == name .. "." then ops[#ops + 1] = k:sub(#name + 2) end
          end
          error(string.format("ds.plugin('%s'): the plugin has no Lua front end (%s.lua beside its .so or on " ..
            "LUA_PATH) and no kernel '%s' (kernels: %s)", name, name, tostring(op), table.concat(ops, ", ")), 2)
        end})
      else
        error("ds.plugin: the Lua front end of plugin '" .. name .. "' failed to load: " .. tostring(front), 2)
      end
    end
    fronts[name] = front
    return front
  end
  function ds.add_plugin_path(dir)
    if type(dir) ~= "string" or dir == "" then
      error("ds.add_plugin_path: dir must be a directory path (a non-empty string), got " ..
        (dir == "" and "an empty string" or type(dir)), 2)
    end
    if dir:find("\0", 1, true) or dir:find(":", 1, true) then
      error("ds.add_plugin_path: dir must not contain ':' or NUL bytes (add one directory per call)", 2)
    end
    ds.check(C.ds_plugin_add_path(ctx, dir), 2)
  end

  -- Monotonic wall-clock seconds, for benchmarks (kernels run on several threads,
  -- so os.clock's CPU time would overcount).
  local ts = ffi.new("ds_timespec")
  function ds.now()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end

  -- A Lua function receiving the core's and plugins' log messages (level,
  -- text), or nil to restore the default (warnings to stderr). C calls back
  -- into Lua from inside launches, which LuaJIT forbids from compiled code, so
  -- the JIT compiler is off while a Lua log function is set: for debugging.
  local log_cb
  function ds.set_log(fn)
    if fn ~= nil and type(fn) ~= "function" then error("ds.set_log: expected a function or nil", 2) end
    C.ds_set_log(ctx, nil, nil)
    if log_cb then log_cb:free(); log_cb = nil; jit.on() end
    if fn then
      jit.flush()
      jit.off()
      log_cb = ffi.cast("ds_log_fn", function(_, level, msg) fn(level, ffi.string(msg)) end)
      C.ds_set_log(ctx, log_cb, nil)
    end
  end

  -- threads: 0 for all cores (auto), or a count in 1..1024.
  local function check_threads(n, fn, level)
    if type(n) ~= "number" or n ~= math.floor(n) or n < 0 or n > 1024 then
      error(fn .. ": threads must be 0 (all cores) or an integer in 1..1024, got " .. tostring(n), level + 1)
    end
  end
  ds.check_threads = check_threads
  function ds.set_threads(n)
    check_threads(n, "ds.set_threads", 2)
    ds.check(C.ds_set_threads(ctx, n), 2)
  end
  function ds.threads() return C.ds_threads(ctx) end
  function ds.set_anomaly(on)
    if on ~= nil and type(on) ~= "boolean" then error("ds.set_anomaly: expected true or false, got " .. type(on), 2) end
    C.ds_set_anomaly(ctx, on and 1 or 0)
  end
  local mem = ffi.new("int64_t[3]")
  function ds.memory()
    ds.release_unreachable()
    C.ds_mem_stats(ctx, mem, mem + 1, mem + 2)
    return {live = tonumber(mem[0]), peak = tonumber(mem[1]), cached = tonumber(mem[2])}
  end
  function ds.reset_peak_memory() ds.release_unreachable(); C.ds_mem_reset_peak(ctx) end
  function ds.trim_memory() collectgarbage("collect"); ds.release_unreachable(); C.ds_mem_trim(ctx) end

  -- ---- differentiable ops ---------------------------------------------------
  local K = setmetatable({}, {__index = function(t, name)
    local k = ds.kernel("core." .. name)
    t[name] = k
    return k
  end})
  local empty, empty_like = ds.empty, ds.empty_like

  -- The core ops launch directly (their arguments are known tensors): no
  -- argument table, no name lookup; validation stays in C.
  local function launch2(k, x, out, np, level)
    argbuf[0], argbuf[1] = x.ptr, out.ptr
    if C.ds_launch(ctx, k.ptr, argbuf, 2, parbuf, np) ~= 0 then raise(level + 1) end
  end
  local function unary(name)
    local k = K[name]
    local fname = "ds." .. name
    return function(x, ...)
      V(x, fname)
      local out = empty_like(x)
      local np = select("#", ...)
      if np ~= k.nparams then klaunch(k, {x, out}, {...}) return out end
      for i = 1, np do
        local v = select(i, ...)
        if type(v) ~= "number" then klaunch(k, {x, out}, {...}) return out end
        parbuf[i - 1] = v
      end
      launch2(k, x, out, np, 2)
      return out
    end
  end
  for _, n in ipairs{"tanh", "sin", "cos", "exp", "log", "sqrt", "square", "abs", "relu", "sigmoid", "copy"} do
    ds[n] = unary(n)
  end
  local affine_k, rdiv_k = K.affine, K.rdiv
  function ds.affine(x, a, b)
    if not is_tensor(x) or type(a) ~= "number" or type(b) ~= "number" then
      V(x, "ds.affine")
      local out = empty_like(x)
      klaunch(affine_k, {x, out}, {a, b})
      return out
    end
    local out = empty_like(V(x) and x)
    parbuf[0], parbuf[1] = a, b
    launch2(affine_k, x, out, 2, 2)
    return out
  end
  function ds.clamp(x, lo, hi)
    V(x, "ds.clamp")
    local out = empty_like(x)
    klaunch(K.clamp, {x, out}, {lo, hi})
    return out
  end
  ds.clone = ds.copy
  function ds.neg(x) V(x, "ds.neg") return ds.affine(x, -1, 0) end
  function ds.scale(x, a) V(x, "ds.scale") return ds.affine(x, a, 0) end

  local function bigger(a, b) return (V(b).count > V(a).count) and b or a end
  local function binary(name)
    local k = K[name]
    local fname = "ds." .. name
    return function(a, b)
      local pa, pb = V(a, fname), V(b, fname)
      local out = empty_like(pb.count > pa.count and b or a)
      argbuf[0], argbuf[1], argbuf[2] = pa, pb, out.ptr
      if C.ds_launch(ctx, k.ptr, argbuf, 3, parbuf, 0) ~= 0 then raise(2) end
      return out
    end
  end
  local add_t, sub_t, mul_t, div_t = binary("add"), binary("sub"), binary("mul"), binary("div")

  local function arith(tt, tn, nt, fname)
    return function(a, b)
      local ta, tb = is_tensor(a), is_tensor(b)
      if ta and tb then return tt(a, b) end
      if ta and type(b) == "number" then V(a, fname) return tn(a, b) end
      if tb and type(a) == "number" then V(b, fname) return nt(a, b) end
      error("tensor arithmetic: operands must be tensors or numbers, got " .. type(a) .. " and " .. type(b), 2)
    end
  end
  ds.add = arith(add_t, function(a, b) return ds.affine(a, 1, b) end, function(a, b) return ds.affine(b, 1, a) end, "ds.add")
  ds.sub = arith(sub_t, function(a, b) return ds.affine(a, 1, -b) end, function(a, b) return ds.affine(b, -1, a) end, "ds.sub")
  ds.mul = arith(mul_t, function(a, b) return ds.affine(a, b, 0) end, function(a, b) return ds.affine(b, a, 0) end, "ds.mul")
  ds.div = arith(div_t, function(a, b) return ds.affine(a, 1 / b, 0) end,
    function(a, b) local out = empty_like(b); klaunch(rdiv_k, {b, out}, {a}); return out end, "ds.div")

  local scalar = {}
  -- Outputs live on their first input's device.
  local on = {}
  local function where(x)
    local p = ds.is_tensor(x) and x.ptr
    local d = p and p ~= nil and p.device or 0
    if d == 0 then return nil end
    local o = on[d]
    if not o then o = {device = ffi.string(C.ds_device_name(d))}; on[d] = o end
    return o
  end
  -- ds.sum(x) / ds.mean(x): over every element, a one-element tensor.
  -- ds.sum(x, dim) / ds.mean(x, dim): over axis dim (1-based, or negative
  -- from the end), the result has x's shape without that axis.
  local function reduce_dim(name, x, dim, fname)
    local p = V(x, fname)
    local nd = p.ndim
    if type(dim) ~= "number" or dim ~= math.floor(dim) or dim == 0 or dim > nd or dim < -nd then
      error(string.format("%s: dim must be an integer in 1..%d (or -%d..-1) for a tensor of %d dims, got %s", fname,
        nd, nd, nd, tostring(dim)), 3)
    end
    if dim < 0 then dim = nd + 1 + dim end
    local s = {}
    for i = 0, nd - 1 do if i ~= dim - 1 then s[#s + 1] = tonumber(p.dims[i]) end end
    local out = empty(s, where(x))
    klaunch(K[name .. "_dim"], {x, out}, {dim - 1})
    return out
  end
  local function reduce(name, with_dim)
    local k = K[name]
    local fname = "ds." .. name
    return function(x, dim, ...)
      if dim ~= nil or select("#", ...) > 0 then
        if not with_dim or select("#", ...) > 0 then
          error(string.format("%s: expected (x%s), got %d arguments", fname, with_dim and " [, dim]" or "",
            2 + select("#", ...)), 2)
        end
        local out = reduce_dim(name, x, dim, fname)
        return out
      end
      local out = empty(scalar, where(x))
      klaunch(k, {x, out})
      return out
    end
  end
  ds.sum, ds.mean, ds.norm = reduce("sum", true), reduce("mean", true), reduce("norm", false)
  function ds.dot(a, b)
    V(a, "ds.dot"); V(b, "ds.dot")
    local out = empty(scalar, where(a))
    klaunch(K.dot, {a, b, out})
    return out
  end
  function ds.sum_rows(x)
    V(x, "ds.sum_rows")
    local s = x:shape()
    table.remove(s, 1)
    local out = empty(s, where(x))
    klaunch(K.sum_rows, {x, out})
    return out
  end

  -- matmul(a, b [, transpose_a, transpose_b]); 1-D operands act as a row / column.
  function ds.matmul(a, b, ta, tb)
    V(a, "ds.matmul"); V(b, "ds.matmul")
    local a2, b2 = a, b
    local vec_a, vec_b = V(a).ndim == 1, V(b).ndim == 1
    if vec_a then a2 = ds.reshape(a, {1, a:numel()}) end
    if vec_b then b2 = ds.reshape(b, {b:numel(), 1}) end
    if V(a2).ndim ~= 2 or V(b2).ndim ~= 2 then error("ds.matmul: operands must be 1-D or 2-D", 2) end
    local m = ta and V(a2).dims[1] or V(a2).dims[0]
    local n = tb and V(b2).dims[0] or V(b2).dims[1]
    local out = empty({tonumber(m), tonumber(n)}, where(a))
    klaunch(K.matmul, {a2, b2, out}, {ta and 1 or 0, tb and 1 or 0})
    if vec_a and vec_b then return ds.reshape(out, {}) end
    if vec_a or vec_b then return ds.reshape(out, {out:numel()}) end
    return out
  end

  function ds.add_row(x, bias)
    V(x, "ds.add_row")
    local out = empty_like(x)
    klaunch(K.add_row, {x, bias, out})
    return out
  end

  -- A differentiable reshape: a copy with another shape.
  local reshape_buf = ffi.new("int64_t[4]")
  function ds.reshape(x, shape)
    local p = V(x, "ds.reshape")
    local nd = ds.fill_shape(shape, "ds.reshape", 3)
    local n = 1
    for i = 1, nd do n = n * shape[i] end
    if n ~= tonumber(p.count) then
      local s = {}
      for i = 0, p.ndim - 1 do s[#s + 1] = tonumber(p.dims[i]) end
      error(string.format("ds.reshape: a tensor of shape {%s} (%d elements) cannot take the shape {%s} (%d elements)",
        table.concat(s, ","), tonumber(p.count), table.concat(shape, ","), n), 2)
    end
    local out = empty_like(x)
    klaunch(K.copy, {x, out})
    for i = 1, nd do reshape_buf[i - 1] = shape[i] end
    if C.ds_tensor_reshape(out.p, nd, reshape_buf) ~= 0 then raise(2) end
    return out
  end

  local function rows_shape(x, n)
    local s = x:shape()
    s[1] = n
    return s
  end
  function ds.gather(src, idx)
    V(src, "ds.gather"); V(idx, "ds.gather")
    if V(src).ndim < 1 then error("ds.gather: argument 'src' must have rows (at least 1 dim)", 2) end
    local out = empty(rows_shape(src, idx:numel()), where(src))
    klaunch(K.gather, {src, idx, out})
    return out
  end
  function ds.scatter_add(src, idx, nrows, into)
    V(src, "ds.scatter_add"); V(idx, "ds.scatter_add")
    if V(src).ndim < 1 then error("ds.scatter_add: argument 'src' must have rows (at least 1 dim)", 2) end
    if into == nil and (type(nrows) ~= "number" or nrows < 0 or nrows ~= math.floor(nrows)) then
      error("ds.scatter_add: nrows must be a non-negative integer, got " .. tostring(nrows), 2)
    end
    local out = into or ds.zeros(rows_shape(src, nrows), where(src))
    klaunch(K.scatter_add, {src, idx, out})
    return out
  end
  -- element i (1-based, flat) of x as a one-element tensor
  function ds.pick(x, i)
    V(x, "ds.pick")
    if type(i) ~= "number" then error("ds.pick: index must be a number, got " .. type(i), 2) end
    local out = empty(scalar, where(x))
    klaunch(K.pick, {x, out}, {i - 1})
    return out
  end
  -- rows [start, start + count) of x, 1-based start like Lua
  function ds.slice_rows(x, start, count)
    V(x, "ds.slice_rows")
    if V(x).ndim < 1 then error("ds.slice_rows: argument 'x' must have rows (at least 1 dim)", 2) end
    if type(start) ~= "number" or type(count) ~= "number" or count < 0 or count ~= math.floor(count) then
      error("ds.slice_rows: expected (x, start, count) with integer start and count >= 0", 2)
    end
    local out = empty(rows_shape(x, count), where(x))
    klaunch(K.slice_rows, {x, out}, {start - 1})
    return out
  end
  function ds.concat(list)
    if type(list) ~= "table" or #list == 0 then error("ds.concat: expected a non-empty list of tensors", 2) end
    local rows = 0
    for i = 1, #list do
      if not is_tensor(list[i]) or V(list[i]).ndim < 1 then error("ds.concat: element " .. i .. " must be a tensor with rows", 2) end
      rows = rows + tonumber(V(list[i]).dims[0])
    end
    local out = ds.zeros(rows_shape(list[1], rows), where(list[1]))
    local at = 0
    for i = 1, #list do
      klaunch(K.place_rows, {list[i], out}, {at})
      at = at + tonumber(V(list[i]).dims[0])
    end
    return out
  end

  for _, n in ipairs{"sum", "mean", "norm", "tanh", "sin", "cos", "exp", "log", "sqrt", "square", "abs",
                     "relu", "sigmoid", "reshape", "clamp", "dot", "matmul", "copy"} do
    ds.tensor_methods[n] = ds[n]
  end
  ds.tensor_methods.clone = ds.copy
end
