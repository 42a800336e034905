-- Images, animations, tables and plots.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("io", function()
  it("PNG round trip keeps 8-bit values exactly", function()
    local img = ds.rand({7, 5, 3}, 1)
    local path = tmp .. "/rt.png"
    ds.io.write_png(path, img)
    local back = ds.io.read_png(path)
    assert.are.same({7, 5, 3}, back:shape())
    local a, b = img:tolist(), back:tolist()
    for i = 1, #a do assert.is_true(math.abs(a[i] - b[i]) <= 0.5 / 255 + 1e-12) end
  end)

  it("reads the scene images by name, one channel, resized", function()
    local t = ds.io.read_png(ds.io.scene_image("taichi.png"), {channel = 1, size = {64, 64}})
    assert.are.same({64, 64}, t:shape())
    local lo, hi = ds.io.range(t)
    assert.is_true(lo >= 0 and hi <= 1 and hi > lo)
    local peace = ds.io.read_png(ds.io.scene_image("peace.png"), {channel = "alpha", step = 2})
    assert.are.equal(2, #peace:shape())
  end)

  it("a missing file is a clear error", function()
    local ok, err = pcall(ds.io.read_png, "/nonexistent/none.png")
    assert.is_false(ok)
    assert.matches("ds.io.read_png: cannot read '/nonexistent/none.png'", err, 1, true)
  end)

  it("writes an animated GIF with one frame per tensor", function()
    local frames = {}
    for i = 1, 3 do frames[i] = ds.full({8, 10}, i / 3) end
    local path = tmp .. "/a.gif"
    ds.io.write_gif(path, frames, {delay = 5})
    local s = read_all(path)
    assert.are.equal("GIF89a", s:sub(1, 6))
    assert.are.equal(10, s:byte(7) + 256 * s:byte(8))
    local _, n = s:gsub("\x21\xF9\x04", "")
    assert.are.equal(3, n)
    assert.are.equal(";", s:sub(-1))
  end)

  it("CSV and plot", function()
    ds.io.write_csv(tmp .. "/l.csv", {"iter", "loss"}, {{1, 0.5}, {2, 0.25}})
    assert.are.equal("iter,loss\n1,0.5\n2,0.25\n", read_all(tmp .. "/l.csv"))
    ds.io.plot_png(tmp .. "/p.png", {1, 0.5, 0.1, 0.01}, {log = true, width = 200, height = 100})
    local p = ds.io.read_png(tmp .. "/p.png")
    assert.are.same({100, 200, 3}, p:shape())
    local lo = ds.io.range(p)
    assert.is_true(lo < 0.5) -- something was drawn on the white canvas
  end)
end)
