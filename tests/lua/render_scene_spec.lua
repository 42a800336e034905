-- The water-renderer scene, small: recover a hidden initial surface from the
-- picture seen through it after a wave rollout. The loss must fall.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local wave = ds.plugin("wave")
local render = ds.plugin("render")

local function scene(reference, iters, n, steps)
  local p = wave.params{n = n}
  local view_opts = reference and {mode = "linear", scale = 2, dx = p.dx}
    or {mode = "snell", depth = 12, dx = p.dx}
  local background = render.load_image(ds.io.scene_image("peace.png"), n, n)
  local h_true = ds.no_grad(function() return wave.target_image(n) * 0.008 end)
  local function view(h0)
    return render.refract(wave.rollout(h0, p, {steps = steps, reference = reference}), background, view_opts)
  end
  local target = ds.no_grad(view, h_true)
  local h0 = ds.zeros{n, n}:requires_grad()
  local o = ds.optim.adam({h0}, {lr = reference and 2e-5 or 2e-4})
  local first, last
  for _ = 1, iters do
    o:zero_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.mean(ds.square(view(h0) - target)) end)
    tape:backward(loss)
    first, last = first or loss:item(), loss:item()
    o:step()
  end
  return first, last
end

describe("water renderer scene", function()
  it("Snell view, 96^2, 96 levels: the image loss falls >= 3x in 40 iterations", function()
    local first, last = scene(false, 40, 96, 96)
    assert.is_true(first > 0)
    assert.is_true(first / last >= 3, string.format("loss %.4g -> %.4g", first, last))
  end)
  it("reference renderer and start: the loss falls", function()
    local first, last = scene(true, 20, 96, 96)
    assert.is_true(first > 0)
    assert.is_true(last < 0.7 * first, string.format("loss %.4g -> %.4g", first, last))
  end)
end)
