-- Lua front end of the rigid2d plugin: 2D rigid bodies.
--
--   local rigid2d = ds.plugin("rigid2d")
--   local sys = rigid2d.discs{
--     x = {{0.1, 0.5}, ...}, v = {{0.3, 0}, ...},    -- centres and velocities, n rows
--     radius = 0.03, mass = 1,                       -- number, list of n, or tensor {n}
--     restitution = 0.8,                             -- number or 0-dim tensor
--     dt = 3e-3, reference = false,                  -- reference: O(n^2) pairs (same results)
--     allow_overlap = false,                         -- true: discs may overlap at the start
--   }
--   local xs, vs = sys:rollout(T, {x0 = x0, v0 = v0})  -- states {T+1, n, 2}, one launch
--   local x1, v1 = sys:step(x, v)
--
-- sys.radius, sys.mass (tensors {n}) and sys.restitution may be replaced by
-- tensors that require grad; they get their gradients. Discs are 1-based here
-- and 0-based in the kernels' messages.
local ds = require("diffsim")
ds.load_plugin("rigid2d")

local M = {}
local K = {}
for _, name in ipairs{"disc_step", "disc_rollout", "box_step", "box_rollout", "box_nn_rollout"} do K[name] = ds.kernel("rigid2d." .. name) end
M.kernels = K
local is_tensor = ds.is_tensor

local function fail(fn, msg, level) error("rigid2d." .. fn .. ": " .. msg, (level or 1) + 1) end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- A per-body quantity: number, list of n numbers, or a tensor {n} (kept as is).
local function per_body(fn, name, value, n, default)
  if value == nil then value = default end
  if is_tensor(value) then return value end
  local out = {}
  for i = 1, n do
    local v = type(value) == "table" and value[i] or value
    if not finite(v) then
      fail(fn, string.format("%s[%d] must be a finite number, got %s", name, i, tostring(v)), 3)
    end
    out[i] = v
  end
  if type(value) == "table" and #value ~= n then
    fail(fn, string.format("%s has %d entries for %d bodies", name, #value, n), 3)
  end
  return ds.tensor(out)
end

local function rows(fn, name, t, n)
  if type(t) ~= "table" or (n and #t ~= n) or #t == 0 then
    fail(fn, name .. " must be a list of " .. (n and tostring(n) or "n") .. " {x, y} rows", 3)
  end
  for i, p in ipairs(t) do
    if type(p) ~= "table" or #p ~= 2 then fail(fn, string.format("%s[%d] must be {x, y}", name, i), 3) end
  end
  return ds.tensor(t)
end

-- A 0-dim physical input as the kernels take it: the tensor, or one cached per number.
local function scalar_arg(self, key)
  local v = self[key]
  if is_tensor(v) then return v end
  if not finite(v) then fail("system", "sys." .. key .. " must be a number or a 0-dim tensor", 4) end
  self.numbers = self.numbers or {}
  local c = self.numbers[key]
  if c and c.value == v then return c.t end
  c = {value = v, t = ds.tensor(v)}
  self.numbers[key] = c
  return c.t
end
M.scalar_arg = scalar_arg

-- ---------------------------------------------------------------------- discs
local Discs = {}
Discs.__index = Discs

-- The option names each table takes (unknown names are errors, ds.check_options).
local DISC_KEYS = {"name", "x", "v", "dt", "radius", "mass", "restitution", "reference", "allow_overlap"}
local BOX_KEYS = {"name", "bodies", "springs", "head", "stiffness", "amplitude", "density", "gravity", "damping",
                  "friction", "restitution", "dt", "ground_y", "toi", "reference"}

function M.discs(scene)
  if type(scene) ~= "table" then fail("discs", "expected a scene table {x = {{x, y}, ...}, ...}", 2) end
  ds.check_options("rigid2d.discs", scene, DISC_KEYS)
  local x0 = rows("discs", "x", scene.x)
  local n = #scene.x
  local v0 = scene.v and rows("discs", "v", scene.v, n) or ds.zeros{n, 2}
  local dt = scene.dt or 3e-3
  if not finite(dt) or dt <= 0 then fail("discs", "dt must be a positive number, got " .. tostring(dt), 2) end
  local self = setmetatable({n = n, x0 = x0, v0 = v0, scene = scene}, Discs)
  self.radius = per_body("discs", "radius", scene.radius, n, 0.03)
  self.mass = per_body("discs", "mass", scene.mass, n, 1)
  self.restitution = scene.restitution or 0.8
  self.params = {dt = dt, reference = scene.reference and 1 or 0}
  self.allow_overlap = scene.allow_overlap and 1 or 0
  return self
end

function Discs:args(a)
  a.radius, a.mass, a.restitution = self.radius, self.mass, scalar_arg(self, "restitution")
  return a
end

function Discs:step(x, v)
  local xo, vo = ds.empty_like(x), ds.empty_like(v)
  K.disc_step:launch(self:args{x = x, v = v, x_out = xo, v_out = vo}, self.params)
  return xo, vo
end

-- T steps in one launch; opts.x0, opts.v0 default to the scene's. Returns the
-- states xs, vs {T+1, n, 2} (row 1 is the initial state).
function Discs:rollout(T, opts)
  if type(T) ~= "number" or T ~= math.floor(T) or T < 0 then
    fail("rollout", "T (steps) must be an integer >= 0, got " .. tostring(T), 2)
  end
  opts = ds.check_options("rigid2d discs:rollout", opts, {"x0", "v0", "allow_overlap"})
  local xs, vs = ds.empty({T + 1, self.n, 2}), ds.empty({T + 1, self.n, 2})
  local p = {dt = self.params.dt, reference = self.params.reference, steps = T,
             allow_overlap = (opts.allow_overlap or self.allow_overlap == 1) and 1 or 0}
  K.disc_rollout:launch(self:args{x0 = opts.x0 or self.x0, v0 = opts.v0 or self.v0, xs = xs, vs = vs}, p)
  return xs, vs
end

-- A differentiable scalar: element (t, i, d) of a {T+1, n, 2} trajectory,
-- 1-based; t < 0 counts from the end (-1 = the last state).
function M.select(xs, t, i, d)
  if not is_tensor(xs) or #xs:shape() ~= 3 then fail("select", "xs must be a trajectory tensor {T, n, D}", 2) end
  local s = xs:shape()
  if type(t) == "number" and t < 0 then t = s[1] + 1 + t end
  local function idx(name, v, hi)
    if type(v) ~= "number" or v ~= math.floor(v) or v < 1 or v > hi then
      fail("select", string.format("%s must be an integer in [1, %d], got %s", name, hi, tostring(v)), 3)
    end
  end
  idx("t", t, s[1]); idx("i", i, s[2]); idx("d", d, s[3])
  return ds.pick(xs, ((t - 1) * s[2] + (i - 1)) * s[3] + d)
end

M.Discs = Discs

-- ---------------------------------------------------------------------- boxes
--   local sys = rigid2d.boxes{
--     bodies = {{x = {0.3, 0.3}, halfsize = {0.05, 0.02}, rotation = 0, v = {0, 0}, omega = 0}, ...},
--     springs = {{1, 2, {0.05, 0}, {-0.05, 0}, rest = 0.1, k = 100, amp = 0.05}, ...},  -- a, b, anchors
--     joints  = ... (a spring with joint = true: target length 0, relative velocity projected),
--     density = 1, gravity = -9.8, damping = 10, friction = 1, restitution = 0,
--     ground_y = 0.1, dt = 1e-3, toi = true,
--     reference = false,   -- true: the reference's simultaneous corner impulses (a flat box sinks)
--   }
--   sys.state0 {n, 6}: x, y, theta, vx, vy, omega per body.
--   local st1 = sys:step(st, act)              -- act {ns} (default zeros)
--   local states = sys:rollout(T, {state0 =, acts = {T, ns} or {1, ns}})
--   local net = sys:controller{hidden = 32, seed = 0}  -- the reference robots' network
--   local states, hidden, acts = sys:nn_rollout(T, net, {goal = {0.9, 0.15}, head = 1})
-- sys.halfsize {n, 2}, sys.rest, sys.stiffness, sys.amplitude {ns} are tensors, and
-- density, gravity, damping, friction, restitution numbers or 0-dim tensors: any
-- of them may require grad.
local Boxes = {}
Boxes.__index = Boxes

function M.boxes(scene)
  if type(scene) ~= "table" or type(scene.bodies) ~= "table" or #scene.bodies == 0 then
    fail("boxes", "expected a scene table with bodies = {{x = {x, y}, halfsize = {hx, hy}, rotation =}, ...}", 2)
  end
  ds.check_options("rigid2d.boxes", scene, BOX_KEYS)
  local n = #scene.bodies
  local st, hs = {}, {}
  for i, b in ipairs(scene.bodies) do
    if type(b) ~= "table" or type(b.x) ~= "table" or type(b.halfsize) ~= "table" then
      fail("boxes", "body " .. i .. " needs x = {x, y} and halfsize = {hx, hy}", 2)
    end
    ds.check_options("rigid2d.boxes: body " .. i, b, {"x", "halfsize", "rotation", "v", "omega"})
    for _, key in ipairs{"x", "halfsize", "v"} do
      local p = b[key]
      if p ~= nil and (type(p) ~= "table" or type(p[1]) ~= "number" or type(p[2]) ~= "number" or #p ~= 2) then
        fail("boxes", "body " .. i .. ": " .. key .. " must be two numbers {a, b}", 2)
      end
    end
    local v = b.v or {0, 0}
    st[i] = {b.x[1], b.x[2], b.rotation or 0, v[1], v[2], b.omega or 0}
    hs[i] = {b.halfsize[1], b.halfsize[2]}
  end
  local sp, an, rest, k, amp = {}, {}, {}, {}, {}
  for s, e in ipairs(scene.springs or {}) do
    if type(e) ~= "table" then fail("boxes", "spring " .. s .. " must be a table {a, b, anchor_a, anchor_b, rest =, k =, amp =}", 2) end
    ds.check_entry("rigid2d.boxes: spring " .. s, e, {"rest", "k", "amp", "joint"})
    local a, b = e[1], e[2]
    for _, idx in ipairs{a, b} do
      if type(idx) ~= "number" or idx ~= math.floor(idx) or idx < 1 or idx > n then
        fail("boxes", string.format("spring %d: body index %s must be an integer in [1, %d]", s, tostring(idx), n), 2)
      end
    end
    local oa, ob = e[3] or {0, 0}, e[4] or {0, 0}
    for k, o in ipairs{oa, ob} do
      if type(o) ~= "table" or type(o[1]) ~= "number" or type(o[2]) ~= "number" or #o ~= 2 then
        fail("boxes", string.format("spring %d: anchor %d must be {x, y} in its body's frame", s, k), 2)
      end
    end
    sp[s] = {a - 1, b - 1, e.joint and 1 or 0}
    an[s] = {oa[1], oa[2], ob[1], ob[2]}
    rest[s] = e.joint and 0 or (e.rest or 0)
    k[s] = e.k or scene.stiffness or 0
    amp[s] = e.amp or scene.amplitude or 0
  end
  local ns = #sp
  local self = setmetatable({n = n, ns = ns, scene = scene, head = scene.head}, Boxes)
  self.state0 = ds.tensor(st)
  self.halfsize = ds.tensor(hs)
  self.springs = ns > 0 and ds.tensor(sp, "i32") or ds.zeros({0, 3}, "i32")
  self.anchors = ns > 0 and ds.tensor(an) or ds.zeros{0, 4}
  self.rest = ns > 0 and ds.tensor(rest) or ds.zeros{0}
  self.stiffness = ns > 0 and ds.tensor(k) or ds.zeros{0}
  self.amplitude = ns > 0 and ds.tensor(amp) or ds.zeros{0}
  self.density = scene.density or 1
  self.gravity = scene.gravity or -9.8
  self.damping = scene.damping or 0
  self.friction = scene.friction or 0
  self.restitution = scene.restitution or 0
  local dt = scene.dt or 1e-3
  if not finite(dt) or dt <= 0 then fail("boxes", "dt must be a positive number, got " .. tostring(dt), 2) end
  self.params = {dt = dt, ground_y = scene.ground_y or 0.1, toi = scene.toi == false and 0 or 1,
                 reference = scene.reference and 1 or 0}
  self.zero_act = ds.zeros{ns}
  self.zero_acts = ds.zeros{1, ns}
  return self
end

function Boxes:args(a)
  a.halfsize, a.springs, a.anchors = self.halfsize, self.springs, self.anchors
  a.rest, a.stiffness, a.amplitude = self.rest, self.stiffness, self.amplitude
  for _, key in ipairs{"density", "gravity", "damping", "friction", "restitution"} do a[key] = scalar_arg(self, key) end
  return a
end

function Boxes:set_toi(on) self.params.toi = on and 1 or 0 return self end

function Boxes:step(st, act)
  local out = ds.empty_like(st)
  K.box_step:launch(self:args{state = st, act = act or self.zero_act, state_out = out}, self.params)
  return out
end

function Boxes:rollout(T, opts)
  if type(T) ~= "number" or T ~= math.floor(T) or T < 0 then
    fail("rollout", "T (steps) must be an integer >= 0, got " .. tostring(T), 2)
  end
  opts = ds.check_options("rigid2d boxes:rollout", opts, {"state0", "acts"})
  local states = ds.empty({T + 1, self.n, 6})
  local p = {steps = T}
  for key, v in pairs(self.params) do p[key] = v end
  K.box_rollout:launch(self:args{state = opts.state0 or self.state0, acts = opts.acts or self.zero_acts,
                                 states = states}, p)
  return states
end

-- ------------------------------------------------------------ network controller
-- Controller settings (the kernel's param names): n_sin sines of omega t dt, input
-- scale 0.05, the head body (1-based here) and the goal, as the reference robots.
local function ctrl_params(self, opts, into)
  local g = opts.goal or {0.9, 0.15}
  local head = opts.head or self.head or 1
  if type(head) ~= "number" or head ~= math.floor(head) or head < 1 or head > self.n then
    fail("nn_rollout", string.format("head must be a body index in [1, %d], got %s", self.n, tostring(head)), 3)
  end
  into.n_sin, into.omega, into.input_scale = opts.n_sin or 10, opts.omega or 30, opts.input_scale or 0.05
  into.head, into.goal_x, into.goal_y = head - 1, g[1], g[2]
  return into
end

-- Inputs of the controller: sines, 6 per body, the goal.
function Boxes:n_inputs(opts) return ((opts and opts.n_sin) or 10) + 6 * self.n + 2 end

-- The reference's network: one tanh hidden layer (32), tanh outputs (one per
-- spring), W ~ N(0, 1) sqrt(2 / (fan_in + fan_out)) times 0.5 (first layer) and 1
-- (second), zero biases.
function Boxes:controller(opts)
  opts = ds.check_options("rigid2d boxes:controller", opts, {"hidden", "seed", "n_sin"})
  local H, n_in = opts.hidden or 32, self:n_inputs(opts)
  return ds.nn.mlp{sizes = {n_in, H, self.ns}, act = "tanh", out_act = "tanh", seed = opts.seed or 0,
                   std = {math.sqrt(2 / (H + n_in)) * 0.5, math.sqrt(2 / (H + self.ns)) * 1}}
end

-- The closed loop in one launch (rigid2d.box_nn_rollout): net is any ds.nn.mlp the
-- kit runs, from sys:n_inputs(opts) inputs to one actuation per spring. Its
-- parameters go in as the weight list as they are (no flatten launch). opts:
-- state0, goal, head (1-based), n_sin, omega, input_scale, t0. Returns the states
-- {T+1, n, 6}, the hidden activations {T, sum of hidden widths}, the actuation {T, ns}.
function Boxes:nn_rollout(T, net, opts)
  if type(T) ~= "number" or T ~= math.floor(T) or T < 1 then
    fail("nn_rollout", "T (steps) must be an integer >= 1, got " .. tostring(T), 2)
  end
  opts = ds.check_options("rigid2d boxes:nn_rollout", opts, {"state0", "goal", "head", "n_sin", "omega", "input_scale", "t0"})
  if type(net) ~= "table" or not net.layers then fail("nn_rollout", "net must be a ds.nn.mlp", 2) end
  local sizes, acts = ds.kit.describe(net, "rigid2d.nn_rollout")
  local n_in = self:n_inputs(opts)
  if sizes[1] ~= n_in or sizes[#sizes] ~= self.ns then
    fail("nn_rollout", string.format("the network maps %d inputs to %d outputs; the controller has %d inputs " ..
      "(sys:n_inputs()) and %d outputs (one per spring)", sizes[1], sizes[#sizes], n_in, self.ns), 2)
  end
  local key = table.concat(sizes, ",") .. ":" .. table.concat(acts, ",")
  self.specs = self.specs or {}
  self.specs[key] = self.specs[key] or ds.kit.mlp_spec(sizes, acts)
  local H = 0
  for l = 2, #sizes - 1 do H = H + sizes[l] end
  local states, hid, acts_out = ds.empty({T + 1, self.n, 6}), ds.empty({T, H}), ds.empty({T, self.ns})
  local p = ctrl_params(self, opts, {steps = T, t0 = opts.t0 or 0})
  for key2, v in pairs(self.params) do p[key2] = v end
  K.box_nn_rollout:launch(self:args{state = opts.state0 or self.state0, spec = self.specs[key], states = states,
                                    hidden = hid, acts = acts_out, w = net:parameters()}, p)
  return states, hid, acts_out
end

M.Boxes = Boxes
return M
