-- springs: the Coulomb friction adjoint at a zero tangential velocity, checked
-- against central differences in float64 (issue 10, "zero friction drops a
-- gradient"). With mu = 0 the friction map is the identity, also where the
-- tangential velocity is exactly 0, so its adjoint must pass the gradient
-- through; with mu > 0 a node at rest sticks and the map is locally constant.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local springs = ds.plugin("springs")

-- d (coordinate d of the last state of mass 1) / d (v0 component k) by the
-- tape, and by central differences.
local function grads(scene, T, d, k, eps)
  eps = eps or 1e-6
  local sys = springs.system(scene)
  local function final(v0)
    local xs = sys:rollout(T, {v0 = v0})
    return springs.select(xs, -1, 1, d)
  end
  local v0 = ds.tensor(scene.v):requires_grad()
  local tape = ds.tape()
  local y = tape:record(function() return final(v0) end)
  tape:backward(y)
  local ad = v0.grad:tolist()[k]
  local function at(delta)
    local v = {}
    for i, row in ipairs(scene.v) do v[i] = {unpack(row)} end
    v[1][k] = v[1][k] + delta
    return ds.no_grad(function() return final(ds.tensor(v)):item() end)
  end
  local fd = (at(eps) - at(-eps)) / (2 * eps)
  return ad, fd
end

local function close(ad, fd, want, what)
  local msg = string.format("%s: tape %.6g, central differences %.6g, expected %.6g", what, ad, fd, want or fd)
  assert.is_true(math.abs(ad - fd) <= 1e-6 * math.max(1, math.abs(fd)), msg)
  if want then assert.is_true(math.abs(ad - want) <= 1e-6, msg) end
end

-- A ball dropped straight down (v_x = 0 exactly) onto the ground: 408 steps of 1e-3 s.
local function drop(mode, friction, restitution, D)
  local x, v = {0.5, 0.3}, {0, 0}
  if D == 3 then x, v = {0.5, 0.3, 0.2}, {0, 0, 0} end
  return {x = {x}, v = {v}, dt = 1e-3, gravity = -9.8, damping = 0,
          ground = {mode = mode, y = 0.1, friction = friction, restitution = restitution}}
end

-- A mass moving head-on (v_y = 0 exactly) into the wall x = 0.4: 200 steps of 1e-3 s
-- (it starts off the step grid, so a small change of vx0 does not change the step of the hit).
local function wall(reference, friction, D)
  local x, v = {0.3005, 0.5}, {1, 0}
  if D == 3 then x, v = {0.3005, 0.5, 0.2}, {1, 0, 0} end
  return {x = {x}, v = {v}, dt = 1e-3, gravity = 0, damping = 0, ground = "none",
          wall = {hi = 0.4, friction = friction, reference = reference}}
end

describe("springs friction adjoint at zero tangential velocity (f64, central differences)", function()
  for _, mode in ipairs{"naive", "toi"} do
    it("frictionless ground, " .. mode .. ": d x_final / d vx0 = T dt = 0.408", function()
      local ad, fd = grads(drop(mode, 0, 0), 408, 1, 1)
      close(ad, fd, 0.408, "drop " .. mode)
    end)
    it("frictionless bouncy ground (e = 0.5), " .. mode .. ": d x_final / d vx0 = 0.408", function()
      local ad, fd = grads(drop(mode, 0, 0.5), 408, 1, 1)
      close(ad, fd, 0.408, "bounce " .. mode)
    end)
    it("frictionless ground in 3D, " .. mode .. ": d x/d vx0 = d z/d vz0 = 0.408", function()
      local ad, fd = grads(drop(mode, 0, 0, 3), 408, 1, 1)
      close(ad, fd, 0.408, "3D x " .. mode)
      ad, fd = grads(drop(mode, 0, 0, 3), 408, 3, 3)
      close(ad, fd, 0.408, "3D z " .. mode)
    end)
    it("frictional ground (mu = 0.5), " .. mode .. ": a node at rest sticks (gradient = time before contact)", function()
      local ad, fd = grads(drop(mode, 0.5, 0), 408, 1, 1)
      close(ad, fd, nil, "sticking " .. mode)
      assert.is_true(ad > 0.19 and ad < 0.21, "time before contact, got " .. ad)
    end)
    it("frictionless ground, " .. mode .. ", sliding neighbour (vx0 = 0.3)", function()
      local sc = drop(mode, 0, 0)
      sc.v[1][1] = 0.3
      local ad, fd = grads(sc, 408, 1, 1)
      close(ad, fd, 0.408, "sliding " .. mode)
    end)
  end

  for _, ref in ipairs{false, true} do
    local name = ref and "reference wall" or "wall"
    it(name .. " with default friction 0, head-on: d y_final / d vy0 = T dt = 0.2", function()
      local ad, fd = grads(wall(ref, nil), 200, 2, 2)
      close(ad, fd, 0.2, name)
    end)
    it(name .. " with friction 0 in 3D: d y/d vy0 = d z/d vz0 = 0.2", function()
      local ad, fd = grads(wall(ref, 0, 3), 200, 2, 2)
      close(ad, fd, 0.2, name .. " 3D y")
      ad, fd = grads(wall(ref, 0, 3), 200, 3, 3)
      close(ad, fd, 0.2, name .. " 3D z")
    end)
    it(name .. " with friction 0: the normal gradient d x_final / d vx0 matches central differences", function()
      local ad, fd = grads(wall(ref, 0), 200, 1, 1)
      close(ad, fd, nil, name .. " normal")
    end)
    it(name .. " with friction 0.2, head-on: the node sticks to the wall (d y / d vy0 = time before the hit)", function()
      local ad, fd = grads(wall(ref, 0.2), 200, 2, 2)
      close(ad, fd, nil, name .. " sticking")
      assert.is_true(ad > 0.09 and ad < 0.11, "time before the hit, got " .. ad)
    end)
  end
end)
