-- URDF to the articulation plugin's model description
-- (plugins/articulation/README.md, "The model description").
--
--   local urdf = require("diffsim.io.urdf")
--   local desc = urdf.load(path [, {floating = true, gravity = {0, 0, -9.81}, timestep = 0.002, ground = false,
--                                   self_collision = false, actuators = "motor"}])   (URDF has no contact filtering: both off unless asked)
--   local desc = urdf.parse(text, name [, opts])
--
-- Supported: <robot>, <link> (<inertial> origin/mass/inertia, <collision>
-- origin + sphere | box | cylinder), <joint> (revolute, continuous, prismatic,
-- fixed, floating; origin xyz/rpy, parent, child, axis, limit lower/upper,
-- dynamics damping; limit effort/velocity: see below). <visual>, <material>,
-- <transmission>, <gazebo> are ignored. opts.actuators = "motor" adds a motor
-- (gear 1, ctrl = joint force) to every moving joint with its force clamped to
-- the joint's <limit effort>; <limit velocity> has no physics here (as in
-- MuJoCo) and is only reported, with effort, in desc.joint_limits[joint name].
-- The root link: when it has no <inertial> it stands for the world (its
-- children hang from the world); otherwise it is the first link, fixed to the
-- world, or on a free joint with opts.floating. A massless link on a
-- fixed joint (a frame, a sensor mount) is merged into its parent. A
-- cylinder collision becomes a capsule of the same radius and total length
-- (the plugin's contact shapes are sphere, capsule and box); one no longer
-- than its diameter becomes a sphere. Errors name the element, the attribute
-- and file:line (a cycle, two parents, a missing link, zero mass, ...).
local xml = require("diffsim.io.xml")
local X = require("diffsim.io.modelxml")
local set = X.set

local M = {}
local R = X.reader("urdf")

M.IGNORED_ELEMENTS = set{"visual", "material", "transmission", "gazebo", "safety_controller",
                         "calibration", "mimic", "mujoco"}

local JOINT_TYPES = {revolute = "revolute", continuous = "revolute", prismatic = "prismatic",
                     fixed = "fixed", floating = "free"}

local function positive(el, a, v)
  if v <= 0 then R.fail_attr(el, a, "must be > 0, got %g", v) end
  return v
end

-- <origin xyz rpy>: position and quaternion (rpy: fixed-axis roll, pitch, yaw).
local function origin(parent)
  local o
  for _, c in ipairs(parent.children) do
    if c.tag == "origin" then
      if o then R.fail(c, "is the second <origin> of its <%s>", parent.tag) end
      o = c
    end
  end
  if not o then return {0, 0, 0}, {1, 0, 0, 0} end
  R.check_attrs(o, set{"xyz", "rpy"})
  local p = R.numbers(o, "xyz", 3, {0, 0, 0})
  local r = R.numbers(o, "rpy", 3, {0, 0, 0})
  local q = X.qmul(X.qaxis({0, 0, 1}, r[3]), X.qmul(X.qaxis({0, 1, 0}, r[2]), X.qaxis({1, 0, 0}, r[1])))
  return p, q
end

local function only_child(el, tag)
  local found
  for _, c in ipairs(el.children) do
    if c.tag == tag then
      if found then R.fail(c, "is the second <%s> of its <%s>", tag, el.tag) end
      found = c
    end
  end
  return found
end

local function check_children(el, allowed)
  for _, c in ipairs(el.children) do
    if not allowed[c.tag] and not M.IGNORED_ELEMENTS[c.tag] then R.unknown_child(el, c, allowed) end
  end
end

local function parse_inertial(el)
  check_children(el, set{"origin", "mass", "inertia"})
  local pos, q = origin(el)
  local me = only_child(el, "mass")
  if not me then R.fail(el, "has no <mass>") end
  R.check_attrs(me, set{"value"})
  local mass = R.number(me, "value")
  if mass == nil then R.fail(me, "is missing the required attribute 'value'") end
  positive(me, "value", mass)
  local ie = only_child(el, "inertia")
  if not ie then R.fail(el, "has no <inertia>") end
  local names = {"ixx", "iyy", "izz", "ixy", "ixz", "iyz"}
  R.check_attrs(ie, set(names))
  local I = {}
  for i, a in ipairs(names) do
    local v = R.number(ie, a)
    if v == nil then R.fail(ie, "is missing the required attribute '%s'", a) end
    I[i] = v
  end
  local ev = X.principal(I)
  if ev[1] <= 0 then R.fail(ie, "is not positive definite (smallest principal moment %g)", ev[1]) end
  if ev[1] + ev[2] < ev[3] * (1 - 1e-9) then R.fail(ie, "violates the triangle inequality (%g %g %g)", ev[1], ev[2], ev[3]) end
  return {mass = mass, pos = pos, fullinertia = X.irot(X.qmat(q), I)}
end

local function parse_collision(el)
  R.check_attrs(el, set{"name"})
  check_children(el, set{"origin", "geometry"})
  local pos, q = origin(el)
  local ge = only_child(el, "geometry")
  if not ge then R.fail(el, "has no <geometry>") end
  R.check_attrs(ge, set{})
  if #ge.children ~= 1 then R.fail(ge, "must hold exactly one shape, has %d", #ge.children) end
  local s = ge.children[1]
  if s.tag == "sphere" then
    R.check_attrs(s, set{"radius"})
    local r = positive(s, "radius", R.number(s, "radius") or R.fail(s, "is missing the required attribute 'radius'"))
    return {type = "sphere", pos = pos, quat = q, size = {r}, friction = 1}
  elseif s.tag == "box" then
    R.check_attrs(s, set{"size"})
    local v = R.numbers(s, "size", 3) or R.fail(s, "is missing the required attribute 'size'")
    for i = 1, 3 do positive(s, "size", v[i]) end
    return {type = "box", pos = pos, quat = q, size = {v[1] / 2, v[2] / 2, v[3] / 2}, friction = 1}
  elseif s.tag == "cylinder" then
    R.check_attrs(s, set{"radius", "length"})
    local r = positive(s, "radius", R.number(s, "radius") or R.fail(s, "is missing the required attribute 'radius'"))
    local len = positive(s, "length", R.number(s, "length") or R.fail(s, "is missing the required attribute 'length'"))
    if len <= 2 * r then return {type = "sphere", pos = pos, quat = q, size = {r}, friction = 1} end
    return {type = "capsule", pos = pos, quat = q, size = {r, len / 2 - r}, friction = 1}
  end
  R.fail(s, "is not a supported collision shape (sphere, box, cylinder)")
end

local OPTS = set{"floating", "gravity", "timestep", "integrator", "ground", "self_collision", "actuators"}

local function parse(root, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("urdf: opts must be a table, got " .. type(opts), 0) end
  for k in pairs(opts) do
    if not OPTS[k] then error("urdf: opts." .. tostring(k) .. " is not an option (floating, gravity, timestep, integrator, ground, self_collision, actuators)", 0) end
  end
  if opts.actuators ~= nil and opts.actuators ~= "motor" then
    error("urdf: opts.actuators = " .. tostring(opts.actuators) .. " is not supported (nil: none; \"motor\": a motor per moving joint)", 0)
  end
  if root.tag ~= "robot" then R.fail(root, "is not a URDF model (the root element must be <robot>)") end
  R.check_attrs(root, set{"name", "version"})
  local links, order, joints = {}, {}, {}
  for _, c in ipairs(root.children) do
    if c.tag == "link" then
      R.check_attrs(c, set{"name", "type"})
      local name = R.required(c, "name")
      if links[name] then R.fail_attr(c, "name", "'%s' is used by another link (line %d)", name, links[name].el.line) end
      check_children(c, set{"inertial", "collision"})
      local l = {name = name, el = c, geoms = {}}
      local ie = only_child(c, "inertial")
      if ie then l.inertial = parse_inertial(ie) end
      for _, cc in ipairs(c.children) do
        if cc.tag == "collision" then l.geoms[#l.geoms + 1] = parse_collision(cc) end
      end
      links[name] = l
      order[#order + 1] = l
    elseif c.tag == "joint" then
      joints[#joints + 1] = c
    elseif not M.IGNORED_ELEMENTS[c.tag] then
      R.unknown_child(root, c, set{"link", "joint", "material", "transmission", "gazebo"})
    end
  end
  if #order == 0 then R.fail(root, "has no <link>") end
  local jnames = {}
  for _, je in ipairs(joints) do
    R.check_attrs(je, set{"name", "type"})
    local name = R.required(je, "name")
    if jnames[name] then R.fail_attr(je, "name", "'%s' is used by another joint", name) end
    jnames[name] = true
    local t = R.required(je, "type")
    if not JOINT_TYPES[t] then
      R.fail_attr(je, "type", "'%s' is not supported (revolute, continuous, prismatic, fixed, floating)", t)
    end
    check_children(je, set{"origin", "parent", "child", "axis", "limit", "dynamics"})
    local function ref(tag)
      local e = only_child(je, tag) or R.fail(je, "has no <%s>", tag)
      R.check_attrs(e, set{"link"})
      local ln = R.required(e, "link")
      if not links[ln] then R.fail_attr(e, "link", "names no link '%s'", ln) end
      return links[ln]
    end
    local parent, child = ref("parent"), ref("child")
    if child.joint_el then
      R.fail(je, "gives link '%s' a second parent (its first: <joint name='%s'> at line %d)",
             child.name, child.joint_el.attr.name, child.joint_el.line)
    end
    if parent == child then R.fail(je, "joins link '%s' to itself", child.name) end
    child.joint_el, child.parent = je, parent
    local pos, q = origin(je)
    child.pos, child.quat = pos, q
    local j = {type = JOINT_TYPES[t], name = name}
    if j.type == "revolute" or j.type == "prismatic" then
      local ae = only_child(je, "axis")
      local axis = {1, 0, 0}
      if ae then
        R.check_attrs(ae, set{"xyz"})
        axis = R.numbers(ae, "xyz", 3) or R.fail(ae, "is missing the required attribute 'xyz'")
        if axis[1] ^ 2 + axis[2] ^ 2 + axis[3] ^ 2 < 1e-20 then R.fail_attr(ae, "xyz", "is a zero axis") end
      end
      j.axis, j.pos = axis, {0, 0, 0}
      local le = only_child(je, "limit")
      if t == "revolute" or t == "prismatic" then
        if not le then R.fail(je, "a %s joint needs a <limit>", t) end
        local lo, hi = R.number(le, "lower", 0), R.number(le, "upper", 0)
        if lo > hi then R.fail_attr(le, "lower", "is above upper (%g > %g)", lo, hi) end
        if hi > lo then j.range = {lo, hi} end
      end
      -- effort: the joint's actuator force limit (the forcerange of the motor
      -- opts.actuators = "motor" puts on it; 0, a common "unspecified", and no
      -- attribute mean none). velocity: no physics (the plugin and MuJoCo have
      -- no joint velocity limit); both kept in desc.joint_limits for controllers.
      j.limits = {}
      if le then
        R.check_attrs(le, set{"lower", "upper", "effort", "velocity"})
        for _, a in ipairs({"effort", "velocity"}) do
          local v = R.number(le, a, nil)
          if v and v < 0 then R.fail_attr(le, a, "must be >= 0, got %g", v) end
          j.limits[a] = v
        end
      end
      local de = only_child(je, "dynamics")
      j.damping = 0
      if de then
        R.check_attrs(de, set{"damping", "friction"})
        j.damping = R.number(de, "damping", 0)
        if j.damping < 0 then R.fail_attr(de, "damping", "must be >= 0, got %g", j.damping) end
        if R.number(de, "friction", 0) ~= 0 then R.fail_attr(de, "friction", "joint friction is not supported (only 0)") end
      end
      j.armature = 0
    end
    child.joint = j
  end
  -- The root: the one link without a parent.
  local roots = {}
  for _, l in ipairs(order) do if not l.parent then roots[#roots + 1] = l end end
  if #roots == 0 then
    R.fail(joints[1], "closes a cycle: every link has a parent, so there is no root")
  elseif #roots > 1 then
    R.fail(roots[2].el, "is a second root (no joint has it as child; the first root is '%s'): the links do not form one tree", roots[1].name)
  end
  local root_link = roots[1]
  -- Breadth-first from the root; links never reached hang in a cycle.
  local kids = {}
  for _, l in ipairs(order) do
    if l.parent then
      kids[l.parent] = kids[l.parent] or {}
      table.insert(kids[l.parent], l)
    end
  end
  local queue, reached = {root_link}, {[root_link] = true}
  local i = 1
  while queue[i] do
    for _, k in ipairs(kids[queue[i]] or {}) do
      if not reached[k] then reached[k] = true; queue[#queue + 1] = k end
    end
    i = i + 1
  end
  for _, l in ipairs(order) do
    if not reached[l] then
      R.fail(l.joint_el, "is part of a cycle (link '%s' is its own ancestor)", l.name)
    end
  end

  local desc = {name = root.attr.name, links = {}, actuators = {},
                options = {timestep = opts.timestep or 0.002, gravity = opts.gravity or {0, 0, -9.81},
                           integrator = opts.integrator or "euler", ground = opts.ground or false,
                           self_collision = opts.self_collision or false}}
  -- Each URDF link's index in desc.links (0: the world), and the pose of a
  -- merged link in the frame of the link it was merged into.
  local index, frame = {}, {}
  local world_root = root_link.inertial == nil
  if world_root then
    if opts.floating then R.fail(root_link.el, "cannot float: it has no <inertial> (it stands for the world)") end
    index[root_link] = 0
    frame[root_link] = {pos = {0, 0, 0}, quat = {1, 0, 0, 0}}
    if #root_link.geoms > 0 then R.fail(root_link.el, "stands for the world (no <inertial>) but has collision shapes") end
  end
  for _, l in ipairs(queue) do
    local merged = false
    if l == root_link and world_root then
      merged = true
    elseif l ~= root_link and not l.inertial then
      if l.joint.type ~= "fixed" then
        R.fail(l.el, "has no <inertial> (mass 0) but moves on joint '%s'", l.joint.name)
      end
      merged = true
    end
    local pos, quat, parent_index = {0, 0, 0}, {1, 0, 0, 0}, 0
    if l ~= root_link then
      -- pose relative to the nearest kept ancestor
      local f = frame[l.parent]
      pos = X.qrot(f.quat, l.pos)
      for k = 1, 3 do pos[k] = pos[k] + f.pos[k] end
      quat = X.qmul(f.quat, l.quat)
      parent_index = index[l.parent]
    end
    if merged and l ~= root_link then
      index[l] = parent_index
      frame[l] = {pos = pos, quat = quat}
      local host = parent_index > 0 and desc.links[parent_index]
      if #l.geoms > 0 then
        if not host then R.fail(l.el, "is merged into the world (massless, fixed) but has collision shapes") end
        for _, g in ipairs(l.geoms) do
          local gp = X.qrot(quat, g.pos)
          host.geoms[#host.geoms + 1] = {type = g.type, size = g.size, friction = g.friction,
                                         pos = {gp[1] + pos[1], gp[2] + pos[2], gp[3] + pos[3]},
                                         quat = X.qmul(quat, g.quat)}
        end
      end
    elseif not merged then
      local link = {name = l.name, parent = parent_index, pos = pos, quat = quat,
                    inertial = l.inertial, geoms = l.geoms}
      if l == root_link then
        link.joint = opts.floating and {type = "free", name = "root"} or nil
      elseif l.joint.type ~= "fixed" then
        if l.joint.type == "free" and parent_index ~= 0 then
          R.fail(l.joint_el, "a floating joint's parent must be the world (a root link without <inertial>)")
        end
        link.joint = l.joint
      end
      desc.links[#desc.links + 1] = link
      index[l] = #desc.links
      frame[l] = {pos = {0, 0, 0}, quat = {1, 0, 0, 0}}
    end
  end
  if #desc.links == 0 then R.fail(root, "has no link with mass") end
  -- the joints' effort and velocity limits (by joint name), and with
  -- opts.actuators = "motor" one motor (gear 1) per moving joint, in link
  -- order, its force clamped to the joint's effort
  desc.joint_limits = {}
  for i, l in ipairs(desc.links) do
    local j = l.joint
    if j and j.limits then
      desc.joint_limits[j.name] = j.limits
      if opts.actuators == "motor" then
        local e = j.limits.effort
        desc.actuators[#desc.actuators + 1] = {name = j.name, joint = i, type = "motor", gear = 1,
                                               forcerange = e and e > 0 and {-e, e} or nil}
      end
    end
    if j then j.limits = nil end
  end
  return desc
end

function M.parse(text, name, opts)
  return parse(xml.parse_string(text, name or "<urdf>"), opts)
end

function M.load(path, opts)
  return parse(xml.parse_file(path), opts)
end

return M
