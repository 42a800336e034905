-- Lua front end of the springs plugin: build a mass-spring system from a scene
-- table, then step it on the tape.
--
--   local springs = ds.plugin("springs")
--   local sys = springs.system{
--     x = {{0.2, 0.1}, {0.3, 0.13}, ...},       -- positions, {n} rows of 2 or 3
--     springs = {{1, 2}, {2, 3, k = 3e4, amp = 0.15}, ...},   -- 1-based mass indices
--     stiffness = 3e4, amplitude = 0, spring_damping = 0,    -- per-spring defaults
--     mass = 1, fixed = {},                     -- number or list; fixed: pinned masses
--     dt = 4e-3, damping = 15, gravity = -4.8,
--     ground = {mode = "toi", y = 0.1, restitution = 0, friction = "sticky"},
--     wall = {lo = -1e9, hi = 0.4, friction = 0.01, reference = true},
--   }
--   local x1, v1 = sys:step(x, v, act)                    -- one step
--   local xs, vs = sys:rollout(T, {act = act})            -- T steps, states {T+1, n, D}
--   local xs, vs, hid, acts = sys:nn_rollout(T, net, {goal = {0.9, 0.2}})
--
-- Spring rest lengths default to the initial distances. sys.rest, sys.stiffness,
-- sys.amplitude and sys.spring_damping are tensors {ns}: make them require grad to
-- optimise them. Masses are 1-based in scene tables and 0-based in the kernels.
local ds = require("diffsim")
ds.load_plugin("springs")

local M = {}
local K = {}
for _, name in ipairs{"topology", "step", "rollout", "nn_rollout", "nn_input", "energy", "render", "pick"} do
  K[name] = ds.kernel("springs." .. name)
end
M.kernels = K

local GROUND = {none = 0, naive = 1, toi = 2}
local BIG = 1e30

local function fail(fn, msg, level) error("springs." .. fn .. ": " .. msg, (level or 1) + 1) end

local function per_spring(value, ns, name)
  if type(value) == "table" then
    if #value ~= ns then fail("system", name .. " has " .. #value .. " entries for " .. ns .. " springs", 4) end
    return value
  end
  local out = {}
  for s = 1, ns do out[s] = value end
  return out
end

-- The 11 physics params of every stepping kernel, from the scene's settings.
local function physics(scene)
  local dt = scene.dt or 1e-3
  if type(dt) ~= "number" or not (dt > 0) then fail("system", "dt must be a positive number, got " .. tostring(dt), 4) end
  local g = scene.ground
  if g == nil or g == false then g = {mode = "none"} end
  if type(g) == "string" then g = {mode = g} end
  local mode = GROUND[g.mode or "toi"]
  if not mode then fail("system", "ground.mode must be 'none', 'naive' or 'toi', got '" .. tostring(g.mode) .. "'", 4) end
  local fr = g.friction
  if fr == nil or fr == "sticky" then fr = -1 end
  if type(fr) ~= "number" or (fr < 0 and fr ~= -1) then
    fail("system", "ground.friction must be 'sticky' or a Coulomb coefficient >= 0", 4)
  end
  local w = scene.wall
  local wall_mode, lo, hi, wmu = 0, -BIG, BIG, 0
  if w then
    wall_mode = w.reference and 2 or 1
    lo, hi, wmu = w.lo or -BIG, w.hi or BIG, w.friction or 0
  end
  return {dt, scene.damping or 0, scene.gravity or 0, mode, g.y or 0.1, g.restitution or 0, fr,
          wall_mode, lo, hi, wmu}
end

local System = {}
System.__index = System

function M.system(scene)
  if type(scene) ~= "table" or type(scene.x) ~= "table" or #scene.x == 0 then
    fail("system", "expected a scene table with positions x = {{x, y}, ...}", 2)
  end
  local n = #scene.x
  local D = #scene.x[1]
  if D ~= 2 and D ~= 3 then fail("system", "positions must have 2 or 3 coordinates, got " .. D, 2) end
  for i = 1, n do
    local p = scene.x[i]
    if type(p) ~= "table" or #p ~= D then fail("system", "position " .. i .. " must have " .. D .. " coordinates", 2) end
    for k = 1, D do
      local c = p[k]
      if type(c) ~= "number" or c ~= c or c == math.huge or c == -math.huge then
        fail("system", "position " .. i .. " has a non-finite coordinate", 2)
      end
    end
  end
  -- masses -> inverse masses (0 = pinned)
  local inv = {}
  local fixed = {}
  for _, i in ipairs(scene.fixed or {}) do fixed[i] = true end
  for i = 1, n do
    local m = type(scene.mass) == "table" and scene.mass[i] or (scene.mass or 1)
    if type(m) ~= "number" or not (m > 0) or m == math.huge then
      fail("system", "mass " .. i .. " is " .. tostring(m) .. "; masses must be positive and finite (use fixed = {...} to pin)", 2)
    end
    inv[i] = fixed[i] and 0 or 1 / m
  end
  local sp = scene.springs or {}
  local ns = #sp
  local pairs_, rest, k, amp, c = {}, {}, {}, {}, {}
  local kd = per_spring(scene.stiffness or 1, ns, "stiffness")
  local ad = per_spring(scene.amplitude or 0, ns, "amplitude")
  local cd = per_spring(scene.spring_damping or 0, ns, "spring_damping")
  for s = 1, ns do
    local e = sp[s]
    local a, b = e[1] or e.a, e[2] or e.b
    if type(a) ~= "number" or type(b) ~= "number" or a ~= math.floor(a) or b ~= math.floor(b) then
      fail("system", "spring " .. s .. " must name two masses by their 1-based index", 2)
    end
    pairs_[s] = {a - 1, b - 1}
    local r = e.rest or e[5]
    if r == nil then
      local pa, pb = scene.x[a], scene.x[b]
      if pa and pb then
        local q = 0
        for d = 1, D do q = q + (pa[d] - pb[d]) ^ 2 end
        r = math.sqrt(q)
      else
        r = 0 -- the topology kernel reports the missing mass
      end
    end
    rest[s] = r
    k[s] = e.k or e[3] or kd[s]
    amp[s] = e.amp or e[4] or ad[s]
    c[s] = e.c or cd[s]
  end
  local self = setmetatable({n = n, ns = ns, dim = D, scene = scene}, System)
  self.params = physics(scene)
  self.pairs = ns > 0 and ds.tensor(pairs_, "i32") or ds.zeros({0, 2}, "i32")
  self.topo = ds.zeros({2 + 4 * ns + n + 1}, "i32")
  K.topology:launch({self.pairs, self.topo}, {n})
  self.x0 = ds.tensor(scene.x)
  self.v0 = scene.v and ds.tensor(scene.v) or ds.zeros{n, D}
  self.inv_mass = ds.tensor(inv)
  local function vec(t) return ns > 0 and ds.tensor(t) or ds.zeros{0} end
  self.rest = vec(rest)
  self.stiffness = vec(k)
  self.amplitude = vec(amp)
  self.spring_damping = vec(c)
  self.zero_act = ds.zeros{ns}
  self.head = scene.head or 1
  return self
end

-- Changes physics settings (dt, damping, gravity, ground, wall) in place.
function System:set_physics(opts)
  local s = {}
  for key, v in pairs(self.scene) do s[key] = v end
  for key, v in pairs(opts) do s[key] = v end
  self.scene = s
  self.params = physics(s)
  return self
end

function System:dt() return self.params[1] end

local function mats(self)
  return self.rest, self.stiffness, self.amplitude, self.spring_damping
end

-- One step from (x, v) with per-spring actuation act {ns} (default zero).
function System:step(x, v, act)
  local xo, vo = ds.empty_like(x), ds.empty_like(v)
  local r, k, a, c = mats(self)
  K.step:launch({x, v, act or self.zero_act, r, k, a, c, self.topo, self.inv_mass, xo, vo}, self.params)
  return xo, vo
end

-- T steps in one launch. opts.x0, opts.v0 (default the scene's), opts.act
-- {T, ns} or {1, ns} (default none). Returns xs, vs of shape {T+1, n, D}.
function System:rollout(T, opts)
  opts = opts or {}
  local x0, v0 = opts.x0 or self.x0, opts.v0 or self.v0
  if not opts.act and not self.zero_act_row then self.zero_act_row = ds.zeros{1, self.ns} end
  local act = opts.act or self.zero_act_row
  local xs, vs = ds.empty({T + 1, self.n, self.dim}), ds.empty({T + 1, self.n, self.dim})
  local r, k, a, c = mats(self)
  local p = {unpack(self.params)}
  p[#p + 1] = T
  K.rollout:launch({x0, v0, act, r, k, a, c, self.topo, self.inv_mass, xs, vs}, p)
  return xs, vs
end

-- Controller settings shared by nn_rollout and nn_input.
local function ctrl_params(self, opts)
  local g = opts.goal or {0.9, 0.2}
  return opts.t0 or 0, opts.n_sin or 10, opts.omega or 10, opts.input_scale or 0.05, g[1] or 0, g[2] or 0, g[3] or 0
end

-- Number of controller inputs: sines, (x - center, v) per mass, goal - center.
function System:n_inputs(opts)
  return ((opts and opts.n_sin) or 10) + 2 * self.dim * self.n + self.dim
end

-- The reference robots' closed loop, fused: T steps of controller + physics in
-- one launch. net: a ds.nn.mlp with sizes {n_inputs, H, ns} (tanh/tanh), or
-- {W1, b1, W2, b2}. Returns xs, vs {T+1, n, D}, hidden {T, H}, acts {T, ns}.
function System:nn_rollout(T, net, opts)
  opts = opts or {}
  local w = net.layers and {net.layers[1].W, net.layers[1].b, net.layers[2].W, net.layers[2].b} or net
  if #w ~= 4 then fail("nn_rollout", "net must be a 2-layer ds.nn.mlp or {W1, b1, W2, b2}", 2) end
  local H = w[1]:shape()[2] or 0
  local x0, v0 = opts.x0 or self.x0, opts.v0 or self.v0
  local xs, vs = ds.empty({T + 1, self.n, self.dim}), ds.empty({T + 1, self.n, self.dim})
  local hid, acts = ds.empty({T, H}), ds.empty({T, self.ns})
  local r, k, a, c = mats(self)
  local p = {unpack(self.params)}
  p[12] = T
  p[13], p[14], p[15], p[16], p[17], p[18], p[19] = ctrl_params(self, opts)
  K.nn_rollout:launch({x0, v0, r, k, a, c, w[1], w[2], w[3], w[4], self.topo, self.inv_mass, xs, vs, hid, acts}, p)
  return xs, vs, hid, acts
end

-- The controller input at step t for a state, for controllers written in Lua.
function System:nn_input(x, v, t, opts)
  opts = opts or {}
  local out = ds.empty({self:n_inputs(opts)})
  local _, n_sin, omega, scale, gx, gy, gz = ctrl_params(self, opts)
  K.nn_input:launch({x, v, out}, {(opts.t0 or 0) + t, self.params[1], n_sin, omega, scale, gx, gy, gz})
  return out
end

-- A controller with the reference's initialisation: W ~ N(0, 1) sqrt(2 / (fan_in +
-- fan_out)) times 2 (first layer) and 3 (second), zero biases.
function System:controller(opts)
  opts = opts or {}
  local H = opts.hidden or 32
  local n_in = self:n_inputs(opts)
  return ds.nn.mlp{sizes = {n_in, H, self.ns}, act = "tanh", out_act = "tanh", seed = opts.seed or 0,
                   std = {math.sqrt(2 / (H + n_in)) * 2, math.sqrt(2 / (H + self.ns)) * 3}}
end

-- Kinetic, spring and gravitational energy of one state {n, D}.
function System:energy(x, v)
  local out = ds.empty({3})
  K.energy:launch({x, v, self.rest, self.stiffness, self.topo, self.inv_mass, out}, {self.params[3]})
  local t = out:tolist()
  return t[1], t[2], t[3]
end

-- Row t (1-based) of a {T, ...} tensor as a new tensor (no tape).
function M.row(xs, t)
  local s = xs:shape()
  local per = xs:numel() / s[1]
  table.remove(s, 1)
  local out = ds.empty(s)
  require("ffi").copy(out:data(), xs:data() + (t - 1) * per, per * require("ffi").sizeof("ds_real"))
  return out:touch()
end

-- A differentiable scalar: scale * element (t, i, d) of a {T+1, n, D} trajectory
-- (1-based; t < 0 counts from the end, -1 = the last state). One O(1) launch.
local scalar_shape = {}
function M.select(xs, t, i, d, scale)
  local T1 = xs:shape()[1]
  if t < 0 then t = T1 + 1 + t end
  local out = ds.empty(scalar_shape)
  K.pick:launch({xs, out}, {t - 1, i - 1, d - 1, scale or 1})
  return out
end

-- One frame {h, w, 3} of state x {n, D} with actuation act {ns} (optional).
-- opts: width, height, view = {x_lo, x_hi, y_lo, y_hi}
function System:render(x, act, opts)
  opts = opts or {}
  local W, H = opts.width or 320, opts.height or 160
  local v = opts.view or {0, 1, 0, 0.5}
  local img = ds.empty({H, W, 3})
  K.render:launch({x, self.topo, act or self.zero_act, self.amplitude, img},
                  {v[1], v[2], v[3], v[4], self.params[4] > 0 and self.params[5] or -BIG})
  return img
end

-- Frames of a rollout (every `every` states), optionally following the center in x.
function System:frames(xs, acts, opts)
  opts = opts or {}
  local T1 = xs:shape()[1]
  local every = opts.every or math.max(1, math.floor(T1 / 60))
  local frames = {}
  for t = 1, T1, every do
    local act = acts and t <= acts:shape()[1] and M.row(acts, t) or nil
    frames[#frames + 1] = self:render(M.row(xs, t), act, opts)
  end
  return frames
end

M.System = System
return M
