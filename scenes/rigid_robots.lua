-- The rigid_body robots of the reference suite (SCENES.md, table A): boxes joined
-- by springs and joints, walking on the ground y = 0.1 towards the goal (0.9, 0.15).
--   local robots = require("scenes.rigid_robots")
--   local sys = rigid2d.boxes(robots.get(0, {toi = true}))   -- 0: A, 1: B, 2: Leg
-- Bodies: {x, halfsize, rotation}; density 1 (m = 4 hx hy). Springs: a, b (1-based),
-- the anchors in a's and b's frames, rest length, stiffness k, actuation amplitude
-- (0.05 unless stated); a joint pins two anchors together (target length 0).
-- Physics: gravity -9.8, damping e^{-10 dt}, friction 1, restitution 0, dt 1e-3,
-- 2047 steps. The head body is the one whose final x the loss measures.
-- The geometry and numbers are the reference's robot configurations (facts, not
-- code): robot A is a bar on three feet with a mast, B a body on two legs, Leg a
-- hip with two three-segment legs.
local M = {goal = {0.9, 0.15}, steps = 2047, dt = 1e-3, names = {[0] = "A", "B", "Leg"}}

local function robot_a()
  local bodies = {
    {x = {0.3, 0.25}, halfsize = {0.15, 0.03}},  -- the bar (head)
    {x = {0.2, 0.15}, halfsize = {0.03, 0.02}},  -- three feet
    {x = {0.3, 0.15}, halfsize = {0.03, 0.02}},
    {x = {0.4, 0.15}, halfsize = {0.03, 0.02}},
    {x = {0.4, 0.3}, halfsize = {0.005, 0.03}},  -- the mast, on a joint
  }
  local l, k = 0.12, 15
  local springs = {
    {1, 2, {-0.03, 0}, {0, 0}, rest = l, k = k}, {1, 2, {-0.1, 0}, {0, 0}, rest = l, k = k},
    {1, 3, {-0.03, 0}, {0, 0}, rest = l, k = k}, {1, 3, {0.03, 0}, {0, 0}, rest = l, k = k},
    {1, 4, {0.03, 0}, {0, 0}, rest = l, k = k}, {1, 4, {0.1, 0}, {0, 0}, rest = l, k = k},
    {1, 5, {0.1, 0}, {0, -0.05}, joint = true, k = k},
  }
  return bodies, springs, 1
end

local function robot_b()
  local bodies = {
    {x = {0.15, 0.25}, halfsize = {0.1, 0.03}},  -- body (head)
    {x = {0.08, 0.22}, halfsize = {0.03, 0.10}}, -- back leg
    {x = {0.22, 0.22}, halfsize = {0.03, 0.10}}, -- front leg
  }
  local L, k, amp = 0.22, 50, 0.03
  local springs = {
    {1, 2, {0.08, 0.02}, {0, -0.08}, rest = L, k = k, amp = amp},
    {1, 3, {-0.08, 0.02}, {0, -0.08}, rest = L, k = k, amp = amp},
    {1, 2, {-0.08, 0}, {0, 0.03}, joint = true, k = k},
    {1, 3, {0.08, 0}, {0, 0.03}, joint = true, k = k},
  }
  return bodies, springs, 1
end

local function robot_leg()
  local rad = math.rad
  -- a point half_length along the direction deg (0 = straight down) from c
  local function along(half_length, deg, c)
    return {half_length * math.sin(rad(deg)) + c[1], -half_length * math.cos(rad(deg)) + c[2]}
  end
  local hip, hh, th, ch, fh = {0.3, 0.65}, 0.08, 0.11, 0.11, 0.08 -- hip centre; half lengths
  local thigh_deg, calf_deg = 10, -10
  local hip_end = {hip[1], hip[2] - (hh - 0.01)}
  local bodies = {{x = hip, halfsize = {0.06, hh}}}
  for _ = 1, 2 do -- left and right legs start identical
    local thigh_end = along(2 * th, thigh_deg, hip_end)
    local calf_end = along(2 * ch, calf_deg, thigh_end)
    bodies[#bodies + 1] = {x = along(th, thigh_deg, hip_end), halfsize = {0.02, th}, rotation = rad(thigh_deg)}
    bodies[#bodies + 1] = {x = along(ch, calf_deg, thigh_end), halfsize = {0.02, ch}, rotation = rad(calf_deg)}
    bodies[#bodies + 1] = {x = {calf_end[1] + fh, calf_end[2]}, halfsize = {fh, 0.02}}
  end
  local springs = {}
  for _, b in ipairs{2, 5} do -- thigh, calf, foot = b, b + 1, b + 2
    local s = {
      {1, b, {0, (hh - 0.01) * 0.4}, {0, -th}, rest = 0.9 * (2 * th + 0.22), k = 5},
      {b, b + 1, {0, th}, {0, -th}, rest = 0.9 * 4 * th, k = 20, amp = 0.08},
      {b + 1, b + 2, {0, 0}, {fh, 0}, rest = 0.7 * math.sqrt(th ^ 2 + (2 * fh) ^ 2), k = 40},
      {1, b, {0, -(hh - 0.01)}, {0, th}, joint = true, k = 200},
      {b, b + 1, {0, -th}, {0, th}, joint = true, k = 200},
      {b + 1, b + 2, {0, -th}, {-fh, 0}, joint = true, k = 200},
    }
    for _, e in ipairs(s) do springs[#springs + 1] = e end
  end
  return bodies, springs, 4 -- the left foot is the head
end

local builders = {[0] = robot_a, robot_b, robot_leg}

-- The scene table of robot id (0 A, 1 B, 2 Leg) for rigid2d.boxes. opts.toi
-- (default true) picks the time-of-impact integrator; opts.reference the
-- reference's simultaneous corner impulses.
function M.get(id, opts)
  opts = opts or {}
  local build = builders[id]
  if not build then error("scenes.rigid_robots: robot must be 0 (A), 1 (B) or 2 (Leg), got " .. tostring(id), 2) end
  local bodies, springs, head = build()
  return {name = M.names[id], bodies = bodies, springs = springs, head = head, amplitude = 0.05, density = 1,
          gravity = -9.8, damping = 10, friction = 1, restitution = 0, ground_y = 0.1, dt = M.dt,
          toi = opts.toi ~= false, reference = opts.reference}
end

return M
