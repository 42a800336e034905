-- render plugin, bad input: non-finite or huge heights never reach an integer
-- cell index (a NaN cast to an index is undefined behaviour; the ASan + UBSan
-- build reports it), and bad options are refused by name. Each probe runs in a
-- child process so a crash is a failed test.
local probe = require("probe")

local pre = probe.prelude .. 'local render = ds.plugin("render")\n' ..
  'local function field(v) local r = {} ' ..
  'for i = 1, 8 do r[i] = {} for j = 1, 8 do r[i][j] = 0 end end r[4][5] = v; return ds.tensor(r) end\n' ..
  'local img = ds.rand({8, 8, 3}, 1)\n'

describe("render.refract: non-finite heights are an error naming the argument", function()
  for _, v in ipairs{"0/0", "math.huge", "-math.huge"} do
    for _, mode in ipairs{"snell", "linear", "reference"} do
      it(v .. " in " .. mode .. " mode", function()
        probe.fails_cleanly(pre .. ("render.refract(field(%s), img, {mode = '%s'})"):format(v, mode),
          "render.refract: argument 'height' (#1) holds a non-finite value")
      end)
    end
  end
  it("in float32 too", function()
    probe.fails_cleanly(pre:gsub('"f64"', '"f32"') .. "render.refract(field(0/0), img)",
      "render.refract: argument 'height' (#1)")
  end)
end)

describe("render.refract: huge finite heights render (slopes clamped), never crash", function()
  for _, v in ipairs{"1e200", "-1e200", "1e308", "3e38"} do
    for _, mode in ipairs{"snell", "linear", "reference"} do
      it(v .. " in " .. mode .. " mode, forward and backward", function()
        local r = probe.run(pre .. ([[
local hr = field(%s):tolist()
hr[1] = -1e308 -- with a huge value nearby, a slope difference overflows to infinity
local h = ds.reshape(ds.tensor(hr), {8, 8}):requires_grad()
for _, ior in ipairs{1.33, 1} do
  local tape = ds.tape()
  local loss = tape:record(function() return ds.sum(render.refract(h, img, {mode = '%s', ior = ior})) end)
  tape:backward(loss)
  local l = loss:item()
  assert(l == l and math.abs(l) < 1e300, "loss " .. l)
  for _, x in ipairs(h.grad:tolist()) do assert(x == x and math.abs(x) < math.huge, "grad " .. x) end
end
print("fine")]]):format(v, mode))
        assert(not r.crashed, r.output)
        assert(r.ok and r.output:find("fine", 1, true), r.output)
      end)
    end
  end
end)

describe("render.refract: bad options", function()
  it("an unknown mode names the choices", function()
    probe.fails_cleanly(pre .. "render.refract(field(0), img, {mode = 'fancy'})", "'snell', 'linear' or 'reference'")
  end)
  for _, dx in ipairs{"0", "-1", "0/0", "math.huge", "'x'"} do
    it("dx = " .. dx, function()
      probe.fails_cleanly(pre .. ("render.refract(field(0), img, {dx = %s})"):format(dx), "render.refract: dx")
    end)
  end
  it("a denormal dx (0.5/dx overflows) is refused by the kernel", function()
    probe.fails_cleanly(pre .. "ds.kernel('render.refract'):launch({field(0), img, ds.tensor(2), ds.tensor(1.33), " ..
      "ds.zeros{8, 8, 3}}, {mode = 2, dx = 1e-310, boundary = 0})", "param 'dx'")
  end)
  it("an unknown kernel mode is refused", function()
    probe.fails_cleanly(pre .. "ds.kernel('render.refract'):launch({field(0), img, ds.tensor(2), ds.tensor(1.33), " ..
      "ds.zeros{8, 8, 3}}, {mode = 3, dx = 1, boundary = 0})", "param 'mode'")
  end)
end)
