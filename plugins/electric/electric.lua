-- Lua front end of the electric plugin: ds.plugin("electric").
--
--   local el = ds.plugin("electric")
--   local x1, v1 = el.step(x, v, charges)                    -- one step, charges {E}
--   local xs, vs, hid, g = el.nn_rollout(net, x0, v0, goal, goal_v)
--   local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}, {0.5, 0.2}}, 256, 511)
--
-- Options (every function, last argument): electrodes ({E, 2} tensor, default
-- the reference's 8, el.electrodes()), K (Coulomb constant, 1e-3), damping
-- (0.2: v decays by exp(-damping dt) per step), dt (0.03), rmin (0.1, the clamp
-- on |r|). K and damping may be 0-dim tensors that require grad; the
-- electrodes' positions get a gradient too when they require it.
--
-- nn_rollout: step t = 1..T feeds the network x_{t-1} - 0.5, v_{t-1},
-- goal_t - 0.5, goal_v_t - 0.5 and uses its outputs as the electrodes' charges
-- for the step t-1 -> t. (The reference reads x[t], v[t] there: the previous
-- rollout's values, a bug this engine does not reproduce.) goal, goal_v {T, 2}:
-- row t holds step t's goal. net: a ds.nn.mlp (8 -> ... -> E, any activations
-- the kit runs) or {W1, b1, W2, b2} (tanh, tanh: the reference's). Returns
-- xs, vs {T+1, 2} (row 1 = x0, v0), hidden {T, sum of hidden widths}, charges {T, E}.
local ds = require("diffsim")
ds.load_plugin("electric")

local M = {}
local K = {step = ds.kernel("electric.step"), nn_rollout = ds.kernel("electric.nn_rollout")}
M.kernels = K

local function fail(fn, msg) error("electric." .. fn .. ": " .. msg, 3) end

-- The reference's electrodes: the corners and edge midpoints of a square inset
-- by pad (0.1) in the unit square, in the reference's order.
function M.electrodes(pad)
  pad = pad or 0.1
  return ds.tensor{{pad, pad}, {pad, 1 - pad}, {1 - pad, 1 - pad}, {1 - pad, pad},
                   {0.5, 1 - pad}, {0.5, pad}, {pad, 0.5}, {1 - pad, 0.5}}
end

local defaults = {}
-- A plain number as a 0-dim tensor, made once per (options table, key, value).
local function scalar(fn, o, key, v)
  if ds.is_tensor(v) then return v end
  if type(v) ~= "number" then fail(fn, key .. " must be a number or a 0-dim tensor, got " .. type(v)) end
  local cache = rawget(o, "_const")
  if not cache then cache = {}; rawset(o, "_const", cache) end
  local e = cache[key]
  if e and e[1] == v then return e[2] end
  local t = ds.tensor(v)
  cache[key] = {v, t}
  return t
end

local default_electrodes
local function phys(fn, o)
  o = o or defaults
  if type(o) ~= "table" then fail(fn, "options must be a table") end
  for k in pairs(o) do
    if k ~= "electrodes" and k ~= "K" and k ~= "damping" and k ~= "dt" and k ~= "rmin" and k ~= "_const" then
      fail(fn, "unknown option '" .. tostring(k) .. "' (options: electrodes, K, damping, dt, rmin)")
    end
  end
  local e = o.electrodes
  if e == nil then
    default_electrodes = default_electrodes or M.electrodes()
    e = default_electrodes
  elseif not ds.is_tensor(e) then
    fail(fn, "electrodes must be an {E, 2} tensor")
  end
  return e, scalar(fn, o, "K", o.K or 1e-3), scalar(fn, o, "damping", o.damping or 0.2),
    {dt = o.dt or 0.03, rmin = o.rmin or 0.1}
end

function M.step(x, v, charges, o)
  local e, k, d, params = phys("step", o)
  local xo, vo = ds.empty{2}, ds.empty{2}
  K.step:launch({x = x, v = v, charges = charges, electrodes = e, K = k, damping = d, x_out = xo, v_out = vo}, params)
  return xo, vo
end

local specs = {}
local function spec_of(sizes, acts)
  local key = table.concat(sizes, ",") .. ":" .. table.concat(acts, ",")
  specs[key] = specs[key] or ds.kit.mlp_spec(sizes, acts)
  return specs[key]
end

function M.nn_rollout(net, x0, v0, goal, goal_v, o)
  if type(net) ~= "table" then fail("nn_rollout", "net must be a ds.nn.mlp or {W1, b1, W2, b2}") end
  local sizes, acts, params
  if net.layers then
    sizes, acts = ds.kit.describe(net, "electric.nn_rollout")
    params = net:parameters()
  else
    if #net ~= 4 then fail("nn_rollout", "net must be a ds.nn.mlp or {W1, b1, W2, b2}") end
    for i = 1, 4 do
      if not ds.is_tensor(net[i]) then fail("nn_rollout", "net[" .. i .. "] must be a tensor ({W1, b1, W2, b2})") end
    end
    local s1, s2 = net[1]:shape(), net[3]:shape()
    if #s1 ~= 2 or #s2 ~= 2 then fail("nn_rollout", "W1 and W2 of {W1, b1, W2, b2} must be matrices {in, out}") end
    sizes, acts, params = {s1[1], s1[2], s2[2]}, {"tanh", "tanh"}, net
  end
  if not ds.is_tensor(goal) or #goal:shape() ~= 2 then fail("nn_rollout", "goal must be a {T, 2} tensor") end
  local e, k, d, p = phys("nn_rollout", o)
  local T, E = goal:shape()[1], e:shape()[1]
  local H = 0
  for l = 2, #sizes - 1 do H = H + sizes[l] end
  local xs, vs, hid, g = ds.empty{T + 1, 2}, ds.empty{T + 1, 2}, ds.empty{T, H}, ds.empty{T, E}
  K.nn_rollout:launch({x0 = x0, v0 = v0, electrodes = e, K = k, damping = d, goal = goal, goal_v = goal_v,
                       spec = spec_of(sizes, acts), xs = xs, vs = vs, hidden = hid, charges = g, w = params}, p)
  return xs, vs, hid, g
end

-- The reference's goal path through points P_1..P_{m+1}: segment i (seg steps)
-- runs linearly from P_i to P_{i+1}; goal_v is the segment's P_{i+1} - P_i
-- (a displacement per segment, as the reference feeds it). Returns goal and
-- goal_v {T, 2} for steps 1..T (reference index k = t; the path needs
-- m seg > T steps).
function M.goal_path(points, seg, T)
  if type(points) ~= "table" or #points < 2 then fail("goal_path", "points must list at least 2 points {x, y}") end
  if type(seg) ~= "number" or seg < 1 or seg ~= math.floor(seg) then fail("goal_path", "seg must be an integer >= 1") end
  if type(T) ~= "number" or T < 1 or T ~= math.floor(T) or T >= (#points - 1) * seg then
    fail("goal_path", string.format("T must be an integer in [1, %d] for %d points of %d-step segments",
      (#points - 1) * seg - 1, #points, seg))
  end
  local g, gv = {}, {}
  for t = 1, T do
    local i, j = math.floor(t / seg) + 1, t % seg
    local a, b = points[i], points[i + 1]
    local f = j / seg
    g[t] = {(1 - f) * a[1] + f * b[1], (1 - f) * a[2] + f * b[2]}
    gv[t] = {b[1] - a[1], b[2] - a[2]}
  end
  return ds.tensor(g), ds.tensor(gv)
end

return M
