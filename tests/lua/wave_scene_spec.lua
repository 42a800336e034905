-- The reference wave scene at full size (256^2, 254 updates): plain gradient
-- descent on the initial height must lower the loss at least tenfold in 200
-- iterations. float32, as the script runs by default (about 5-10 s on 2 cores).
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local wave = ds.plugin("wave")

describe("wave scene", function()
  it("256^2 x 254 updates: the loss falls >= 10x in 200 GD iterations (at-rest start)", function()
    local n = 256
    local p = wave.params{n = n}
    local target = wave.target_image(n)
    local u0 = ds.zeros{n, n}:requires_grad()
    local gd = ds.optim.gd({u0}, {lr = 0.5 / (p.dx * p.dx)})
    local first, last
    for it = 1, 200 do
      gd:zero_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        return wave.l2_loss(wave.rollout(u0, p, {steps = 256}), target, p.dx)
      end)
      tape:backward(loss)
      first, last = first or loss:item(), loss:item()
      gd:step()
    end
    assert.is_true(first > 0.2 and first < 0.3, "initial loss " .. first) -- sum dx^2 target^2
    assert.is_true(first / last >= 10, string.format("loss %.4g -> %.4g (%.1fx)", first, last, first / last))
  end)

  it("the target is taichi.png's first BGR channel / 255 minus its mean, 256^2", function()
    local t = wave.target_image(256)
    assert.are.same({256, 256}, t:shape())
    assert.is_true(math.abs(ds.mean(t):item()) < 1e-3)
  end)

  it("a missing image file is a clear error naming the file", function()
    local ok, err = pcall(wave.target_image, 64, "no_such_image.png")
    assert.is_false(ok)
    assert.matches("no_such_image.png", err, 1, true)
  end)
end)
