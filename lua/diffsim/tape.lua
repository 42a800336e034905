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
  -- inside backward's pcall: the message alone; tape:backward adds the caller's position
  local function raise0() error(ffi.string(C.ds_last_error(ctx)), 0) end

  local segments = {}   -- id -> {fn, args, hash, out_pos}
  local next_segment = 0

  local Tape = {}
  Tape.__index = Tape

  local function new_tape()
    local p = C.ds_tape_new(ctx)
    if p == nil then raise(3) end
    return setmetatable({ptr = ffi.gc(p, C.ds_tape_free), ids = {}}, Tape)
  end

  function ds.tape(...)
    if select("#", ...) > 0 then error("ds.tape: takes no arguments", 2) end
    return new_tape()
  end

  -- The C tape of a live Lua tape, or an error naming the method (at the
  -- caller of that method).
  local function T(self, fn, level)
    if getmetatable(self) ~= Tape then
      error(fn .. ": expected a tape, got " .. type(self) ..
        (self == nil and " (call methods as tape:" .. fn:match(":(.*)$") .. "(...), not tape." .. fn:match(":(.*)$") ..
        "(...))" or ""), (level or 2) + 1)
    end
    local p = self.ptr
    if p == nil then error(fn .. ": tape used after tape:free()", (level or 2) + 1) end
    return p
  end

  local function forget_segments(self)
    for i = 1, #self.ids do segments[self.ids[i]] = nil end
    self.ids = {}
  end

  -- The Lua tape whose C tape is recording now (for checkpoint calls inside
  -- recomputations, which record on a sub-tape).
  local by_ptr = setmetatable({}, {__mode = "v"})
  local function key(p) return tostring(ffi.cast("intptr_t", p)) end

  -- One recording at a time per tape: a nested tape:record on the same tape is
  -- an error (it would clear what the outer one recorded).
  function Tape:record(fn, ...)
    local ptr = T(self, "tape:record")
    if type(fn) ~= "function" then error("tape:record: expected a function, got " .. type(fn), 2) end
    if self.recording then
      error("tape:record: this tape is already recording (a nested tape:record on the same tape); " ..
            "use tape:checkpoint inside a recording, or another tape", 2)
    end
    if C.ds_tape_begin(ptr) ~= 0 then raise(2) end
    forget_segments(self)
    by_ptr[key(ptr)] = self
    self.recording = true
    local res = {pcall(fn, ...)}
    self.recording = false
    C.ds_tape_end(ptr)
    if self.free_pending then
      self.free_pending = nil
      self:free()
    end
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end

  function Tape:size() return tonumber(C.ds_tape_size(T(self, "tape:size"))) end
  -- The kernel of each record, in order ("segment" for a checkpoint segment).
  function Tape:kernel_names()
    local out = {}
    local ptr = T(self, "tape:kernel_names")
    for i = 0, tonumber(C.ds_tape_size(ptr)) - 1 do
      local s = C.ds_tape_kernel_name(ptr, i)
      out[#out + 1] = s ~= nil and ffi.string(s) or "segment"
    end
    return out
  end
  function Tape:clear()
    local ptr = T(self, "tape:clear")
    if self.recording then error("tape:clear: the tape is recording (called inside its own tape:record)", 2) end
    forget_segments(self)
    C.ds_tape_clear(ptr)
  end
  -- Releases the tape's records now; safe to call twice. Inside the tape's own
  -- record the release waits until the recording ends.
  function Tape:free()
    if getmetatable(self) ~= Tape then error("tape:free: expected a tape, got " .. type(self), 2) end
    if self.recording then
      self.free_pending = true
      return
    end
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
    T(self, "tape:checkpoint")
    if type(fn) ~= "function" then error("tape:checkpoint: expected a function, got " .. type(fn), 2) end
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
    if C.ds_tape_segment_io(tape_ptr, record, iobuf_in, nio, iobuf_out, nio + 1) ~= 0 then raise0() end
    local orig = {}
    for i = 1, nio[1] do orig[i] = iobuf_out[i - 1] end
    local sub = new_tape()
    if C.ds_tape_begin(sub.ptr) ~= 0 then raise0() end
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
        if C.ds_tensor_add_grad(y2.p, g) ~= 0 then raise0() end
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
    if rc ~= 0 then raise0() end
  end

  -- Back-propagates from a scalar loss. The tape is cleared afterwards (its
  -- intermediates released) unless opts.retain is true.
  -- A second backward needs {retain = true} on the first: it then runs again
  -- and accumulates into the leaves' grads (like PyTorch's retain_graph).
  -- Without it the tape is empty afterwards, and backward on an empty tape (or
  -- with a loss the tape did not compute) is an error.
  local BACKWARD_OPTS = {"retain"}
  function Tape:backward(loss, opts)
    local ptr = T(self, "tape:backward")
    ds.check_options("tape:backward", opts, BACKWARD_OPTS)
    if opts and opts.retain ~= nil and type(opts.retain) ~= "boolean" then
      error("tape:backward: option 'retain' must be true or false, got " .. type(opts.retain), 2)
    end
    if self.recording then
      error("tape:backward: the tape is still recording (backward called inside its own tape:record)", 2)
    end
    if not is_tensor(loss) then error("tape:backward: loss must be a tensor, got " .. type(loss), 2) end
    local lp = ds.live(loss, "tape:backward", 2)
    if C.ds_tape_size(ptr) == 0 and bit.band(lp.flags, 1) ~= 0 then
      error("tape:backward: the tape is empty: it recorded nothing, was cleared, or already ran backward " ..
            "(pass {retain = true} to the first backward to run it again)", 2)
    end
    local ok, err = pcall(run, ptr, C.ds_tape_backward(ptr, lp, segbuf))
    if not (opts and opts.retain) then self:clear() end
    if not ok then
      -- a message that already has a position (an error in a segment's Lua) keeps it alone
      error(err, type(err) == "string" and err:match("^[^%s:]+:%d+: ") and 0 or 2)
    end
  end

  -- True while a tape records launches: not outside tape:record, inside
  -- ds.no_grad, or in the first (unrecorded) pass of a checkpoint segment. Lets a
  -- front end keep data for an adjoint only when an adjoint can run.
  function ds.recording() return C.ds_active_tape(ctx) ~= nil end

  -- Runs fn with recording paused (evaluation, metrics).
  function ds.no_grad(fn, ...)
    C.ds_pause_recording(ctx)
    local res = {pcall(fn, ...)}
    C.ds_resume_recording(ctx)
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, table.maxn(res))
  end
end
