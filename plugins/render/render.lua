-- Lua front end of the render plugin: ds.plugin("render").
--
--   local render = ds.plugin("render")
--   local img = render.refract(height, image)                         -- Snell, defaults below
--   local img = render.refract(height, image, {depth = 40, ior = 1.33, dx = 1/256, boundary = "reflect"})
--   local img = render.refract(height, image, render.reference)       -- the reference renderer
--
-- Modes: "snell" (default), "linear" (d = -scale slope, samples clamped to [0, n-1]),
-- "reference" (linear, clamped to [0, n-2] like the reference; the last row and
-- column of the image are only interpolation partners). A NaN or infinite height
-- is an error naming the element; slopes beyond +-1e100 are clamped to it.
--
-- height {h, w}; image {h, w} or {h, w, c} on the same grid; returns the image
-- seen from above through the surface. Differentiable w.r.t. height and image,
-- and w.r.t. the depth (snell) or scale (linear) and the index of refraction
-- when they are given as 0-dim tensors:
--   local depth, ior = ds.tensor(20):requires_grad(), ds.tensor(1.2):requires_grad()
--   local img = render.refract(height, image, {depth = depth, ior = ior})
-- The kernel is launched by argument and param name (names from its C tables).
local ds = require("diffsim")

local M = {}
local K = {refract = ds.kernel("render.refract"), volume = ds.kernel("render.volume"),
           torus = ds.kernel("render.torus")}

-- The reference renderer (water_renderer.py): sample = (i, j) - 2 slope, the
-- slope by central differences with zero outside the grid, the sample position
-- clamped to [0, n-2] (mode "reference"; mode "linear" clamps to [0, n-1]).
M.reference = {mode = "reference", scale = 2, boundary = "zero"}

-- depth/scale and ior as the kernel takes them: a tensor as it is; a plain
-- number as a 0-dim tensor made once and kept in the options table (field
-- _const; module defaults for nil options), so rendering every frame allocates
-- no constants and a checkpoint's recomputation reads the same tensor.
local defaults = {}
local function scalar(o, key, v)
  if ds.is_tensor(v) then return v end
  if type(v) ~= "number" then error("render.refract: " .. key .. " must be a number or a 0-dim tensor, got " .. type(v), 3) end
  local cache = rawget(o, "_const")
  if not cache then cache = {}; o._const = cache end
  local e = cache[key]
  if e and e[1] == v then return e[2] end -- (NaN never matches: the kernel refuses it by name)
  local t = ds.tensor(v)
  cache[key] = {v, t}
  return t
end

local modes = {linear = 0, snell = 1, reference = 2}
local bcs = {zero = 0, dirichlet = 0, reflect = 1, reflecting = 1, neumann = 1}

function M.refract(height, image, o)
  o = o or defaults
  -- _const: the constants' cache the first call keeps in the table (see scalar)
  ds.check_options("render.refract", o, {"mode", "boundary", "scale", "depth", "dx", "ior", "_const"})
  local mode = modes[o.mode or "snell"]
  if not mode then error("render.refract: mode must be 'snell', 'linear' or 'reference', got '" .. tostring(o.mode) .. "'", 2) end
  local bc = type(o.boundary) == "number" and o.boundary or bcs[o.boundary or "zero"]
  if not bc then error("render.refract: boundary must be 'zero' or 'reflect', got '" .. tostring(o.boundary) .. "'", 2) end
  if not ds.is_tensor(height) or not ds.is_tensor(image) then
    error("render.refract: height and image must be tensors", 2)
  end
  local a
  if mode ~= 1 then a = scalar(o, "scale", o.scale or 2) else a = scalar(o, "depth", o.depth or 32) end
  local dx = o.dx or 1 / height:shape()[1]
  if type(dx) ~= "number" or not (dx > 0) or dx == math.huge then
    error("render.refract: dx must be a positive finite number, got " .. tostring(dx), 2)
  end
  local out = ds.empty_like(image)
  K.refract:launch({height = height, image = image, a = a, ior = scalar(o, "ior", o.ior or 1.33), out = out},
    {mode = mode, dx = dx, boundary = bc})
  return out
end

-- An image file as a tensor on an h x w grid: {h, w, 3} colour, or {h, w} for
-- one channel (channel = 1..4 or "alpha"). Grey is repeated into three
-- channels; RGBA is composited over white, so transparent parts show as paper.
-- Channel mixing is a matmul of the {h w, c} pixels by a c x 3 matrix: no Lua loops.
function M.load_image(path, h, w, channel)
  if type(path) ~= "string" then error("render.load_image: path must be a string, got " .. type(path), 2) end
  for _, a in ipairs{{"h", h}, {"w", w}} do
    local v = a[2]
    if type(v) ~= "number" or v ~= math.floor(v) or v < 1 or v > 65536 then
      error("render.load_image: " .. a[1] .. " must be an integer in [1, 65536], got " .. tostring(v), 2)
    end
  end
  if channel ~= nil and channel ~= "alpha" and
     (type(channel) ~= "number" or channel ~= math.floor(channel) or channel < 1 or channel > 4) then
    error("render.load_image: channel must be an integer in [1, 4] or 'alpha', got " .. tostring(channel), 2)
  end
  if channel then return ds.io.read_png(path, {channel = channel, size = {h, w}}) end
  return ds.no_grad(function()
    local img = ds.io.read_png(path, {size = {h, w}})
    local c = img:shape()[3]
    if c == 3 then return img end
    local flat = ds.reshape(img, {h * w, c})
    local function mix(rows) return ds.matmul(flat, ds.tensor(rows)) end
    local out
    if c == 1 then
      out = mix{{1, 1, 1}}
    else
      -- colour rows, then the alpha row picked out into all three channels
      local colour, alpha = {}, {}
      for k = 1, c do
        colour[k] = c == 2 and (k == 1 and {1, 1, 1} or {0, 0, 0}) or {k == 1 and 1 or 0, k == 2 and 1 or 0, k == 3 and 1 or 0}
        alpha[k] = k == c and {1, 1, 1} or {0, 0, 0}
      end
      local a = mix(alpha)
      out = mix(colour) * a - a + 1
    end
    return ds.reshape(out, {h, w, 3})
  end)
end

-- Emission-only volume rendering (volume.c, docs/volume.md):
--   local imgs = render.volume(density, angles [, {res = 512, mode = "trilinear" | "nearest",
--                              dx = 0.02, steps = 1000, fov = 1, radius = 1}])
-- density {n, n, n} ([z][y][x], the box [-0.5, 0.5)^3); angles: a list of
-- numbers or a {V} tensor (radians; camera at radius (sin a, 0, cos a)
-- looking at the centre); returns images {V, res, res}, pixel = sum of the
-- density samples at origin + (k+1) dx dir, k < steps, inside the box.
-- Differentiable in the density. mode "nearest" is the reference's lookup
-- (render.volume_reference); "trilinear" (default) interpolates between voxel
-- centres, so the image and its gradient vary smoothly with the density's position.
M.volume_reference = {mode = "nearest"}
M.volume_angles = function(V)
  -- the reference's cameras: view v at pi/V v - pi/2 (a half circle)
  local a = {}
  for v = 0, V - 1 do a[v + 1] = math.pi / V * v - math.pi / 2 end
  return a
end
local vmodes = {trilinear = 0, nearest = 1}
local VOPTS = {res = true, mode = true, dx = true, steps = true, fov = true, radius = true, _angles = true}
function M.volume(density, angles, o)
  o = o or defaults
  if type(o) ~= "table" then error("render.volume: options must be a table", 2) end
  for k in pairs(o) do
    if not VOPTS[k] then error("render.volume: unknown option '" .. tostring(k) .. "' (options: res, mode, dx, steps, fov, radius)", 2) end
  end
  if not ds.is_tensor(density) then error("render.volume: density must be a {n, n, n} tensor", 2) end
  local mode = vmodes[o.mode or "trilinear"]
  if not mode then error("render.volume: mode must be 'trilinear' or 'nearest', got '" .. tostring(o.mode) .. "'", 2) end
  local res = o.res or 512
  if type(res) ~= "number" or res ~= math.floor(res) or res < 1 or res > 16384 then
    error("render.volume: res must be an integer in [1, 16384], got " .. tostring(res), 2)
  end
  if type(angles) == "table" and not ds.is_tensor(angles) then
    if #angles == 0 then error("render.volume: angles must list at least one view", 2) end
    -- one tensor per list, kept in the options table, so a training loop does not rebuild it
    local key = table.concat(angles, ",")
    local cached = rawget(o, "_angles")
    if not (cached and cached[1] == key) then
      cached = {key, ds.tensor(angles)}
      if o ~= defaults then rawset(o, "_angles", cached) end
    end
    angles = cached[2]
  elseif not ds.is_tensor(angles) then
    error("render.volume: angles must be a list of numbers or a {V} tensor", 2)
  end
  local V = angles:shape()[1] or 0
  local out = ds.empty{V, res, res}
  K.volume:launch({density = density, angles = angles, out = out},
    {dx = o.dx or 0.02, steps = o.steps or 1000, fov = o.fov or 1, radius = o.radius or 1, mode = mode})
  return out
end

-- The volume scene's target density (volume_scene.c): an {n, n, n} grid with
-- `value` (default 1/n, the reference's) inside a torus of ring radius r1 (0.4)
-- and tube radius r2 (0.1) around the x axis, 0 outside.
function M.torus(n, o)
  o = ds.check_options("render.torus", o, {"r1", "r2", "value"})
  if type(n) ~= "number" or n ~= math.floor(n) or n < 2 or n > 4096 then
    error("render.torus: n must be an integer in [2, 4096], got " .. tostring(n), 2)
  end
  local out = ds.empty{n, n, n}
  K.torus:launch({out = out}, {r1 = o.r1 or 0.4, r2 = o.r2 or 0.1, value = o.value or 1 / n})
  return out
end

return M
