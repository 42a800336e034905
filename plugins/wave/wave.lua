-- Lua front end of the wave plugin: ds.plugin("wave").
--
--   local wave = ds.plugin("wave")
--   local p = wave.params{n = 256}                 -- c = 340, dx = 1/n, dt = dx/(c sqrt 3): the reference's
--   local u1 = wave.start(u0, v0, p)               -- second-order first step (v0 may be nil: at rest)
--   local u2 = wave.step(u0, u1, p [, src, gain])  -- one fused leap-frog update
--   local uT = wave.rollout(u0, p, {steps = 256})  -- 254 updates, like the reference scene
--   local e = wave.energy(u_prev, u, p)            -- the discrete energy leap-frog conserves
--   local f = wave.drops(drops, field_or_shape)    -- Gaussian drops {n, 4}: row, col, amplitude, width
--
-- Every function records on the active tape, so gradients flow to the initial
-- height, the initial velocity, sources and drop parameters, and to the wave
-- speed and damping when they are given as tensors:
--   local c = ds.tensor(300):requires_grad()
--   local p = wave.params{n = 64, c = c, alpha = ds.tensor(0.001):requires_grad()}
--   ... tape:backward(loss) ... c.grad:item()
-- Kernels are launched by argument and param name; the names and their order
-- are written once, in the C tables.
local ds = require("diffsim")

local M = {}
local K = {
  step = ds.kernel("wave.step"),
  step_src = ds.kernel("wave.step_src"),
  start = ds.kernel("wave.start"),
  energy = ds.kernel("wave.energy"),
  drops = ds.kernel("wave.drops"),
}

M.boundaries = {dirichlet = 0, zero = 0, reflect = 1, reflecting = 1, neumann = 1}

-- c and alpha as the kernels take them: a tensor as it is; a plain number as
-- a 0-dim tensor made once and kept in the params table (field _const), so a
-- rollout allocates nothing per step, and a checkpoint's recomputation reads
-- the very tensor its forward read (a fresh one would be a different input).
local function phys(p, key)
  local v = p[key] or 0
  if ds.is_tensor(v) then return v end
  if type(v) ~= "number" then error("wave: " .. key .. " must be a number or a 0-dim tensor, got " .. type(v), 4) end
  local cache = rawget(p, "_const")
  if not cache then cache = {}; p._const = cache end
  local e = cache[key]
  if e and e[1] == v then return e[2] end -- (NaN never matches: the kernel refuses it by name)
  local t = ds.tensor(v)
  cache[key] = {v, t}
  return t
end
-- The value of a number or 0-dim tensor, for host-side choices such as the default dt.
local function value(v) return ds.is_tensor(v) and v:item() or v end

-- Largest stable dt for the leap-frog scheme in 2-D: c^2 dt^2 + 2 c alpha dt <= dx^2/2.
function M.dt_max(c, dx, alpha)
  c, alpha = value(c), value(alpha or 0)
  return (math.sqrt(alpha * alpha + 0.5 * dx * dx) - alpha) / c
end

-- The reference's choice: Courant number 1/sqrt(3) (dt solves c^2dt^2 + 2c alpha dt = dx^2/3).
function M.dt_reference(c, dx, alpha)
  c, alpha = value(c), value(alpha or 0)
  return (math.sqrt(alpha * alpha + dx * dx / 3) - alpha) / c
end

-- Physical parameters as a table {c, dt, dx, alpha, boundary}; defaults are the
-- reference scene's. c and alpha may be numbers or 0-dim tensors that require
-- grad (the default dt is then computed from their current values; the CFL
-- limit is checked by every kernel launch against the values at that time).
function M.params(o)
  o = ds.check_options("wave.params", o, {"n", "c", "dx", "alpha", "dt", "boundary"})
  local n = o.n or 256
  local p = {c = o.c or 340, dx = o.dx or 1 / n, alpha = o.alpha or 0}
  p.dt = o.dt or M.dt_reference(p.c, p.dx, p.alpha)
  local b = o.boundary or "dirichlet"
  p.boundary = type(b) == "number" and b or M.boundaries[b]
  if p.boundary == nil then
    error("wave.params: boundary must be 'dirichlet' or 'reflect', got '" .. tostring(b) .. "'", 2)
  end
  return p
end

local function check_p(p)
  if type(p) ~= "table" or not p.c then error("wave: expected a params table from wave.params{...}", 3) end
end

function M.step(u_prev, u, p, src, gain)
  check_p(p)
  local out = ds.empty_like(u)
  local c, alpha = phys(p, "c"), phys(p, "alpha")
  if src then
    K.step_src:launch({u_prev = u_prev, u = u, src = src, c = c, alpha = alpha, u_next = out},
      {dt = p.dt, dx = p.dx, boundary = p.boundary or 0, gain = gain or 1})
  else
    K.step:launch({u_prev = u_prev, u = u, c = c, alpha = alpha, u_next = out},
      {dt = p.dt, dx = p.dx, boundary = p.boundary or 0})
  end
  return out
end

function M.start(u0, v0, p)
  check_p(p)
  local out = ds.empty_like(u0)
  K.start:launch({u0 = u0, v0 = v0 or ds.zeros(u0:shape()), c = phys(p, "c"), alpha = phys(p, "alpha"),
                  u1 = out}, {dt = p.dt, dx = p.dx, boundary = p.boundary or 0})
  return out
end

function M.energy(u_prev, u, p)
  check_p(p)
  local e = ds.empty({})
  K.energy:launch({u_prev = u_prev, u = u, c = phys(p, "c"), energy = e},
    {dt = p.dt, dx = p.dx, boundary = p.boundary or 0})
  return e
end

-- Adds Gaussian drops to `field` (a tensor, modified and returned) or to a new
-- zero field of the given shape {h, w}.
function M.drops(drops, field)
  if not ds.is_tensor(field) then field = ds.zeros(field) end
  K.drops:launch({drops = drops, field = field})
  return field
end

-- Runs the scene from initial height u0 through `steps` time levels (levels 0
-- and 1 are the initial ones, so steps - 2 leap-frog updates) and returns the
-- last level and the one before it.
--   o.reference  the reference's start: level 1 is zero (not u0 at rest)
--   o.v0         initial velocity (default: at rest)
--   o.src, o.gain, o.src_steps   a source field added on the first src_steps updates (default all)
--   o.tape, o.checkpoint  with a tape recording, group updates into segments of
--                this many steps whose intermediates are recomputed during backward
--   o.on_level(t, u)  called with every level (for frames); t counts from 0
function M.rollout(u0, p, o)
  o = ds.check_options("wave.rollout", o, {"steps", "reference", "v0", "src", "gain", "src_steps", "tape",
                                           "checkpoint", "on_level"})
  local steps = o.steps or 256
  if type(steps) ~= "number" or steps ~= math.floor(steps) or steps < 2 or steps > 2 ^ 31 - 1 then
    error("wave.rollout: steps must be an integer in [2, 2147483647] (levels 0 and 1 are the initial ones), got " ..
          tostring(steps), 2)
  end
  if o.checkpoint ~= nil and (type(o.checkpoint) ~= "number" or o.checkpoint ~= math.floor(o.checkpoint) or o.checkpoint < 0) then
    error("wave.rollout: checkpoint must be an integer >= 0 (steps per segment, 0: none), got " .. tostring(o.checkpoint), 2)
  end
  if (o.checkpoint or 0) > 0 and not o.tape and ds.recording() then
    error("wave.rollout: checkpoint = " .. o.checkpoint .. " needs tape = the recording tape (without it every level " ..
          "would be kept)", 2)
  end
  if o.src_steps ~= nil and (type(o.src_steps) ~= "number" or not (o.src_steps >= 0)) then
    error("wave.rollout: src_steps must be a number >= 0, got " .. tostring(o.src_steps), 2)
  end
  local a, b = u0, nil
  if o.reference then
    -- (wave.start checks u0 otherwise)
    if not ds.is_tensor(u0) then error("wave.rollout: u0 must be a tensor {h, w}, got " .. type(u0), 2) end
    local bad = u0:first_nonfinite()
    if bad then error("wave.rollout: u0 has a non-finite value at element " .. bad .. " (0-based)", 2) end
    b = ds.zeros(u0:shape())
  else
    b = M.start(u0, o.v0, p)
  end
  if o.on_level then o.on_level(0, a); o.on_level(1, b) end
  local src_steps = o.src_steps or math.huge
  -- Levels made here are released as soon as the next update no longer needs
  -- them, instead of waiting for Lua's garbage collector (which does not see
  -- their size): that is what makes checkpointed and tape-free rollouts hold
  -- only a few levels. Releasing drops only this handle; a recording tape keeps
  -- its own reference. Not done when on_level may have kept the level.
  local release = not o.on_level
  local function advance(t0, t1, x, y)
    local x_own, y_own = false, false
    for t = t0, t1 - 1 do
      local z
      if o.src and t - 2 < src_steps then z = M.step(x, y, p, o.src, o.gain) else z = M.step(x, y, p) end
      if o.on_level then o.on_level(t, z) end
      if release and x_own then x:free() end
      x, y, x_own, y_own = y, z, y_own, true
    end
    return x, y
  end
  local seg = o.checkpoint
  if seg and seg > 0 and o.tape then
    local t = 2
    while t < steps do
      local t1 = math.min(t + seg, steps)
      local t0 = t
      -- the source, c and alpha ride along as segment inputs so their gradients are accounted for
      a, b = o.tape:checkpoint(function(x, y) return advance(t0, t1, x, y) end, a, b, o.src, p.c, p.alpha)
      t = t1
    end
  else
    a, b = advance(2, steps, a, b)
  end
  return b, a
end

-- ---- the reference scene ----------------------------------------------------
-- The target of the wave scene: channel `channel` of an image / 255, minus its
-- mean, resized to n x n. The reference reads taichi.png with OpenCV, whose
-- channel 0 is blue: channel 3 of the RGB file here.
function M.target_image(n, path, channel)
  path, channel = path or ds.io.scene_image("taichi.png"), channel or 3
  if type(n) ~= "number" or n ~= math.floor(n) or n < 1 or n > 65536 then
    error("wave.target_image: n must be an integer in [1, 65536], got " .. tostring(n), 2)
  end
  if channel ~= "alpha" and (type(channel) ~= "number" or channel ~= math.floor(channel) or channel < 1 or channel > 4) then
    error("wave.target_image: channel must be an integer in [1, 4] or 'alpha', got " .. tostring(channel), 2)
  end
  -- the mean of the full-size image; bilinear resizing keeps constants, so
  -- subtracting it after resizing equals the reference's subtract-then-resize
  local mean = ds.mean(ds.io.read_png(path, {channel = channel})):item()
  local out = ds.io.read_png(path, {channel = channel, size = {n, n}})
  return ds.no_grad(ds.affine, out, 1, -mean)
end

-- loss = sum dx^2 (target - u)^2, the reference's discrete L2 distance.
function M.l2_loss(u, target, dx)
  return ds.sum(ds.square(u - target)) * (dx * dx)
end

return M
