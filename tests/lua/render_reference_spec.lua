-- render.refract in the reference renderer's mode (DiffTaichi water_renderer.py,
-- render_refract): sample = (i, j) - 2 grad p, grad by central differences with
-- zero outside the grid, each coordinate clamped to [0, n-2], then bilinear
-- sampling of the bottom image. Checked pixel for pixel against that formula
-- written out here, and its adjoint against central differences in f64.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local render = ds.plugin("render")

-- The reference formula, per pixel, in plain Lua (small grids only).
local function reference_render(hrows, img, scale, dx)
  local h, w = #hrows, #hrows[1]
  local function P(i, j) return (i >= 1 and i <= h and j >= 1 and j <= w) and hrows[i][j] or 0 end
  local out = {}
  for i = 1, h do
    out[i] = {}
    for j = 1, w do
      local gx = 0.5 / dx * (P(i + 1, j) - P(i - 1, j))
      local gy = 0.5 / dx * (P(i, j + 1) - P(i, j - 1))
      local sx = (i - 1) - gx * scale
      local sy = (j - 1) - gy * scale
      sx = math.min(h - 2, math.max(0, sx))
      sy = math.min(w - 2, math.max(0, sy))
      local xi, yi = math.floor(sx), math.floor(sy)
      local fx, fy = sx - xi, sy - yi
      local I = function(a, b) return img[a + 1][b + 1] end
      out[i][j] = (1 - fx) * ((1 - fy) * I(xi, yi) + fy * I(xi, yi + 1)) +
                  fx * ((1 - fy) * I(xi + 1, yi) + fy * I(xi + 1, yi + 1))
    end
  end
  return out
end

local function rows(t)
  local s, l, r = t:shape(), t:tolist(), {}
  for i = 1, s[1] do
    r[i] = {}
    for j = 1, s[2] do r[i][j] = l[(i - 1) * s[2] + j] end
  end
  return r
end

describe("render.refract reference mode (clamp to [0, n-2])", function()
  it("matches the reference formula pixel for pixel (steep slopes reach every clamp)", function()
    local h, w = 10, 13
    local height = ds.randn({h, w}, 3, 1.5)
    local image = ds.rand({h, w}, 4)
    local got = rows(render.refract(height, image, {mode = "reference", scale = 2, dx = 1, boundary = "zero"}))
    local want = reference_render(rows(height), rows(image), 2, 1)
    local worst, clamped_hi = 0, 0
    for i = 1, h do
      for j = 1, w do worst = math.max(worst, math.abs(got[i][j] - want[i][j])) end
    end
    -- the case the clamp is about: samples past n-2 exist in this field
    local hr = rows(height)
    for i = 1, h do
      local up = i < h and hr[i + 1][1] or 0
      local dn = i > 1 and hr[i - 1][1] or 0
      if (i - 1) - (up - dn) > h - 2 then clamped_hi = clamped_hi + 1 end
    end
    assert.is_true(clamped_hi > 0, "no sample beyond n-2 in column 1")
    assert.is_true(worst < 1e-14, "max difference " .. worst)
  end)

  it("render.reference is that mode; a flat surface shows row/column n-2 in the last row/column", function()
    local h, w = 6, 7
    local image = ds.rand({h, w}, 5)
    local got = rows(render.refract(ds.zeros{h, w}, image, render.reference))
    local img = rows(image)
    for i = 1, h do
      for j = 1, w do
        local want = img[math.min(i, h - 1)][math.min(j, w - 1)]
        assert.are.equal(want, got[i][j])
      end
    end
    -- the linear mode (clamp to n-1) still renders a flat surface exactly
    local lin = rows(render.refract(ds.zeros{h, w}, image, {mode = "linear", scale = 2}))
    for i = 1, h do for j = 1, w do assert.are.equal(img[i][j], lin[i][j]) end end
  end)

  for _, nc in ipairs{0, 3} do
    it("adjoint matches central differences in f64 (channels " .. nc .. ")", function()
      local H, W = 9, 11
      local shape = nc > 0 and {H, W, nc} or {H, W}
      local ok, rep = ds.gradcheck_kernel("render.refract",
        {ds.randn({H, W}, 1, 0.4), ds.randn(shape, 2), ds.tensor(1.5), ds.tensor(1.33), ds.zeros(shape)},
        {mode = 2, dx = 1, boundary = 0}, {max_elems = 400, rtol = 1e-6, atol = 1e-8})
      assert(ok, rep.message)
      assert.is_true(rep.checked > 0)
    end)
  end

  it("the gradient of a sample clamped at n-2 is zero, as the reference's min/max give", function()
    -- a single bump near the last row pushes row n-2's sample past n-2
    local h, w = 8, 8
    local hr = {}
    for i = 1, h do hr[i] = {} for j = 1, w do hr[i][j] = 0 end end
    hr[h - 2][4] = 2 -- row h-1 (1-based) samples at (h-2) + 2 > n-2 in reference mode
    local height = ds.tensor(hr):requires_grad()
    local image = ds.rand({h, w}, 6)
    local wgt = ds.zeros{h, w}
    local wr = {}
    for i = 1, h do wr[i] = {} for j = 1, w do wr[i][j] = (i == h - 1 and j == 4) and 1 or 0 end end
    wgt = ds.tensor(wr)
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(render.refract(height, image, render.reference) * wgt) end)
    tape:backward(loss)
    local g = height.grad:tolist()
    -- only the y slope (through columns 3 and 5 of row h-1) may carry a gradient
    assert.are.equal(0, g[(h - 3) * w + 4]) -- the bump, row h-2: x slope of row h-1, clamped
    assert.are.equal(0, g[(h - 1) * w + 4]) -- row h
  end)
end)
