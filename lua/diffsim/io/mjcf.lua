-- MJCF (MuJoCo's XML model format) to the articulation plugin's model
-- description (plugins/articulation/README.md, "The model description").
--
--   local mjcf = require("diffsim.io.mjcf")
--   local desc = mjcf.load(path [, {ground =, self_collision =}])   -- or mjcf.parse(text, name [, opts])
--   local model = articulation.model(desc)
--
-- <include file> is expanded first. The supported subset, its semantics and
-- the rule for inertia from geoms are documented in docs/articulation_io.md.
-- Anything outside it is an error that names the element, the attribute and
-- file:line; elements and attributes that change nothing the plugin simulates
-- (visual, asset, rgba, ...) are ignored and listed in IGNORED below.
local xml = require("diffsim.io.xml")
local X = require("diffsim.io.modelxml")
local set = X.set
local bit = require("bit")

local M = {}
local R = X.reader("mjcf")

-- Whole subtrees skipped: rendering, assets, sensing and bookkeeping.
M.IGNORED_ELEMENTS = set{"visual", "asset", "statistic", "size", "sensor", "keyframe", "custom",
                         "extension", "camera", "light", "site"}
-- Attributes skipped on any element: looks, grouping, user data, MuJoCo's
-- contact solver settings (the plugin's contact law has its own constants).
M.IGNORED_ATTRS = set{"rgba", "material", "group", "user", "condim",
                      "solref", "solimp", "margin", "gap", "priority", "solreflimit", "solimplimit"}

local JOINT_ATTRS = set{"name", "class", "type", "pos", "axis", "range", "limited", "damping", "armature",
                        "stiffness", "frictionloss", "ref", "springref"}
local GEOM_ATTRS = set{"name", "class", "type", "size", "pos", "quat", "euler", "axisangle", "fromto",
                       "mass", "density", "friction", "contype", "conaffinity"}
local BODY_ATTRS = set{"name", "childclass", "pos", "quat", "euler", "axisangle", "mocap"}
local INERTIAL_ATTRS = set{"pos", "quat", "euler", "axisangle", "mass", "diaginertia", "fullinertia"}
local ACT_ATTRS = {
  motor = set{"name", "class", "joint", "gear", "ctrlrange", "ctrllimited", "forcerange", "forcelimited"},
  position = set{"name", "class", "joint", "gear", "ctrlrange", "ctrllimited", "kp", "forcerange", "forcelimited"},
  velocity = set{"name", "class", "joint", "gear", "ctrlrange", "ctrllimited", "kv", "forcerange", "forcelimited"},
}
local COMPILER_ATTRS = set{"angle", "inertiafromgeom", "coordinate", "eulerseq", "autolimits", "meshdir",
                           "texturedir", "assetdir", "strippath", "discardvisual", "balanceinertia",
                           "boundmass", "boundinertia", "settotalmass", "inertiagrouprange", "lengthrange"}
local OPTION_ATTRS = set{"timestep", "gravity", "integrator", "viscosity", "density", "wind", "magnetic",
                         "impratio", "tolerance", "iterations", "noslip_iterations", "mpr_iterations",
                         "cone", "jacobian", "solver", "collision", "o_margin", "o_solref", "o_solimp",
                         "apirate", "noslip_tolerance", "mpr_tolerance"}
-- Options that would change the physics away from what the plugin simulates.
-- (magnetic only feeds magnetometers: accepted and unused.)
local OPTION_ZERO = {"viscosity", "density", "wind"}

-- <option><flag>s: those that change nothing the plugin simulates, and the rest.
local FLAG_HARMLESS = set{"energy", "fwdinv", "sensornoise", "warmstart", "refsafe", "midphase"}
local FLAG_KNOWN = set{"constraint", "equality", "frictionloss", "limit", "passive", "actuation", "filterparent",
                       "override"}

-- The mass fraction of the extra links of a body with several joints.
M.AUX_MASS = 1e-9

local JOINT_TYPES = {hinge = "revolute", slide = "prismatic", ball = "spherical", free = "free"}

-- Defaults: class name -> {joint = {attr = value, __el = {attr = element}}, geom = ..., ...}
local DEFAULT_KINDS = {joint = JOINT_ATTRS, geom = GEOM_ATTRS, motor = ACT_ATTRS.motor,
                       position = ACT_ATTRS.position, velocity = ACT_ATTRS.velocity}
-- As in MuJoCo, the three actuator kinds share one default per class: a
-- <motor ctrlrange> default reaches <position> too, and the gain a default
-- sets last (a position's kp, a velocity's kv, a motor's 1) is the default kp
-- and kv of the actuators after it.
local DEFAULT_SLOT = {joint = "joint", geom = "geom", motor = "actuator", position = "actuator", velocity = "actuator"}

-- Defaults of elements the loader ignores or rejects where they are used.
-- Not <general>: MuJoCo shares its default with motor/position/velocity.
local DEFAULT_IGNORED = set{"site", "mesh", "tendon", "camera", "light", "material", "texture", "pair", "equality"}

local function copy_defaults(d)
  local out = {}
  for kind, t in pairs(d) do
    local c = {__el = {}}
    for k, v in pairs(t) do if k ~= "__el" then c[k] = v end end
    for k, v in pairs(t.__el) do c.__el[k] = v end
    c.__servo = t.__servo
    out[kind] = c
  end
  return out
end

local function parse_default(el, parent, classes, is_top)
  R.check_attrs(el, set{"class"})
  local name = el.attr.class or (is_top and "main") or R.required(el, "class")
  if classes[name] and not is_top then R.fail_attr(el, "class", "'%s' is defined twice", name) end
  local d = copy_defaults(parent)
  classes[name] = d
  for _, c in ipairs(el.children) do
    if c.tag == "default" then
      parse_default(c, d, classes, false)
    elseif DEFAULT_KINDS[c.tag] then
      R.check_attrs(c, DEFAULT_KINDS[c.tag], M.IGNORED_ATTRS)
      if c.attr.name or c.attr.class then R.fail(c, "in a <default> takes no name or class") end
      local slot = d[DEFAULT_SLOT[c.tag]]
      for _, a in ipairs(c.order) do
        slot[a] = c.attr[a]
        slot.__el[a] = c
      end
      local gain = c.tag == "motor" and "1" or c.attr.kp or c.attr.kv
      if gain then
        slot.kp, slot.kv, slot.__el.kp, slot.__el.kv = gain, gain, c, c
      end
      -- MuJoCo keeps a position/velocity default's bias on a later <motor>
      if c.tag ~= "motor" then slot.__servo = c end
    elseif not DEFAULT_IGNORED[c.tag] then
      R.unknown_child(el, c, set{"default", "joint", "geom", "motor", "position", "velocity"})
    end
  end
end

local function empty_defaults()
  local d = {}
  for _, slot in pairs(DEFAULT_SLOT) do d[slot] = {__el = {}} end
  return d
end

-- A reader of one element with its class defaults: a failing default value
-- is reported at the <default> child that set it.
local function with_defaults(el, dflt)
  local A = {}
  local function src(a) return (el.attr[a] == nil and dflt and dflt.__el[a]) or el end
  function A.numbers(a, n, default)
    local e = src(a)
    return R.numbers(e, a, n, default, e == el and nil or dflt)
  end
  function A.number(a, default)
    local v = A.numbers(a, 1)
    return v and v[1] or default
  end
  function A.choice(a, words, default)
    local e = src(a)
    return R.choice(e, a, words, default, e == el and nil or dflt)
  end
  function A.bool(a, default)
    local e = src(a)
    return R.bool(e, a, default, e == el and nil or dflt)
  end
  function A.has(a) return el.attr[a] ~= nil or (dflt and dflt[a] ~= nil) end
  function A.el_of(a) return src(a) end
  return A
end

local function positive(el, a, v)
  if v <= 0 then R.fail_attr(el, a, "must be > 0, got %g", v) end
  return v
end

local function nonneg(el, a, v)
  if v < 0 then R.fail_attr(el, a, "must be >= 0, got %g", v) end
  return v
end

local function parser(name, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("mjcf: opts must be a table, got " .. type(opts), 0) end
  for k in pairs(opts) do
    if k ~= "ground" and k ~= "self_collision" then
      error("mjcf: opts." .. tostring(k) .. " is not an option (ground, self_collision)", 0)
    end
  end
  local decide_contacts
  local P = {angle = "degree", inertiafromgeom = "auto", eulerseq = "xyz", autolimits = false,
             inertiagrouprange = {0, 5}}

  local function angle(v) return P.angle == "degree" and v * math.pi / 180 or v end

  -- The frame orientation of el from quat | euler | axisangle (at most one).
  local function orientation(el, A)
    A = A or with_defaults(el, nil)
    local given = {}
    for _, a in ipairs({"quat", "euler", "axisangle", "xyaxes", "zaxis"}) do
      if el.attr[a] then given[#given + 1] = a end
    end
    if #given > 1 then R.fail(el, "has more than one orientation (%s)", table.concat(given, ", ")) end
    if el.attr.xyaxes or el.attr.zaxis then R.fail(el, "orientation '%s' is not supported (use quat, euler or axisangle)", given[1]) end
    if el.attr.quat then
      local q = R.numbers(el, "quat", 4)
      local u, n = X.qnormalize(q)
      if n < 1e-10 then R.fail_attr(el, "quat", "is zero") end
      return u
    elseif el.attr.axisangle then
      local v = R.numbers(el, "axisangle", 4)
      if v[1] ^ 2 + v[2] ^ 2 + v[3] ^ 2 < 1e-20 then R.fail_attr(el, "axisangle", "has a zero axis") end
      return X.qaxis({v[1], v[2], v[3]}, angle(v[4]))
    elseif el.attr.euler then
      local e = R.numbers(el, "euler", 3)
      local q = {1, 0, 0, 0}
      for i = 1, 3 do
        local ch = P.eulerseq:sub(i, i)
        local axis = ({x = {1, 0, 0}, y = {0, 1, 0}, z = {0, 0, 1}})[ch:lower()]
        local r = X.qaxis(axis, angle(e[i]))
        -- lower case: axes that move with the frame (post-multiply); upper: fixed axes.
        if ch == ch:lower() then q = X.qmul(q, r) else q = X.qmul(r, q) end
      end
      return q
    end
    return {1, 0, 0, 0}
  end

  local function parse_compiler(el)
    R.check_attrs(el, COMPILER_ATTRS)
    P.angle = R.choice(el, "angle", {"degree", "radian"}, P.angle)
    P.inertiafromgeom = R.choice(el, "inertiafromgeom", {"true", "false", "auto"}, P.inertiafromgeom)
    R.choice(el, "coordinate", {"local"}, "local")
    local seq = el.attr.eulerseq
    if seq then
      if not seq:match("^[xyzXYZ][xyzXYZ][xyzXYZ]$") then R.fail_attr(el, "eulerseq", "'%s' must be three of x y z X Y Z", seq) end
      P.eulerseq = seq
    end
    P.autolimits = R.bool(el, "autolimits", P.autolimits)
    local gr = R.numbers(el, "inertiagrouprange", 2, P.inertiagrouprange)
    if gr[1] > gr[2] then R.fail_attr(el, "inertiagrouprange", "must have lower <= upper, got %g %g", gr[1], gr[2]) end
    P.inertiagrouprange = gr
    for _, a in ipairs({"settotalmass", "boundmass", "boundinertia", "balanceinertia"}) do
      if el.attr[a] then R.fail_attr(el, a, "is not supported (it changes the masses)") end
    end
  end

  local function parse_option(el, o)
    R.check_attrs(el, OPTION_ATTRS)
    o.timestep = positive(el, "timestep", R.number(el, "timestep", 0.002))
    o.gravity = R.numbers(el, "gravity", 3, {0, 0, -9.81})
    local integ = R.choice(el, "integrator", {"Euler", "RK4", "implicit"}, "Euler")
    if integ == "RK4" then R.fail_attr(el, "integrator", "RK4 is not supported (Euler or implicit)") end
    o.integrator = integ == "Euler" and "euler" or "implicit"
    for _, a in ipairs(OPTION_ZERO) do
      local v = R.numbers(el, a, nil, nil)
      if v then
        for _, x in ipairs(v) do
          if x ~= 0 then R.fail_attr(el, a, "is not supported (only 0: no medium or field forces)") end
        end
      end
    end
    for _, c in ipairs(el.children) do
      if c.tag ~= "flag" then R.unknown_child(el, c, set{"flag"}) end
      -- gravity and contact switch physics the plugin has; the bookkeeping
      -- flags change nothing it simulates; the others only at MuJoCo's default.
      for _, a in ipairs(c.order) do
        local v = R.choice(c, a, {"enable", "disable"})
        if a == "gravity" then
          if v == "disable" then o.gravity = {0, 0, 0}; P.no_gravity = true end
        elseif a == "contact" then
          P.no_contact = v == "disable"
        elseif a == "clampctrl" then
          P.no_clampctrl = v == "disable"
        elseif not FLAG_HARMLESS[a] then
          local default = a == "override" and "disable" or "enable"
          if not FLAG_KNOWN[a] then R.fail_attr(c, a, "is not a flag of MuJoCo 2.2") end
          if v ~= default then R.fail_attr(c, a, "'%s' is not supported (only MuJoCo's default, %s)", v, default) end
        end
      end
    end
    if P.no_gravity then o.gravity = {0, 0, 0} end
    -- collision="pair": MuJoCo collides explicit <pair>s only, and the
    -- loader supports none: no contact at all (as <flag contact="disable">)
    if R.choice(el, "collision", {"all", "pair", "dynamic"}, "all") == "pair" then P.no_contact = true end
  end

  local desc = {name = nil, options = {ground = false}, links = {}, actuators = {}}
  local classes = {main = empty_defaults()}
  local joints = {} -- joint name -> {link = index, el = element}
  local link_names = {}
  local ground_friction
  local mj_parent, body_geoms, planes, excluded = {}, {}, {}, {} -- for the contact decision

  local function parse_geom(el, A)
    R.check_attrs(el, GEOM_ATTRS, M.IGNORED_ATTRS)
    local kind = A.choice("type", {"sphere", "capsule", "box", "plane", "cylinder", "ellipsoid", "mesh", "hfield"}, "sphere")
    local g = {type = kind, el = el}
    if kind == "cylinder" or kind == "ellipsoid" or kind == "mesh" or kind == "hfield" then
      R.fail_attr(A.el_of("type"), "type", "'%s' is not supported (sphere, capsule, box; plane in <worldbody>)", kind)
    end
    g.friction = nonneg(A.el_of("friction"), "friction", A.numbers("friction", nil, {1})[1])
    -- condim 3 (MuJoCo's default) is the plugin's contact: a normal force and
    -- sliding friction; 1 (frictionless), 4 and 6 (torsional, rolling) are not
    local condim = A.number("condim", 3)
    if condim ~= 3 then
      R.fail_attr(A.el_of("condim"), "condim", "%g is not supported (only 3: frictional point contact)", condim)
    end
    -- the geom's group decides whether it counts for inertia (inertiagrouprange)
    g.group = A.number("group", 0)
    for _, a in ipairs({"contype", "conaffinity"}) do
      local v = A.number(a, 1)
      if v < 0 or v ~= math.floor(v) or v >= 2 ^ 31 then R.fail_attr(A.el_of(a), a, "must be a bit mask (an integer >= 0), got %g", v) end
      g[a] = v
    end
    if el.attr.fromto then
      if kind ~= "capsule" then R.fail_attr(el, "fromto", "is supported for capsules only, not '%s'", kind) end
      if el.attr.pos or el.attr.quat or el.attr.euler or el.attr.axisangle then
        R.fail_attr(el, "fromto", "cannot be combined with pos or an orientation")
      end
      local f = R.numbers(el, "fromto", 6)
      local d = {f[4] - f[1], f[5] - f[2], f[6] - f[3]}
      local len = math.sqrt(d[1] ^ 2 + d[2] ^ 2 + d[3] ^ 2)
      if len < 1e-12 then R.fail_attr(el, "fromto", "has zero length") end
      local s = A.numbers("size", nil)
      if not s then R.fail(el, "is missing the required attribute 'size'") end
      g.size = {positive(el, "size", s[1]), len / 2}
      g.pos = {(f[1] + f[4]) / 2, (f[2] + f[5]) / 2, (f[3] + f[6]) / 2}
      g.quat = X.qz_to({d[1] / len, d[2] / len, d[3] / len})
    else
      local need = ({sphere = 1, capsule = 2, box = 3, plane = 0})[kind]
      local s = A.numbers("size", nil)
      if need > 0 then
        if not s then R.fail(el, "is missing the required attribute 'size'") end
        if #s < need then R.fail_attr(A.el_of("size"), "size", "a %s needs %d number%s, got %d", kind, need, need > 1 and "s" or "", #s) end
        g.size = {}
        for i = 1, need do g.size[i] = positive(A.el_of("size"), "size", s[i]) end
      end
      g.pos = A.numbers("pos", 3, {0, 0, 0})
      g.quat = orientation(el, A)
    end
    if A.has("mass") then
      g.mass = A.number("mass")
      if g.mass <= 0 and kind ~= "plane" then R.fail_attr(A.el_of("mass"), "mass", "must be > 0, got %g", g.mass) end
    end
    g.density = A.number("density", 1000)
    if g.density <= 0 and kind ~= "plane" then R.fail_attr(A.el_of("density"), "density", "must be > 0, got %g", g.density) end
    return g
  end

  -- Mass, centre and inertia (about the centre, link frame) of a link from
  -- its geoms: each geom a solid of its density (or of its mass spread
  -- uniformly), rotated and moved into the link frame and summed.
  local function geom_inertia(geoms)
    local parts = {}
    for _, g in ipairs(geoms) do
      if g.group >= P.inertiagrouprange[1] and g.group <= P.inertiagrouprange[2] then
        local rho = g.density
        if g.mass then rho = g.mass / X.shape_volume(g.type, g.size) end
        local m, I = X.shape_inertia(g.type, g.size, rho)
        parts[#parts + 1] = {mass = m, com = g.pos, inertia = X.irot(X.qmat(g.quat), I)}
      end
    end
    if #parts == 0 then return nil end
    return X.combine(parts)
  end

  local function parse_inertial(el)
    R.check_attrs(el, INERTIAL_ATTRS)
    local inr = {}
    inr.mass = R.number(el, "mass")
    if inr.mass == nil then R.fail(el, "is missing the required attribute 'mass'") end
    if inr.mass <= 0 then R.fail_attr(el, "mass", "must be > 0, got %g", inr.mass) end
    inr.pos = R.numbers(el, "pos", 3)
    if not inr.pos then R.fail(el, "is missing the required attribute 'pos'") end
    if el.attr.diaginertia and el.attr.fullinertia then R.fail(el, "has both diaginertia and fullinertia") end
    if el.attr.diaginertia then
      local d = R.numbers(el, "diaginertia", 3)
      for i = 1, 3 do positive(el, "diaginertia", d[i]) end
      if d[1] + d[2] < d[3] * (1 - 1e-9) or d[1] + d[3] < d[2] * (1 - 1e-9) or d[2] + d[3] < d[1] * (1 - 1e-9) then
        R.fail_attr(el, "diaginertia", "violates the triangle inequality (%g %g %g): no rigid body has it", d[1], d[2], d[3])
      end
      inr.diaginertia = d
      inr.quat = orientation(el)
    elseif el.attr.fullinertia then
      if el.attr.quat or el.attr.euler or el.attr.axisangle then
        R.fail(el, "fullinertia is given in the body frame: it takes no orientation")
      end
      local f = R.numbers(el, "fullinertia", 6)
      local ev = X.principal(f)
      if ev[1] <= 0 then R.fail_attr(el, "fullinertia", "is not positive definite (smallest principal moment %g)", ev[1]) end
      if ev[1] + ev[2] < ev[3] * (1 - 1e-9) then R.fail_attr(el, "fullinertia", "violates the triangle inequality") end
      inr.fullinertia = f
    else
      R.fail(el, "needs diaginertia or fullinertia")
    end
    return inr
  end

  local function parse_joint(el, A, free)
    local j = {}
    if free then
      R.check_attrs(el, set{"name"}, M.IGNORED_ATTRS)
      j.type = "free"
    else
      R.check_attrs(el, JOINT_ATTRS, M.IGNORED_ATTRS)
      local t = A.choice("type", {"hinge", "slide", "ball", "free"}, "hinge")
      j.type = JOINT_TYPES[t]
      j.axis = A.numbers("axis", 3, {0, 0, 1})
      if j.axis[1] ^ 2 + j.axis[2] ^ 2 + j.axis[3] ^ 2 < 1e-20 then R.fail_attr(A.el_of("axis"), "axis", "is zero") end
      j.pos = A.numbers("pos", 3, {0, 0, 0})
      j.damping = nonneg(A.el_of("damping"), "damping", A.number("damping", 0))
      j.armature = nonneg(A.el_of("armature"), "armature", A.number("armature", 0))
      for _, a in ipairs({"stiffness", "frictionloss", "ref", "springref"}) do
        if A.number(a, 0) ~= 0 then R.fail_attr(A.el_of(a), a, "is not supported (only 0)") end
      end
      local range = A.numbers("range", 2)
      local limited = A.bool("limited", nil)
      if limited == nil then
        -- MuJoCo 2.2: a range needs limited="true" unless <compiler autolimits="true">
        if range and not P.autolimits then
          R.fail_attr(A.el_of("range"), "range", "is given without limited=\"true\" (or <compiler autolimits=\"true\">)")
        end
        limited = range ~= nil
      end
      if limited then
        if not range then R.fail_attr(el, "limited", "is true but the joint has no range") end
        if t == "ball" or t == "free" then R.fail_attr(el, "range", "limits of a %s joint are not supported", t) end
        if range[1] >= range[2] then R.fail_attr(A.el_of("range"), "range", "must have lower < upper, got %g %g", range[1], range[2]) end
        if t == "hinge" then range = {angle(range[1]), angle(range[2])} end
        j.range = range
      end
      if t == "free" then j.axis, j.pos, j.damping, j.armature = nil, nil, nil, nil end
    end
    if el.attr.name then j.name = el.attr.name end
    return j
  end

  local function parse_body(el, parent, childclass)
    R.check_attrs(el, BODY_ATTRS, M.IGNORED_ATTRS)
    if el.attr.mocap == "true" then R.fail_attr(el, "mocap", "mocap bodies are not supported") end
    local cc = el.attr.childclass or childclass
    if el.attr.childclass and not classes[el.attr.childclass] then
      R.fail_attr(el, "childclass", "names no <default class='%s'>", el.attr.childclass)
    end
    local link = {name = el.attr.name, parent = parent, pos = R.numbers(el, "pos", 3, {0, 0, 0}),
                  quat = orientation(el), line = el.line}
    if link.name then
      if link_names[link.name] then R.fail_attr(el, "name", "'%s' is used by another body", link.name) end
    end
    local geoms, inertial, jl, kids = {}, nil, {}, {}
    local function defaults_of(c)
      local cls = c.attr.class or cc or "main"
      if not classes[cls] then R.fail_attr(c, "class", "names no <default class='%s'>", cls) end
      return classes[cls][DEFAULT_SLOT[c.tag == "freejoint" and "joint" or c.tag]]
    end
    for _, c in ipairs(el.children) do
      if c.tag == "body" then
        kids[#kids + 1] = c
      elseif c.tag == "joint" or c.tag == "freejoint" then
        local j = parse_joint(c, with_defaults(c, defaults_of(c)), c.tag == "freejoint")
        if j.name then
          if joints[j.name] then R.fail_attr(c, "name", "'%s' is used by another joint", j.name) end
          joints[j.name] = {el = c}
        end
        jl[#jl + 1] = {el = c, joint = j}
      elseif c.tag == "geom" then
        local g = parse_geom(c, with_defaults(c, defaults_of(c)))
        if g.type == "plane" then R.fail_attr(c, "type", "a plane is supported in <worldbody> only (the ground)") end
        geoms[#geoms + 1] = g
      elseif c.tag == "inertial" then
        if inertial then R.fail(c, "is the second <inertial> of its body") end
        inertial = parse_inertial(c)
      elseif not M.IGNORED_ELEMENTS[c.tag] then
        R.unknown_child(el, c, set{"body", "joint", "freejoint", "geom", "inertial", "site", "camera", "light"})
      end
    end
    for _, e in ipairs(jl) do
      if e.joint.type == "free" then
        if parent ~= 0 then R.fail(e.el, "a free joint's body must be a child of <worldbody>") end
        if #jl > 1 then R.fail(e.el, "a free joint must be the only joint of its body") end
      end
    end
    -- Inertia: <inertial> when given (inertiafromgeom auto/false), else from geoms.
    local use_geoms = P.inertiafromgeom == "true" or (P.inertiafromgeom == "auto" and not inertial)
    local m, c, I
    if use_geoms and #geoms > 0 then m, c, I = geom_inertia(geoms) end
    if m then
      link.inertial = {mass = m, pos = c, fullinertia = I}
    elseif inertial then
      link.inertial = inertial
    else
      R.fail(el, "has no mass: give it an <inertial> or a geom whose group is in inertiagrouprange (inertiafromgeom='%s')", P.inertiafromgeom)
    end
    link.geoms = {}
    for _, g in ipairs(geoms) do
      link.geoms[#link.geoms + 1] = {type = g.type, pos = g.pos, quat = g.quat, size = g.size, friction = g.friction}
    end
    local body_parent = parent
    -- Several joints in one body (MuJoCo applies them in order, each about
    -- its axis in the frame the previous ones moved): a chain of links at
    -- the body's frame, one joint each, the body's mass on the last. The
    -- plugin needs mass on every link, so each link before the last carries
    -- AUX_MASS (1e-9) of the body's mass and inertia at the joint anchor: a
    -- relative change of ~1e-9 in the dynamics (the peer spec measures it).
    for k = 1, #jl - 1 do
      local j = jl[k].joint
      local I = link.inertial.fullinertia or link.inertial.diaginertia
      local s = M.AUX_MASS * (I[1] + I[2] + I[3]) / 3
      desc.links[#desc.links + 1] = {
        name = (link.name or "body") .. "/" .. (j.name or tostring(k)), parent = parent,
        pos = link.pos, quat = link.quat, joint = j, geoms = {},
        inertial = {mass = M.AUX_MASS * link.inertial.mass, pos = j.pos or {0, 0, 0}, fullinertia = {s, s, s, 0, 0, 0}}}
      parent = #desc.links
      if j.name then joints[j.name].link = parent end
      link.pos, link.quat = {0, 0, 0}, {1, 0, 0, 0}
    end
    link.parent = parent
    if #jl > 0 then
      link.joint = jl[#jl].joint
    end
    desc.links[#desc.links + 1] = link
    local index = #desc.links
    if link.name then link_names[link.name] = index end
    mj_parent[index] = body_parent
    for _, g in ipairs(geoms) do
      body_geoms[#body_geoms + 1] = {link = index, type = g.type, el = g.el, contype = g.contype, conaffinity = g.conaffinity}
    end
    if link.joint and link.joint.name then joints[link.joint.name].link = index end
    for _, k in ipairs(kids) do parse_body(k, index, cc) end
  end

  local function parse_worldbody(el)
    R.check_attrs(el, set{})
    for _, c in ipairs(el.children) do
      if c.tag == "body" then
        parse_body(c, 0, nil)
      elseif c.tag == "geom" then
        local cls = c.attr.class or "main"
        if not classes[cls] then R.fail_attr(c, "class", "names no <default class='%s'>", cls) end
        local g = parse_geom(c, with_defaults(c, classes[cls].geom))
        local n = g.quat and X.qrot(g.quat, {0, 0, 1})
        if g.type ~= "plane" or math.abs(g.pos[3]) > 1e-12 or n[3] < 1 - 1e-12 then
          R.fail(c, "static world geoms are supported only as the ground: a plane at z = 0 facing +z")
        end
        desc.options.ground = true
        ground_friction = math.max(ground_friction or 0, g.friction)
        planes[#planes + 1] = {el = c, contype = g.contype, conaffinity = g.conaffinity}
      elseif c.tag == "joint" or c.tag == "inertial" or c.tag == "freejoint" then
        R.fail(c, "is not allowed in <worldbody> (the world does not move)")
      elseif not M.IGNORED_ELEMENTS[c.tag] then
        R.unknown_child(el, c, set{"body", "geom", "site", "camera", "light"})
      end
    end
  end

  local function parse_actuators(el)
    R.check_attrs(el, set{})
    for _, c in ipairs(el.children) do
      if not ACT_ATTRS[c.tag] then R.unknown_child(el, c, ACT_ATTRS) end
      local cls = c.attr.class or "main"
      if not classes[cls] then R.fail_attr(c, "class", "names no <default class='%s'>", cls) end
      local A = with_defaults(c, classes[cls].actuator)
      R.check_attrs(c, ACT_ATTRS[c.tag], M.IGNORED_ATTRS)
      local servo = classes[cls].actuator.__servo
      if c.tag == "motor" and servo then
        R.fail(c, "uses class '%s' whose <%s> default (line %d) MuJoCo would leave on it as a bias (a servo, not a motor): give motors a class without position/velocity defaults",
               cls, servo.tag, servo.line)
      end
      local jn = R.required(c, "joint")
      local j = joints[jn]
      if not j then R.fail_attr(c, "joint", "names no joint '%s'", jn) end
      local jt = desc.links[j.link].joint.type
      if jt ~= "revolute" and jt ~= "prismatic" then
        R.fail_attr(c, "joint", "'%s' is a %s joint: actuators drive hinge and slide joints only", jn, jt)
      end
      local a = {name = c.attr.name, joint = j.link, type = c.tag}
      local gear = A.numbers("gear", nil, {1})
      for i = 2, #gear do
        if gear[i] ~= 0 then R.fail_attr(A.el_of("gear"), "gear", "only the first component is supported on a joint") end
      end
      a.gear = gear[1]
      -- ctrlrange/forcerange: applied as MuJoCo does (the control clamped
      -- before the gain, the actuator force before the gear)
      for _, r in ipairs({{"ctrlrange", "ctrllimited", "control"}, {"forcerange", "forcelimited", "force"}}) do
        local range, lim = r[1], r[2]
        local v = A.numbers(range, 2)
        local on = A.bool(lim, nil)
        if on == nil then
          if v and not P.autolimits then
            R.fail_attr(A.el_of(range), range, "is given without %s=\"true\" (or <compiler autolimits=\"true\">)", lim)
          end
          on = v ~= nil
        end
        if on then
          if not v then R.fail_attr(A.el_of(lim), lim, "is true but there is no %s", range) end
          if v[1] >= v[2] then
            R.fail_attr(A.el_of(range), range, "must have lower < upper (an empty %s range), got %g %g", r[3], v[1], v[2])
          end
          -- <flag clampctrl="disable">: MuJoCo leaves the controls unclamped
          if not (range == "ctrlrange" and P.no_clampctrl) then a[range] = v end
        end
      end
      if c.tag == "position" then a.kp = positive(A.el_of("kp"), "kp", A.number("kp", 1)); a.kv = 0 end
      if c.tag == "velocity" then a.kv = positive(A.el_of("kv"), "kv", A.number("kv", 1)) end
      desc.actuators[#desc.actuators + 1] = a
    end
  end

  -- MuJoCo collides two geoms when their bodies differ, neither body is the
  -- other's parent, and (contype1 & conaffinity2) | (contype2 & conaffinity1)
  -- is not 0. The plugin has two switches: ground contact for every geom, and
  -- self_collision for every pair of spheres/capsules on links that are not
  -- parent and child. The loader sets each from the file when the file is
  -- uniform about it, takes opts.ground / opts.self_collision when given, and
  -- otherwise stops with an example of each kind of pair (never a silently
  -- different contact set). Pairs with a box are not simulated by the plugin.
  local function collides(a, b)
    return bit.band(a.contype, b.conaffinity) ~= 0 or bit.band(b.contype, a.conaffinity) ~= 0
  end
  function decide_contacts()
    local o = desc.options
    if P.no_contact then
      o.ground = opts.ground == true
      o.self_collision = opts.self_collision == true
      return
    end
    local function where(e) return xml.where(e.el) end
    if #planes > 0 then
      local yes, no
      for _, g in ipairs(body_geoms) do
        for _, p in ipairs(planes) do
          if collides(g, p) then yes = yes or {g, p} else no = no or {g, p} end
        end
      end
      if opts.ground ~= nil then
        o.ground = opts.ground
      elseif yes and no then
        error(string.format("mjcf: %s: the ground touches some geoms (%s) and not others (%s, by contype/conaffinity): "
          .. "the plugin's ground contact is all or nothing; pass mjcf.load(path, {ground = true|false})",
          name or "<mjcf>", where(yes[1]), where(no[1])), 0)
      else
        o.ground = yes ~= nil
      end
    end
    local yes, no
    for i, a in ipairs(body_geoms) do
      for k = i + 1, #body_geoms do
        local b = body_geoms[k]
        local sa = a.type == "sphere" or a.type == "capsule"
        local sb = b.type == "sphere" or b.type == "capsule"
        local la, lb = a.link, b.link
        if sa and sb and la ~= lb and desc.links[la].parent ~= lb and desc.links[lb].parent ~= la then
          local mujoco = mj_parent[la] ~= lb and mj_parent[lb] ~= la and collides(a, b)
                         and not excluded[la .. " " .. lb] and not excluded[lb .. " " .. la]
          if mujoco then yes = yes or {a, b} else no = no or {a, b} end
        end
      end
    end
    if opts.self_collision ~= nil then
      o.self_collision = opts.self_collision
    elseif yes and no then
      error(string.format("mjcf: %s: MuJoCo would collide some pairs of link shapes (%s with %s) and not others "
        .. "(%s with %s: contype/conaffinity or parent and child): the plugin's self_collision is all or nothing; "
        .. "pass mjcf.load(path, {self_collision = true|false})", name or "<mjcf>", where(yes[1]), where(yes[2]),
        where(no[1]), where(no[2])), 0)
    else
      o.self_collision = yes ~= nil
    end
  end

  return function(root)
    if root.tag ~= "mujoco" then R.fail(root, "is not an MJCF model (the root element must be <mujoco>)") end
    R.check_attrs(root, set{"model"})
    desc.name = root.attr.model
    -- compiler and defaults first: they change how everything after is read.
    for _, c in ipairs(root.children) do
      if c.tag == "compiler" then parse_compiler(c) end
    end
    for _, c in ipairs(root.children) do
      if c.tag == "default" then parse_default(c, classes.main, classes, true) end
    end
    local seen = {}
    for _, c in ipairs(root.children) do
      if c.tag == "option" then
        parse_option(c, desc.options)
      elseif c.tag == "worldbody" then
        if seen.worldbody then R.fail(c, "appears twice") end
        seen.worldbody = true
        parse_worldbody(c)
      elseif c.tag == "actuator" then
        seen.actuator = c
      elseif c.tag == "contact" then
        seen.contact = c
      elseif c.tag ~= "compiler" and c.tag ~= "default" and not M.IGNORED_ELEMENTS[c.tag] then
        R.unknown_child(root, c, set{"compiler", "option", "default", "worldbody", "actuator", "contact",
                                     "visual", "asset", "statistic", "size", "sensor", "keyframe"})
      end
    end
    if not seen.worldbody then R.fail(root, "has no <worldbody>") end
    if #desc.links == 0 then R.fail(root, "has no bodies in <worldbody>") end
    if seen.actuator then parse_actuators(seen.actuator) end
    if seen.contact then
      -- <exclude body1 body2>: a pair MuJoCo never collides (the contact
      -- switches below count it so); explicit <pair>s are not supported.
      R.check_attrs(seen.contact, set{})
      for _, c in ipairs(seen.contact.children) do
        if c.tag ~= "exclude" then R.unknown_child(seen.contact, c, set{"exclude"}) end
        R.check_attrs(c, set{"name", "body1", "body2"})
        local a, b = link_names[R.required(c, "body1")], link_names[R.required(c, "body2")]
        if not a then R.fail_attr(c, "body1", "names no body '%s'", c.attr.body1) end
        if not b then R.fail_attr(c, "body2", "names no body '%s'", c.attr.body2) end
        excluded[a .. " " .. b] = true
      end
    end
    if ground_friction then
      -- MuJoCo's contact takes the larger friction of the two geoms: the
      -- plugin's per-geom coefficient is the larger of the geom's and the ground's.
      for _, l in ipairs(desc.links) do
        for _, g in ipairs(l.geoms) do g.friction = math.max(g.friction, ground_friction) end
      end
    end
    decide_contacts()
    if not desc.options.timestep then desc.options.timestep = 0.002 end
    if not desc.options.gravity then desc.options.gravity = {0, 0, -9.81} end
    if not desc.options.integrator then desc.options.integrator = "euler" end
    for _, l in ipairs(desc.links) do l.line = nil end
    return desc
  end
end

-- <include file="x.xml"/>, anywhere: replaced by the children of x.xml's
-- <mujoco> root (MuJoCo's rule), read relative to the including file's folder
-- (or the working directory for text). Included elements keep their own file
-- and line for messages; an include cycle is an error.
local function expand_includes(el, dir, chain)
  local out = {}
  for _, c in ipairs(el.children) do
    if c.tag == "include" then
      R.check_attrs(c, set{"file"})
      local f = R.required(c, "file")
      local path = f:sub(1, 1) == "/" and f or (dir .. f)
      if chain[path] then R.fail_attr(c, "file", "'%s' includes itself (an include cycle)", f) end
      local fh = io.open(path, "rb")
      if not fh then R.fail_attr(c, "file", "cannot open '%s'", path) end
      fh:close()
      local sub = xml.parse_file(path)
      if sub.tag ~= "mujoco" then R.fail(sub, "is included (from %s) but its root is not <mujoco>", xml.where(c)) end
      chain[path] = true
      expand_includes(sub, path:match("^(.*/)") or "", chain)
      chain[path] = nil
      for _, k in ipairs(sub.children) do
        k.parent = el
        out[#out + 1] = k
      end
    else
      expand_includes(c, dir, chain)
      out[#out + 1] = c
    end
  end
  el.children = out
  return el
end

-- MJCF text (named `name` in messages) to a model description.
function M.parse(text, name, opts)
  return parser(name, opts)(expand_includes(xml.parse_string(text, name or "<mjcf>"), "", {}))
end

function M.load(path, opts)
  return parser(path, opts)(expand_includes(xml.parse_file(path), path:match("^(.*/)") or "", {[path] = true}))
end

return M
