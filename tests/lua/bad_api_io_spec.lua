-- Files: a missing path is never replaced by another file; missing,
-- unreadable and non-PNG sources and unwritable destinations are clear
-- errors; GIF frames must share one size. Probes that reach C run in a child.
local probe = require("probe")
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)

local function err_of(f)
  local ok, err = pcall(function() local r = f(); return r end)
  assert.is_false(ok, "expected an error")
  assert.matches("bad_api_io_spec.lua:%d+: ", tostring(err))
  return tostring(err)
end
local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

describe("read_png", function()
  it("never loads another file for a path that does not exist", function()
    -- taichi.png is a scene image; a path with a directory part is read as given
    local err = err_of(function() return ds.io.read_png(tmp .. "/taichi.png") end)
    assert.matches("ds.io.read_png: cannot read '" .. tmp .. "/taichi.png': No such file or directory", err, 1, true)
    err = err_of(function() return ds.io.read_png("no_such_dir/peace.png") end)
    assert.matches("cannot read 'no_such_dir/peace.png'", err, 1, true)
    err = err_of(function() return ds.io.read_png("not_a_scene_image.png") end)
    assert.matches("cannot read 'not_a_scene_image.png'", err, 1, true)
    -- a bare scene image name is not looked up elsewhere either (run from /tmp)
    local r = require("probe").run('package.path = ' .. string.format("%q", package.path) ..
      '; local ds = require("diffsim"); local ok, e = pcall(ds.io.read_png, "taichi.png"); print(ok, e)')
    assert.matches("false", r.output, 1, true)
    assert.matches("cannot read 'taichi.png'", r.output, 1, true)
  end)

  it("scene images by name: ds.io.scene_image", function()
    local p = ds.io.scene_image("taichi.png")
    assert.matches("scenes/images/taichi.png$", p)
    assert.are.equal(3, #ds.io.read_png(p):shape())
    assert.matches("ds.io.scene_image: no scene image 'nope.png'", err_of(function() return ds.io.scene_image("nope.png") end), 1, true)
    assert.matches("must be a bare file name", err_of(function() return ds.io.scene_image("../x.png") end), 1, true)
  end)

  it("non-PNG, empty, truncated files and directories (in a child process)", function()
    write(tmp .. "/text.png", "hello, not a png")
    write(tmp .. "/empty.png", "")
    local good = tmp .. "/good.png"
    ds.io.write_png(good, ds.rand({16, 16, 3}, 1))
    local f = assert(io.open(good, "rb"))
    local bytes = f:read("*a")
    f:close()
    write(tmp .. "/trunc.png", bytes:sub(1, 40))
    local pre = probe.prelude
    probe.fails_cleanly(pre .. "ds.io.read_png('" .. tmp .. "/text.png')", "is not a PNG file (no PNG signature)")
    probe.fails_cleanly(pre .. "ds.io.read_png('" .. tmp .. "/empty.png')", "is not a PNG file (it is empty)")
    probe.fails_cleanly(pre .. "ds.io.read_png('" .. tmp .. "/trunc.png')", "ds.io.read_png: png_read:")
    probe.fails_cleanly(pre .. "ds.io.read_png('" .. tmp .. "')", "it is a directory")
    probe.fails_cleanly(pre .. "ds.io.read_png(nil)", "ds.io.read_png: argument 'path' must be a non-empty string")
    probe.fails_cleanly(pre .. "ds.io.read_png(42)", "ds.io.read_png: argument 'path' must be a non-empty string")
  end)

  it("options: channel, step and size are checked", function()
    assert.matches("option 'channel' must be an integer from 1 to 4", err_of(function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {channel = 0}) end), 1, true)
    assert.matches("has 3 channels and no alpha", err_of(function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {channel = "alpha"}) end), 1, true)
    assert.matches("option 'step' must be", err_of(function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {step = 0}) end), 1, true)
    assert.matches("option 'size' must be a list {h, w}", err_of(function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {size = 64}) end), 1, true)
    assert.matches("option 'size[2]' must be", err_of(function() return ds.io.read_png(ds.io.scene_image("taichi.png"), {size = {64, -1}}) end), 1, true)
  end)
end)

describe("writers", function()
  local img = ds.rand({4, 5}, 2)

  it("unwritable destinations are errors before any work", function()
    for _, path in ipairs({"/proc/no/such/dir/a.png", tmp}) do
      assert.matches("ds.io.write_png: cannot write '" .. path .. "'", err_of(function() return ds.io.write_png(path, img) end), 1, true)
      assert.matches("ds.io.write_gif: cannot write", err_of(function() return ds.io.write_gif(path, {img}) end), 1, true)
      assert.matches("ds.io.write_csv: cannot write", err_of(function() return ds.io.write_csv(path, {"a"}, {{1}}) end), 1, true)
      assert.matches("ds.io.plot_png: cannot write", err_of(function() return ds.io.plot_png(path, {1, 2}) end), 1, true)
    end
    assert.matches("ds.io.write_png: argument 'path' must be a non-empty string", err_of(function() return ds.io.write_png(nil, img) end), 1, true)
  end)

  it("images: shape, dtype, freed tensors and the value mapping", function()
    local p = tmp .. "/w.png"
    assert.matches("argument 't' must have shape {h, w} or {h, w, c}", err_of(function() return ds.io.write_png(p, ds.zeros{4}) end), 1, true)
    assert.matches("argument 't' must have shape", err_of(function() return ds.io.write_png(p, ds.zeros{4, 4, 5}) end), 1, true)
    assert.matches("must be a real tensor, got an i32 tensor", err_of(function() return ds.io.write_png(p, ds.zeros({4, 4}, "i32")) end), 1, true)
    assert.matches("argument 't' must be a tensor", err_of(function() return ds.io.write_png(p, {{1}}) end), 1, true)
    local freed = ds.zeros{2, 2}
    freed:free()
    assert.matches("argument 't' has been freed", err_of(function() return ds.io.write_png(p, freed) end), 1, true)
    assert.matches("option 'range' must be a list {lo, hi}", err_of(function() return ds.io.write_png(p, img, {range = {1, 1}}) end), 1, true)
    assert.matches("option 'range' must be a list {lo, hi}", err_of(function() return ds.io.write_png(p, img, {range = {0, 0 / 0}}) end), 1, true)
    assert.matches("exclude each other", err_of(function() return ds.io.write_png(p, img, {auto = true, range = {0, 1}}) end), 1, true)
    assert.matches("option 'auto' needs finite values", err_of(function() return ds.io.write_png(p, ds.full({2, 2}, 0 / 0), {auto = true}) end), 1, true)
    -- NaN pixels without a mapping are written as 0 (documented), not an error
    ds.io.write_png(p, ds.full({2, 2}, 0 / 0))
    assert.are.equal(0, ds.io.read_png(p):tolist()[1])
  end)

  it("plot: NaN and Inf are left out (the line breaks), bad series and sizes are errors", function()
    local p = tmp .. "/p.png"
    ds.io.plot_png(p, {1, 0 / 0, 0.5, 1 / 0, 0.25}, {log = true, width = 200, height = 100})
    assert.are.same({100, 200, 3}, ds.io.read_png(p):shape())
    ds.io.plot_png(p, {0 / 0, 0 / 0}) -- nothing finite: axes only
    ds.io.plot_png(p, ds.tensor{3, 2, 1})
    assert.matches("ds.io.plot_png: series[2] must be a number, got '2'", err_of(function() return ds.io.plot_png(p, {1, "2"}) end), 1, true)
    assert.matches("series[2] must be a list of numbers", err_of(function() return ds.io.plot_png(p, {{1, 2}, "x"}) end), 1, true)
    assert.matches("argument 'series' is empty", err_of(function() return ds.io.plot_png(p, {}) end), 1, true)
    assert.matches("option 'width' must be an integer", err_of(function() return ds.io.plot_png(p, {1, 2}, {width = 10}) end), 1, true)
    assert.matches("option 'log' must be true or false", err_of(function() return ds.io.plot_png(p, {1, 2}, {log = "yes"}) end), 1, true)
  end)
end)
