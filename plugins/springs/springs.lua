-- Lua front end of the springs plugin: build a mass-spring system from a scene
-- table, then step it on the tape.
--
--   local springs = ds.plugin("springs")
--   local sys = springs.system{
--     x = {{0.2, 0.1}, {0.3, 0.13}, ...},       -- positions, {n} rows of 2 or 3
--     springs = {{1, 2}, {2, 3, k = 3e4, amp = 0.15}, ...},   -- 1-based mass indices
--     stiffness = 3e4, amplitude = 0, spring_damping = 0,    -- per-spring defaults
--     mass = 1, fixed = {},                     -- number, list or tensor; fixed: pinned masses
--     dt = 4e-3, damping = 15, gravity = -4.8,  -- numbers or 0-dim tensors
--     ground = {mode = "toi", y = 0.1, restitution = 0, friction = "sticky"},
--     wall = {lo = -1e9, hi = 0.4, friction = 0.01, reference = true},
--   }
--   local x1, v1 = sys:step(x, v, act)                    -- one step
--   local xs, vs = sys:rollout(T, {act = act})            -- T steps, states {T+1, n, D}
--   local xs, vs, hid, acts = sys:nn_rollout(T, net, {goal = {0.9, 0.2}})   -- any ds.kit-runnable mlp
--
-- Spring rest lengths default to the initial distances. sys.rest, sys.stiffness,
-- sys.amplitude and sys.spring_damping are tensors {ns}: make them require grad to
-- optimise them. The physical parameters sys.mass (number, list of n, or a tensor
-- {n} or {}), sys.gravity, sys.damping, sys.restitution and sys.friction (a number,
-- a 0-dim tensor, or "sticky") may be replaced at any time, and a tensor that
-- requires grad gets its gradient. Masses are 1-based in scene tables and 0-based
-- in the kernels. Every launch names its arguments and params (the kernels'
-- tables in C are the only statement of their order).
local ds = require("diffsim")
ds.load_plugin("springs")

local M = {}
local K = {}
for _, name in ipairs{"topology", "step", "rollout", "nn_rollout", "nn_input", "energy", "render"} do
  K[name] = ds.kernel("springs." .. name)
end
M.kernels = K

local GROUND = {none = 0, naive = 1, toi = 2}
local BIG = 1e30
local is_tensor = ds.is_tensor

local function fail(fn, msg, level) error("springs." .. fn .. ": " .. msg, (level or 1) + 1) end

-- An integer index argument in [lo, hi] (refused by name with the valid range);
-- from_end: -1 counts from the end (-1 = hi). Returns the index as 1-based.
local function index_arg(fn, name, v, lo, hi, from_end, level)
  local ok = type(v) == "number" and v == math.floor(v) and v == v
  if ok and from_end and v < 0 then v = hi + 1 + v end
  if not ok or v < lo or v > hi then
    if hi < lo then
      fail(fn, string.format("%s: the tensor has no entries along that dimension (got %s)", name, tostring(v)), level + 1)
    end
    fail(fn, string.format("%s must be an integer in [%d, %d]%s, got %s (out of range)", name, lo, hi,
      from_end and string.format(" (or -%d..-1 from the end)", hi) or "", tostring(v)), level + 1)
  end
  return v
end

-- A count argument: an integer in [lo, hi].
local function count_arg(fn, name, v, lo, hi, level)
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo or v > (hi or 2 ^ 31 - 1) then
    fail(fn, string.format("%s must be an integer in [%d, %d], got %s", name, lo, hi or 2 ^ 31 - 1, tostring(v)), level + 1)
  end
  return v
end

local function per_spring(value, ns, name)
  if type(value) == "table" then
    if #value ~= ns then fail("system", name .. " has " .. #value .. " entries for " .. ns .. " springs", 4) end
    return value
  end
  local out = {}
  for s = 1, ns do out[s] = value end
  return out
end

-- A physical parameter: a finite number or a 0-dim tensor (the kernels check its value).
local function scalar_value(v, name, level)
  if is_tensor(v) then
    if #v:shape() ~= 0 then fail("system", name .. " must be a number or a 0-dim tensor", level + 1) end
    return v
  end
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    fail("system", name .. " must be a finite number or a 0-dim tensor, got " .. tostring(v), level + 1)
  end
  return v
end

-- The kernels' physics params (named as in C) and the physical parameters, from
-- the scene's settings.
-- The option names each table takes (unknown names are errors, ds.check_options).
local SCENE_KEYS = {"name", "x", "v", "springs", "stiffness", "amplitude", "spring_damping", "mass", "fixed", "head", "dt",
                    "damping", "gravity", "ground", "wall"}
local PHYSICS_KEYS = {"dt", "damping", "gravity", "ground", "wall"}
local GROUND_KEYS = {"mode", "y", "restitution", "friction"}
local WALL_KEYS = {"lo", "hi", "friction", "reference"}
local CTRL_KEYS = {"goal", "n_sin", "omega", "input_scale", "t0"}
local function keys(...)
  local out = {}
  for _, list in ipairs({...}) do for _, k in ipairs(list) do out[#out + 1] = k end end
  return out
end
local NN_ROLLOUT_KEYS = keys(CTRL_KEYS, {"x0", "v0"})
local CONTROLLER_KEYS = keys(CTRL_KEYS, {"hidden", "seed"})
local RENDER_KEYS = {"width", "height", "view"}

local function physics(scene)
  local dt = scene.dt or 1e-3
  if type(dt) ~= "number" or not (dt > 0) then fail("system", "dt must be a positive number, got " .. tostring(dt), 4) end
  local g = scene.ground
  if g == nil or g == false then g = {mode = "none"} end
  if type(g) == "string" then g = {mode = g} end
  ds.check_options("springs.system: ground", g, GROUND_KEYS)
  local mode = GROUND[g.mode or "toi"]
  if not mode then fail("system", "ground.mode must be 'none', 'naive' or 'toi', got '" .. tostring(g.mode) .. "'", 4) end
  local fr = g.friction
  if fr == nil then fr = "sticky" end
  if fr ~= "sticky" and not is_tensor(fr) and (type(fr) ~= "number" or not (fr >= 0)) then
    fail("system", "ground.friction must be 'sticky', a Coulomb coefficient >= 0 or a 0-dim tensor", 4)
  end
  if fr ~= "sticky" then scalar_value(fr, "ground.friction", 4) end
  local w = scene.wall
  local wall_mode, lo, hi, wmu = 0, -BIG, BIG, 0
  if w then
    ds.check_options("springs.system: wall", w, WALL_KEYS)
    wall_mode = w.reference and 2 or 1
    lo, hi, wmu = w.lo or -BIG, w.hi or BIG, w.friction or 0
  end
  local params = {dt = dt, ground_mode = mode, ground_y = g.y or 0.1, wall_mode = wall_mode, wall_lo = lo,
                  wall_hi = hi, wall_friction = wmu}
  local values = {gravity = scalar_value(scene.gravity or 0, "gravity", 4),
                  damping = scalar_value(scene.damping or 0, "damping", 4),
                  restitution = scalar_value(g.restitution or 0, "ground.restitution", 4), friction = fr}
  return params, values
end

-- Inverse masses from numbers (0 = pinned), exactly as the kernels always got them.
local function inverse_masses(mass, n, fixed)
  local inv = {}
  for i = 1, n do
    local m = type(mass) == "table" and mass[i] or (mass or 1)
    if type(m) ~= "number" or not (m > 0) or m == math.huge then
      fail("system", "mass " .. i .. " is " .. tostring(m) .. "; masses must be positive and finite (use fixed = {...} to pin)", 4)
    end
    inv[i] = fixed[i] and 0 or 1 / m
  end
  return ds.tensor(inv)
end

local System = {}
System.__index = System

function M.system(scene)
  if type(scene) ~= "table" or type(scene.x) ~= "table" or #scene.x == 0 then
    fail("system", "expected a scene table with positions x = {{x, y}, ...}", 2)
  end
  ds.check_options("springs.system", scene, SCENE_KEYS)
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
  local fixed = {}
  if scene.fixed ~= nil and type(scene.fixed) ~= "table" then fail("system", "fixed must be a list of mass indices", 2) end
  for k, i in ipairs(scene.fixed or {}) do fixed[index_arg("system", "fixed[" .. k .. "] (mass index, 1-based)", i, 1, n, false, 2)] = true end
  if scene.head ~= nil then index_arg("system", "head (mass index, 1-based)", scene.head, 1, n, false, 2) end
  local sp = scene.springs or {}
  local ns = #sp
  local pairs_, rest, k, amp, c = {}, {}, {}, {}, {}
  local kd = per_spring(scene.stiffness or 1, ns, "stiffness")
  local ad = per_spring(scene.amplitude or 0, ns, "amplitude")
  local cd = per_spring(scene.spring_damping or 0, ns, "spring_damping")
  for s = 1, ns do
    local e = sp[s]
    if type(e) ~= "table" then fail("system", "spring " .. s .. " must be a table {a, b, k =, amp =, c =, rest =}", 2) end
    ds.check_entry("springs.system: spring " .. s, e, {"a", "b", "k", "amp", "c", "rest"})
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
  local self = setmetatable({n = n, ns = ns, dim = D, scene = scene, fixed = fixed, numbers = {}}, System)
  local values
  self.params, values = physics(scene)
  for key, v in pairs(values) do self[key] = v end
  self.pairs = ns > 0 and ds.tensor(pairs_, "i32") or ds.zeros({0, 2}, "i32")
  self.topo = ds.zeros({2 + 4 * ns + n + 1}, "i32")
  K.topology:launch({springs = self.pairs, topo = self.topo}, {n = n})
  self.x0 = ds.tensor(scene.x)
  self.v0 = scene.v and ds.tensor(scene.v) or ds.zeros{n, D}
  self.mass = scene.mass or 1
  self:inv_mass_now() -- checks the masses now, with the scene's error messages
  local function vec(t) return ns > 0 and ds.tensor(t) or ds.zeros{0} end
  self.rest = vec(rest)
  self.stiffness = vec(k)
  self.amplitude = vec(amp)
  self.spring_damping = vec(c)
  self.zero_act = ds.zeros{ns}
  self.head = scene.head or 1
  return self
end

-- Changes physics settings (dt, damping, gravity, ground, wall) in place. The
-- physical parameters named in opts (gravity, damping, ground's restitution and
-- friction) replace the system's; the others keep what was set on the system.
function System:set_physics(opts)
  ds.check_options("springs set_physics", opts, PHYSICS_KEYS)
  local s = {}
  for key, v in pairs(self.scene) do s[key] = v end
  for key, v in pairs(opts) do s[key] = v end
  self.scene = s
  local values
  self.params, values = physics(s)
  if opts.gravity ~= nil then self.gravity = values.gravity end
  if opts.damping ~= nil then self.damping = values.damping end
  if opts.ground ~= nil then self.friction, self.restitution = values.friction, values.restitution end
  return self
end

function System:dt() return self.params.dt end

-- The inverse masses for a launch: from numbers, a tensor built once per value of
-- sys.mass (sys.inv_mass); from a tensor m ({n} or {}), free / m recorded on the
-- tape, so m gets its gradient (pinned masses get none: pinning is not a value).
function System:inv_mass_now()
  local m = self.mass
  if is_tensor(m) then
    local shape = m:shape()
    if not (#shape == 0 or (#shape == 1 and shape[1] == self.n)) then
      fail("system", "mass must be a number, a list of " .. self.n .. " numbers, or a tensor {" .. self.n .. "} or {}", 3)
    end
    if not self.free then
      local keep = {}
      for i = 1, self.n do keep[i] = self.fixed[i] and 0 or 1 end
      self.free = ds.tensor(keep)
    end
    return ds.mul(self.free, ds.div(1, m))
  end
  if m ~= self.inv_mass_of then
    self.inv_mass = inverse_masses(m, self.n, self.fixed)
    self.inv_mass_of = m
  end
  return self.inv_mass
end

-- A physical parameter as the kernels take it: the tensor itself, or a 0-dim
-- tensor cached per number (so a step loop does not allocate).
local function scalar_arg(self, key)
  local v = self[key]
  if is_tensor(v) then return v end
  if type(v) ~= "number" then
    fail("system", "sys." .. key .. " must be a number or a 0-dim tensor, got " .. tostring(v), 4)
  end
  local c = self.numbers[key]
  if c and c.value == v then return c.t end
  c = {value = v, t = ds.tensor(v)}
  self.numbers[key] = c
  return c.t
end

-- The system's part of a stepping kernel's arguments, added to `a`.
local function system_args(self, a)
  a.rest, a.stiffness, a.amplitude, a.spring_damping = self.rest, self.stiffness, self.amplitude, self.spring_damping
  a.topo = self.topo
  a.inv_mass = self:inv_mass_now()
  a.gravity = scalar_arg(self, "gravity")
  a.damping = scalar_arg(self, "damping")
  a.restitution = scalar_arg(self, "restitution")
  if self.friction == "sticky" then
    a.friction = self.zero or ds.tensor(0)
    self.zero = a.friction
  else
    a.friction = scalar_arg(self, "friction")
  end
  return a
end
M.system_args = system_args

-- The physics params of a stepping kernel, plus `extra`.
local function phys_params(self, extra)
  local p = {sticky = self.friction == "sticky" and 1 or 0}
  for key, v in pairs(self.params) do p[key] = v end
  if extra then for key, v in pairs(extra) do p[key] = v end end
  return p
end
M.phys_params = phys_params

-- One step from (x, v) with per-spring actuation act {ns} (default zero).
function System:step(x, v, act)
  if not is_tensor(x) or not is_tensor(v) then fail("step", "x and v must be tensors {n, D}", 2) end
  local xo, vo = ds.empty_like(x), ds.empty_like(v)
  K.step:launch(system_args(self, {x = x, v = v, act = act or self.zero_act, x_out = xo, v_out = vo}),
                phys_params(self))
  return xo, vo
end

-- T steps in one launch. opts.x0, opts.v0 (default the scene's), opts.act
-- {T, ns} or {1, ns} (default none). Returns xs, vs of shape {T+1, n, D}.
function System:rollout(T, opts)
  count_arg("rollout", "T (steps)", T, 0, nil, 2)
  opts = ds.check_options("springs rollout", opts, {"x0", "v0", "act"})
  local x0, v0 = opts.x0 or self.x0, opts.v0 or self.v0
  if not opts.act and not self.zero_act_row then self.zero_act_row = ds.zeros{1, self.ns} end
  local act = opts.act or self.zero_act_row
  local xs, vs = ds.empty({T + 1, self.n, self.dim}), ds.empty({T + 1, self.n, self.dim})
  K.rollout:launch(system_args(self, {x0 = x0, v0 = v0, act = act, xs = xs, vs = vs}), phys_params(self, {steps = T}))
  return xs, vs
end

-- Controller settings shared by nn_rollout and nn_input (the kernels' param names).
local function ctrl_params(opts, into)
  local g = opts.goal or {0.9, 0.2}
  into.n_sin, into.omega, into.input_scale = opts.n_sin or 10, opts.omega or 10, opts.input_scale or 0.05
  into.goal_x, into.goal_y, into.goal_z = g[1] or 0, g[2] or 0, g[3] or 0
  return into
end

-- Number of controller inputs: sines, (x - center, v) per mass, goal - center.
function System:n_inputs(opts)
  return ((opts and opts.n_sin) or 10) + 2 * self.dim * self.n + self.dim
end

-- The spec tensor of a network (widths, then activation codes), one per distinct
-- network shape: a training loop does not allocate it again every iteration.
local function spec_of(self, sizes, acts)
  local key = table.concat(sizes, ",") .. ":" .. table.concat(acts, ",")
  self.specs = self.specs or {}
  local spec = self.specs[key]
  if not spec then
    spec = ds.kit.mlp_spec(sizes, acts)
    self.specs[key] = spec
  end
  return spec
end

-- The closed loop, fused: T steps of controller + physics in one launch. The
-- controller is the core's fused MLP (ds.kit): net is any ds.nn.mlp whose
-- activations the kit runs (tanh, relu, sigmoid, sin, identity/none; any depth)
-- from sys:n_inputs(opts) inputs to one actuation per spring, or a plain
-- {W1, b1, W2, b2} list (2 layers, tanh on both: the reference robots). Its
-- parameters go in as the kernel's weight list, as they are (the kernel lays
-- them out flat for the kit and adds the gradients back into each): no flatten
-- launch per iteration. Returns xs, vs {T+1, n, D}, hidden {T, sum of hidden widths}
-- (every hidden layer's activations, concatenated per step) and acts {T, ns}.
function System:nn_rollout(T, net, opts)
  count_arg("nn_rollout", "T (steps)", T, 1, nil, 2)
  opts = ds.check_options("springs nn_rollout", opts, NN_ROLLOUT_KEYS)
  if type(net) ~= "table" then fail("nn_rollout", "net must be a ds.nn.mlp or {W1, b1, W2, b2}", 2) end
  local sizes, acts, params
  if net.layers then
    sizes, acts = ds.kit.describe(net, "springs.nn_rollout")
    params = net:parameters()
  else
    if #net ~= 4 then fail("nn_rollout", "net must be a ds.nn.mlp or {W1, b1, W2, b2}", 2) end
    for i = 1, 4 do
      if not is_tensor(net[i]) then fail("nn_rollout", "net[" .. i .. "] must be a tensor ({W1, b1, W2, b2})", 2) end
    end
    local s1, s2 = net[1]:shape(), net[3]:shape()
    if #s1 ~= 2 or #s2 ~= 2 then fail("nn_rollout", "W1 and W2 of {W1, b1, W2, b2} must be matrices {in, out}", 2) end
    sizes, acts, params = {s1[1], s1[2], s2[2]}, {"tanh", "tanh"}, net
  end
  local n_in = self:n_inputs(opts)
  if sizes[1] ~= n_in or sizes[#sizes] ~= self.ns then
    fail("nn_rollout", string.format("the network maps %d inputs to %d outputs; the controller has %d inputs " ..
      "(sys:n_inputs()) and %d outputs (one per spring)", sizes[1], sizes[#sizes], n_in, self.ns), 2)
  end
  local H = 0
  for l = 2, #sizes - 1 do H = H + sizes[l] end
  local x0, v0 = opts.x0 or self.x0, opts.v0 or self.v0
  local xs, vs = ds.empty({T + 1, self.n, self.dim}), ds.empty({T + 1, self.n, self.dim})
  local hid, acts_out = ds.empty({T, H}), ds.empty({T, self.ns})
  K.nn_rollout:launch(system_args(self, {x0 = x0, v0 = v0, w = params, spec = spec_of(self, sizes, acts),
                                         xs = xs, vs = vs, hidden = hid, acts = acts_out}),
                      phys_params(self, ctrl_params(opts, {steps = T, t0 = opts.t0 or 0})))
  return xs, vs, hid, acts_out
end

-- The controller input at step t for a state, for controllers written in Lua.
function System:nn_input(x, v, t, opts)
  opts = ds.check_options("springs nn_input", opts, CTRL_KEYS)
  local out = ds.empty({self:n_inputs(opts)})
  K.nn_input:launch({x = x, v = v, input = out}, ctrl_params(opts, {t = (opts.t0 or 0) + t, dt = self.params.dt}))
  return out
end

-- A controller with the reference's initialisation: W ~ N(0, 1) sqrt(2 / (fan_in +
-- fan_out)) times 2 (first layer) and 3 (second), zero biases.
function System:controller(opts)
  opts = ds.check_options("springs controller", opts, CONTROLLER_KEYS)
  local H = opts.hidden or 32
  local n_in = self:n_inputs(opts)
  return ds.nn.mlp{sizes = {n_in, H, self.ns}, act = "tanh", out_act = "tanh", seed = opts.seed or 0,
                   std = {math.sqrt(2 / (H + n_in)) * 2, math.sqrt(2 / (H + self.ns)) * 3}}
end

-- Kinetic, spring and gravitational energy of one state {n, D}.
function System:energy(x, v)
  local out = ds.empty({3})
  -- diagnostics: the values of the physical parameters, never their gradients
  local m, g = self:inv_mass_now(), scalar_arg(self, "gravity")
  K.energy:launch({x = x, v = v, rest = self.rest, stiffness = self.stiffness, topo = self.topo,
                   inv_mass = m:needs_grad() and m:detach() or m,
                   gravity = g:needs_grad() and g:detach() or g, energy = out})
  local t = out:tolist()
  return t[1], t[2], t[3]
end

-- Row t (1-based) of a {T, ...} tensor as a new tensor (no tape).
function M.row(xs, t)
  if not is_tensor(xs) or #xs:shape() < 1 then fail("row", "xs must be a tensor {T, ...}", 2) end
  local s = xs:shape()
  t = index_arg("row", "t (row index, 1-based)", t, 1, s[1], true, 2)
  local per = xs:numel() / s[1]
  table.remove(s, 1)
  local out = ds.empty(s)
  require("ffi").copy(out:data(), xs:data() + (t - 1) * per, per * require("ffi").sizeof("ds_real"))
  return out:touch()
end

-- A differentiable scalar: scale * element (t, i, d) of a {T+1, n, D} trajectory
-- (1-based; t < 0 counts from the end, -1 = the last state). core.pick (one O(1)
-- launch), then core.affine when scale is given.
function M.select(xs, t, i, d, scale)
  if not is_tensor(xs) or #xs:shape() ~= 3 then fail("select", "xs must be a trajectory tensor {T, n, D}", 2) end
  local s = xs:shape()
  t = index_arg("select", "t (step index, 1-based)", t, 1, s[1], true, 2)
  i = index_arg("select", "i (mass index, 1-based)", i, 1, s[2], false, 2)
  d = index_arg("select", "d (coordinate, 1-based)", d, 1, s[3], false, 2)
  if scale ~= nil and (type(scale) ~= "number" or scale ~= scale) then
    fail("select", "scale must be a number, got " .. tostring(scale), 2)
  end
  local out = ds.pick(xs, ((t - 1) * s[2] + (i - 1)) * s[3] + d)
  if scale and scale ~= 1 then out = ds.affine(out, scale, 0) end
  return out
end

-- One frame {h, w, 3} of state x {n, D} with actuation act {ns} (optional).
-- opts: width, height, view = {x_lo, x_hi, y_lo, y_hi}
function System:render(x, act, opts)
  opts = ds.check_options("springs render", opts, RENDER_KEYS)
  local W = count_arg("render", "width", opts.width or 320, 1, 16384, 2)
  local H = count_arg("render", "height", opts.height or 160, 1, 16384, 2)
  local v = opts.view or {0, 1, 0, 0.5}
  local img = ds.empty({H, W, 3})
  K.render:launch({x = x, topo = self.topo, act = act or self.zero_act, amplitude = self.amplitude, image = img},
                  {x_lo = v[1], x_hi = v[2], y_lo = v[3], y_hi = v[4],
                   ground_y = self.params.ground_mode > 0 and self.params.ground_y or -BIG})
  return img
end

-- Frames of a rollout (every `every` states); opts: every and render's options.
function System:frames(xs, acts, opts)
  opts = ds.check_options("springs frames", opts, keys(RENDER_KEYS, {"every"}))
  if not is_tensor(xs) or #xs:shape() ~= 3 then fail("frames", "xs must be a trajectory tensor {T, n, D}", 2) end
  local T1 = xs:shape()[1]
  local every = count_arg("frames", "every", opts.every or math.max(1, math.floor(T1 / 60)), 1, nil, 2)
  local frames, look = {}, {width = opts.width, height = opts.height, view = opts.view}
  for t = 1, T1, every do
    local act = acts and t <= acts:shape()[1] and M.row(acts, t) or nil
    frames[#frames + 1] = self:render(M.row(xs, t), act, look)
  end
  return frames
end

M.System = System
return M
