-- The picture writers on every supported frame shape and dtype, checked by
-- reading the files' headers back; bad input refused with the function and
-- argument named; VTK files parse; the progress bar is silent off a terminal.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)
local root = os.getenv("DIFFSIM_ROOT") or "."
local launcher = (os.getenv("DIFFSIM_LIB_DIR") or (root .. "/build")) .. "/diffsim"

local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local function u32be(s, i) return ((s:byte(i) * 256 + s:byte(i + 1)) * 256 + s:byte(i + 2)) * 256 + s:byte(i + 3) end
local function u16le(s, i) return s:byte(i) + 256 * s:byte(i + 1) end
local function png_size(p)
  local s = slurp(p)
  assert.are.equal("\137PNG\r\n\26\n", s:sub(1, 8))
  return u32be(s, 17), u32be(s, 21) -- IHDR width, height
end
local function count(s, pat)
  local n, i = 0, 1
  while true do
    local a, b = s:find(pat, i, true)
    if not a then return n end
    n, i = n + 1, b + 1
  end
end
local function err_of(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local SHAPES = {{6, 9}, {7, 5, 3}} -- grey and RGB, odd sizes on purpose
local function frames_of(shape, n)
  local out = {}
  for i = 1, n do out[i] = ds.full(shape, i / n) end
  return out
end

describe("write_gif (giflib)", function()
  for _, shape in ipairs(SHAPES) do
    for _, labelled in ipairs({false, true}) do
      it(string.format("{%s} frames%s", table.concat(shape, ", "), labelled and " with labels" or ""), function()
        local p = tmp .. "/a.gif"
        local labels = labelled and {"step 1", "step 2", "step 3"} or nil
        ds.io.write_gif(p, frames_of(shape, 3), {delay = 7, labels = labels})
        local s = slurp(p)
        assert.are.equal("GIF89a", s:sub(1, 6))
        assert.are.equal(shape[2], u16le(s, 7))
        assert.are.equal(shape[1], u16le(s, 9))
        assert.are.equal(1, count(s, "NETSCAPE2.0"))
        -- one graphic control block per frame, each with the delay 7 cs
        assert.are.equal(3, count(s, "\33\249\4\4\7\0"))
        if #shape == 2 then -- a global grey ramp: every entry has r = g = b
          assert.are.equal(0x80, bit.band(s:byte(11), 0x80))
          for i = 0, 255 do
            local r, g, b = s:byte(14 + 3 * i, 16 + 3 * i)
            assert.is_true(r == g and g == b and r == i)
          end
        end
      end)
    end
  end
  it("refuses i32 frames, mismatched sizes, bad labels and unwritable paths", function()
    local g = tmp .. "/b.gif"
    assert.matches("ds.io.write_gif: frames[1] must be a real tensor, got an i32 tensor",
      err_of(function() ds.io.write_gif(g, {ds.zeros({4, 4}, "i32")}) end), 1, true)
    assert.matches("frames[2] has shape {4, 5}, but frames[1] has {4, 4}",
      err_of(function() ds.io.write_gif(g, {ds.zeros{4, 4}, ds.zeros{4, 5}}) end), 1, true)
    assert.matches("option 'labels' must be a list of 2 strings",
      err_of(function() ds.io.write_gif(g, {ds.zeros{4, 4}, ds.zeros{4, 4}}, {labels = {"a"}}) end), 1, true)
    assert.matches("labels[1] must be a string",
      err_of(function() ds.io.write_gif(g, {ds.zeros{4, 4}}, {labels = {7}}) end), 1, true)
    assert.matches("ds.io.write_gif: cannot write '/nonexistent_dir/x.gif'",
      err_of(function() ds.io.write_gif("/nonexistent_dir/x.gif", {ds.zeros{4, 4}}) end), 1, true)
  end)
  it("never writes into the caller's frames when labelling", function()
    local f = ds.full({20, 40}, 0.5)
    ds.io.write_gif(tmp .. "/c.gif", {f}, {labels = {"step 1"}})
    local a, b = ds.io.range(f)
    assert.are.equal(0.5, a)
    assert.are.equal(0.5, b)
  end)
end)

describe("write_mp4 (FFmpeg)", function()
  local codec = ds.io.mp4_codec()
  it("has an encoder", function() assert.is_true(codec == "libx264" or codec == "mpeg4") end)
  for _, shape in ipairs(SHAPES) do
    it(string.format("{%s} frames, labelled", table.concat(shape, ", ")), function()
      local p = tmp .. "/a.mp4"
      os.remove(p)
      ds.io.write_mp4(p, frames_of(shape, 5), {fps = 10, labels = {"1", "2", "3", "4", "5"}})
      local s = slurp(p)
      assert.are.equal("ftyp", s:sub(5, 8))
      assert.is_true(s:find("moov", 1, true) ~= nil)
      if codec == "libx264" then assert.is_true(s:find("avc1", 1, true) ~= nil) end
    end)
  end
  it("refuses bad frames, fps and paths", function()
    local m = tmp .. "/b.mp4"
    assert.matches("ds.io.write_mp4: frames[1] must be a real tensor, got an i32 tensor",
      err_of(function() ds.io.write_mp4(m, {ds.zeros({4, 4}, "i32")}) end), 1, true)
    assert.matches("ds.io.write_mp4: frames[1] must have shape {h, w} or {h, w, 3}",
      err_of(function() ds.io.write_mp4(m, {ds.zeros{4, 4, 2}}) end), 1, true)
    assert.matches("frames[2] has shape {4, 4, 3}, but frames[1] has {4, 4}",
      err_of(function() ds.io.write_mp4(m, {ds.zeros{4, 4}, ds.zeros{4, 4, 3}}) end), 1, true)
    assert.matches("option 'fps' must be an integer from 1 to 240",
      err_of(function() ds.io.write_mp4(m, {ds.zeros{4, 4}}, {fps = 0}) end), 1, true)
    assert.matches("unknown option 'delay'",
      err_of(function() ds.io.write_mp4(m, {ds.zeros{4, 4}}, {delay = 3}) end), 1, true)
    assert.matches("ds.io.write_mp4: cannot write '/nonexistent_dir/x.mp4'",
      err_of(function() ds.io.write_mp4("/nonexistent_dir/x.mp4", {ds.zeros{4, 4}}) end), 1, true)
  end)
end)

describe("plots (PLplot)", function()
  it("line plots in PNG and SVG with every option", function()
    local p = tmp .. "/l.png"
    ds.io.plot_png(p, {{3, 2, 1}, {x = {1, 2, 3}, y = {1, 0 / 0, 4}}}, {title = "t", xlabel = "x (s)",
      ylabel = "y (m)", labels = {"a", "b"}, log = true, logx = true, grid = false, width = 321, height = 123,
      legend = "bottom-left"})
    local w, h = png_size(p)
    assert.are.equal(321, w)
    assert.are.equal(123, h)
    ds.io.plot(tmp .. "/l.svg", ds.tensor{1, 2, 3}, {title = "svg"})
    local s = slurp(tmp .. "/l.svg")
    assert.is_true(s:find("<svg", 1, true) ~= nil)
    ds.io.plot(tmp .. "/l2.png", {1, 2}, {x = {10, 20}})
    assert.are.equal(640, (png_size(tmp .. "/l2.png")))
  end)
  it("refuses unknown options and bad series", function()
    local p = tmp .. "/e.png"
    assert.matches("ds.io.plot_png: unknown option 'colour'",
      err_of(function() ds.io.plot_png(p, {1, 2}, {colour = "red"}) end), 1, true)
    assert.matches("ds.io.plot_png: option 'labels' must be a list of 2 strings",
      err_of(function() ds.io.plot_png(p, {{1}, {2}}, {labels = {"a"}}) end), 1, true)
    assert.matches("ds.io.plot_png: option 'title' must be a string",
      err_of(function() ds.io.plot_png(p, {1, 2}, {title = 3}) end), 1, true)
    assert.matches("series[1] has 2 y values and 3 x values",
      err_of(function() ds.io.plot_png(p, {1, 2}, {x = {1, 2, 3}}) end), 1, true)
    assert.matches("ds.io.plot: argument 'path' must end in .png or .svg",
      err_of(function() ds.io.plot(tmp .. "/a.jpg", {1, 2}) end), 1, true)
    assert.matches("option 'legend' must be one of",
      err_of(function() ds.io.plot_png(p, {1, 2}, {legend = "middle"}) end), 1, true)
    assert.matches("ds.io.plot_png: argument 'series' is empty",
      err_of(function() ds.io.plot_png(p, {}) end), 1, true)
    assert.matches("ds.io.plot_png: cannot write '/nonexistent_dir/a.png'",
      err_of(function() ds.io.plot_png("/nonexistent_dir/a.png", {1, 2}) end), 1, true)
  end)
  it("field plots: signed (diverging) and sequential, with and without a colour bar", function()
    local f = ds.randn({12, 20}, 3)
    ds.io.field_png(tmp .. "/f.png", f, {symmetric = true, title = "v", label = "v (m/s)"})
    assert.are.equal(560, (png_size(tmp .. "/f.png")))
    ds.io.field_png(tmp .. "/g.png", f, {range = {-1, 1}, cmap = "grey", colorbar = false, width = 200, height = 150})
    local w, h = png_size(tmp .. "/g.png")
    assert.are.same({200, 150}, {w, h})
    ds.io.plot_field(tmp .. "/f.svg", f)
    assert.is_true(slurp(tmp .. "/f.svg"):find("<svg", 1, true) ~= nil)
    assert.matches("ds.io.field_png: argument 't' must have shape {h, w}, got {2, 3, 4}",
      err_of(function() ds.io.field_png(tmp .. "/x.png", ds.zeros{2, 3, 4}) end), 1, true)
    assert.matches("ds.io.field_png: argument 't' must be a real tensor, got an i32 tensor",
      err_of(function() ds.io.field_png(tmp .. "/x.png", ds.zeros({2, 3}, "i32")) end), 1, true)
    assert.matches("options 'range', 'auto' and 'symmetric' exclude each other",
      err_of(function() ds.io.field_png(tmp .. "/x.png", f, {symmetric = true, range = {0, 1}}) end), 1, true)
    assert.matches("option 'cmap' must be one of",
      err_of(function() ds.io.field_png(tmp .. "/x.png", f, {cmap = "jet"}) end), 1, true)
    assert.matches("holds no finite range",
      err_of(function() ds.io.field_png(tmp .. "/x.png", ds.full({2, 2}, 0 / 0)) end), 1, true)
  end)
  it("draws text into grey and RGB images and keeps grey grey", function()
    local g = ds.full({30, 120}, 0.5)
    ds.io.draw_text(g, "step 3")
    local lo, hi = ds.io.range(g)
    assert.is_true(hi > 0.9 and lo < 0.4) -- white text on a dark band
    local c = ds.full({30, 120, 3}, 0.5)
    ds.io.draw_text(c, "t = 0.1 s", {color = {1, 0, 0}, size = 12})
    assert.matches("ds.io.draw_text: argument 'img' must be a real tensor {h, w} or {h, w, 3}",
      err_of(function() ds.io.draw_text(ds.zeros{3, 3, 2}, "x") end), 1, true)
  end)
end)

describe("write_vtk", function()
  it("points with springs and point data (.vtp)", function()
    local p = tmp .. "/n.vtp"
    ds.io.write_vtk(p, {points = ds.randn({5, 2}, 1), lines = ds.tensor({{0, 1}, {3, 4}}, "i32"),
      point_data = {v = ds.randn({5, 2}, 2), m = ds.ones{5}}})
    local s = slurp(p)
    assert.is_true(s:find('<VTKFile type="PolyData"', 1, true) ~= nil)
    assert.is_true(s:find('NumberOfPoints="5" NumberOfVerts="5" NumberOfLines="2"', 1, true) ~= nil)
    local pts = s:match('Name="points" NumberOfComponents="3" format="ascii">\n(.-)\n</DataArray>')
    local n = 0
    for _ in pts:gmatch("%S+") do n = n + 1 end
    assert.are.equal(15, n)
    assert.is_true(s:find('Name="v" NumberOfComponents="3"', 1, true) ~= nil) -- 2D vectors padded to 3
    assert.is_true(s:find('Name="m" NumberOfComponents="1"', 1, true) ~= nil)
  end)
  it("grids (.vti) and a series (.pvd)", function()
    local files = ds.io.write_vtk_series(tmp .. "/s.pvd", {{grid = ds.zeros{3, 4}}, {grid = ds.ones{2, 3, 4}}},
      {times = {0, 0.5}})
    assert.are.same({"s_0000.vti", "s_0001.vti"}, files)
    local a = slurp(tmp .. "/s_0000.vti")
    assert.is_true(a:find('WholeExtent="0 3 0 2 0 0"', 1, true) ~= nil)
    local b = slurp(tmp .. "/s_0001.vti")
    assert.is_true(b:find('WholeExtent="0 3 0 2 0 1"', 1, true) ~= nil)
    local pvd = slurp(tmp .. "/s.pvd")
    assert.is_true(pvd:find('timestep="0.5" group="" part="0" file="s_0001.vti"', 1, true) ~= nil)
  end)
  it("refuses bad data", function()
    assert.matches("ds.io.write_vtk: points data is written as .vtp",
      err_of(function() ds.io.write_vtk(tmp .. "/a.vti", {points = ds.zeros{2, 2}}) end), 1, true)
    assert.matches("data.points must have shape {n, 2} or {n, 3}",
      err_of(function() ds.io.write_vtk(tmp .. "/a.vtp", {points = ds.zeros{2, 4}}) end), 1, true)
    assert.matches("data.lines holds index 9",
      err_of(function() ds.io.write_vtk(tmp .. "/a.vtp", {points = ds.zeros{2, 2}, lines = ds.tensor({{0, 9}}, "i32")}) end),
      1, true)
    assert.matches("point_data.v has shape {3}",
      err_of(function() ds.io.write_vtk(tmp .. "/a.vtp", {points = ds.zeros{2, 2}, point_data = {v = ds.zeros{3}}}) end),
      1, true)
    assert.matches("needs exactly one of 'points'",
      err_of(function() ds.io.write_vtk(tmp .. "/a.vtp", {}) end), 1, true)
    assert.matches("ds.io.write_vtk_series: argument 'path' must end in .pvd",
      err_of(function() ds.io.write_vtk_series(tmp .. "/a.vtp", {{grid = ds.zeros{2, 2}}}) end), 1, true)
    assert.matches("cannot write '/nonexistent_dir/a.vti'",
      err_of(function() ds.io.write_vtk("/nonexistent_dir/a.vti", {grid = ds.zeros{2, 2}}) end), 1, true)
  end)
end)

describe("progress", function()
  it("is silent when the output is not a terminal, and its line has rate, ETA and loss", function()
    local bar = ds.progress.new(10, "job")
    assert.is_false(bar.on) -- ctest and busted pipe the output
    bar:update(3, 0.25)
    bar:done()
    local line = bar:line(3, 0.25, bar.t0 + 1.5)
    assert.matches("job %[#+%.+%] 3/10  2%.0 it/s  ETA 00:04  loss 0%.25", line)
    assert.matches("progress:update: argument 'extra' must be a number",
      err_of(function() bar:update(1, {}) end), 1, true)
  end)
  it("a script piped to a file prints no bar", function()
    local o = tmp .. "/ms"
    local p = io.popen("cd '" .. root .. "' && '" .. launcher .. "' scripts/mass_spring_simple.lua --iters 2 --out '" ..
      o .. "' 2>&1")
    local out = p:read("*a")
    p:close()
    assert.is_true(out:find("iter 2 loss", 1, true) ~= nil)
    assert.is_nil(out:find("ETA", 1, true))
    assert.is_nil(out:find("\r", 1, true))
  end)
end)
