-- Model descriptions (articulation plugin's table format, plugins/articulation/README.md)
-- shared by the articulation specs, scripts and benchmarks.
local S = {}

local function rod(mass, len, radius)
  -- a uniform rod along -z from the link origin: com at -len/2
  local i = mass * len * len / 12
  return {mass = mass, pos = {0, 0, -len / 2}, diaginertia = {i, i, 0.5 * mass * (radius or 0.02) ^ 2}}
end
S.rod_inertial = rod

-- A uniform rod of length L pivoting about y at one end (SCENES.md pendulum).
function S.pendulum(opts)
  opts = opts or {}
  local L = opts.length or 1
  return {name = "pendulum", options = {timestep = opts.dt or 1e-3, ground = false},
          links = {{parent = 0, joint = {type = "revolute", axis = {0, 1, 0}, damping = opts.damping or 0},
                    inertial = rod(opts.mass or 1, L, 1e-3),
                    geoms = {{type = "capsule", pos = {0, 0, -L / 2}, size = {0.02, L / 2}}}}}}
end

-- A chain of n rods (each 1/n m ... or len), hinged about y at their tops.
function S.chain(n, opts)
  opts = opts or {}
  local len, links = opts.length or 0.5, {}
  for i = 1, n do
    links[i] = {name = "link" .. i, parent = i - 1, pos = i == 1 and {0, 0, 0} or {0, 0, -len},
                joint = {type = "revolute", axis = {0, 1, 0}, damping = opts.damping and opts.damping[i] or 0},
                inertial = rod(opts.masses and opts.masses[i] or 1, len),
                geoms = {{type = "capsule", pos = {0, 0, -len / 2}, size = {0.03, len / 2}}}}
  end
  return {name = "chain" .. n, options = {timestep = opts.dt or 1e-3, ground = false, gravity = opts.gravity},
          links = links}
end

-- Every joint type and shape: a free base box, a revolute arm with a capsule,
-- a prismatic slider with a sphere, a spherical wrist with a box, a fixed tip;
-- motor and position actuators; a joint range.
function S.zoo()
  return {name = "zoo", options = {timestep = 2e-3, contact_stiffness = 3e3, contact_damping = 30,
                                   contact_smoothing = 5e-3, friction_smoothing = 0.05},
          links = {
            {name = "base", parent = 0, pos = {0.1, -0.05, 0.12}, quat = {0.98, 0.1, -0.15, 0.08},
             joint = {type = "free", damping = 0.01},
             inertial = {mass = 2, pos = {0.01, 0, 0}, fullinertia = {0.02, 0.03, 0.025, 0.001, -0.002, 0.0015}},
             geoms = {{type = "box", size = {0.1, 0.06, 0.04}, friction = 0.8}}},
            {name = "arm", parent = 1, pos = {0.1, 0, 0.02}, quat = {0.9, 0, 0.3, 0.1},
             joint = {type = "revolute", axis = {0.2, 1, 0.1}, pos = {0, 0, 0.01}, damping = 0.05, armature = 0.01,
                      range = {-0.3, 0.3}},
             inertial = {mass = 0.5, pos = {0, 0, -0.1}, diaginertia = {0.002, 0.0025, 0.0006}, quat = {0.95, 0.2, 0.1, 0.2}},
             geoms = {{type = "capsule", pos = {0, 0, -0.1}, size = {0.02, 0.1}, friction = 1.2}}},
            {name = "slider", parent = 2, pos = {0, 0, -0.2},
             joint = {type = "prismatic", axis = {1, 0.1, 0}, damping = 0.1},
             inertial = {mass = 0.3, pos = {0.01, 0.01, 0}, diaginertia = {0.0005, 0.0004, 0.0003}},
             geoms = {{type = "sphere", pos = {0, 0, -0.03}, size = {0.03}}}},
            {name = "wrist", parent = 1, pos = {-0.1, 0.02, 0}, quat = {1, 0, 0, 0},
             joint = {type = "spherical", pos = {0, 0, 0.02}, damping = 0.02},
             inertial = {mass = 0.4, pos = {0, 0.02, -0.05}, fullinertia = {0.001, 0.0012, 0.0008, 0.0001, 0, -0.0001}},
             geoms = {{type = "box", pos = {0, 0, -0.05}, quat = {0.9, 0.3, 0, 0.1}, size = {0.02, 0.03, 0.05}}}},
            {name = "tip", parent = 4, pos = {0, 0, -0.1},
             inertial = {mass = 0.1, pos = {0, 0, -0.01}, diaginertia = {1e-4, 1e-4, 5e-5}}},
          },
          actuators = {{joint = "arm", type = "motor", gear = 2}, {joint = "slider", type = "position", kp = 20, kv = 2}}}
end

-- An initial state of the zoo with every joint moving (q {1, nq}, qd {1, nv}).
function S.zoo_state()
  local function unit(q) local n = math.sqrt(q[1]^2 + q[2]^2 + q[3]^2 + q[4]^2); return {q[1]/n, q[2]/n, q[3]/n, q[4]/n} end
  local b = unit{0.98, 0.1, -0.15, 0.08}
  local w = unit{0.9, 0.2, -0.3, 0.25}
  local q = {0.1, -0.05, 0.07, b[1], b[2], b[3], b[4], 0.2, 0.05, w[1], w[2], w[3], w[4]}
  local qd = {0.3, -0.2, -0.5, 0.7, -0.4, 0.9, 1.1, -0.3, 0.8, -0.6, 0.5}
  return q, qd
end

-- Three free bodies touching each other (no ground, no gravity): two capsules
-- crossing at an angle and a sphere pressed on the second capsule.
function S.pairs()
  local inl = {mass = 1, fullinertia = {0.01, 0.012, 0.008, 0.001, 0, -0.0005}}
  return {name = "pairs", options = {timestep = 1e-3, ground = false, gravity = {0, 0, 0}, contact_stiffness = 5e3,
                                     contact_damping = 20, contact_smoothing = 2e-3},
          links = {{joint = {type = "free"}, pos = {0, 0, 0}, quat = {0.96, 0.1, 0.2, 0.1}, inertial = inl,
                    geoms = {{type = "capsule", size = {0.05, 0.2}, friction = 0.7}}},
                   {joint = {type = "free"}, pos = {0.02, 0.03, 0.095}, quat = {0.7, 0.7, 0.1, 0}, inertial = inl,
                    geoms = {{type = "capsule", size = {0.05, 0.2}, friction = 0.9}}},
                   {joint = {type = "free"}, pos = {0.05, -0.06, 0.19}, inertial = inl,
                    geoms = {{type = "sphere", size = {0.05}, friction = 0.5}}}}}
end

-- A planar walker (SCENES.md "Walker"): a torso on a planar root (slide x,
-- slide z, pitch about y) with a front and a back leg (hip and knee each,
-- PD position servos), spherical feet on a frictional ground.
function S.walker(opts)
  opts = opts or {}
  local tiny = {mass = 1e-3, diaginertia = {1e-6, 1e-6, 1e-6}}
  local kp, kv = opts.kp or 60, opts.kv or 2
  local links = {
    {name = "rootx", parent = 0, joint = {type = "prismatic", axis = {1, 0, 0}}, inertial = tiny},
    {name = "rootz", parent = 1, joint = {type = "prismatic", axis = {0, 0, 1}}, inertial = tiny},
    {name = "torso", parent = 2, pos = {0, 0, opts.height or 0.47}, joint = {type = "revolute", axis = {0, 1, 0}},
     inertial = {mass = 3, diaginertia = {0.0125, 0.0925, 0.1}},
     geoms = {{type = "box", size = {0.3, 0.1, 0.05}, friction = opts.friction or 1}}},
  }
  for _, leg in ipairs{{"front", 0.25}, {"back", -0.25}} do
    local name, x = leg[1], leg[2]
    links[#links + 1] = {name = name .. "_thigh", parent = "torso", pos = {x, 0, -0.05},
                         joint = {type = "revolute", axis = {0, 1, 0}, range = {-1.2, 1.2}, damping = 0.05},
                         inertial = {mass = 0.3, pos = {0, 0, -0.1}, diaginertia = {0.0011, 0.0011, 1e-4}},
                         geoms = {{type = "capsule", pos = {0, 0, -0.1}, size = {0.03, 0.1}, friction = opts.friction or 1}}}
    links[#links + 1] = {name = name .. "_shin", parent = name .. "_thigh", pos = {0, 0, -0.2},
                         joint = {type = "revolute", axis = {0, 1, 0}, range = {-1.5, 1.5}, damping = 0.05},
                         inertial = {mass = 0.2, pos = {0, 0, -0.1}, diaginertia = {7e-4, 7e-4, 1e-4}},
                         geoms = {{type = "capsule", pos = {0, 0, -0.1}, size = {0.025, 0.1}, friction = opts.friction or 1},
                                  {type = "sphere", pos = {0, 0, -0.2}, size = {0.03}, friction = opts.friction or 1}}}
  end
  local acts = {}
  for _, j in ipairs{"front_thigh", "front_shin", "back_thigh", "back_shin"} do
    acts[#acts + 1] = {joint = j, type = "position", kp = kp, kv = kv}
  end
  return {name = "walker", options = {timestep = opts.dt or 2e-3, contact_stiffness = 1e4, contact_damping = 100,
                                      contact_smoothing = 1e-3, friction_smoothing = opts.friction_smoothing or 0.05},
          links = links, actuators = acts}
end

return S
