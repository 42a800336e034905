-- Lua front end of the mpm plugin: 2D and 3D MLS-MPM scenes stepped on the tape
-- (x {n, 3} makes a 3D sim: mpm.substep3, grid nx x ny x nz, nz = grid unless given).
--
--   local mpm = ds.plugin("mpm")
--   local sim = mpm.sim{
--     grid = 120,                 -- nodes per axis (or nx =, ny =); dx = 1 / grid unless given
--     dt = 3e-4, bound = 3,       -- substep; boundary band width in nodes
--     gravity = 9.8,              -- number or 0-dim tensor (pulls along -y)
--     mu = 100, lam = 100,        -- Lame constants, or E = , nu = ; bulk = fluid bulk modulus
--     mass = 1, vol = 1,          -- per particle: number, 0-dim tensor, or tensor {n}
--     density = nil,              -- instead of mass: mass = density * vol (differentiable, checked > 0)
--     wall = "slip", ceiling = "slip", floor = "coulomb", friction = 0.5,
--     reference = false,          -- true: the reference's floor (velocity zeroed first: sticky)
--     strength = 4,               -- actuation stress scale
--     x = positions {n, 2} (tensor or table of rows), material = "corotated" | "neohookean" |
--         "fluid" | table {n} of those or codes, group = -1 or table {n} (actuator ids, 0-based)
--     groups = number of actuator groups (default 1)
--   }
--   local s = sim:state{v = v0}           -- {x, v, C, F}; C = 0, F = I
--   local s1 = sim:substep(s, act)        -- one substep (act {groups}, default zeros)
--   local sT = sim:rollout(s, T, {tape = tape, checkpoint = 32, act = function(t) ... end})
--   local m = mpm.mean_x(sT.x)            -- {2}, differentiable
--
-- Every constant given as a tensor that requires grad gets its gradient. E and
-- nu are turned into mu and lam by differentiable ops once per rollout.
local ds = require("diffsim")
ds.load_plugin("mpm")

local M = {}
local K = {substep = ds.kernel("mpm.substep"), substep3 = ds.kernel("mpm.substep3"), render = ds.kernel("mpm.render")}
M.kernels = K
M.materials = {fluid = 0, corotated = 1, neohookean = 2, ["neo-hookean"] = 2}
local BC = {slip = 0, sticky = 1, coulomb = 2}

local function fail(fn, msg, level) error("mpm." .. fn .. ": " .. msg, (level or 1) + 1) end
local is_tensor = ds.is_tensor

-- A constant as the kernel takes it: a tensor as is, a number as a 0-dim tensor.
local function const(v, name)
  if is_tensor(v) then return v end
  if type(v) ~= "number" or v ~= v then fail("sim", name .. " must be a number or a tensor, got " .. tostring(v), 4) end
  return ds.tensor(v)
end

local function bc(v, name, allow_coulomb)
  local code = BC[v]
  if code == nil or (code == 2 and not allow_coulomb) then
    fail("sim", name .. " must be " .. (allow_coulomb and "'slip', 'sticky' or 'coulomb'" or "'slip' or 'sticky'") ..
      ", got '" .. tostring(v) .. "'", 4)
  end
  return code
end

local function per_particle_i32(v, n, name, map)
  local out = {}
  for i = 1, n do
    local e = type(v) == "table" and v[i] or v
    if map and type(e) == "string" then
      local code = map[e]
      if code == nil then fail("sim", name .. " " .. i .. " is unknown: '" .. e .. "'", 4) end
      e = code
    end
    if type(e) ~= "number" then fail("sim", name .. " " .. i .. " must be a number, got " .. tostring(e), 4) end
    out[i] = e
  end
  return ds.tensor(out, "i32")
end

local Sim = {}
Sim.__index = Sim

local SIM_KEYS = {"x", "grid", "nx", "ny", "nz", "dx", "dt", "groups", "bound", "wall", "ceiling", "floor", "reference",
                  "strength", "material", "group", "gravity", "friction", "vol", "density", "mass", "bulk", "E", "nu",
                  "mu", "lam"}

local O = require("diffsim.options")
local function count(fn, name, v, lo) -- an integer argument in [lo, 2^31 - 1]
  return O.number(fn, name, v, nil, {int = true, ge = lo, le = 2 ^ 31 - 1, arg = true})
end

function M.sim(o)
  if type(o) ~= "table" or o.x == nil then fail("sim", "expected a table with particle positions x", 2) end
  ds.check_options("mpm.sim", o, SIM_KEYS)
  if o.E ~= nil and (o.mu ~= nil or o.lam ~= nil) then fail("sim", "give E and nu, or mu and lam, not both", 2) end
  local x = is_tensor(o.x) and o.x or ds.tensor(o.x)
  local shape = x:shape()
  if #shape ~= 2 or (shape[2] ~= 2 and shape[2] ~= 3) then fail("sim", "x must have shape {n, 2} or {n, 3}", 2) end
  local n = shape[1]
  local s = setmetatable({n = n, x0 = x, dim = shape[2]}, Sim)
  local g = o.grid or 128
  s.nx, s.ny = o.nx or g, o.ny or g
  if s.dim == 3 then s.nz = o.nz or g end
  s.dx = o.dx or 1 / g
  s.dt = o.dt or 1e-3
  s.groups = O.number("mpm.sim", "groups", o.groups, 1, {int = true, ge = 1, le = 2 ^ 31 - 1})
  s.params = {dt = s.dt, dx = s.dx, nx = s.nx, ny = s.ny, bound = o.bound or 3, wall = bc(o.wall or "slip", "wall"),
              ceiling = bc(o.ceiling or o.wall or "slip", "ceiling"), floor = bc(o.floor or "coulomb", "floor", true),
              reference = o.reference and 1 or 0, strength = o.strength or 4}
  if s.dim == 3 then
    -- the 3D kernel's params: nz after ny (walls: the x and z sides)
    local p = s.params
    s.params = {dt = p.dt, dx = p.dx, nx = p.nx, ny = p.ny, nz = s.nz, bound = p.bound, wall = p.wall,
                floor = p.floor, ceiling = p.ceiling, reference = p.reference, strength = p.strength}
  end
  s.material = per_particle_i32(o.material or (s.dim == 3 and "neohookean" or "corotated"), n, "material", M.materials)
  s.group = per_particle_i32(o.group or -1, n, "group")
  s.gravity = const(o.gravity or 9.8, "gravity")
  s.friction = const(o.friction or 0.5, "friction")
  s.vol = const(o.vol or 1, "vol")
  if o.density ~= nil then
    if o.mass ~= nil then fail("sim", "give mass or density, not both", 2) end
    s.density = const(o.density, "density")
    s:masses() -- checks the density now
  else
    s.mass = const(o.mass or 1, "mass")
  end
  s.bulk = const(o.bulk or 0, "bulk")
  if o.E ~= nil then
    s.E, s.nu = o.E, o.nu or 0.2
  else
    s.mu, s.lam = const(o.mu or 10, "mu"), const(o.lam or o.mu or 10, "lam")
  end
  s.zero_act = ds.zeros{s.groups}
  return s
end

-- The element count of a 2D substep's aux block (substep.c: the bins and the grid
-- the forward keeps for the adjoint: 2 n + 4 nx + 4 int32, even, then 3 reals for
-- each of up to n nodes).
function Sim:aux_count()
  local ints = math.floor((2 * self.n + 4 * self.nx + 5) / 2) * 2
  return ints + 3 * self.n * (ds.precision == "f64" and 2 or 1)
end

-- mu and lam now: from E and nu (differentiable when they are tensors), or as given.
function Sim:lame()
  if self.E == nil then return self.mu, self.lam end
  local E, nu = self.E, self.nu
  if not is_tensor(E) and not is_tensor(nu) then
    local key = E .. "/" .. nu
    if self._lame_key ~= key then
      self._lame_key = key
      self._lame = {ds.tensor(E / (2 * (1 + nu))), ds.tensor(E * nu / ((1 + nu) * (1 - 2 * nu)))}
    end
    return self._lame[1], self._lame[2]
  end
  local mu = E / ((1 + nu) * 2)
  local lam = E * nu / ((1 + nu) * (1 - nu * 2))
  return mu, lam
end

-- The particle masses now: as given, or density * vol (a differentiable op, so a
-- density that requires grad gets its gradient through the kernel's mass grad).
-- A density <= 0 or non-finite is an error naming it (the kernel would only see
-- the mass).
function Sim:masses()
  if self.density == nil then return self.mass end
  local d = self.density
  local t = d:totable()
  if type(t) ~= "table" then t = {t} end
  for i, v in ipairs(t) do
    if not (v > 0 and v < math.huge) then
      fail("sim", string.format("density must be positive and finite, got %s (entry %d)", tostring(v), i), 3)
    end
  end
  return d * self.vol
end

-- The initial state: x (default the sim's positions), v (tensor {n, 2}, or nil: 0), C = 0, F = I.
function Sim:state(o)
  local given = ds.check_options("mpm sim:state", o, {"x", "v"})
  local n, d = self.n, self.dim
  o = {}
  for _, key in ipairs{"x", "v"} do
    local t = given[key]
    if t ~= nil then
      if type(t) == "table" then t = ds.tensor(t) end -- rows {{x, y}, ...}
      local sh = is_tensor(t) and t:shape()
      if not sh or #sh ~= 2 or sh[1] ~= n or sh[2] ~= d then
        fail("state", string.format("%s must be a tensor {%d, %d}, got %s", key, n, d,
          sh and "shape {" .. table.concat(sh, ", ") .. "}" or type(t)), 2)
      end
    end
    o[key] = t
  end
  local F = ds.zeros{n, d, d}
  local p = F:data()
  for i = 0, n - 1 do
    for k = 0, d - 1 do p[d * d * i + (d + 1) * k] = 1 end
  end
  return {x = o.x or self.x0, v = o.v or ds.zeros{n, d}, C = ds.zeros{n, d, d}, F = F}
end

-- One substep from state s with actuation act {groups} (nil: none); mu, lam as from sim:lame().
-- keep (2D): the forward keeps its bins and grid in an aux tensor for the adjoint
-- (faster backward, 3 reals and 2 int32 per particle held per recorded substep).
function Sim:substep(s, act, mu, lam, mass, keep)
  if type(s) ~= "table" then fail("substep", "s must be a state {x, v, C, F} (sim:state()), got " .. type(s), 2) end
  if act ~= nil and is_tensor(act) and act:numel() ~= self.groups then
    fail("substep", string.format("act must have one entry per actuator group (%d), got %d", self.groups, act:numel()), 2)
  end
  if mu == nil then mu, lam = self:lame() end
  mass = mass or self:masses()
  local n, d = self.n, self.dim
  local out = {x = ds.empty{n, d}, v = ds.empty{n, d}, C = ds.empty{n, d, d}, F = ds.empty{n, d, d}}
  local args = {x = s.x, v = s.v, C = s.C, F = s.F, act = act or self.zero_act, group = self.group,
                material = self.material, mass = mass, vol = self.vol, mu = mu, lam = lam, bulk = self.bulk,
                gravity = self.gravity, friction = self.friction, x_out = out.x, v_out = out.v, C_out = out.C,
                F_out = out.F}
  keep = keep and d == 2 and not self._sparse
  if d == 2 then args.aux = ds.empty({keep and self:aux_count() or 0}, "i32") end
  K[d == 3 and "substep3" or "substep"]:launch(args, self.params)
  -- aux[1] = -1: the stencils reached more nodes than there are particles, nothing
  -- was kept; this sim then stops allocating aux blocks it would not fill. (-2: a
  -- substep split at the CFL limit kept nothing; later unsplit ones still keep.)
  if keep and args.aux:get(1) == -1 then self._sparse = true end
  return out
end

-- T substeps. o.act: a tensor {groups} for every step or function(t, state) -> tensor (t from 0);
-- o.tape + o.checkpoint = k: segments of k substeps whose states are recomputed in backward
-- (memory O(T/k + k) states instead of O(T)); o.keep_grid (2D, default true): recorded substeps keep
-- their grid for the adjoint (false: it recomputes it; Sim:aux_count()); o.inputs: extra tensors an act function reads
-- (controller weights), so a segment accounts for their grads; o.on_step(t, state) after each step.
function Sim:rollout(s, T, o)
  o = ds.check_options("mpm sim:rollout", o, {"act", "tape", "checkpoint", "keep_grid", "inputs", "on_step"})
  if type(s) ~= "table" then fail("rollout", "s must be a state {x, v, C, F} (sim:state()), got " .. type(s), 2) end
  count("mpm.rollout", "T (substeps)", T, 0)
  if o.checkpoint ~= nil then count("mpm.rollout", "checkpoint (substeps per segment, 0: none)", o.checkpoint, 0) end
  if (o.checkpoint or 0) > 0 and not o.tape and ds.recording() then
    fail("rollout", "checkpoint = " .. o.checkpoint .. " needs tape = the recording tape (without it every substep " ..
         "would be kept)", 2)
  end
  local mu, lam = self:lame()
  local mass = self:masses()
  local seg = o.checkpoint
  -- o.keep_grid (2D, on unless false): each recorded substep keeps its bins and
  -- the grid mass and momentum of the nodes its stencils reach for its adjoint,
  -- which then skips redoing the binning and the P2G (about a quarter of a
  -- substep's forward + backward), at 3 reals and 2 int32 per particle (5/12 of a
  -- state in f32) per recorded substep: per checkpoint segment when
  -- checkpointing, per step otherwise. A step whose stencils reach more nodes
  -- than it has particles keeps nothing (its adjoint recomputes), and its sim
  -- stops trying (Sim:substep).
  local keep = o.keep_grid ~= false and self.dim == 2
  local function advance(t0, t1, x, v, C, F)
    local st = {x = x, v = v, C = C, F = F}
    for t = t0, t1 - 1 do
      local act = o.act
      if type(act) == "function" then act = act(t, st) end
      st = self:substep(st, act, mu, lam, mass, keep and ds.recording())
      if o.on_step then o.on_step(t + 1, st) end
    end
    return st.x, st.v, st.C, st.F
  end
  local x, v, C, F = s.x, s.v, s.C, s.F
  if seg and seg > 0 and o.tape then
    local t = 0
    while t < T do
      local t0, t1 = t, math.min(t + seg, T)
      local extra = {mass, self.vol, mu, lam, self.bulk, self.gravity, self.friction}
      if is_tensor(o.act) then extra[#extra + 1] = o.act end
      for _, e in ipairs(o.inputs or {}) do extra[#extra + 1] = e end
      x, v, C, F = o.tape:checkpoint(function(a, b, c, d) return advance(t0, t1, a, b, c, d) end, x, v, C, F,
        unpack(extra))
      t = t1
    end
  else
    x, v, C, F = advance(0, T, x, v, C, F)
  end
  return {x = x, v = v, C = C, F = F}
end

-- Mean position {2} of positions {n, 2} (differentiable).
function M.mean_x(x) return ds.sum_rows(x) * (1 / x:shape()[1]) end

-- A picture {h, w, 3} of the particles, coloured by color {n} in [0, 1] (default: material).
function Sim:render(x, o)
  o = ds.check_options("mpm sim:render", o, {"size", "color"})
  local size = o.size or 256
  local img = ds.empty{size, size, 3}
  local color = o.color
  if color == nil then
    if not self._mat_color then
      local t = self.material:totable()
      for i = 1, #t do t[i] = t[i] / 2 end
      self._mat_color = ds.tensor(t)
    end
    color = self._mat_color
  end
  if self.dim == 3 then
    -- a side view: (x, y) of each particle
    self._proj = self._proj or ds.tensor{{1, 0}, {0, 1}, {0, 0}}
    x = ds.matmul(x, self._proj)
  end
  K.render:launch({x = x, color = color, image = img},
    {extent_x = self.nx * self.dx, extent_y = self.ny * self.dx, band = self.params.bound * self.dx})
  return img
end

return M
