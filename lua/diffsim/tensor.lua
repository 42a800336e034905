-- Tensors: a small FFI struct {ptr = ds_tensor*, s = slot} with a metatype;
-- t.p reads ptr and raises once t:free() has set it to NULL.
-- (A struct, not a bare pointer cdata: LuaJIT gives pointer cdata built-in
-- pointer arithmetic, and its JIT may take `t - 1` for that. A struct, not a
-- Lua table: a table with two named fields plus the boxed pointer it holds is
-- three allocations per tensor; the struct is one, which is most of what a
-- launch costs from Lua.)
--
-- Ownership without a finalizer per tensor: ffi.gc costs microseconds per
-- object once thousands are pending (every finalizer is a call out of the
-- collector). Instead each wrapper takes a slot in a weak-valued table and its
-- pointer sits in a plain pointer array beside it; after a collection, a sweep
-- releases the pointers whose wrappers are gone. Collections are paced by the
-- bytes of new tensors (below), so memory stays bounded as before.
-- A freed tensor keeps its wrapper with p = NULL.
local ffi = require("ffi")

ffi.cdef[[typedef struct ds_tensor_ref { ds_tensor *ptr; int32_t s; } ds_tensor_ref;]]

return function(ds)
  local C, ctx = ds.C, ds.ctx
  local mt = {}
  ds.tensor_mt = mt
  local istype = ffi.istype
  local ref_t = ffi.typeof("ds_tensor_ref") -- becomes the metatype at the end, once mt is complete
  local function is_tensor(x) return istype(ref_t, x) end
  -- The C struct behind a tensor (fields count, ndim, dims, dtype, ...).
  -- V(t [, fn]) raises, at the caller of the function that called it, when t
  -- is not a live tensor; fn names that function in the message.
  local function bad(t, fn, level)
    fn = fn or "tensor"
    if is_tensor(t) then error(fn .. ": tensor used after t:free()", level + 1) end
    error(fn .. ": expected a tensor, got " .. (type(t) == "table" and "a table that is not a tensor" or type(t)) ..
          (t == nil and " (call methods as t:name(...), not t.name(...))" or ""), level + 1)
  end
  local function V(t, fn)
    if is_tensor(t) then
      local p = t.ptr
      if p ~= nil then return p end
    end
    bad(t, fn, 3)
  end
  ds.view = V
  -- P(t, fn, level): like V, with the level of the error chosen by the caller.
  local function P(t, fn, level)
    if is_tensor(t) then
      local p = t.ptr
      if p ~= nil then return p end
    end
    bad(t, fn, (level or 2) + 1)
  end
  ds.live = P
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
  local cap = 4096
  local owned = ffi.new("ds_tensor *[?]", cap + 1)  -- slot -> ds_tensor* (strong; NULL: free)
  local free_slots, nfree, nslots = {}, 0, 0
  local function sweep()
    for i = 1, nslots do
      local p = owned[i]
      if p ~= nil and owners[i] == nil then
        owned[i] = nil
        C.ds_tensor_release(p)
        nfree = nfree + 1
        free_slots[nfree] = i
      end
    end
  end
  local function grow()
    local bigger = ffi.new("ds_tensor *[?]", 2 * cap + 1)
    ffi.copy(bigger, owned, (cap + 1) * ffi.sizeof("ds_tensor *"))
    owned, cap = bigger, 2 * cap
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
      if i > cap then grow() end
    end
    local t = ref_t(p, i)
    owned[i], owners[i] = p, t
    return t
  end
  local function disown(t)
    local i = t.s
    if i > 0 and owned[i] == t.ptr then
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

  -- Every key of an options table must be a known option: a misspelt one is
  -- an error naming the function and the option, never silently ignored.
  -- Unknown option names are errors everywhere: one rule, ds.check_options(fn, opts, allowed).
  local option_rules = require("diffsim.options")
  ds.check_options = option_rules.check
  ds.check_entry = option_rules.check_entry

  -- "real" and the context's own precision name are the real dtype; the other
  -- precision is an error: ds.init chooses the precision, once.
  local function dtype_code(dtype, fn, level)
    if dtype == nil or dtype == "real" or dtype == ds.precision then return DS_REAL end
    if dtype == "i32" then return DS_I32 end
    if dtype == "f32" or dtype == "f64" then
      error(string.format("%s: dtype '%s' is not available: this context's precision is %s " ..
        "(ds.init{precision = ...} chooses it, before first use); use 'real' or '%s'", fn, dtype, ds.precision,
        ds.precision), level + 1)
    end
    error(fn .. ": unknown dtype '" .. tostring(dtype) .. "' (use 'real', '" .. ds.precision .. "' or 'i32')", level + 1)
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
  -- or an options table {dtype =, device =} (plus `extra` option names).
  local DTYPE_DEVICE = {"dtype", "device"}
  local function options(opts, fn, level, known)
    local dtype, device = opts, nil
    if type(opts) == "table" then
      option_rules.check(fn, opts, known or DTYPE_DEVICE)
      dtype, device = opts.dtype, opts.device
    elseif opts ~= nil and type(opts) ~= "string" then
      error(fn .. ": expected a dtype string or an options table {dtype =, device =}, got " .. type(opts), level + 1)
    end
    return dtype_code(dtype, fn, level + 1), device_code(device, fn, level + 1)
  end

  local MAX_DIM = 2 ^ 40
  -- A shape: a table of at most 4 non-negative integer sizes (or one number),
  -- checked here before anything reaches the fixed-size FFI buffer.
  local function fill_shape(shape, fn, level)
    level = level or 4
    if type(shape) == "number" then shape = {shape} end
    if type(shape) ~= "table" then
      error(fn .. ": shape must be a table of sizes, got " .. (is_tensor(shape) and "a tensor" or type(shape)),
        level)
    end
    local nd = #shape
    if nd > 4 then error(fn .. ": at most 4 dims, got " .. nd, level) end
    local extra = next(shape, nd > 0 and nd or nil)
    if extra ~= nil then
      error(fn .. ": shape must be a list of sizes; it has " ..
        (type(extra) == "number" and "a hole before entry " .. extra or "a key '" .. tostring(extra) .. "'"), level)
    end
    for i = 1, nd do
      local n = shape[i]
      if type(n) ~= "number" or not (n >= 0) or n ~= math.floor(n) or n > MAX_DIM then
        error(fn .. ": dimension " .. i .. " must be a non-negative integer" ..
          (type(n) == "number" and n > MAX_DIM and n < math.huge and " of at most 2^40" or "") ..
          ", got " .. (type(n) == "string" and "the string '" .. n .. "'" or tostring(n)), level)
      end
      shape_buf[i - 1] = n
    end
    return nd
  end
  ds.fill_shape = fill_shape

  -- A new tensor for the public constructors; `fn` names the one called, and
  -- errors point at its caller.
  local function make(shape, opts, fn, zero, known)
    local nd = fill_shape(shape, fn)
    local dtype, device = options(opts, fn, 3, known)
    if zero then return wrap(C.ds_tensor_new_on(ctx, dtype, nd, shape_buf, device)) end
    return wrap(C.ds_tensor_empty_on(ctx, dtype, nd, shape_buf, device))
  end

  -- A value stored into an i32 tensor must be an integer in range: NaN, ±Inf
  -- and out-of-range values are errors, never -2147483648.
  local I32_MIN, I32_MAX = -2147483648, 2147483647
  local function i32_ok(v) return v >= I32_MIN and v <= I32_MAX end -- false for NaN
  local function check_value(v, is_i32, fn, what, level)
    if type(v) ~= "number" then
      error(string.format("%s: %s must be a number, got %s", fn, what, type(v)), level + 1)
    end
    if is_i32 and not i32_ok(v) then
      error(string.format("%s: %s is %s, which an i32 tensor cannot hold (integers in [%d, %d])", fn, what,
        tostring(v), I32_MIN, I32_MAX), level + 1)
    end
  end

  function ds.empty(shape, opts) local t = make(shape, opts, "ds.empty", false); return t end
  function ds.zeros(shape, opts) local t = make(shape, opts, "ds.zeros", true); return t end
  function ds.full(shape, v, opts)
    local t = make(shape, opts, "ds.full", false)
    check_value(v, t.p.dtype == DS_I32, "ds.full", "value", 2)
    check(C.ds_tensor_fill(t.p, v), 2)
    return t
  end
  function ds.ones(shape, opts)
    local t = make(shape, opts, "ds.ones", false)
    check(C.ds_tensor_fill(t.p, 1), 2)
    return t
  end

  -- Random numbers. An explicit seed gives the same numbers every time; without
  -- one, the seed comes from a global generator that advances on every draw
  -- (ds.manual_seed(s) restarts it, so a seeded program repeats itself).
  local U64 = ffi.typeof("uint64_t")
  local gen_state
  local function mix(x) -- splitmix64 finaliser
    x = (x + 0x9E3779B97F4A7C15ULL)
    x = bit.bxor(x, bit.rshift(x, 30)) * 0xBF58476D1CE4E5B9ULL
    x = bit.bxor(x, bit.rshift(x, 27)) * 0x94D049BB133111EBULL
    return bit.bxor(x, bit.rshift(x, 31))
  end
  local function check_seed(s, fn, level)
    if type(s) == "number" then
      if s >= 0 and s == math.floor(s) and s < 2 ^ 64 then return end
    elseif type(s) == "cdata" and (ffi.istype("uint64_t", s) or ffi.istype("int64_t", s)) then
      return
    end
    error(fn .. ": seed must be a non-negative integer, got " .. tostring(s), level + 1)
  end
  function ds.manual_seed(s)
    check_seed(s, "ds.manual_seed", 2)
    gen_state = mix(U64(s) + 0x5DEECE66DULL)
  end
  ds.manual_seed(0)
  local function next_seed()
    gen_state = gen_state + 1
    return mix(gen_state)
  end
  ds.next_seed = next_seed

  local function number_opt(v, fn, what, default, level)
    if v == nil then return default end
    if type(v) ~= "number" or v ~= v then
      error(fn .. ": " .. what .. " must be a number, got " .. tostring(v), level + 1)
    end
    return v
  end

  -- ds.randn(shape [, seed [, std [, opts]]]) or ds.randn(shape, {seed =, std =, device =})
  local RANDN_OPTS = {"seed", "std", "dtype", "device"}
  function ds.randn(shape, seed, std, opts)
    if type(seed) == "table" then
      if std ~= nil or opts ~= nil then error("ds.randn: with an options table, pass nothing after it", 2) end
      seed, std, opts = seed.seed, seed.std, seed
    end
    if seed ~= nil then check_seed(seed, "ds.randn", 2) end
    std = number_opt(std, "ds.randn", "std", 1, 2)
    local t = make(shape, opts, "ds.randn", false, RANDN_OPTS)
    if t.p.dtype == DS_I32 then error("ds.randn: cannot fill an i32 tensor with normal samples", 2) end
    check(C.ds_fill_randn(t.p, seed or next_seed(), 0, std), 2)
    return t
  end
  -- ds.rand(shape [, seed [, lo, hi [, opts]]]) or ds.rand(shape, {seed =, lo =, hi =, device =})
  local RAND_OPTS = {"seed", "lo", "hi", "dtype", "device"}
  function ds.rand(shape, seed, lo, hi, opts)
    if type(seed) == "table" then
      if lo ~= nil or hi ~= nil or opts ~= nil then error("ds.rand: with an options table, pass nothing after it", 2) end
      seed, lo, hi, opts = seed.seed, seed.lo, seed.hi, seed
    end
    if seed ~= nil then check_seed(seed, "ds.rand", 2) end
    lo = number_opt(lo, "ds.rand", "lo", 0, 2)
    hi = number_opt(hi, "ds.rand", "hi", 1, 2)
    local t = make(shape, opts, "ds.rand", false, RAND_OPTS)
    if t.p.dtype == DS_I32 then error("ds.rand: cannot fill an i32 tensor with uniform samples", 2) end
    check(C.ds_fill_uniform(t.p, seed or next_seed(), lo, hi), 2)
    return t
  end
  local function shape_of(t, fn)
    local p = P(t, fn or "tensor:shape", 3)
    local s = {}
    for i = 0, p.ndim - 1 do s[i + 1] = tonumber(p.dims[i]) end
    return s
  end
  -- Same shape, dtype and device.
  function ds.empty_like(t) return wrap(C.ds_tensor_empty_like(V(t, "ds.empty_like"))) end
  function ds.zeros_like(t)
    local p = V(t, "ds.zeros_like")
    return wrap(C.ds_tensor_new_on(ctx, p.dtype, p.ndim, p.dims, p.device))
  end

  -- ds.tensor{1, 2, 3}, ds.tensor{{1, 2}, {3, 4}}, ds.tensor(tbl, "i32"), ds.tensor(5),
  -- ds.tensor(tbl, {dtype = "i32", device = "mock"})
  function ds.tensor(tbl, opts)
    local dtype = options(opts, "ds.tensor", 2)
    local is_i32 = dtype == DS_I32
    if type(tbl) == "number" then
      check_value(tbl, is_i32, "ds.tensor", "the value", 2)
      local t = make({}, opts, "ds.tensor", false)
      check(C.ds_tensor_set(t.p, 0, tbl), 2)
      return t
    end
    if type(tbl) ~= "table" then
      error("ds.tensor: expected a number or a (nested) table of numbers, got " ..
        (is_tensor(tbl) and "a tensor (use t:detach() or ds.copy(t) to copy one)" or type(tbl)), 2)
    end
    local shape, node = {}, tbl
    while type(node) == "table" do
      shape[#shape + 1] = #node
      node = node[1]
      if #shape > 4 then error("ds.tensor: more than 4 levels of nesting (at most 4 dims)", 2) end
    end
    local n = 1
    for i = 1, #shape do n = n * shape[i] end
    local buf = ffi.new("double[?]", math.max(n, 1))
    local k = 0
    local function walk(x, d)
      if d > #shape then
        if type(x) ~= "number" then
          error("ds.tensor: element " .. (k + 1) .. " is " .. (x == nil and "nil (a hole in the table)" or
            "not a number (" .. type(x) .. ")"), 0)
        end
        if is_i32 and not i32_ok(x) then
          error(string.format("ds.tensor: element %d is %s, which an i32 tensor cannot hold (integers in [%d, %d])",
            k + 1, tostring(x), I32_MIN, I32_MAX), 0)
        end
        buf[k] = x
        k = k + 1
        return
      end
      if type(x) ~= "table" or #x ~= shape[d] then
        error("ds.tensor: ragged table: dimension " .. d .. " should have " .. shape[d] .. " entries", 0)
      end
      local extra = next(x, #x > 0 and #x or nil)
      if extra ~= nil then
        error("ds.tensor: " .. (type(extra) == "number" and "a hole in the table (entry " .. extra ..
          " follows a nil at dimension " .. d .. ")" or "key '" .. tostring(extra) .. "' is not a list index") ..
          "; elements must be a list of numbers without nils", 0)
      end
      for i = 1, #x do walk(x[i], d + 1) end
    end
    local ok, err = pcall(walk, tbl, 1)
    if not ok then error(err, 2) end
    local t = make(shape, opts, "ds.tensor", false)
    check(C.ds_tensor_from_doubles(t.p, buf, n), 2)
    return t
  end

  ds.is_tensor = is_tensor

  local methods = {}
  ds.tensor_methods = methods

  -- A 1-based flat index: an integer in [1, numel].
  local function index_of(p, i, fn)
    if type(i) ~= "number" or i ~= math.floor(i) or i < 1 or i > tonumber(p.count) then
      error(string.format("%s: index %s is out of range: indices are 1-based integers in [1, %d]", fn,
        type(i) == "number" and tostring(i) or "of type " .. type(i), tonumber(p.count)), 3)
    end
    return i - 1
  end
  local function tensor_arg(x, fn, what)
    if not is_tensor(x) then error(fn .. ": " .. what .. " must be a tensor, got " .. type(x), 3) end
    local p = x.ptr
    if p == nil then error(fn .. ": " .. what .. " was used after x:free()", 3) end
    return p
  end
  local function number_arg(v, fn, what)
    if type(v) ~= "number" then error(fn .. ": " .. what .. " must be a number, got " .. type(v), 3) end
    return v
  end

  function methods.shape(t) local s = shape_of(t, "tensor:shape"); return s end
  function methods.numel(t) return tonumber(P(t, "tensor:numel").count) end
  function methods.dim(t) return P(t, "tensor:dim").ndim end
  -- The 0-based index of the first NaN or infinity, or nil (i32 tensors: nil).
  -- Front ends use it to refuse bad user data by name before it spreads.
  function methods.first_nonfinite(t)
    local k = C.ds_tensor_has_nonfinite(P(t, "tensor:first_nonfinite"))
    return k > 0 and k - 1 or nil
  end
  function methods.dtype_name(t) return P(t, "tensor:dtype_name").dtype == DS_I32 and "i32" or "real" end
  -- Only CPU memory has host addresses; a raw pointer into a device would
  -- crash (mock) or be garbage (cuda) when dereferenced from Lua.
  function methods.data(t)
    local p = P(t, "tensor:data")
    if p.device ~= 0 then
      error("tensor:data: the tensor is on device '" .. device_names[p.device] ..
            "', whose memory the host cannot read; use t:to('cpu') first", 2)
    end
    return ffi.cast(p.dtype == DS_I32 and "int32_t *" or "ds_real *", p.ptr)
  end
  -- A copy on another device ("cpu", "cuda", "mock"); never recorded, no grad.
  function methods.to(t, device)
    local p = P(t, "tensor:to")
    local d = device_code(device, "tensor:to", 2)
    local out = wrap(C.ds_tensor_to(p, d))
    return out
  end
  function methods.item(t)
    local p = P(t, "tensor:item")
    if p.count ~= 1 then error("tensor:item: tensor has " .. tonumber(p.count) .. " elements, not 1", 2) end
    return C.ds_tensor_get(p, 0)
  end
  function methods.get(t, i) -- 1-based flat index
    local p = P(t, "tensor:get")
    local k = index_of(p, i, "tensor:get")
    if p.device == 0 then return C.ds_tensor_get(p, k) end
    C.ds_clear_error(ctx)
    local v = C.ds_tensor_get(p, k)
    if v ~= v and C.ds_last_error(ctx)[0] ~= 0 then raise(2) end
    return v
  end
  function methods.set(t, i, v)
    local p = P(t, "tensor:set")
    local k = index_of(p, i, "tensor:set")
    check_value(v, p.dtype == DS_I32, "tensor:set", "value", 2)
    check(C.ds_tensor_set(p, k, v), 2)
    return t
  end
  function methods.totable(t)
    local p = P(t, "tensor:totable")
    local n = tonumber(p.count)
    local buf = ffi.new("double[?]", math.max(n, 1))
    check(C.ds_tensor_to_doubles(p, buf, n), 2)
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
    local p = P(t, "tensor:tolist")
    local n = tonumber(p.count)
    local buf = ffi.new("double[?]", math.max(n, 1))
    check(C.ds_tensor_to_doubles(p, buf, n), 2)
    local out = {}
    for i = 1, n do out[i] = buf[i - 1] end
    return out
  end
  function methods.requires_grad(t, on)
    local p = P(t, "tensor:requires_grad")
    if on ~= nil and type(on) ~= "boolean" then
      error("tensor:requires_grad: argument must be true, false or nothing, got " .. type(on), 2)
    end
    check(C.ds_tensor_set_requires_grad(p, on == false and 0 or 1), 2)
    return t
  end
  function methods.needs_grad(t) return bit.band(P(t, "tensor:needs_grad").flags, REQUIRES) ~= 0 end
  function methods.is_leaf(t) return bit.band(P(t, "tensor:is_leaf").flags, LEAF) ~= 0 end
  function methods.retain_grad(t) C.ds_tensor_retain_grad(P(t, "tensor:retain_grad")); return t end
  function methods.zero_grad(t) C.ds_tensor_zero_grad(P(t, "tensor:zero_grad")); return t end
  function methods.drop_grad(t) C.ds_tensor_drop_grad(P(t, "tensor:drop_grad")); return t end
  function methods.copy_(t, src)
    local p = P(t, "tensor:copy_")
    check(C.ds_tensor_copy(p, tensor_arg(src, "tensor:copy_", "source")), 2)
    return t
  end
  function methods.fill_(t, v)
    local p = P(t, "tensor:fill_")
    check_value(v, p.dtype == DS_I32, "tensor:fill_", "value", 2)
    check(C.ds_tensor_fill(p, v), 2)
    return t
  end
  function methods.clamp_(t, lo, hi)
    local p = P(t, "tensor:clamp_")
    check(C.ds_clamp_inplace(p, number_arg(lo, "tensor:clamp_", "lo"), number_arg(hi, "tensor:clamp_", "hi")), 2)
    return t
  end
  function methods.axpy_(t, a, x)
    local p = P(t, "tensor:axpy_")
    check(C.ds_axpy(p, number_arg(a, "tensor:axpy_", "a"), tensor_arg(x, "tensor:axpy_", "x")), 2)
    return t
  end
  function methods.scale_(t, a)
    local p = P(t, "tensor:scale_")
    check(C.ds_scal(p, number_arg(a, "tensor:scale_", "a")), 2)
    return t
  end
  function methods.touch(t) C.ds_tensor_bump(P(t, "tensor:touch")); return t end -- after raw writes through t:data()
  -- A copy that shares nothing and records nothing.
  function methods.detach(t)
    local p = P(t, "tensor:detach")
    local c = wrap(C.ds_tensor_empty_like(p))
    check(C.ds_tensor_copy(c.p, p), 2)
    return c
  end
  -- Releases the memory now; safe to call twice. Do not use t afterwards:
  -- every method then raises "used after t:free()".
  function methods.free(t)
    if not is_tensor(t) then error("tensor:free: expected a tensor, got " .. type(t), 2) end
    local p = t.ptr
    if p == nil then return end
    disown(t)
    C.ds_tensor_release(p)
    t.ptr = nil
  end
  function methods.version(t) return tonumber(P(t, "tensor:version").ver) end

  local function grad_of(t)
    local g = P(t, "tensor.grad", 3).grad_
    if g == nil then return nil end
    C.ds_tensor_retain(g)
    return own(g)
  end

  mt.__index = function(t, k)
    if k == "p" then
      -- NULL only once t:free() ran: code reading the raw pointer of a freed
      -- tensor (writers, plugin front ends) gets an error, not a NULL
      local p = t.ptr
      if p == nil then error("tensor: used after t:free()", 2) end
      return p
    end
    if k == "grad" then local g = grad_of(t); return g end
    if k == "device" then return device_names[P(t, "tensor.device", 2).device] end
    return methods[k]
  end
  -- A tensor has no fields of its own to set: say so instead of LuaJIT's
  -- "no member" message.
  mt.__newindex = function(_, k)
    error("tensor: cannot set field '" .. tostring(k) .. "' (tensors have methods, not settable fields)", 2)
  end
  -- Arithmetic is defined by ops.lua (ds.add, ...); the metatable is complete
  -- before it becomes the struct's metatype, as LuaJIT requires.
  mt.__add = function(a, b) return ds.add(a, b) end
  mt.__sub = function(a, b) return ds.sub(a, b) end
  mt.__mul = function(a, b) return ds.mul(a, b) end
  mt.__div = function(a, b) return ds.div(a, b) end
  mt.__unm = function(a) return ds.neg(a) end
  mt.__tostring = function(t)
      local p = P(t, "tostring")
      local s = table.concat(shape_of(t), ",")
      local vals = {}
      local n = math.min(tonumber(p.count), 8)
      for i = 0, n - 1 do vals[#vals + 1] = string.format("%.6g", C.ds_tensor_get(p, i)) end
      if p.count > 8 then vals[#vals + 1] = "..." end
      return string.format("tensor{%s} %s [%s]", s, methods.dtype_name(t), table.concat(vals, ", "))
  end
  ref_t = ffi.metatype("ds_tensor_ref", mt)
end
