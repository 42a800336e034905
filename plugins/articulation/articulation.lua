-- Lua front end of the articulation plugin: 3D rigid multibody dynamics in
-- reduced coordinates (Featherstone: RNEA, CRBA, ABA), smooth ground contact,
-- semi-implicit Euler steps and fused batched rollouts, all differentiable.
--
--   local art = ds.plugin("articulation")
--   local model = art.model(desc)           -- desc: the model description (README.md, top)
--   local q, qd = model:initial(B)          -- {B, nq}, {B, nv}: the model's q0 and zeros, B copies
--   local xpos, xmat = model:fk(q)          -- {B, nl, 3}, {B, nl, 9} (row-major rotations)
--   local x = model:points(q, {{link, {x, y, z}}, ...})  -- {B, np, 3}: world points fixed in links
--   local tau = model:rnea(q, qd, qdd)      -- M qdd + C (gravity, Coriolis), armature included
--   local M = model:crba(q)                 -- {B, nv, nv}
--   local h = model:momentum(q, qd)         -- {B, 6}: spatial momentum (angular; linear) about the origin
--   local qdd = model:aba(q, qd, tau)       -- M^-1 (tau - C)
--   local q1, qd1 = model:step(q, qd, ctrl) -- one step with actuators, damping, limits, contact
--   local qs, qds = model:rollout(ctrl, q, qd)  -- ctrl {T, B, nu}: states {T+1, B, nq|nv}
--   local qs, qds, u = model:nn_rollout(T, net, q, qd, {obs =, freq =, scale =, phase =})  -- fused controller
--   local p = model:param("mass")           -- a model tensor made to require grad (returned)
--
-- The model description (stable; fields are only ever added):
--
--   desc = {
--     name = "...",                                   -- optional
--     options = {timestep = 0.002, gravity = {0, 0, -9.81}, integrator = "euler",
--                contact_stiffness = 2e4, contact_damping = 100, contact_smoothing = 1e-3,
--                friction_smoothing = 0.02, limit_stiffness = 1e4, limit_damping = 10,
--                limit_smoothing = 0.01, ground = true, self_collision = true, toi = false},
--     links = {                                       -- topological order: parents come first
--       {name = "l1", parent = 0,                     -- 0 = world, else an earlier link's index
--        pos = {x, y, z}, quat = {w, x, y, z},        -- link frame in the parent frame
--        joint = {type = "revolute" | "prismatic" | "spherical" | "fixed" | "free",
--                 axis = {0, 1, 0}, pos = {0, 0, 0},  -- axis and anchor in the link frame
--                 range = {lo, hi}, damping = 0, armature = 0},
--        inertial = {mass = 1, pos = {com}, diaginertia = {ixx, iyy, izz}, quat = {w, x, y, z}}
--                   -- or fullinertia = {ixx, iyy, izz, ixy, ixz, iyz} (about the com, link frame)
--        geoms = {{type = "sphere" | "capsule" | "box", pos =, quat =, size = {...}, friction = 1}}},
--     },
--     actuators = {{joint = 1 or "name", type = "motor", gear = 1},
--                  {joint = ..., type = "position", kp = 50, kv = 5},
--                  {joint = ..., type = "velocity", kv = 5,              -- MuJoCo's actuators, gear on each
--                   ctrlrange = {lo, hi}, forcerange = {lo, hi}}},       -- optional clamps, as MuJoCo's
--   }
--
-- Packing (what model.args holds, by the kernels' argument names): see README.md.
local ds = require("diffsim")
ds.load_plugin("articulation")

local M = {}
local K = {}
for _, name in ipairs{"fk", "rnea", "crba", "aba", "step", "rollout", "momentum", "implicit_step", "nn_rollout",
                     "implicit_rollout"} do K[name] = ds.kernel("articulation." .. name) end
M.kernels = K
local is_tensor = ds.is_tensor

M.JOINT = {fixed = 0, revolute = 1, prismatic = 2, spherical = 3, free = 4}
M.GEOM = {sphere = 0, capsule = 1, box = 2}
M.ACT = {motor = 0, position = 1, velocity = 2}
local JNQ = {[0] = 0, 1, 1, 4, 7}
local JNV = {[0] = 0, 1, 1, 3, 6}
M.PARAMS = {"mass", "com", "inertia", "pos", "quat", "anchor", "axis", "damping", "armature", "range",
            "gpos", "gquat", "gsize", "friction", "gain", "opt"}
M.DEFAULTS = {timestep = 0.002, gravity = {0, 0, -9.81}, integrator = "euler", contact_stiffness = 2e4,
              contact_damping = 100, contact_smoothing = 1e-3, friction_smoothing = 0.02, limit_stiffness = 1e4,
              limit_damping = 10, limit_smoothing = 0.01, ground = true, self_collision = true, toi = false}

local function fail(fn, msg, level) error("articulation." .. fn .. ": " .. msg, (level or 1) + 1) end
local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

local function vec(where, v, n, default)
  if v == nil then
    if default == nil then fail("model", where .. " is required", 4) end
    return default
  end
  if type(v) ~= "table" or #v ~= n then fail("model", string.format("%s must be a list of %d numbers", where, n), 4) end
  for i = 1, n do
    if not finite(v[i]) then fail("model", string.format("%s[%d] must be a finite number, got %s", where, i, tostring(v[i])), 4) end
  end
  return v
end
local function num(where, v, default, check)
  if v == nil then v = default end
  if not finite(v) then fail("model", where .. " must be a finite number, got " .. tostring(v), 4) end
  if check == "pos" and not (v > 0) then fail("model", where .. " must be > 0, got " .. v, 4) end
  if check == "nonneg" and v < 0 then fail("model", where .. " must be >= 0, got " .. v, 4) end
  return v
end
local function quatv(where, q)
  q = vec(where, q, 4, {1, 0, 0, 0})
  local n = math.sqrt(q[1] ^ 2 + q[2] ^ 2 + q[3] ^ 2 + q[4] ^ 2)
  if n < 1e-12 then fail("model", where .. " is a zero quaternion", 4) end
  -- model quaternions are normalised (as MJCF does); state quaternions must be unit (the kernels check)
  return {q[1] / n, q[2] / n, q[3] / n, q[4] / n}
end
local function q2m(q)
  local w, x, y, z = q[1], q[2], q[3], q[4]
  return {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
          {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
          {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}}
end
M.quat_to_matrix = q2m

local function quat_matrix9(q)
  local R = q2m(q)
  return {R[1][1], R[1][2], R[1][3], R[2][1], R[2][2], R[2][3], R[3][1], R[3][2], R[3][3]}
end

-- The inertia {xx, yy, zz, xy, xz, yz} about the com in the link frame.
local function inertia6(where, inl)
  local I
  if inl.fullinertia then
    I = vec(where .. ".fullinertia", inl.fullinertia, 6)
  else
    local d = vec(where .. ".diaginertia", inl.diaginertia, 3)
    local R = q2m(quatv(where .. ".quat", inl.quat))
    local function e(a, b) return R[a][1] * d[1] * R[b][1] + R[a][2] * d[2] * R[b][2] + R[a][3] * d[3] * R[b][3] end
    I = {e(1, 1), e(2, 2), e(3, 3), e(1, 2), e(1, 3), e(2, 3)}
  end
  -- positive definite (Sylvester)
  local xx, yy, zz, xy, xz, yz = I[1], I[2], I[3], I[4], I[5], I[6]
  local d2 = xx * yy - xy * xy
  local d3 = xx * (yy * zz - yz * yz) - xy * (xy * zz - yz * xz) + xz * (xy * yz - yy * xz)
  if not (xx > 0 and d2 > 0 and d3 > 0) then
    fail("model", string.format("%s: inertia {%g, %g, %g, %g, %g, %g} is not positive definite", where, xx, yy, zz, xy, xz, yz), 3)
  end
  -- and a rigid body's: its principal moments obey A + B >= C (the second
  -- moment of the mass, tr(I)/2 - I, is positive semi-definite), as MuJoCo's
  -- compiler requires; the largest eigenvalue (Smith's closed form) is compared
  local q = (xx + yy + zz) / 3
  local p1 = xy * xy + xz * xz + yz * yz
  local p2 = (xx - q) ^ 2 + (yy - q) ^ 2 + (zz - q) ^ 2 + 2 * p1
  local lmax = q
  if p2 > 0 then
    local pp = math.sqrt(p2 / 6)
    local b11, b22, b33 = (xx - q) / pp, (yy - q) / pp, (zz - q) / pp
    local r = (b11 * (b22 * b33 - (yz / pp) ^ 2) - (xy / pp) * ((xy / pp) * b33 - (yz / pp) * (xz / pp)) +
               (xz / pp) * ((xy / pp) * (yz / pp) - b22 * (xz / pp))) / 2
    lmax = q + 2 * pp * math.cos(math.acos(math.max(-1, math.min(1, r))) / 3)
  end
  if lmax > 1.5 * q * (1 + 1e-9) then
    fail("model", string.format("%s: inertia {%g, %g, %g, %g, %g, %g} is not a rigid body's: its largest principal " ..
      "moment %g exceeds the sum of the other two %g (A + B >= C)", where, xx, yy, zz, xy, xz, yz, lmax, 3 * q - lmax), 3)
  end
  return I
end

local Model = {}
Model.__index = Model
M.Model = Model

-- The names each table of a description takes (a misspelt one is an error,
-- never silently the default). line: the source line a loader records.
local DESC_KEYS = {"name", "options", "links", "actuators", "joint_limits"}
local LINK_KEYS = {"name", "parent", "pos", "quat", "joint", "inertial", "geoms", "line"}
local JOINT_KEYS = {"type", "name", "axis", "pos", "range", "damping", "armature"}
local INERTIAL_KEYS = {"mass", "pos", "diaginertia", "fullinertia", "quat"}
local GEOM_KEYS = {"type", "name", "pos", "quat", "size", "friction"}
local ACTUATOR_KEYS = {"name", "joint", "type", "gear", "kp", "kv", "ctrlrange", "forcerange"}

-- Checks the description and packs it into tensors (see README.md).
function M.model(desc)
  if type(desc) ~= "table" or type(desc.links) ~= "table" or #desc.links == 0 then
    fail("model", "expected a description table with links = {{parent = 0, joint = {...}, inertial = {...}}, ...}", 2)
  end
  ds.check_options("articulation.model", desc, DESC_KEYS)
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(desc.options or {}) do
    if M.DEFAULTS[k] == nil then fail("model", "options." .. tostring(k) .. " is not an option (see README.md)", 2) end
    o[k] = v
  end
  local dt = num("options.timestep", o.timestep, nil, "pos")
  if o.integrator ~= "euler" and o.integrator ~= "implicit" then
    fail("model", "options.integrator = " .. tostring(o.integrator) .. " is not supported (\"euler\": semi-implicit " ..
                  "Euler, \"implicit\": backward Euler by Newton)", 2)
  end
  local nl = #desc.links
  local names, link, mass, com, inertia, pos, quat, anchor, axis, range = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
  local damping, armature, geom, gpos, gquat, gsize, friction = {}, {}, {}, {}, {}, {}, {}
  local q0, nq, nv = {}, 0, 0
  local qadr, vadr, jtype = {}, {}, {}
  for i, l in ipairs(desc.links) do
    local w = "links[" .. i .. "]"
    if type(l) ~= "table" then fail("model", w .. " must be a table", 2) end
    ds.check_options("articulation.model: " .. w, l, LINK_KEYS)
    if l.name ~= nil then
      if names[l.name] then fail("model", w .. ".name = " .. tostring(l.name) .. " is used twice", 2) end
      names[l.name] = i
    end
    local par = l.parent == nil and 0 or l.parent
    if type(par) == "string" then par = names[par] or fail("model", w .. ".parent = " .. par .. " names no earlier link", 2) end
    if type(par) ~= "number" or par ~= math.floor(par) or par < 0 or par >= i then
      fail("model", string.format("%s.parent = %s must be 0 (the world) or the index of an earlier link (1..%d); "
                                  .. "links are listed parents first, so a tree has no cycles", w, tostring(par), i - 1), 2)
    end
    local j = l.joint or {type = "fixed"}
    if type(j) ~= "table" then fail("model", w .. ".joint must be a table", 2) end
    ds.check_options("articulation.model: " .. w .. ".joint", j, JOINT_KEYS)
    local jt = M.JOINT[j.type or "fixed"]
    if not jt then fail("model", w .. ".joint.type = " .. tostring(j.type) .. " is not one of revolute, prismatic, spherical, fixed, free", 2) end
    if jt == 4 and par ~= 0 then fail("model", w .. ": a free joint's parent must be the world (0), got " .. par, 2) end
    link[i] = {par - 1, jt, nq, nv}
    qadr[i], vadr[i], jtype[i] = nq, nv, jt
    pos[i] = vec(w .. ".pos", l.pos, 3, {0, 0, 0})
    quat[i] = quatv(w .. ".quat", l.quat)
    anchor[i] = vec(w .. ".joint.pos", j.pos, 3, {0, 0, 0})
    local ax = vec(w .. ".joint.axis", j.axis, 3, {0, 0, 1})
    local an = math.sqrt(ax[1] ^ 2 + ax[2] ^ 2 + ax[3] ^ 2)
    if an < 1e-12 then fail("model", w .. ".joint.axis is zero", 2) end
    axis[i] = {ax[1] / an, ax[2] / an, ax[3] / an}
    if j.range then
      local r = vec(w .. ".joint.range", j.range, 2)
      if not (r[1] < r[2]) then fail("model", w .. ".joint.range must have lo < hi", 2) end
      if jt ~= 1 and jt ~= 2 then fail("model", w .. ".joint.range: only revolute and prismatic joints take a range", 2) end
      range[i] = {r[1], r[2]}
    else
      range[i] = {1, -1}
    end
    for _ = 1, JNV[jt] do
      damping[#damping + 1] = num(w .. ".joint.damping", j.damping, 0, "nonneg")
      armature[#armature + 1] = num(w .. ".joint.armature", j.armature, 0, "nonneg")
    end
    if jt == 1 or jt == 2 then q0[#q0 + 1] = 0
    elseif jt == 3 then for _, v in ipairs{1, 0, 0, 0} do q0[#q0 + 1] = v end
    elseif jt == 4 then
      for _, v in ipairs(pos[i]) do q0[#q0 + 1] = v end
      for _, v in ipairs(quat[i]) do q0[#q0 + 1] = v end
    end
    nq, nv = nq + JNQ[jt], nv + JNV[jt]
    local inl = l.inertial
    if type(inl) ~= "table" then fail("model", w .. ".inertial = {mass =, pos =, diaginertia = | fullinertia =} is required", 2) end
    ds.check_options("articulation.model: " .. w .. ".inertial", inl, INERTIAL_KEYS)
    mass[i] = num(w .. ".inertial.mass", inl.mass, nil)
    if not (mass[i] > 0) then fail("model", w .. ".inertial.mass must be > 0, got " .. mass[i], 2) end
    com[i] = vec(w .. ".inertial.pos", inl.pos, 3, {0, 0, 0})
    inertia[i] = inertia6(w .. ".inertial", inl)
    for gi, g in ipairs(l.geoms or {}) do
      local gw = w .. ".geoms[" .. gi .. "]"
      if type(g) ~= "table" then fail("model", gw .. " must be a table", 2) end
      ds.check_options("articulation.model: " .. gw, g, GEOM_KEYS)
      local gt = M.GEOM[g.type]
      if not gt then fail("model", gw .. ".type = " .. tostring(g.type) .. " is not one of sphere, capsule, box", 2) end
      local need = gt == 2 and 3 or gt == 1 and 2 or 1
      if type(g.size) ~= "table" or #g.size < need then
        fail("model", string.format("%s.size needs %d numbers (%s)", gw, need,
          gt == 2 and "half sizes x, y, z" or gt == 1 and "radius, half length" or "radius"), 2)
      end
      local sz = {}
      for k = 1, 3 do
        sz[k] = g.size[k] or 0
        if k <= need then num(gw .. ".size[" .. k .. "]", sz[k], nil, "pos") end
      end
      geom[#geom + 1] = {i - 1, gt}
      gpos[#gpos + 1] = vec(gw .. ".pos", g.pos, 3, {0, 0, 0})
      gquat[#gquat + 1] = quatv(gw .. ".quat", g.quat)
      gsize[#gsize + 1] = sz
      friction[#friction + 1] = num(gw .. ".friction", g.friction, 1, "nonneg")
    end
  end
  local act, gain = {}, {}
  for a, u in ipairs(desc.actuators or {}) do
    local w = "actuators[" .. a .. "]"
    if type(u) ~= "table" then fail("model", w .. " must be a table", 2) end
    ds.check_options("articulation.model: " .. w, u, ACTUATOR_KEYS)
    local li = type(u.joint) == "string" and names[u.joint] or u.joint
    if type(li) ~= "number" or li ~= math.floor(li) or li < 1 or li > nl then
      fail("model", w .. ".joint = " .. tostring(u.joint) .. " names no link", 2)
    end
    if JNV[jtype[li]] ~= 1 then fail("model", w .. ": actuators drive revolute or prismatic joints only", 2) end
    local at = M.ACT[u.type or "motor"]
    if not at then fail("model", w .. ".type = " .. tostring(u.type) .. " is not motor, position or velocity", 2) end
    if at ~= M.ACT.position and u.kp ~= nil then fail("model", w .. ".kp: only a position actuator has kp", 2) end
    if at == M.ACT.motor and u.kv ~= nil then fail("model", w .. ".kv: a motor has no kv", 2) end
    -- control and force ranges (MuJoCo's ctrlrange, forcerange): {lo, hi} with lo < hi, or nil for none
    local flags, r = 0, {}
    for k, f in ipairs{"ctrlrange", "forcerange"} do
      r[k] = {0, 0}
      if u[f] ~= nil then
        local v = vec(w .. "." .. f, u[f], 2)
        if not (v[1] < v[2]) then fail("model", string.format("%s.%s = {%g, %g} must have lower < upper", w, f, v[1], v[2]), 2) end
        r[k], flags = v, flags + k
      end
    end
    if at == M.ACT.velocity and u.kv == nil then fail("model", w .. ": a velocity actuator needs kv > 0", 2) end
    act[a] = {li - 1, at, flags}
    gain[a] = {num(w .. ".gear", u.gear, 1), num(w .. ".kp", u.kp, 0, "nonneg"),
               num(w .. ".kv", u.kv, 0, at == M.ACT.velocity and "pos" or "nonneg"),
               r[1][1], r[1][2], r[2][1], r[2][2]}
  end
  local nu, ng = #act, #geom
  if ng == 0 then geom, gpos, gquat, gsize, friction = {{0, -1}}, {{0, 0, 0}}, {{1, 0, 0, 0}}, {{0, 0, 0}}, {0} end
  if nu == 0 then act, gain = {{0, -1, 0}}, {{0, 0, 0, 0, 0, 0, 0}} end
  if nv == 0 then fail("model", "the model has no degrees of freedom (every joint is fixed)", 2) end
  local g = vec("options.gravity", o.gravity, 3)
  local opt = {g[1], g[2], g[3], num("options.contact_stiffness", o.contact_stiffness, nil, "nonneg"),
               num("options.contact_damping", o.contact_damping, nil, "nonneg"),
               num("options.contact_smoothing", o.contact_smoothing, nil, "pos"),
               num("options.friction_smoothing", o.friction_smoothing, nil, "pos"),
               num("options.limit_stiffness", o.limit_stiffness, nil, "nonneg"),
               num("options.limit_damping", o.limit_damping, nil, "nonneg"), o.ground and 1 or 0,
               num("options.limit_smoothing", o.limit_smoothing, nil, "pos"), o.self_collision and 1 or 0,
               o.toi and 1 or 0}
  local self = setmetatable({desc = desc, name = desc.name, nl = nl, nq = nq, nv = nv, nu = math.max(nu, 1),
                             nactuators = nu, ng = ng, dt = dt, names = names, qadr = qadr, vadr = vadr,
                             jtype = jtype, q0 = q0, integrator = o.integrator}, Model)
  self.args = {link = ds.tensor(link, "i32"), geom = ds.tensor(geom, "i32"), act = ds.tensor(act, "i32"),
               mass = ds.tensor(mass), com = ds.tensor(com), inertia = ds.tensor(inertia), pos = ds.tensor(pos),
               quat = ds.tensor(quat), anchor = ds.tensor(anchor), axis = ds.tensor(axis),
               damping = ds.tensor(damping), armature = ds.tensor(armature), range = ds.tensor(range),
               gpos = ds.tensor(gpos), gquat = ds.tensor(gquat), gsize = ds.tensor(gsize),
               friction = ds.tensor(friction), gain = ds.tensor(gain), opt = ds.tensor(opt)}
  return self
end

-- A model tensor made to require grad (a fresh copy replaces it in model.args).
function Model:param(name)
  local t = self.args[name]
  if not t or name == "link" or name == "geom" or name == "act" then
    fail("param", "no differentiable model tensor named " .. tostring(name) .. " (" .. table.concat(M.PARAMS, ", ") .. ")", 2)
  end
  if not t:needs_grad() then
    t = t:detach():requires_grad()
    self.args[name] = t
  end
  return t
end

-- The link index (1-based) of a name, or the index itself.
function Model:link(name)
  local i = type(name) == "string" and self.names[name] or name
  if type(i) ~= "number" or i < 1 or i > self.nl then fail("link", "no link " .. tostring(name), 2) end
  return i
end

local function rows_of(fn, name, x, n, B)
  if is_tensor(x) then return x end
  if type(x) ~= "table" then fail(fn, name .. " must be a tensor {B, " .. n .. "} or a table of rows", 3) end
  if type(x[1]) == "number" then
    local r = {}
    for b = 1, B or 1 do r[b] = x end
    x = r
  end
  return ds.tensor(x)
end

-- Initial states: B copies of q0 (or of the given row) and zero velocities.
function Model:initial(B, q, qd)
  B = B or 1
  require("diffsim.options").number("articulation.initial", "B (copies)", B, nil,
                                    {int = true, ge = 1, le = 2 ^ 31 - 1, arg = true})
  for _, e in ipairs{{"q", q, self.nq}, {"qd", qd, self.nv}} do
    local v = e[2]
    if v ~= nil and (type(v) ~= "table" or #v ~= e[3]) then
      fail("initial", string.format("%s must be a list of %d numbers (one copy's), got %s", e[1], e[3],
        type(v) == "table" and #v .. " entries" or type(v)), 2)
    end
  end
  local qr, vr = {}, {}
  for b = 1, B do
    qr[b] = q or self.q0
    local z = {}
    for k = 1, self.nv do z[k] = qd and qd[k] or 0 end
    vr[b] = z
  end
  return ds.tensor(qr), ds.tensor(vr)
end

function Model:_args(a)
  for k, v in pairs(self.args) do a[k] = v end
  return a
end

local function batch(fn, q)
  if not is_tensor(q) or #q:shape() ~= 2 then fail(fn, "q must be a tensor {B, nq}", 3) end
  return q:shape()[1]
end

function Model:fk(q)
  q = rows_of("fk", "q", q, self.nq)
  local B = batch("fk", q)
  local xpos, xmat = ds.empty{B, self.nl, 3}, ds.empty{B, self.nl, 9}
  K.fk:launch(self:_args{q = q, xpos = xpos, xmat = xmat})
  return xpos, xmat
end

-- World positions {B, np, 3} of points fixed in links: pts = {{link, {x, y, z}}, ...}
-- (link: index or name; the point in the link frame). Differentiable in q and
-- the model tensors (fk, then two matrix products with fixed selectors).
function Model:points(q, pts)
  if type(pts) ~= "table" or #pts == 0 then fail("points", "pts must be a list of {link, {x, y, z}}", 2) end
  local B = batch("points", q)
  local key = {}
  for i, pt in ipairs(pts) do
    if type(pt) ~= "table" then fail("points", "pts[" .. i .. "] must be {link, {x, y, z}}", 2) end
    local li = type(pt[1]) == "string" and self.names[pt[1]] or pt[1]
    if type(li) ~= "number" or li ~= math.floor(li) or li < 1 or li > self.nl then
      fail("points", string.format("pts[%d]: no link %s", i, tostring(pt[1])), 2)
    end
    local p = vec("pts[" .. i .. "][2]", pt[2], 3)
    key[i] = {li, p}
  end
  local np, nl = #key, self.nl
  local Sp, Sr = {}, {}
  for r = 1, 3 * nl do Sp[r] = {} for c = 1, 3 * np do Sp[r][c] = 0 end end
  for r = 1, 9 * nl do Sr[r] = {} for c = 1, 3 * np do Sr[r][c] = 0 end end
  for i, kp in ipairs(key) do
    local li, p = kp[1], kp[2]
    for a = 1, 3 do
      Sp[3 * (li - 1) + a][3 * (i - 1) + a] = 1
      for b = 1, 3 do Sr[9 * (li - 1) + 3 * (a - 1) + b][3 * (i - 1) + a] = p[b] end -- (R p)_a = sum_b R[a][b] p_b
    end
  end
  local xpos, xmat = self:fk(q)
  local out = ds.matmul(ds.reshape(xpos, {B, 3 * nl}), ds.tensor(Sp)) + ds.matmul(ds.reshape(xmat, {B, 9 * nl}), ds.tensor(Sr))
  return ds.reshape(out, {B, np, 3})
end

function Model:rnea(q, qd, qdd)
  local B = batch("rnea", q)
  local tau = ds.empty{B, self.nv}
  K.rnea:launch(self:_args{q = q, qd = qd, qdd = qdd, tau = tau})
  return tau
end

function Model:crba(q)
  local B = batch("crba", q)
  local H = ds.empty{B, self.nv, self.nv}
  K.crba:launch(self:_args{q = q, M = H})
  return H
end

function Model:aba(q, qd, tau)
  local B = batch("aba", q)
  local qdd = ds.empty{B, self.nv}
  K.aba:launch(self:_args{q = q, qd = qd, tau = tau, qdd = qdd})
  return qdd
end

-- The spatial momentum {B, 6} of all links about the world origin: angular, linear.
function Model:momentum(q, qd)
  local B = batch("momentum", q)
  local h = ds.empty{B, 6}
  K.momentum:launch(self:_args{q = q, qd = qd, h = h})
  return h
end

-- model.adjoint picks the semi-implicit step, rollout and nn_rollout adjoints:
-- "analytic" (the default: the hand-written reverse of the dynamics, with the
-- joint and contact forces on the reverse-mode tape), "tape" (the whole step
-- residual on the tape; "reverse" is its older name) or "dual" (dual-number
-- directions): the slower references the tests compare with.
local ADJOINT = {tape = 0, reverse = 0, dual = 1, analytic = 2}
function Model:_dual()
  local a = self.adjoint or "analytic"
  if not ADJOINT[a] then
    fail("step", "model.adjoint must be \"analytic\", \"tape\" or \"dual\", got " .. tostring(a), 3)
  end
  return ADJOINT[a]
end

-- ctrl: {B, nu} tensor, or nil for zeros. options.integrator picks the
-- kernel: "euler" articulation.step, "implicit" articulation.implicit_step.
function Model:step(q, qd, ctrl, dt)
  local B = batch("step", q)
  ctrl = ctrl or ds.zeros{B, self.nu}
  local qo, qdo = ds.empty{B, self.nq}, ds.empty{B, self.nv}
  local a = self:_args{q = q, qd = qd, ctrl = ctrl, q_out = qo, qd_out = qdo}
  if self.integrator == "implicit" then K.implicit_step:launch(a, {dt = dt or self.dt})
  else K.step:launch(a, {dt = dt or self.dt, dual = self:_dual()}) end
  return qo, qdo
end

-- ctrl {T, B, nu} (or a number T for T steps without control); states {T+1, B, .}.
function Model:rollout(ctrl, q, qd, dt)
  local B = batch("rollout", q)
  if type(ctrl) == "number" then ctrl = ds.zeros{ctrl, B, self.nu} end
  if not is_tensor(ctrl) or #ctrl:shape() ~= 3 then fail("rollout", "ctrl must be a tensor {T, B, nu} or a step count", 2) end
  local T = ctrl:shape()[1]
  local qs, qds = ds.empty{T + 1, B, self.nq}, ds.empty{T + 1, B, self.nv}
  local a = self:_args{q0 = q, qd0 = qd, ctrl = ctrl, qs = qs, qds = qds}
  if self.integrator == "implicit" then K.implicit_rollout:launch(a, {dt = dt or self.dt})
  else K.rollout:launch(a, {dt = dt or self.dt, dual = self:_dual()}) end
  return qs, qds
end

-- The closed loop in one launch (articulation.nn_rollout): net is any ds.nn.mlp
-- the kit runs, from #opts.obs inputs to nu outputs; u = scale * net(x) with
-- x = [q, qd, sin, cos][obs] (1-based indices here; sin/cos of 2 pi freq t +
-- phase_b, entries nq + nv + 1 and + 2). opts: obs (default: every q and qd
-- entry), freq (Hz, 1), scale (1), phase (number or list of B, 0).
-- Returns qs {T+1, B, nq}, qds {T+1, B, nv}, the controls {T, B, nu} (the network's, before
-- the actuators' ctrlrange clips them, as MuJoCo's d->ctrl); gradients
-- reach q, qd, the network's parameters and the model tensors.
function Model:nn_rollout(T, net, q, qd, opts)
  opts = opts or {}
  if type(T) ~= "number" or T ~= math.floor(T) or T < 1 then fail("nn_rollout", "T (steps) must be an integer >= 1", 2) end
  if type(net) ~= "table" or not net.layers then fail("nn_rollout", "net must be a ds.nn.mlp", 2) end
  local B = batch("nn_rollout", q)
  local obs = opts.obs
  if not obs then obs = {}; for i = 1, self.nq + self.nv do obs[i] = i end end
  local o0 = {}
  for i, v in ipairs(obs) do
    if type(v) ~= "number" or v ~= math.floor(v) or v < 1 or v > self.nq + self.nv + 2 then
      fail("nn_rollout", string.format("opts.obs[%d] = %s must index [q, qd, sin, cos]: 1..%d", i, tostring(v),
                                       self.nq + self.nv + 2), 2)
    end
    o0[i] = v - 1
  end
  local sizes, acts = ds.kit.describe(net, "articulation.nn_rollout")
  if sizes[1] ~= #obs or sizes[#sizes] ~= self.nu then
    fail("nn_rollout", string.format("the network maps %d inputs to %d outputs; the controller has %d inputs (#obs) " ..
                                     "and %d outputs (actuators)", sizes[1], sizes[#sizes], #obs, self.nu), 2)
  end
  local ph = opts.phase or 0
  local phase = {}
  for b = 1, B do phase[b] = type(ph) == "table" and ph[b] or ph end
  local qs, qds, us = ds.empty{T + 1, B, self.nq}, ds.empty{T + 1, B, self.nv}, ds.empty{T, B, self.nu}
  K.nn_rollout:launch(self:_args{q0 = q, qd0 = qd, obs = ds.tensor(o0, "i32"), phase = ds.tensor(phase),
                                 spec = ds.kit.mlp_spec(sizes, acts), qs = qs, qds = qds, acts = us,
                                 w = net:parameters()},
                      {dt = opts.dt or self.dt, steps = T, freq = opts.freq or 1, scale = opts.scale or 1,
                       dual = self:_dual()})
  return qs, qds, us
end

-- Total mechanical energy (kinetic + gravitational) of each batch row, as Lua
-- numbers (not differentiable; for checks and printing).
function Model:energy(q, qd)
  local H = ds.no_grad(function() return self:crba(q) end):totable()
  local xpos, xmat = ds.no_grad(function() return self:fk(q) end)
  local P, Rm = xpos:totable(), xmat:totable()
  local V, mass, com, opt = qd:totable(), self.args.mass:totable(), self.args.com:totable(), self.args.opt:totable()
  local out = {}
  for b = 1, #V do
    local e = 0
    for i = 1, self.nv do
      for j = 1, self.nv do e = e + 0.5 * V[b][i] * H[b][i][j] * V[b][j] end
    end
    for l = 1, self.nl do
      local R, p, c = Rm[b][l], P[b][l], com[l]
      for k = 1, 3 do
        local ck = p[k] + R[3 * k - 2] * c[1] + R[3 * k - 1] * c[2] + R[3 * k] * c[3]
        e = e - mass[l] * opt[k] * ck
      end
    end
    out[b] = e
  end
  return out
end

-- ---------------------------------------------------------------- pictures
-- Pictures {h, w, 3} (a list, one per row of q {F, nq}) of the links,
-- drawn in an oblique orthographic view: bones (parent origin to link
-- origin) dark, capsules and spheres filled, box edges, the ground z = 0 as a
-- grid. opts: width, height (pixels), azimuth, elevation (rad), bounds
-- {umin, umax, vmin, vmax} (screen metres; default: fit every frame). Write
-- them with ds.io.write_gif / write_mp4 (labels there) or ds.io.write_png.
function Model:frames(q, opts)
  opts = opts or {}
  local W, H = opts.width or 320, opts.height or 240
  local az, el = opts.azimuth or -0.5, opts.elevation or 0.35
  local ca, sa, ce, se = math.cos(az), math.sin(az), math.cos(el), math.sin(el)
  local function proj(p) -- screen u (right), v (up), depth
    local u = p[1] * ca + p[2] * sa
    local d = -p[1] * sa + p[2] * ca
    return u, p[3] * ce + d * se, d
  end
  local xp, xm = ds.no_grad(function() return self:fk(q) end)
  local P, Rm = xp:totable(), xm:totable()
  local F = #P
  local gl, gpos, gquat, gsize = self.args.geom:totable(), self.args.gpos:totable(), self.args.gquat:totable(),
                                 self.args.gsize:totable()
  local link = self.args.link:totable()
  local has_geom = {}
  for g = 1, #gl do if gl[g][2] >= 0 then has_geom[gl[g][1] + 1] = true end end
  local function tx(R, p, v) -- p + R v
    return {p[1] + R[1] * v[1] + R[2] * v[2] + R[3] * v[3], p[2] + R[4] * v[1] + R[5] * v[2] + R[6] * v[3],
            p[3] + R[7] * v[1] + R[8] * v[2] + R[9] * v[3]}
  end
  local function mm(A, B)
    local C = {}
    for i = 0, 2 do for j = 0, 2 do
      C[3 * i + j + 1] = A[3 * i + 1] * B[j + 1] + A[3 * i + 2] * B[3 + j + 1] + A[3 * i + 3] * B[6 + j + 1]
    end end
    return C
  end
  -- shapes per frame: {kind, points..., radius, colour}
  local shapes = {}
  local umin, umax, vmin, vmax = math.huge, -math.huge, math.huge, -math.huge
  local function grow(p, r)
    local u, v = proj(p)
    umin, umax, vmin, vmax = math.min(umin, u - r), math.max(umax, u + r), math.min(vmin, v - r), math.max(vmax, v + r)
  end
  for f = 1, F do
    local list = {}
    for i = 1, self.nl do
      local par = link[i][1] + 1
      if par > 0 and has_geom[par] then -- a bone from a visible parent's origin
        list[#list + 1] = {"line", P[f][par], P[f][i], 0.006, {0.15, 0.15, 0.2}}
      end
      grow(P[f][i], 0.01)
    end
    for g = 1, #gl do
      local li, ty = gl[g][1] + 1, gl[g][2]
      if ty >= 0 then
        local R, p = Rm[f][li], P[f][li]
        local c = tx(R, p, gpos[g])
        local Rg = mm(R, quat_matrix9(gquat[g]))
        local sz = gsize[g]
        if ty == 0 then
          list[#list + 1] = {"disc", c, sz[1], {0.85, 0.35, 0.2}}
          grow(c, sz[1])
        elseif ty == 1 then
          local e1, e2 = tx(Rg, c, {0, 0, sz[2]}), tx(Rg, c, {0, 0, -sz[2]})
          list[#list + 1] = {"line", e1, e2, sz[1], {0.25, 0.45, 0.85}}
          grow(e1, sz[1]); grow(e2, sz[1])
        else
          local corners = {}
          for k = 0, 7 do
            corners[k] = tx(Rg, c, {(k % 2 == 1) and sz[1] or -sz[1], (math.floor(k / 2) % 2 == 1) and sz[2] or -sz[2],
                                    (k >= 4) and sz[3] or -sz[3]})
            grow(corners[k], 0)
          end
          for k = 0, 7 do
            for _, bit in ipairs{1, 2, 4} do
              if k % (2 * bit) < bit then
                list[#list + 1] = {"line", corners[k], corners[k + bit], 0.004, {0.2, 0.6, 0.3}}
              end
            end
          end
        end
      end
    end
    shapes[f] = list
  end
  if opts.bounds then umin, umax, vmin, vmax = unpack(opts.bounds) end
  local ground = self.args.opt:totable()[10] > 0.5
  if ground then vmin = math.min(vmin, -0.05) end
  local span = math.max(umax - umin, (vmax - vmin) * W / H) * 1.1
  local uc, vc = (umin + umax) / 2, (vmin + vmax) / 2
  local scale = W / span
  local function px(p)
    local u, v = proj(p)
    return (u - uc) * scale + W / 2, H / 2 - (v - vc) * scale
  end
  local imgs, buf = {}, nil
  local function put(f, x, y, col)
    x, y = math.floor(x + 0.5), math.floor(y + 0.5)
    if x < 0 or y < 0 or x >= W or y >= H then return end
    local o = (y * W + x) * 3
    buf[o], buf[o + 1], buf[o + 2] = col[1], col[2], col[3]
  end
  local function disc(f, x, y, r, col)
    local ri = math.max(r, 0.7)
    for dy = -math.ceil(ri), math.ceil(ri) do
      for dx = -math.ceil(ri), math.ceil(ri) do
        if dx * dx + dy * dy <= ri * ri then put(f, x + dx, y + dy, col) end
      end
    end
  end
  local function seg(f, a, b, r, col)
    local x1, y1 = px(a)
    local x2, y2 = px(b)
    local n = math.max(1, math.ceil(math.max(math.abs(x2 - x1), math.abs(y2 - y1))))
    for k = 0, n do disc(f, x1 + (x2 - x1) * k / n, y1 + (y2 - y1) * k / n, r * scale, col) end
  end
  for f = 0, F - 1 do
    imgs[f + 1] = ds.empty{H, W, 3}
    buf = imgs[f + 1]:data()
    for i = 0, H * W * 3 - 1 do buf[i] = 1 end
    if ground then -- the ground: a grid on z = 0 around the view
      local step = 10 ^ math.floor(math.log10(span / 2))
      local x0 = math.floor((uc * ca - span) / step) * step
      local nx, ny = math.ceil(2 * span / step), math.ceil(0.5 * span / step)
      for k = 0, nx do
        seg(f, {x0 + k * step, -ny * step, 0}, {x0 + k * step, ny * step, 0}, 0, {0.82, 0.82, 0.82})
      end
      for k = -ny, ny do seg(f, {x0, k * step, 0}, {x0 + nx * step, k * step, 0}, 0, {0.82, 0.82, 0.82}) end
    end
    for _, s in ipairs(shapes[f + 1]) do
      if s[1] == "line" then seg(f, s[2], s[3], s[4], s[5])
      else local x, y = px(s[2]); disc(f, x, y, s[3] * scale, s[4]) end
    end
    imgs[f + 1]:touch()
  end
  return imgs
end

return M
