-- Lua front end of the fem plugin: finite-element solids (and, through the
-- element table, any element type) stepped by minimising the incremental
-- potential, with implicit-function-theorem gradients.
--
--   local fem = ds.plugin("fem")
--   local mesh = fem.box_mesh{size = {1, 0.1, 0.1}, res = {20, 2, 2}}     -- verts {n,3}, tets i32 {m,4}
--   local body = fem.body{
--     verts = mesh.verts,                         -- rest positions = start positions (rest = ... to differ)
--     sets = {{type = "tet_snh", elems = mesh.tets, E = 1e8, nu = 0.3, density = 1000}},
--     pins = fem.select(mesh.verts, function(x, y, z) return x < 1e-9 end),   -- i32 {P}, 0-based
--     gravity = {0, -9.81, 0}, dt = 1e-2,
--     ground = {y = 0, k = 1e7, friction = 0.5, eps = 1e-2},    -- optional
--     damping = {alpha = 0, beta = 0},                            -- Rayleigh, optional
--   }
--   local x1, v1 = body:step(x, v)            -- one implicit Euler step (recorded on the tape)
--   local xs = body:static()                  -- static equilibrium
--   local xs, vs = body:rollout(T, x0, v0)    -- lists of T + 1 states
--
-- Every material parameter of a set (E, nu, density, act_vol, act_fib, fib_x,
-- fib_y, fib_z for tets) is a number, a 0-dim tensor, or a tensor {m} (one per
-- element); a tensor that requires grad gets its gradient. body.rest, body.gravity
-- and pin targets (body:step(x, v, {pin_pos = t})) may require grad too.
local ds = require("diffsim")
ds.load_plugin("fem")

local M = {}
local K = {}
for _, name in ipairs{"step", "residual", "energy", "hessian", "stats"} do K[name] = ds.kernel("fem." .. name) end
M.kernels = K

local is_tensor = ds.is_tensor
local function fail(fn, msg, level) error("fem." .. fn .. ": " .. msg, (level or 1) + 1) end

-- The element types, in the order of plugins/fem/types.c (the position - 1 is
-- the C type id). APPEND ONLY: the shell types of femshell come after these.
local TET_PARAMS = {"E", "nu", "density", "act_vol", "act_fib", "fib_x", "fib_y", "fib_z"}
local TET_DEFAULTS = {E = 1e6, nu = 0.3, density = 1000, act_vol = 0, act_fib = 0, fib_x = 0, fib_y = 0, fib_z = 0}
M.TYPES = {
  {name = "tet_snh", k = 4, params = TET_PARAMS, defaults = TET_DEFAULTS},
  {name = "tet_corot", k = 4, params = TET_PARAMS, defaults = TET_DEFAULTS},
  {name = "tet_linear", k = 4, params = TET_PARAMS, defaults = TET_DEFAULTS},
  -- femshell: cloth / thin shells (shell_types.c); areal_density in kg/m^2
  {name = "tri_membrane", k = 3, params = {"E", "nu", "thickness", "areal_density"},
   defaults = {E = 1e5, nu = 0.3, thickness = 1e-3, areal_density = 0.2}},
  {name = "hinge_bend", k = 4, params = {"k_bend"}, defaults = {k_bend = 1e-4}},
  {name = "tri_neohookean", k = 3, params = {"E", "nu", "thickness", "areal_density"},
   defaults = {E = 1e5, nu = 0.3, thickness = 1e-3, areal_density = 0.2}},
}
local function type_of(name)
  for i, t in ipairs(M.TYPES) do
    if t.name == name then return t, i - 1 end
  end
  local names = {}
  for _, t in ipairs(M.TYPES) do names[#names + 1] = t.name end
  return nil, "unknown element type '" .. tostring(name) .. "' (types: " .. table.concat(names, ", ") .. ")"
end
function M.types()
  local out = {}
  for i, t in ipairs(M.TYPES) do out[i] = t.name end
  return out
end

local MODES = {implicit = 0, static = 1, symplectic = 2}

-- ---- meshes -------------------------------------------------------------------
-- The signed volume of the tetrahedron (a, b, c, d), each a {x, y, z} table:
-- positive when (b - a, c - a, d - a) is right-handed (the kernels' orientation).
function M.tet_volume(a, b, c, d)
  local e1 = {b[1] - a[1], b[2] - a[2], b[3] - a[3]}
  local e2 = {c[1] - a[1], c[2] - a[2], c[3] - a[3]}
  local e3 = {d[1] - a[1], d[2] - a[2], d[3] - a[3]}
  return (e1[1] * (e2[2] * e3[3] - e2[3] * e3[2]) - e1[2] * (e2[1] * e3[3] - e2[3] * e3[1]) +
    e1[3] * (e2[1] * e3[2] - e2[2] * e3[1])) / 6
end

-- A box [origin, origin + size] of res[1] x res[2] x res[3] hexahedral cells,
-- each split into 6 tetrahedra around its main diagonal (Kuhn / Freudenthal:
-- neighbouring cells' faces match, no parity to alternate). Returns
-- {verts = {n,3}, tets = i32 {m,4} (0-based, positive volume), n =, m =,
--  index = function(i, j, k) -> 0-based vertex of grid node (i, j, k)}.
function M.box_mesh(o)
  o = ds.check_options("fem.box_mesh", o, {"size", "res", "origin"})
  local size, res, org = o.size or {1, 1, 1}, o.res or {1, 1, 1}, o.origin or {0, 0, 0}
  for d = 1, 3 do
    if type(res[d]) ~= "number" or res[d] < 1 or res[d] ~= math.floor(res[d]) then
      fail("box_mesh", "res[" .. d .. "] must be a positive integer, got " .. tostring(res[d]), 2)
    end
    if type(size[d]) ~= "number" or not (size[d] > 0) then
      fail("box_mesh", "size[" .. d .. "] must be positive, got " .. tostring(size[d]), 2)
    end
  end
  local nx, ny, nz = res[1], res[2], res[3]
  local function idx(i, j, k) return (i * (ny + 1) + j) * (nz + 1) + k end
  local verts = {}
  for i = 0, nx do
    for j = 0, ny do
      for k = 0, nz do
        verts[#verts + 1] = {org[1] + size[1] * i / nx, org[2] + size[2] * j / ny, org[3] + size[3] * k / nz}
      end
    end
  end
  -- the 6 paths from corner 000 to 111, one axis at a time; orient each once
  local perms = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}}
  local shapes = {}
  for p, perm in ipairs(perms) do
    local c, path = {0, 0, 0}, {{0, 0, 0}}
    for s = 1, 3 do
      c[perm[s]] = 1
      path[#path + 1] = {c[1], c[2], c[3]}
    end
    if M.tet_volume(path[1], path[2], path[3], path[4]) < 0 then path[2], path[3] = path[3], path[2] end
    shapes[p] = path
  end
  local tets = {}
  for i = 0, nx - 1 do
    for j = 0, ny - 1 do
      for k = 0, nz - 1 do
        for _, path in ipairs(shapes) do
          local t = {}
          for a = 1, 4 do t[a] = idx(i + path[a][1], j + path[a][2], k + path[a][3]) end
          tets[#tets + 1] = t
        end
      end
    end
  end
  return {verts = ds.tensor(verts), tets = ds.tensor(tets, "i32"), n = #verts, m = #tets, index = idx,
          res = {nx, ny, nz}, size = {size[1], size[2], size[3]}, origin = {org[1], org[2], org[3]}}
end

-- A beam along x: length x height x width, res cells across the height and
-- width and res * length / height along it (fem.box_mesh's result).
function M.beam_mesh(o)
  o = ds.check_options("fem.beam_mesh", o, {"length", "height", "width", "res", "origin"})
  local L, h, w, r = o.length or 1, o.height or 0.1, o.width or o.height or 0.1, o.res or 1
  if type(r) ~= "number" or r < 1 or r ~= math.floor(r) then
    fail("beam_mesh", "res must be a positive integer, got " .. tostring(r), 2)
  end
  return M.box_mesh{size = {L, h, w}, origin = o.origin,
                    res = {math.max(1, math.floor(r * L / h + 0.5)), r, math.max(1, math.floor(r * w / h + 0.5))}}
end

-- 0-based indices (i32 {P}) of the vertices where pred(x, y, z) is true.
function M.select(verts, pred)
  local rows, out = verts:totable(), {}
  for i, r in ipairs(rows) do
    if pred(r[1], r[2], r[3]) then out[#out + 1] = i - 1 end
  end
  return ds.tensor(out, "i32")
end

-- ---- bodies -------------------------------------------------------------------
local Body = {}
Body.__index = Body

local function vec3(v, name)
  if is_tensor(v) then
    if #v:shape() ~= 1 or v:shape()[1] ~= 3 then fail("body", name .. " must be a tensor {3}", 3) end
    return v
  end
  if type(v) ~= "table" or #v ~= 3 then fail("body", name .. " must be {gx, gy, gz} or a tensor {3}", 3) end
  return ds.tensor(v)
end

local function as_verts(v, name, fn)
  if not is_tensor(v) then
    if type(v) ~= "table" then fail(fn, name .. " must be a tensor {n,3} or a table of {x, y, z}", 3) end
    v = ds.tensor(v)
  end
  local s = v:shape()
  if #s ~= 2 or s[2] ~= 3 then fail(fn, name .. " must have shape {n,3}, got {" .. table.concat(s, ",") .. "}", 3) end
  return v
end

-- A set's parameter value: a number, a 0-dim tensor, or a tensor {m}.
local function param_value(fn, name, v, m, level)
  if is_tensor(v) then
    local vs = v:shape()
    if not (#vs == 0 or (#vs == 1 and vs[1] == m)) then
      fail(fn, name .. " must be a number, a 0-dim tensor or a tensor {" .. m .. "}, got shape {" ..
        table.concat(vs, ",") .. "}", level + 1)
    end
  elseif type(v) ~= "number" then
    fail(fn, name .. " must be a number or a tensor, got " .. type(v), level + 1)
  end
  return v
end

function M.body(o)
  if type(o) ~= "table" then fail("body", "expected a table of options", 2) end
  ds.check_options("fem.body", o, {"verts", "rest", "sets", "pins", "gravity", "dt", "mode", "ground", "damping", "tol",
                                   "max_iters", "project"})
  ds.check_options("fem.body: ground", o.ground, {"y", "k", "friction", "eps"})
  ds.check_options("fem.body: damping", o.damping, {"alpha", "beta"})
  local self = setmetatable({}, Body)
  self.verts = as_verts(o.verts, "verts", "body")
  local n = self.verts:shape()[1]
  self.n = n
  self.rest = o.rest and as_verts(o.rest, "rest", "body") or ds.copy(self.verts)
  if self.rest:shape()[1] ~= n then fail("body", "rest has " .. self.rest:shape()[1] .. " rows for " .. n .. " verts", 2) end
  if type(o.sets) ~= "table" or #o.sets == 0 then fail("body", "sets must be a non-empty list of element sets", 2) end
  self.sets = {}
  local conn_parts, set_rows, off = {}, {}, 0
  for s, st in ipairs(o.sets) do
    local T, id = type_of(st.type)
    if not T then fail("body", "sets[" .. s .. "]: " .. id, 2) end
    local e = st.elems
    if not is_tensor(e) then
      if type(e) ~= "table" then fail("body", "sets[" .. s .. "].elems must be an i32 tensor {m," .. T.k .. "}", 2) end
      e = ds.tensor(e, "i32")
    end
    local sh = e:shape()
    if e:dtype_name() ~= "i32" then
      fail("body", "sets[" .. s .. "].elems must be an i32 tensor of 0-based vertex indices, got a real tensor", 2)
    end
    if #sh ~= 2 or sh[2] ~= T.k then
      fail("body", "sets[" .. s .. "].elems must have shape {m," .. T.k .. "} for " .. T.name .. ", got {" ..
        table.concat(sh, ",") .. "}", 2)
    end
    local m = sh[1]
    local entry = {type = T, id = id, m = m, elems = e, values = {}}
    for _, pname in ipairs(T.params) do
      local v = st[pname]
      if v == nil then v = T.defaults[pname] end
      entry.values[pname] = param_value("body", "sets[" .. s .. "]." .. pname, v, m, 3)
    end
    for key in pairs(st) do
      if key ~= "type" and key ~= "elems" and T.defaults[key] == nil then
        fail("body", "sets[" .. s .. "] has no parameter '" .. tostring(key) .. "' (" .. T.name .. " takes " ..
          table.concat(T.params, ", ") .. ")", 2)
      end
    end
    self.sets[s] = entry
    for _, row in ipairs(e:totable()) do
      for a = 1, T.k do conn_parts[#conn_parts + 1] = row[a] end
    end
    set_rows[s] = {id, off, m}
    off = off + m * T.k
  end
  self.conn = ds.tensor(conn_parts, "i32")
  self.set_table = ds.tensor(set_rows, "i32")
  self.pins = o.pins and (is_tensor(o.pins) and o.pins or ds.tensor(o.pins, "i32")) or ds.tensor({}, "i32")
  if #self.pins:shape() ~= 1 then fail("body", "pins must be an i32 tensor {P} of 0-based vertex indices", 2) end
  for j, i in ipairs(self.pins:totable()) do
    if i < 0 or i >= n then
      fail("body", "pins[" .. j .. "] = " .. i .. " is out of range for " .. n .. " vertices (0-based)", 2)
    end
  end
  self.gravity = vec3(o.gravity or {0, -9.81, 0}, "gravity")
  self.dt = o.dt or 1e-2
  self.mode = o.mode or "implicit"
  if MODES[self.mode] == nil then fail("body", "mode must be implicit, static or symplectic, got " .. tostring(self.mode), 2) end
  local g, dmp = o.ground, o.damping or {}
  self.phys = {
    dt = self.dt, mode = MODES[self.mode], ground = g and 1 or 0, ground_y = g and g.y or 0,
    contact_k = g and (g.k or 1e6) or 0, friction = g and (g.friction or 0) or 0,
    friction_eps = g and (g.eps or 1e-2) or 0, alpha = dmp.alpha or 0, beta = dmp.beta or 0,
  }
  self.tol = o.tol or (ds.precision == "f64" and 1e-9 or 1e-4)
  self.max_iters = o.max_iters or 50
  -- Newton's Hessian: "auto" (true Hessian unless indefinite, then SPD-projected per element),
  -- "always" (projected), "never" (true; an indefinite one is an error)
  local PROJ = {auto = 1, always = 2, never = 0}
  self.project = PROJ[o.project or "auto"]
  if not self.project then fail("body", "project must be auto, always or never, got " .. tostring(o.project), 2) end
  self.step_count = 0
  return self
end

-- The per-set params tensors {nparam, m} built from the sets' values (differentiably).
function Body:params()
  local out = {}
  for s, st in ipairs(self.sets) do
    local rows = {}
    for j, pname in ipairs(st.type.params) do
      local v = st.values[pname]
      if is_tensor(v) then
        rows[j] = #v:shape() == 0 and ds.mul(ds.ones{st.m}, v) or v
      else
        rows[j] = ds.full({st.m}, v)
      end
    end
    out[s] = ds.reshape(ds.concat(rows), {#st.type.params, st.m})
  end
  return out
end

-- Replace a set's parameter (number, 0-dim tensor or tensor {m}).
function Body:set_param(s, name, value)
  local st = self.sets[s]
  if not st then fail("set_param", "no set " .. tostring(s), 2) end
  if st.values[name] == nil then fail("set_param", "set " .. s .. " has no parameter '" .. tostring(name) .. "'", 2) end
  st.values[name] = param_value("set_param", name, value, st.m, 2)
end

function Body:pin_targets()
  if self.pins:numel() == 0 then return ds.zeros{0, 3} end
  return ds.gather(self.rest, self.pins)
end

local function phys_params(self, extra)
  local p = {}
  for k, v in pairs(self.phys) do p[k] = v end
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

local function head(self, x, v)
  return {x = x, v = v, rest = self.rest, conn = self.conn, sets = self.set_table, pin_idx = self.pins,
          gravity = self.gravity}
end

-- One step from (x, v). opts: pin_pos (tensor {P,3}; default: the pins' rest
-- positions), params (from body:params(), to build them once per rollout),
-- mode ("implicit" | "static" | "symplectic"). Returns x1, v1.
function Body:step(x, v, opts)
  opts = ds.check_options("fem body:step", opts, {"mode", "params", "pin_pos", "step", "tol", "max_iters"})
  x = as_verts(x, "x", "step")
  v = as_verts(v or ds.zeros{self.n, 3}, "v", "step")
  local mode = opts.mode or self.mode
  if MODES[mode] == nil then fail("step", "mode must be implicit, static or symplectic, got " .. tostring(mode), 2) end
  self.step_count = self.step_count + 1
  local xo, vo = ds.empty_like(x), ds.empty_like(x)
  local a = head(self, x, v)
  a.pin_pos = opts.pin_pos or self:pin_targets()
  a.x_out, a.v_out = xo, vo
  a.params = opts.params or self:params()
  K.step:launch(a, phys_params(self, {mode = MODES[mode], tol = opts.tol or self.tol,
    max_iters = opts.max_iters or self.max_iters, step_index = opts.step or self.step_count, project = self.project}))
  return xo, vo
end

-- Static equilibrium from x (default: the rest shape). Returns the positions.
function Body:static(x, opts)
  opts = ds.check_options("fem body:static", opts, {"params", "pin_pos", "step", "tol", "max_iters"})
  local o = {}
  for k, val in pairs(opts) do o[k] = val end
  o.mode = "static"
  local y = self:step(x or ds.copy(self.rest), ds.zeros{self.n, 3}, o)
  return y
end

-- T steps from (x0, v0). opts.pins(t) -> pin targets at step t (1..T);
-- opts.each(t, x, v) is called after each step (no tape effect). Returns lists of
-- the T + 1 positions and velocities. Only the states are kept (the adjoint of
-- each step re-assembles its Hessian at the stored solution).
function Body:rollout(T, x0, v0, opts)
  opts = ds.check_options("fem body:rollout", opts, {"params", "pins", "mode", "each"})
  require("diffsim.options").number("fem.rollout", "T (steps)", T, nil, {int = true, ge = 0, le = 2 ^ 31 - 1, arg = true})
  local params = opts.params or self:params()
  local fixed = not opts.pins and self:pin_targets() or nil -- once: the tape keeps only the states per step
  local xs, vs = {x0}, {v0 or ds.zeros{self.n, 3}}
  for t = 1, T do
    local pin_pos = opts.pins and opts.pins(t) or fixed
    xs[t + 1], vs[t + 1] = self:step(xs[t], vs[t], {params = params, pin_pos = pin_pos, step = t, mode = opts.mode})
    if opts.each then opts.each(t, xs[t + 1], vs[t + 1]) end
  end
  return xs, vs
end

-- G = dPhi/dy at y for the step from (x, v) (differentiable in every input).
function Body:residual(y, x, v, opts)
  opts = ds.check_options("fem body:residual", opts, {"params", "mode"})
  local a = head(self, x, v or ds.zeros{self.n, 3})
  a.y, a.G, a.params = y, ds.empty_like(y), opts.params or self:params()
  K.residual:launch(a, phys_params(self, {mode = MODES[opts.mode or self.mode]}))
  return a.G
end

function Body:energy(y, x, v, opts)
  opts = ds.check_options("fem body:energy", opts, {"params", "mode"})
  local a = head(self, x, v or ds.zeros{self.n, 3})
  a.y, a.E, a.params = y, ds.zeros{}, opts.params or self:params()
  K.energy:launch(a, phys_params(self, {mode = MODES[opts.mode or self.mode]}))
  return a.E:item()
end

-- The Hessian dG/dy at y as a ds.sparse (project: SPD per element).
function Body:hessian(y, x, v, opts)
  opts = ds.check_options("fem body:hessian", opts, {"params", "mode", "project"})
  local nt = 9 * self.n
  for _, st in ipairs(self.sets) do nt = nt + st.m * 9 * st.type.k * st.type.k end
  local a = head(self, x, v or ds.zeros{self.n, 3})
  a.y, a.params = y, opts.params or self:params()
  a.rows, a.cols, a.vals = ds.zeros({nt}, "i32"), ds.zeros({nt}, "i32"), ds.zeros{nt}
  K.hessian:launch(a, phys_params(self, {mode = MODES[opts.mode or self.mode], project = opts.project and 1 or 0}))
  return ds.sparse(a.rows, a.cols, a.vals, {3 * self.n, 3 * self.n}), a
end

-- The last step's numbers: Newton iterations, line-search halvings, final |G|,
-- assembly ms, factor + solve ms, backward ms, energy evaluations, forward ms, factorizations.
function M.stats()
  local t = ds.zeros{10}
  K.stats:launch({out = t})
  local s = t:totable()
  return {iters = s[1], halvings = s[2], residual = s[3], assemble_ms = s[4], solve_ms = s[5], backward_ms = s[6],
          energy_evals = s[7], forward_ms = s[8], factorizations = s[9]}
end

-- Total mass-weighted centre of mass (differentiable): needs the lumped masses.
function Body:masses()
  if self._mass then return self._mass end
  local m = {}
  for i = 1, self.n do m[i] = 0 end
  local X = self.rest:totable()
  for _, st in ipairs(self.sets) do
    local rho = st.values.density
    if st.type.k == 4 and rho then
      local r = is_tensor(rho) and rho:totable() or rho
      for e, t in ipairs(st.elems:totable()) do
        local a, b, c, d = X[t[1] + 1], X[t[2] + 1], X[t[3] + 1], X[t[4] + 1]
        local e1 = {b[1] - a[1], b[2] - a[2], b[3] - a[3]}
        local e2 = {c[1] - a[1], c[2] - a[2], c[3] - a[3]}
        local e3 = {d[1] - a[1], d[2] - a[2], d[3] - a[3]}
        local vol = (e1[1] * (e2[2] * e3[3] - e2[3] * e3[2]) - e1[2] * (e2[1] * e3[3] - e2[3] * e3[1]) +
          e1[3] * (e2[1] * e3[2] - e2[2] * e3[1])) / 6
        local re = type(r) == "table" and (r[e] or r) or r
        for q = 1, 4 do m[t[q] + 1] = m[t[q] + 1] + re * vol / 4 end
      end
    end
    local rho_a = st.values.areal_density -- cloth membranes (femshell): areal density x rest area / 3
    if st.type.k == 3 and rho_a then
      local r = is_tensor(rho_a) and rho_a:totable() or rho_a
      for e, t in ipairs(st.elems:totable()) do
        local a, b, c = X[t[1] + 1], X[t[2] + 1], X[t[3] + 1]
        local u, v = {b[1] - a[1], b[2] - a[2], b[3] - a[3]}, {c[1] - a[1], c[2] - a[2], c[3] - a[3]}
        local area = 0.5 * math.sqrt((u[2] * v[3] - u[3] * v[2]) ^ 2 + (u[3] * v[1] - u[1] * v[3]) ^ 2 +
          (u[1] * v[2] - u[2] * v[1]) ^ 2)
        local re = type(r) == "table" and (r[e] or r) or r
        for q = 1, 3 do m[t[q] + 1] = m[t[q] + 1] + re * area / 3 end
      end
    end
  end
  self._mass = m
  return m
end

-- ---- pictures -----------------------------------------------------------------------
-- The unique edges of the tets (a Lua list of {a, b}, 0-based), computed once per mesh.
function M.edges(tets)
  local seen, out = {}, {}
  for _, t in ipairs(tets:totable()) do
    for a = 1, 4 do
      for b = a + 1, 4 do
        local i, j = math.min(t[a], t[b]), math.max(t[a], t[b])
        local key = i * 4294967296 + j
        if not seen[key] then seen[key] = true; out[#out + 1] = {i, j} end
      end
    end
  end
  return out
end

-- A wireframe projection through PLplot: each of `shapes` (tensors {n,3}) drawn
-- as its edges projected on the axes opts.axes (default {1, 2}: x-y), one series
-- per shape (edges separated by NaN breaks). opts: labels, title, xlabel, ylabel,
-- width, height, extra = {series...} (more {x =, y =, label =} curves).
function M.plot_mesh(path, shapes, tets, opts)
  opts = ds.check_options("fem.plot_mesh", opts, {"edges", "axes", "labels", "extra", "title", "xlabel", "ylabel",
                                                  "width", "height", "legend"})
  local edges = opts.edges or M.edges(tets)
  local ax = opts.axes or {1, 2}
  local series = {}
  for s, x in ipairs(shapes) do
    local X, xs, ys = x:totable(), {}, {}
    for _, e in ipairs(edges) do
      local p, q = X[e[1] + 1], X[e[2] + 1]
      xs[#xs + 1], ys[#ys + 1] = p[ax[1]], p[ax[2]]
      xs[#xs + 1], ys[#ys + 1] = q[ax[1]], q[ax[2]]
      xs[#xs + 1], ys[#ys + 1] = 0 / 0, 0 / 0
    end
    series[s] = {x = xs, y = ys, label = opts.labels and opts.labels[s] or nil}
  end
  for _, e in ipairs(opts.extra or {}) do series[#series + 1] = e end
  local names = {"x (m)", "y (m)", "z (m)"}
  ds.io.plot(path, series, {title = opts.title, xlabel = opts.xlabel or names[ax[1]], ylabel = opts.ylabel or names[ax[2]],
                            width = opts.width or 900, height = opts.height or 460, legend = opts.legend})
  return path
end

-- An animated GIF of a rollout through the core media: each state drawn by
-- plot_mesh (same axes for every frame: the range of all states, opts.axes as
-- there), read back and written with ds.io.write_gif. opts: title (a function
-- of the frame index, or a string), width, height, delay (1/100 s), every (draw
-- every k-th state).
function M.animate(path, states, tets, opts)
  opts = ds.check_options("fem.animate", opts, {"axes", "every", "title", "width", "height", "delay"})
  local ax, every = opts.axes or {1, 2}, opts.every or 1
  local lo, hi = {math.huge, math.huge}, {-math.huge, -math.huge}
  for _, x in ipairs(states) do
    for _, p in ipairs(x:totable()) do
      for k = 1, 2 do lo[k], hi[k] = math.min(lo[k], p[ax[k]]), math.max(hi[k], p[ax[k]]) end
    end
  end
  -- two isolated points at the corners: they set the axes and draw nothing (NaN breaks)
  local pad = 0.02 * math.max(hi[1] - lo[1], hi[2] - lo[2])
  local corners = {x = {lo[1] - pad, 0 / 0, hi[1] + pad}, y = {lo[2] - pad, 0 / 0, hi[2] + pad}}
  local edges, frames, tmp = M.edges(tets), {}, path .. ".frame.png"
  for i = 1, #states, every do
    local title = type(opts.title) == "function" and opts.title(i) or opts.title
    M.plot_mesh(tmp, {states[i]}, tets, {edges = edges, axes = ax, title = title, extra = {corners},
                                          width = opts.width or 800, height = opts.height or 400})
    local img = ds.io.read_png(tmp)
    if img:shape()[3] == 4 then img = ds.io.read_png(tmp, {channels = 3}) end
    frames[#frames + 1] = img
  end
  os.remove(tmp)
  ds.io.write_gif(path, frames, {delay = opts.delay or 4, range = {0, 1}})
  return path
end

-- ---- VTK output -------------------------------------------------------------------
-- Legacy ASCII .vtk unstructured grid of tetrahedra (or of triangles, for a
-- cloth: `tets` {m,3}) that ParaView reads, with optional point data
-- {name = tensor {n} or {n,3}}.
function M.write_vtk(path, x, tets, point_data)
  local xs = as_verts(x, "x", "write_vtk"):totable()
  local ts = tets:totable()
  local f, err = io.open(path, "w")
  if not f then fail("write_vtk", "cannot open " .. tostring(path) .. ": " .. tostring(err), 2) end
  local out = {"# vtk DataFile Version 3.0", "diffsim fem", "ASCII", "DATASET UNSTRUCTURED_GRID",
               "POINTS " .. #xs .. " double"}
  for _, p in ipairs(xs) do out[#out + 1] = string.format("%.9g %.9g %.9g", p[1], p[2], p[3]) end
  local k = ts[1] and #ts[1] or 4 -- 4: tetrahedra (VTK type 10); 3: triangles of a cloth (VTK type 5)
  out[#out + 1] = string.format("CELLS %d %d", #ts, (k + 1) * #ts)
  for _, t in ipairs(ts) do out[#out + 1] = k .. " " .. table.concat(t, " ") end
  out[#out + 1] = "CELL_TYPES " .. #ts
  for _ = 1, #ts do out[#out + 1] = k == 3 and "5" or "10" end
  if point_data and next(point_data) then
    out[#out + 1] = "POINT_DATA " .. #xs
    local names = {}
    for name in pairs(point_data) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local t = point_data[name]:totable()
      if type(t[1]) == "table" then
        out[#out + 1] = "VECTORS " .. name .. " double"
        for _, r in ipairs(t) do out[#out + 1] = string.format("%.9g %.9g %.9g", r[1], r[2], r[3]) end
      else
        out[#out + 1] = "SCALARS " .. name .. " double 1"
        out[#out + 1] = "LOOKUP_TABLE default"
        for _, s in ipairs(t) do out[#out + 1] = string.format("%.9g", s) end
      end
    end
  end
  f:write(table.concat(out, "\n"), "\n")
  f:close()
  return path
end

-- femshell: cloth (fem_shell.lua) and meshing / mesh files (fem_mesh.lua), beside this file
do
  local here = (select(2, ...) or debug.getinfo(1, "S").source:gsub("^@", "")):match("^(.*)/[^/]*$") or "."
  for _, part in ipairs{"fem_shell", "fem_mesh"} do
    local chunk = assert(loadfile(here .. "/" .. part .. ".lua"))
    chunk()(ds, M, here .. "/fem.lua")
  end
end

return M
