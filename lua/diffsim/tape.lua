-- The tape: record a computation, then back-propagate through it.
--
--   local tape = ds.tape()
--   local loss = tape:record(function() ... return loss end)
--   tape:backward(loss)           -- fills .grad of every tensor that requires grad
--   local y = tape:checkpoint(fn, x, ...)  -- inside record: keep only fn's inputs and
--                                 -- outputs; recompute fn's intermediates during backward
local ffi = require("ffi")

return function(ds)
  local V = ds.view
  local C, ctx = ds.C, ds.ctx
  local DS_SEGMENT = 100
  local SEGMENT_GC_BYTES = 4 * 2^20 -- a segment that made more than this collects when it ends
  local segbuf = ffi.new("int64_t[1]")
  local iobuf_in, iobuf_out = ffi.new("ds_tensor *[16]"), ffi.new("ds_tensor *[16]")
  local nio = ffi.new("int[2]")
  local raise, is_tensor = ds.raise, ds.is_tensor

  local segments = {}   -- id -> {fn, args, hash, out_pos}
  local next_segment = 0

  local Tape = {}
  Tape.__index = Tape

  local function new_tape()
    local p = C.ds_tape_new(ctx)
    if p == nil then raise(3) end
    return setmetatable({ptr = ffi.gc(p, C.ds_tape_free), ids = {}}, Tape)
  end

  function ds.tape() return new_tape() end

  local function forget_segments(self)
    for i = 1, #self.ids do segments[self.ids[i]] = nil end
    self.ids = {}
  end

  -- The Lua tape whose C tape is recording now (for checkpoint calls inside
  -- recomputations, which record on a sub-tape).
  local by_ptr = setmetatable({}, {__mode = "v"})
  local function key(p) return tostring(ffi.cast("intptr_t", p)) end

  function Tape:record(fn, ...)
    if type(fn) ~= "function" then error("tape:record: expected a function", 2) end
    forget_segments(self)
    if C.ds_tape_begin(self.ptr) ~= 0 then raise(2) end
    by_ptr[key(self.ptr)] = self
    local res = {pcall(fn, ...)}
    C.ds_tape_end(self.ptr)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end

  function Tape:size() return tonumber(C.ds_tape_size(self.ptr)) end
  -- The kernel of each record, in order ("segment" for a checkpoint segment).
  function Tape:kernel_names()
    local out = {}
    for i = 0, self:size() - 1 do
      local s = C.ds_tape_kernel_name(self.ptr, i)
      out[#out + 1] = s ~= nil and ffi.string(s) or "segment"
    end
    return out
  end
  function Tape:clear()
    forget_segments(self)
    C.ds_tape_clear(self.ptr)
  end
  function Tape:free()
    if self.ptr then
      forget_segments(self)
      C.ds_tape_free(ffi.gc(self.ptr, nil))
      self.ptr = nil
    end
  end

  local function tensors_in(list)
    local out = {}
    for i = 1, table.maxn(list) do
      if is_tensor(list[i]) then out[#out + 1] = list[i] end
    end
    return out
  end

  function Tape:checkpoint(fn, ...)
    if type(fn) ~= "function" then error("tape:checkpoint: expected a function", 2) end
    local active = C.ds_active_tape(ctx)
    if active == nil then
      -- Not recording (or inside an outer segment's forward): just run it.
      return fn(...)
    end
    local owner = by_ptr[key(active)] or self
    local args = {n = select("#", ...), ...}
    if C.ds_watch_push(ctx) ~= 0 then raise(2) end
    C.ds_pause_recording(ctx)
    local res = {pcall(fn, ...)}
    C.ds_resume_recording(ctx)
    local hash = C.ds_watch_pop(ctx)
    if not res[1] then error(res[2], 0) end
    table.remove(res, 1)
    ds.collect_garbage(SEGMENT_GC_BYTES)
    local inputs = tensors_in(args)
    local outs, out_pos = {}, {}
    for i = 1, table.maxn(res) do
      local y = res[i]
      if is_tensor(y) and y:needs_grad() then
        outs[#outs + 1] = y
        out_pos[#out_pos + 1] = i
      end
    end
    if #outs > 0 then
      if #inputs > 16 or #outs > 16 then error("tape:checkpoint: at most 16 tensor inputs and 16 outputs", 2) end
      next_segment = next_segment + 1
      local id = next_segment
      for i = 1, #inputs do iobuf_in[i - 1] = inputs[i].p end
      for i = 1, #outs do iobuf_out[i - 1] = outs[i].p end
      if C.ds_tape_add_segment(active, id, iobuf_in, #inputs, iobuf_out, #outs) < 0 then raise(2) end
      segments[id] = {fn = fn, args = args, hash = hash, out_pos = out_pos}
      owner.ids[#owner.ids + 1] = id
    end
    return unpack(res, 1, table.maxn(res))
  end

  -- Drives a C backward pass to the end, recomputing checkpoint segments when
  -- the C side stops at one.
  local run
  local function recompute(tape_ptr, id)
    local seg = segments[id]
    if not seg then error("tape:backward: checkpoint segment " .. id .. " is gone (was the tape cleared?)", 0) end
    local record = C.ds_tape_current_segment(tape_ptr)
    if C.ds_tape_segment_io(tape_ptr, record, iobuf_in, nio, iobuf_out, nio + 1) ~= 0 then raise(1) end
    local orig = {}
    for i = 1, nio[1] do orig[i] = iobuf_out[i - 1] end
    local sub = new_tape()
    if C.ds_tape_begin(sub.ptr) ~= 0 then raise(1) end
    by_ptr[key(sub.ptr)] = sub
    C.ds_watch_push(ctx)
    local res = {pcall(seg.fn, unpack(seg.args, 1, seg.args.n))}
    local hash = C.ds_watch_pop(ctx)
    C.ds_tape_end(sub.ptr)
    if not res[1] then error(res[2], 0) end
    if hash ~= seg.hash then
      error("tape:backward: recomputing checkpoint segment " .. id .. " read different data than the forward pass: " ..
            "a tensor it uses was modified after the forward; its gradient would be wrong", 0)
    end
    for j = 1, #orig do
      local y2 = res[seg.out_pos[j] + 1]
      local g = orig[j].grad_
      if g ~= nil then
        if not is_tensor(y2) then error("tape:backward: checkpoint segment " .. id .. " returned different outputs", 0) end
        if C.ds_tensor_add_grad(y2.p, g) ~= 0 then raise(1) end
      end
    end
    run(sub.ptr, C.ds_tape_backward_seeded(sub.ptr, segbuf))
    sub:free()
    res = nil
    ds.collect_garbage(SEGMENT_GC_BYTES)
  end

  run = function(tape_ptr, rc)
    while rc == DS_SEGMENT do
      recompute(tape_ptr, tonumber(segbuf[0]))
      rc = C.ds_tape_backward_continue(tape_ptr, segbuf)
    end
    if rc ~= 0 then raise(1) end
  end

  -- Back-propagates from a scalar loss. The tape is cleared afterwards (its
  -- intermediates released) unless opts.retain is true.
  function Tape:backward(loss, opts)
    if not is_tensor(loss) then error("tape:backward: loss must be a tensor", 2) end
    local ok, err = pcall(run, self.ptr, C.ds_tape_backward(self.ptr, loss.p, segbuf))
    if not (opts and opts.retain) then self:clear() end
    if not ok then error(err, 2) end
  end

  -- Runs fn with recording paused (evaluation, metrics).
  function ds.no_grad(fn, ...)
    C.ds_pause_recording(ctx)
    local res = {pcall(fn, ...)}
    C.ds_resume_recording(ctx)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end
end
