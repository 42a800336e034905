-- GIF frames: one size and one dtype for all, real values, a valid delay;
-- anything else is an error naming ds.io.write_gif and the frame.
local probe = require("probe")
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)

local function err_of(f)
  local ok, err = pcall(function() local r = f(); return r end)
  assert.is_false(ok, "expected an error")
  assert.matches("bad_api_gif_spec.lua:%d+: ", tostring(err))
  return tostring(err)
end

describe("write_gif", function()
  local img = ds.rand({4, 5}, 2)
  it("GIF: frames of different sizes, i32 frames, bad delays", function()
    local g = tmp .. "/a.gif"
    local err = err_of(function() return ds.io.write_gif(g, {ds.zeros{2, 8}, ds.zeros{4, 4}}) end)
    assert.matches("ds.io.write_gif: frames[2] has shape {4, 4}, but frames[1] has {2, 8}", err, 1, true)
    err = err_of(function() return ds.io.write_gif(g, {ds.zeros{4, 4}, ds.zeros{4, 4, 3}}) end)
    assert.matches("frames[2] has shape {4, 4, 3}", err, 1, true)
    assert.matches("frames[1] must have shape {h, w} or {h, w, 3}", err_of(function() return ds.io.write_gif(g, {ds.zeros{4, 4, 2}}) end), 1, true)
    assert.matches("argument 'frames' must be a non-empty list", err_of(function() return ds.io.write_gif(g, {}) end), 1, true)
    assert.matches("frames[2] is not a tensor", err_of(function() return ds.io.write_gif(g, {img, 3}) end), 1, true)
    assert.matches("option 'delay' must be an integer", err_of(function() return ds.io.write_gif(g, {img}, {delay = 2.5}) end), 1, true)
    probe.fails_cleanly(probe.prelude .. "ds.io.write_gif('" .. g .. "', {ds.zeros({4, 4}, 'i32')})",
      "ds.io.write_gif: frames[1] must be a real tensor, got an i32 tensor")
    ds.io.write_gif(g, {img, img}, {delay = 3})
  end)

  it("equal frames make one image block each; RGB frames work", function()
    local g = tmp .. "/rgb.gif"
    ds.io.write_gif(g, {ds.rand({6, 7, 3}, 1), ds.rand({6, 7, 3}, 2)}, {auto = true})
    local f = assert(io.open(g, "rb"))
    local s = f:read("*a")
    f:close()
    assert.are.equal("GIF89a", s:sub(1, 6))
    local _, n = s:gsub("\x21\xF9\x04", "")
    assert.are.equal(2, n)
  end)
end)
