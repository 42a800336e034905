-- render.volume: float64 central-difference checks (trilinear and nearest),
-- the image of a constant density against the analytic path length, the
-- reference's geometry, bitwise-identical gradients for 1 and 3 threads,
-- and bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local render = ds.plugin("render")

describe("render.volume adjoint (f64 central differences)", function()
  for _, mode in ipairs{"trilinear", "nearest"} do
    it(mode .. ": 7^3 density, 2 views of 10^2", function()
      local w = ds.randn({2, 10, 10}, 4)
      local ok, rep = ds.gradcheck(function(d)
        return ds.sum(render.volume(d, {0.3, -1.2}, {res = 10, mode = mode, steps = 150}) * w)
      -- the image is linear in the density, so a large step has no truncation
      -- error and keeps the round-off of the 200-pixel sum small
      end, {ds.rand({7, 7, 7}, 3, 0, 1)}, {eps = 1e-3, rtol = 1e-8, atol = 1e-10, max_elems = 343})
      assert(ok, rep.message)
      print(string.format("render.volume %s: max abs err %.2e over %d voxels", mode, rep.max_abs_err, rep.checked))
    end)
  end
end)

-- The chord of the ray from o along unit d through [-0.5, 0.5]^3 (slab method).
local function chord(o, d)
  local t0, t1 = 0, math.huge
  for a = 1, 3 do
    if d[a] ~= 0 then
      local s1, s2 = (-0.5 - o[a]) / d[a], (0.5 - o[a]) / d[a]
      if s1 > s2 then s1, s2 = s2, s1 end
      t0, t1 = math.max(t0, s1), math.min(t1, s2)
    elseif o[a] < -0.5 or o[a] >= 0.5 then return 0 end
  end
  return math.max(0, t1 - t0)
end

local function ray(res, angle, py, px, fov)
  local u, w, z = fov * (px / (res / 2) - 1), fov * (py / (res / 2) - 1), -1
  local l = math.sqrt(u * u + w * w + z * z)
  u, w, z = u / l, w / l, z / l
  local c, s = math.cos(angle), math.sin(angle)
  return {math.sin(angle), 0, math.cos(angle)}, {u * c + z * s, w, -u * s + z * c}
end

describe("render.volume physics", function()
  for _, mode in ipairs{"trilinear", "nearest"} do
    it(mode .. ": a constant density's image is density x path length / dx (to one sample) for every pixel", function()
      local rho, dx, res = 0.7, 0.02, 24
      local angles = {0, 0.4, -math.pi / 2, 2.5}
      local img = render.volume(ds.full({16, 16, 16}, rho), angles, {res = res, mode = mode, dx = dx}):totable()
      local worst, inside = 0, 0
      for v, a in ipairs(angles) do
        for py = 0, res - 1 do
          for px = 0, res - 1 do
            local o, d = ray(res, a, py, px, 1)
            local L = chord(o, d)
            local err = math.abs(img[v][py + 1][px + 1] / rho - L / dx)
            worst = math.max(worst, err)
            if L > 0.2 then inside = inside + 1 end
          end
        end
      end
      assert.is_true(worst <= 1 + 1e-9, "off by " .. worst .. " samples")
      assert.is_true(inside > 400, "too few rays hit the volume")
    end)
  end
  it("the image is linear in the density and zero outside the box's shadow", function()
    local d1, d2 = ds.rand({8, 8, 8}, 1, 0, 1), ds.rand({8, 8, 8}, 2, 0, 1)
    local a = render.volume(d1 * 2 + d2, {0.7}, {res = 12}):totable()
    local b, c = render.volume(d1, {0.7}, {res = 12}):totable(), render.volume(d2, {0.7}, {res = 12}):totable()
    for i = 1, 12 do for j = 1, 12 do assert.is_true(math.abs(a[1][i][j] - 2 * b[1][i][j] - c[1][i][j]) < 1e-10) end end
    -- corner pixel (0, 0) looks away from the box at fov 1
    assert.are.equal(0, a[1][1][1])
  end)
  it("the reference's voxel order: density[z][y][x], a voxel at +x shows at the right of view 0 (angle 0)", function()
    local t = ds.zeros{8, 8, 8}:totable()
    t[5][5][8] = 1 -- z index 4, y index 4, x index 7: x just below +0.5
    local img = render.volume(ds.tensor(t), {0}, {res = 16, mode = "nearest"}):totable()[1]
    local best, bx = 0, 0
    for px = 1, 16 do for py = 1, 16 do if img[py][px] > best then best, bx = img[py][px], px end end end
    assert.is_true(best > 0 and bx > 8, "the voxel shows at column " .. bx)
  end)
  it("gradients are bitwise identical for 1 and 3 threads", function()
    local grads = {}
    for _, th in ipairs{1, 3} do
      ds.set_threads(th)
      local d = ds.rand({24, 24, 24}, 5, 0, 1):requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function() return ds.sum(ds.square(render.volume(d, {0.2, 1.3}, {res = 20}))) end)
      tape:backward(loss)
      grads[#grads + 1] = d.grad:totable()
    end
    ds.set_threads(2)
    assert.are.same(grads[1], grads[2])
  end)
end)

describe("render.torus (the scene's target)", function()
  it("fills the torus's volume 2 pi^2 r1 r2^2 with density 1/n, symmetric under y -> -y and z -> -z", function()
    local n = 64
    local t = render.torus(n)
    local inside = ds.sum(t):item() * n -- voxels of value 1/n
    local want = 2 * math.pi ^ 2 * 0.4 * 0.1 ^ 2 * n ^ 3
    assert.is_true(math.abs(inside / want - 1) < 0.05, inside .. " voxels, expected about " .. want)
    local a = t:totable()
    -- the ring lies in the y-z plane: (x=0, y=0.4, z=0) is inside, (x=0.4, y=0, z=0) is not
    assert.are.equal(1 / n, a[n / 2 + 1][math.floor((0.4 + 0.5) * n) + 1][n / 2 + 1])
    assert.are.equal(0, a[n / 2 + 1][n / 2 + 1][math.floor((0.4 + 0.5) * n) + 1])
  end)
end)

describe("render.volume bad input", function()
  local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
  it("names the kernel and the argument", function()
    assert.matches("render.volume.*density.*cubic", err(function() render.volume(ds.zeros{4, 4, 5}, {0}, {res = 4}) end))
    assert.matches("render.volume.*density", err(function() render.volume(ds.zeros{4, 4}, {0}, {res = 4}) end))
    local bad = ds.zeros{4, 4, 4}:totable()
    bad[2][3][4] = 0 / 0
    assert.matches("render.volume.*density.*non%-finite.*%[z=1%]%[y=2%]%[x=3%]",
      err(function() render.volume(ds.tensor(bad), {0}, {res = 4}) end))
    assert.matches("render.volume.*camera.*inside the volume", err(function() render.volume(ds.zeros{4, 4, 4}, {0}, {res = 4, radius = 0.3}) end))
    assert.matches("render.volume.*angles", err(function() render.volume(ds.zeros{4, 4, 4}, {0 / 0}, {res = 4}) end))
    assert.matches("render.volume.*mode", err(function() render.volume(ds.zeros{4, 4, 4}, {0}, {mode = "cubic"}) end))
    assert.matches("render.volume.*unknown option", err(function() render.volume(ds.zeros{4, 4, 4}, {0}, {resolution = 4}) end))
    assert.matches("render.volume.*dx", err(function() render.volume(ds.zeros{4, 4, 4}, {0}, {res = 4, dx = -1}) end))
  end)
end)
