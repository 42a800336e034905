-- rigid2d boxes: a box dropped flat (restitution 0) lands and rests on the ground,
-- neither sinking nor bouncing (sequential corner impulses, the default); the
-- reference's simultaneous impulses sink it, which is why they are not the default.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 1}
local rigid2d = ds.plugin("rigid2d")

local HY = 0.02
local function drop(opts)
  local sys = rigid2d.boxes{bodies = {{x = {0.5, 0.2}, halfsize = {0.1, HY}}}, gravity = -9.8, damping = 0,
                            friction = 1, restitution = 0, ground_y = 0.1, dt = 1e-3, toi = opts.toi,
                            reference = opts.reference}
  return sys:rollout(2000):totable()
end

describe("rigid2d boxes: a box dropped flat", function()
  for _, toi in ipairs{true, false} do
    it("comes to rest on the ground without sinking or bouncing (" .. (toi and "TOI" or "naive") .. ")", function()
      local s = drop{toi = toi}
      local landed
      for t = 1, #s do
        local b = s[t][1]
        -- never below the ground by more than one step's fall, never moving up
        assert.is_true(b[2] - HY > 0.1 - 9.8 * 1e-3 * 0.2, "step " .. t .. ": bottom at " .. b[2] - HY)
        assert.is_true(b[5] <= 1e-9, "step " .. t .. ": bounced, vy = " .. b[5])
        if not landed and t > 1 and b[5] > s[t - 1][1][5] then landed = t end
      end
      assert.truthy(landed, "never landed")
      -- from a few steps after landing: still, level and on the ground
      local last = s[#s][1]
      assert.is_true(math.abs(last[5]) < 1e-9 and math.abs(last[4]) < 1e-9, "still moving: " .. last[4] .. ", " .. last[5])
      -- (the landing step's TOI shifts leave a tilt of ~5e-4 rad: level to 1e-2)
      assert.is_true(math.abs(last[3]) < 1e-2 and math.abs(last[6]) < 1e-9, "tilted: " .. last[3])
      local sink = 0.1 - (last[2] - HY)
      print(string.format("%s: landed at step %d, bottom %.3e below the ground after 2 s", toi and "TOI" or "naive",
        landed, sink))
      assert.is_true(sink < 1e-3, "sank " .. sink)
      -- and it stays there: the last second moves the box by less than 1e-7
      -- (the sweeps stop at a velocity change of 1e-10 per step)
      assert.is_true(math.abs(s[1001][1][2] - last[2]) < 1e-7, "drifts: " .. s[1001][1][2] - last[2])
    end)
  end
  it("sinks under reference = true (the reference's simultaneous corner impulses)", function()
    local s = drop{toi = true, reference = true}
    local sink = 0.1 - (s[#s][1][2] - HY)
    print(string.format("reference: bottom %.3e below the ground after 2 s", sink))
    assert.is_true(sink > 5e-3)
  end)
end)
