-- The water-surface refraction renderer: adjoint checks in f64, exact
-- background for a flat surface, the geometry of Snell's law, a 20-step wave
-- rollout rendered end to end, and bad input.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local render = ds.plugin("render")
local wave = ds.plugin("wave")
local K = ds.kernel("render.refract")

local H, W = 9, 11
local errs = {}
describe("render.refract adjoint (f64 central differences)", function()
  for _, mode in ipairs{0, 1} do
    for _, bc in ipairs{0, 1} do
      for _, nc in ipairs{0, 3} do
        it(string.format("mode=%d boundary=%d channels=%d", mode, bc, nc), function()
          local shape = nc > 0 and {H, W, nc} or {H, W}
          local height = ds.randn({H, W}, 1, 0.4)
          local image = ds.randn(shape, 2)
          -- linear: d = -a s; snell: depth 6 px; dx = 1 so slopes are O(0.3). The
          -- depth/scale a and the index ior are 0-dim inputs: checked like the fields.
          local a = mode == 0 and 1.5 or 6
          local ok, rep = ds.gradcheck_kernel("render.refract",
            {height, image, ds.tensor(a), ds.tensor(1.33), ds.zeros(shape)}, {mode = mode, dx = 1, boundary = bc},
            {max_elems = 400, rtol = 1e-6, atol = 1e-8})
          assert(ok, rep.message)
          errs[#errs + 1] = rep.max_rel_err
        end)
      end
    end
  end
end)

describe("render.refract: gradients of the depth/scale and the index", function()
  for _, mode in ipairs{"snell", "linear"} do
    it(mode .. ": d loss/d a and d loss/d ior by f64 central differences, alone and through a rollout", function()
      local n = 12
      local p = wave.params{n = n}
      local image = ds.randn({n, n, 3}, 17)
      local u0 = ds.randn({n, n}, 18, 0.002)
      local weights = ds.randn({n, n, 3}, 19)
      local a, ior = ds.tensor(mode == "snell" and 5 or 1.5), ds.tensor(1.4)
      local wrt = mode == "snell" and {a, ior} or {a}
      local ok, rep = ds.gradcheck(function(aa, ii)
        local uT = wave.rollout(u0, p, {steps = 12})
        local seen = render.refract(uT, image, {mode = mode, depth = aa, scale = aa, ior = ii or ior, dx = p.dx})
        return ds.dot(seen, weights)
      end, wrt, {rtol = 1e-6, atol = 1e-9})
      assert(ok, rep.message)
      errs[#errs + 1] = rep.max_rel_err
      print(string.format("fd render.refract %s wrt a%s max_rel_err %.3g", mode, mode == "snell" and ",ior" or "",
        rep.max_rel_err))
    end)
  end
  it("the small-slope limit: a flat surface has d loss/d ior = 0 and d loss/d depth = 0", function()
    local depth, ior = ds.tensor(8):requires_grad(), ds.tensor(1.33):requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      return ds.sum(render.refract(ds.zeros{6, 6}, ds.randn({6, 6}, 3), {depth = depth, ior = ior}))
    end)
    tape:backward(loss)
    assert.are.equal(0, depth.grad:item())
    assert.are.equal(0, ior.grad:item())
  end)
  it("bad values of a and ior are refused in the forward, naming the argument", function()
    local ok, err = pcall(render.refract, ds.zeros{8, 8}, ds.zeros{8, 8}, {ior = ds.tensor(0.9)})
    assert.is_false(ok)
    assert.matches("render.refract: argument 'ior' (refractive index of the water) must be >= 1, got 0.9", err, 1, true)
    ok, err = pcall(render.refract, ds.zeros{8, 8}, ds.zeros{8, 8}, {depth = ds.tensor(-2)})
    assert.is_false(ok)
    assert.matches("render.refract: argument 'a' (water depth in pixels) must be >= 0", err, 1, true)
    ok, err = pcall(render.refract, ds.zeros{8, 8}, ds.zeros{8, 8}, {depth = ds.zeros{2}})
    assert.is_false(ok)
    assert.matches("argument 'a' (#3) has 1 dims", err, 1, true)
  end)
end)

describe("render.refract physics", function()
  it("a flat surface renders the background exactly (any mode, boundary, level)", function()
    local image = ds.rand({32, 40, 3}, 3)
    local want = image:tolist()
    -- (render.reference clamps samples to [0, n-2] like the reference renderer, so its
    -- last row and column repeat the ones before: render_reference_spec checks it)
    for _, o in ipairs{{mode = "snell"}, {mode = "linear"}, {mode = "linear", scale = 2, boundary = "zero"},
                       {mode = "snell", boundary = "reflect"}} do
      for _, level in ipairs{0, 0.37} do
        -- a raised flat surface is flat only if the walls reflect
        if level == 0 or o.boundary == "reflect" then
          local got = render.refract(ds.full({32, 40}, level), image, o):tolist()
          for i = 1, #want do
            if got[i] ~= want[i] then error(string.format("pixel value %d differs: %.17g vs %.17g", i, got[i], want[i])) end
          end
        end
      end
    end
  end)

  it("linear mode: a tilted plane shifts the picture by -scale x slope pixels", function()
    local n = 16
    local rows = {}
    for i = 1, n do rows[i] = {} for j = 1, n do rows[i][j] = -0.5 * (i - 1) end end
    local image = ds.rand({n, n}, 4)
    local out = render.refract(ds.tensor(rows), image, {mode = "linear", scale = 2, dx = 1, boundary = "zero"}):totable()
    local img = image:totable()
    -- away from the zero walls, whose outside cells make the edges slope too
    for i = 2, n - 2 do for j = 2, n - 1 do assert.are.equal(img[i + 1][j], out[i][j]) end end
  end)

  it("snell mode: the sample point follows the refracted ray to the bottom", function()
    -- on a ramp image img[i, j] = i the rendered value minus i is the displacement
    local n, depth, ior, dx = 24, 10, 1.33, 1
    local ramp = {}
    for i = 1, n do ramp[i] = {} for j = 1, n do ramp[i][j] = i - 1 end end
    for _, slope in ipairs{0.05, 0.4, 1.5} do
      local hrows = {}
      for i = 1, n do hrows[i] = {} for j = 1, n do hrows[i][j] = slope * (i - 1) * dx end end
      local out = render.refract(ds.tensor(hrows), ds.tensor(ramp), {mode = "snell", depth = depth, ior = ior, dx = dx}):totable()
      -- Snell in vector form: incident (0, 0, -1), normal (-s, 0, 1)/|.|
      local nl = math.sqrt(1 + slope * slope)
      local nx, nz = -slope / nl, 1 / nl
      local eta = 1 / ior
      local cosi = nz
      local cost = math.sqrt(1 - eta * eta * (1 - cosi * cosi))
      local tx = (eta * cosi - cost) * nx
      local tz = -eta + (eta * cosi - cost) * nz
      local expect = depth * tx / (-tz)
      local got = out[12][12] - 11
      assert.is_true(expect > 0) -- toward the uphill side
      assert.is_true(math.abs(got - expect) < 1e-9 * math.max(1, expect),
        string.format("slope %g: displacement %.12g, Snell says %.12g", slope, got, expect))
    end
  end)

  it("gradient of a 20-step wave rollout seen through the surface (f64)", function()
    local n = 12
    local p = wave.params{n = n}
    local image = ds.randn({n, n, 3}, 7)
    local u0 = ds.randn({n, n}, 8, 0.002)
    local weights = ds.randn({n, n, 3}, 9)
    local ok, rep = ds.gradcheck(function(u, img)
      local uT = wave.rollout(u, p, {steps = 20})
      local seen = render.refract(uT, img, {mode = "snell", depth = 4, dx = p.dx})
      return ds.dot(seen, weights)
    end, {u0, image}, {max_elems = 60})
    assert(ok, rep.message)
  end)
end)

describe("render: bad input", function()
  it("an image of another size than the grid is a clear error", function()
    local ok, err = pcall(render.refract, ds.zeros{64, 64}, ds.zeros{32, 64, 3})
    assert.is_false(ok)
    assert.matches("render.refract", err, 1, true)
    assert.matches("'image'", err, 1, true)
    assert.matches("32x64", err, 1, true)
    ok, err = pcall(render.refract, ds.zeros{64, 64}, ds.zeros{64})
    assert.is_false(ok)
    assert.matches("'image'", err, 1, true)
    ok, err = pcall(K.launch, K, {height = ds.zeros{8, 8}, image = ds.zeros{8, 8, 3}, a = 4, ior = 1.33,
                                  out = ds.zeros{8, 8, 4}}, {mode = 1, dx = 1, boundary = 0})
    assert.is_false(ok)
    assert.matches("'out'", err, 1, true)
  end)
  it("bad params are refused by name", function()
    -- {mode, a, ior, dx, boundary}, and the word the message must name
    for _, case in ipairs{{{3, 4, 1.33, 1, 0}, "mode"}, {{1, 4, 0.5, 1, 0}, "ior"}, {{1, 4, 1.33, 0, 0}, "dx"},
                          {{1, 4, 1.33, 1, 7}, "boundary"}, {{1, -1, 1.33, 1, 0}, "depth"}} do
      local v = case[1]
      local ok, err = pcall(K.launch, K, {height = ds.zeros{8, 8}, image = ds.zeros{8, 8}, a = v[2], ior = v[3],
                                          out = ds.zeros{8, 8}}, {mode = v[1], dx = v[4], boundary = v[5]})
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
    end
    assert.has_error(function() render.refract(ds.zeros{8, 8}, ds.zeros{8, 8}, {mode = "mirror"}) end)
  end)
  it("a missing image file is a clear error naming the file", function()
    local ok, err = pcall(render.load_image, "missing_background.png", 16, 16)
    assert.is_false(ok)
    assert.matches("missing_background.png", err, 1, true)
  end)
  it("images load as {h, w, 3} on the grid (RGBA over white, grey repeated)", function()
    local img = render.load_image(ds.io.scene_image("peace.png"), 64, 64)
    assert.are.same({64, 64, 3}, img:shape())
    local lo, hi = ds.io.range(img)
    assert.is_true(lo >= 0 and hi <= 1 and hi > lo)
    assert.are.same({64, 64, 3}, render.load_image(ds.io.scene_image("taichi.png"), 64, 64):shape())
  end)
end)

describe("render: FD report", function()
  it("prints the worst relative error of the kernel checks", function()
    local worst = 0
    for _, e in ipairs(errs) do worst = math.max(worst, e) end
    print(string.format("fd render.refract (all kernel and param checks) max_rel_err %.3g", worst))
    assert.is_true(#errs > 0)
  end)
end)
