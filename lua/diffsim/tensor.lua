-- Tensors: a Lua table {p = ds_tensor*, s = slot} with a metatable. (A table,
-- not a bare pointer cdata: LuaJIT gives pointer cdata built-in pointer
-- arithmetic, and its JIT may take `t - 1` for that.)
--
-- Ownership without a finalizer per tensor: ffi.gc costs microseconds per
-- object once thousands are pending (every finalizer is a call out of the
-- collector). Instead each wrapper takes a slot in a weak-valued table and its
-- pointer sits in a strong one beside it; after a collection, a sweep releases
-- the pointers whose wrappers are gone. Collections are paced by the bytes of
-- new tensors (below), so memory stays bounded as before.
local ffi = require("ffi")

return function(ds)
  local C, ctx = ds.C, ds.ctx
  local mt = {}
  ds.tensor_mt = mt
  -- The C struct behind a tensor (fields count, ndim, dims, dtype, ...).
  local function V(t)
    local p = t.p
    if p == nil then error("tensor: used after t:free()", 3) end
    return p
  end
  ds.view = V
  local shape_buf = ffi.new("int64_t[4]")
  local DS_REAL, DS_I32 = 0, 1
  local REQUIRES, LEAF = 1, 2

  local function raise(level)
    error(ffi.string(C.ds_last_error(ctx)), (level or 1) + 1)
  end
  ds.raise = raise

  local function check(rc, level)
    if rc ~= 0 then raise((level or 1) + 1) end
  end
  ds.check = check

  -- Garbage-collection pacing: LuaJIT does not see C allocations, so once new
  -- tensors add up to the live tensor memory at the last collection (at least
  -- 16 MB), collect. Peak memory stays within about twice what is reachable,
  -- which is what lets checkpointed rollouts actually run in less memory.
  local FLOOR = 16 * 2^20
  local since_gc, gc_floor = 0, FLOOR
  local live_buf = ffi.new("int64_t[1]")
  local owners = setmetatable({}, {__mode = "v"}) -- slot -> wrapper (weak)
  local owned = {}                                  -- slot -> ds_tensor* (strong)
  local free_slots, nfree, nslots = {}, 0, 0
  local function sweep()
    for i = 1, nslots do
      local p = owned[i]
      if p and owners[i] == nil then
        owned[i] = nil
        C.ds_tensor_release(p)
        nfree = nfree + 1
        free_slots[nfree] = i
      end
    end
  end
  -- Slots whose wrappers the collector has already cleared are reused without
  -- a full collection: sweep when the table has doubled since the last sweep.
  local sweep_at = 4096
  local function own(p)
    local i
    if nfree == 0 and nslots >= sweep_at then
      sweep()
      sweep_at = math.max(4096, 2 * (nslots - nfree))
    end
    if nfree > 0 then
      i = free_slots[nfree]
      free_slots[nfree] = nil
      nfree = nfree - 1
    else
      nslots = nslots + 1
      i = nslots
    end
    local t = setmetatable({p = p, s = i}, mt)
    owned[i], owners[i] = p, t
    return t
  end
  local function disown(t)
    local i = t.s
    if i and owned[i] == t.p then
      owned[i], owners[i] = nil, nil
      nfree = nfree + 1
      free_slots[nfree] = i
    end
  end

  -- Releases the tensors whose wrappers the collector has freed (memory
  -- statistics call it, so they count only what is reachable).
  ds.release_unreachable = sweep

  local function collect()
    collectgarbage("collect")
    sweep()
    C.ds_mem_stats(ctx, live_buf, nil, nil)
    gc_floor = math.max(FLOOR, tonumber(live_buf[0]))
    since_gc = 0
  end
  local REAL_BYTES = ffi.sizeof("ds_real")
  local function pace(bytes)
    since_gc = since_gc + bytes
    if since_gc > gc_floor then collect() end
  end
  -- Collects now if at least min_bytes of tensors were made since the last
  -- collection: checkpoint segments call it when they end, because what they
  -- made and did not return is garbage by then.
  function ds.collect_garbage(min_bytes)
    if since_gc >= (min_bytes or 0) then collect() end
  end

  local function wrap(p)
    if p == nil then raise(3) end
    -- a tensor costs its elements plus its header and the pool's 64-byte minimum
    pace(tonumber(p.count) * (p.dtype == DS_I32 and 4 or REAL_BYTES) + 192)
    return own(p)
  end
  ds.wrap = wrap

  local function dtype_code(dtype, fn, level)
    if dtype == nil or dtype == "real" or dtype == "f32" or dtype == "f64" then return DS_REAL end
    if dtype == "i32" then return DS_I32 end
    error(fn .. ": unknown dtype '" .. tostring(dtype) .. "' (use 'real' or 'i32')", level + 1)
  end

  -- Devices by name, in id order: "cpu", "cuda", "mock".
  local device_names = {}
  for d = 0, C.ds_device_count() - 1 do device_names[d] = ffi.string(C.ds_device_name(d)) end
  local function device_code(name, fn, level)
    if name == nil then return 0 end
    local d = type(name) == "string" and C.ds_device_find(name) or -1
    if d < 0 then
      local known = {}
      for i = 0, #device_names do known[#known + 1] = device_names[i] end
      error(fn .. ": unknown device '" .. tostring(name) .. "' (expected " .. table.concat(known, ", ") .. ")", level + 1)
    end
    local why = C.ds_device_unavailable(d)
    if why ~= nil then error(fn .. ": device '" .. name .. "' is not available: " .. ffi.string(why), level + 1) end
    return d
  end
  ds.device_code = device_code

  -- Available devices, in id order (the CPU first).
  function ds.devices()
    local out = {}
    for d = 0, #device_names do
      if C.ds_device_available(d) ~= 0 then out[#out + 1] = device_names[d] end
    end
    return out
  end

  -- Where ds.empty and friends take a dtype: a dtype string ("real", "i32"),
  -- or an options table {dtype =, device =}.
  local function options(opts, fn, level)
    local dtype, device = opts, nil
    if type(opts) == "table" then dtype, device = opts.dtype, opts.device end
    return dtype_code(dtype, fn, level + 1), device_code(device, fn, level + 1)
  end

  local function fill_shape(shape, fn)
    if type(shape) == "number" then shape = {shape} end
    if type(shape) ~= "table" then error(fn .. ": shape must be a table of sizes", 4) end
    if #shape > 4 then error(fn .. ": at most 4 dims, got " .. #shape, 4) end
    for i = 1, #shape do
      local n = shape[i]
      if type(n) ~= "number" or n < 0 or n ~= math.floor(n) then
        error(fn .. ": dimension " .. i .. " must be a non-negative integer, got " .. tostring(n), 4)
      end
      shape_buf[i - 1] = n
    end
    return #shape
  end

  -- A new tensor for the public constructors; `fn` names the one called, and
  -- errors point at its caller.
  local function make(shape, opts, fn, zero)
    local nd = fill_shape(shape, fn)
    local dtype, device = options(opts, fn, 3)
    if zero then return wrap(C.ds_tensor_new_on(ctx, dtype, nd, shape_buf, device)) end
    return wrap(C.ds_tensor_empty_on(ctx, dtype, nd, shape_buf, device))
  end

  function ds.empty(shape, opts) return make(shape, opts, "ds.empty", false) end
  function ds.zeros(shape, opts) return make(shape, opts, "ds.zeros", true) end
  function ds.full(shape, v, opts)
    if type(v) ~= "number" then error("ds.full: value must be a number", 2) end
    local t = make(shape, opts, "ds.full", false)
    check(C.ds_tensor_fill(t.p, v), 2)
    return t
  end
  function ds.ones(shape, opts)
    local t = make(shape, opts, "ds.ones", false)
    check(C.ds_tensor_fill(t.p, 1), 2)
    return t
  end
  -- ds.randn(shape, seed, std [, opts]) or ds.randn(shape, {seed =, std =, device =})
  function ds.randn(shape, seed, std, opts)
    if type(seed) == "table" then seed, std, opts = seed.seed, seed.std, seed end
    local t = make(shape, opts, "ds.randn", false)
    check(C.ds_fill_randn(t.p, seed or 0, 0, std or 1), 2)
    return t
  end
  -- ds.rand(shape, seed, lo, hi [, opts]) or ds.rand(shape, {seed =, lo =, hi =, device =})
  function ds.rand(shape, seed, lo, hi, opts)
    if type(seed) == "table" then seed, lo, hi, opts = seed.seed, seed.lo, seed.hi, seed end
    local t = make(shape, opts, "ds.rand", false)
    check(C.ds_fill_uniform(t.p, seed or 0, lo or 0, hi or 1), 2)
    return t
  end
  local function shape_of(t)
    local s = {}
    for i = 0, V(t).ndim - 1 do s[i + 1] = tonumber(V(t).dims[i]) end
    return s
  end
  -- Same shape, dtype and device.
  function ds.empty_like(t) return wrap(C.ds_tensor_empty_like(V(t))) end
  function ds.zeros_like(t)
    local p = V(t)
    return wrap(C.ds_tensor_new_on(ctx, p.dtype, p.ndim, p.dims, p.device))
  end

  -- ds.tensor{1, 2, 3}, ds.tensor{{1, 2}, {3, 4}}, ds.tensor(tbl, "i32"), ds.tensor(5),
  -- ds.tensor(tbl, {dtype = "i32", device = "mock"})
  function ds.tensor(tbl, opts)
    if type(tbl) == "number" then
      local t = make({}, opts, "ds.tensor", false)
      check(C.ds_tensor_set(t.p, 0, tbl), 2)
      return t
    end
    if type(tbl) ~= "table" then error("ds.tensor: expected a number or a (nested) table of numbers", 2) end
    local shape, node = {}, tbl
    while type(node) == "table" do
      shape[#shape + 1] = #node
      node = node[1]
      if #shape > 4 then error("ds.tensor: more than 4 levels of nesting", 2) end
    end
    local n = 1
    for i = 1, #shape do n = n * shape[i] end
    local buf = ffi.new("double[?]", math.max(n, 1))
    local k = 0
    local function walk(x, d)
      if d > #shape then
        if type(x) ~= "number" then error("ds.tensor: element " .. (k + 1) .. " is not a number", 4) end
        buf[k] = x
        k = k + 1
        return
      end
      if type(x) ~= "table" or #x ~= shape[d] then
        error("ds.tensor: ragged table: dimension " .. d .. " should have " .. shape[d] .. " entries", 4)
      end
      for i = 1, #x do walk(x[i], d + 1) end
    end
    walk(tbl, 1)
    local t = make(shape, opts, "ds.tensor", false)
    check(C.ds_tensor_from_doubles(t.p, buf, n), 2)
    return t
  end

  function ds.is_tensor(x) return getmetatable(x) == mt end

  local methods = {}
  ds.tensor_methods = methods

  function methods.shape(t) return shape_of(t) end
  function methods.numel(t) return tonumber(V(t).count) end
  function methods.dim(t) return V(t).ndim end
  function methods.dtype_name(t) return V(t).dtype == DS_I32 and "i32" or "real" end
  -- Only CPU memory has host addresses; a raw pointer into a device would
  -- crash (mock) or be garbage (cuda) when dereferenced from Lua.
  function methods.data(t)
    local p = V(t)
    if p.device ~= 0 then
      error("tensor:data: the tensor is on device '" .. device_names[p.device] ..
            "', whose memory the host cannot read; use t:to('cpu') first", 2)
    end
    return ffi.cast(p.dtype == DS_I32 and "int32_t *" or "ds_real *", p.ptr)
  end
  -- A copy on another device ("cpu", "cuda", "mock"); never recorded, no grad.
  function methods.to(t, device)
    local d = device_code(device, "tensor:to", 2)
    return wrap(C.ds_tensor_to(V(t), d))
  end
  function methods.item(t)
    if V(t).count ~= 1 then error("tensor:item: tensor has " .. tonumber(V(t).count) .. " elements, not 1", 2) end
    return C.ds_tensor_get(t.p, 0)
  end
  function methods.get(t, i) -- 1-based flat index
    local v = C.ds_tensor_get(t.p, i - 1)
    if v ~= v and i - 1 >= V(t).count then raise(2) end
    return v
  end
  function methods.set(t, i, v) check(C.ds_tensor_set(t.p, i - 1, v), 2); return t end
  function methods.totable(t)
    local n = tonumber(V(t).count)
    local buf = ffi.new("double[?]", math.max(n, 1))
    check(C.ds_tensor_to_doubles(t.p, buf, n), 2)
    local shape, k = shape_of(t), 0
    if #shape == 0 then return buf[0] end
    local function build(d)
      local out = {}
      for i = 1, shape[d] do
        if d == #shape then
          out[i] = buf[k]
          k = k + 1
        else
          out[i] = build(d + 1)
        end
      end
      return out
    end
    return build(1)
  end
  -- Flat list of the elements (1-based).
  function methods.tolist(t)
    local n = tonumber(V(t).count)
    local buf = ffi.new("double[?]", math.max(n, 1))
    check(C.ds_tensor_to_doubles(t.p, buf, n), 2)
    local out = {}
    for i = 1, n do out[i] = buf[i - 1] end
    return out
  end
  function methods.requires_grad(t, on)
    check(C.ds_tensor_set_requires_grad(t.p, on == false and 0 or 1), 2)
    return t
  end
  function methods.needs_grad(t) return bit.band(V(t).flags, REQUIRES) ~= 0 end
  function methods.is_leaf(t) return bit.band(V(t).flags, LEAF) ~= 0 end
  function methods.retain_grad(t) C.ds_tensor_retain_grad(t.p); return t end
  function methods.zero_grad(t) C.ds_tensor_zero_grad(t.p); return t end
  function methods.drop_grad(t) C.ds_tensor_drop_grad(t.p); return t end
  function methods.copy_(t, src) check(C.ds_tensor_copy(t.p, src.p), 2); return t end
  function methods.fill_(t, v) check(C.ds_tensor_fill(V(t), v), 2); return t end
  function methods.clamp_(t, lo, hi) check(C.ds_clamp_inplace(t.p, lo, hi), 2); return t end
  function methods.axpy_(t, a, x) check(C.ds_axpy(t.p, a, x.p), 2); return t end
  function methods.scale_(t, a) check(C.ds_scal(t.p, a), 2); return t end
  function methods.touch(t) C.ds_tensor_bump(t.p); return t end -- after raw writes through t:data()
  -- A copy that shares nothing and records nothing.
  function methods.detach(t)
    local c = ds.empty_like(t)
    check(C.ds_tensor_copy(c.p, t.p), 2)
    return c
  end
  -- Releases the memory now; safe to call twice. Do not use t afterwards.
  function methods.free(t)
    if t.p == nil then return end
    disown(t)
    C.ds_tensor_release(t.p)
    t.p = nil
  end
  function methods.version(t) return tonumber(V(t).ver) end

  local function grad_of(t)
    local g = V(t).grad_
    if g == nil then return nil end
    C.ds_tensor_retain(g)
    return own(g)
  end

  mt.__index = function(t, k)
    if k == "grad" then return grad_of(t) end
    if k == "device" then return device_names[V(t).device] end
    return methods[k]
  end
  mt.__tostring = function(t)
      local s = table.concat(shape_of(t), ",")
      local vals = {}
      local n = math.min(tonumber(V(t).count), 8)
      for i = 0, n - 1 do vals[#vals + 1] = string.format("%.6g", C.ds_tensor_get(t.p, i)) end
      if V(t).count > 8 then vals[#vals + 1] = "..." end
      return string.format("tensor{%s} %s [%s]", s, methods.dtype_name(t), table.concat(vals, ", "))
  end
end
