-- The four mass-spring robots of the reference suite, redesigned from their
-- published description (SCENES.md): robot A is a 6-mass "car" (11 springs,
-- k = 14000, every spring actuated with amplitude 0.1); robots B-D are built from
-- unit squares on a 0.05 lattice offset by 0.1, each square bringing its 4 corners
-- and all 6 corner-pair springs (k = 3e4), shared corners and edges merged, with
-- only the squares' two vertical edges actuated (amplitude 0.15).
--
--   local robots = require("scenes.robots")
--   local scene = robots.get(3)   -- 0..3 or "A".."D": {name, x, springs, stiffness, ...}
--
-- Counts (masses / springs): A 6/11, B 14/30, C 20/46, D 26/61, as in the reference.
-- Mass 1 (the head whose x the robots maximise) is the first one listed.
local M = {}

local function robot_a()
  local x = {{0.2, 0.1}, {0.3, 0.13}, {0.4, 0.1}, {0.2, 0.2}, {0.3, 0.2}, {0.4, 0.2}}
  -- bottom and top chains, three uprights, four diagonals: a braced two-bay frame
  local links = {{1, 2}, {2, 3}, {4, 5}, {5, 6}, {1, 4}, {2, 5}, {3, 6}, {1, 5}, {2, 4}, {2, 6}, {3, 5}}
  local springs = {}
  for i, l in ipairs(links) do springs[i] = {l[1], l[2], amp = 0.1} end
  return {name = "A", x = x, springs = springs, stiffness = 14000, head = 1}
end

-- A lattice builder: squares {i, j} (lower-left corner), merged corners and springs.
local function lattice(name, squares, extra)
  local x, springs = {}, {}
  local point_at, spring_at = {}, {}
  local function point(i, j)
    local key = i .. "," .. j
    if not point_at[key] then
      x[#x + 1] = {i * 0.05 + 0.1, j * 0.05 + 0.1}
      point_at[key] = #x
    end
    return point_at[key]
  end
  local function spring(a, b, amp)
    local key = math.min(a, b) .. "-" .. math.max(a, b)
    local s = spring_at[key]
    if s then
      springs[s].amp = math.max(springs[s].amp, amp) -- a shared vertical edge stays actuated
    else
      springs[#springs + 1] = {a, b, amp = amp}
      spring_at[key] = #springs
    end
  end
  for _, sq in ipairs(squares) do
    local i, j = sq[1], sq[2]
    local p = {point(i, j), point(i, j + 1), point(i + 1, j), point(i + 1, j + 1)}
    for a = 1, 4 do
      for b = a + 1, 4 do
        -- (1,2) and (3,4) are the square's left and right (vertical) edges
        local vertical = (a == 1 and b == 2) or (a == 3 and b == 4)
        spring(p[a], p[b], vertical and 0.15 or 0)
      end
    end
  end
  if extra then extra(point, spring) end
  return {name = name, x = x, springs = springs, stiffness = 3e4, head = 1}
end

local function row(j, from, to, list)
  list = list or {}
  for i = from, to do list[#list + 1] = {i, j} end
  return list
end

-- B: a body of five squares standing on two triangular feet, whose uprights are actuated.
local function robot_b()
  return lattice("B", row(1, 0, 4), function(point, spring)
    for _, i in ipairs{0, 4} do
      local foot = point(i + 0.5, 0)
      spring(foot, point(i, 1), 0)
      spring(foot, point(i + 1, 1), 0.15)
    end
  end)
end

-- C: a body of seven squares on two one-square legs at its ends.
local function robot_c()
  local sq = row(1, 0, 6)
  sq[#sq + 1] = {0, 0}
  sq[#sq + 1] = {6, 0}
  return lattice("C", sq)
end

-- D: a body of eight squares on four one-square legs.
local function robot_d()
  local sq = row(1, 0, 7)
  for _, i in ipairs{0, 2, 5, 7} do sq[#sq + 1] = {i, 0} end
  return lattice("D", sq)
end

local builders = {[0] = robot_a, robot_b, robot_c, robot_d}
local by_name = {A = 0, B = 1, C = 2, D = 3}

-- The reference physics of the robot scenes.
M.physics = {dt = 4e-3, damping = 15, gravity = -4.8, ground = {mode = "toi", y = 0.1, friction = "sticky"}}
M.goal = {0.9, 0.2}

function M.get(which)
  local id = by_name[which] or tonumber(which)
  local b = builders[id]
  if not b then error("scenes.robots.get: unknown robot '" .. tostring(which) .. "' (use 0..3 or A..D)", 2) end
  local r = b()
  for k, v in pairs(M.physics) do r[k] = v end
  r.ground = {mode = M.physics.ground.mode, y = M.physics.ground.y, friction = M.physics.ground.friction}
  return r
end

M.count = 4
return M
