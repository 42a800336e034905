-- Plugin Lua helpers that take indices or counts (springs.row / select / frames /
-- rollout / render, springs.system's fixed and head, smoke.rollout / checker /
-- fit_velocity / jacobi, wave.rollout / target_image, render.load_image) refuse
-- 0, negative, non-integer, NaN, too-large and non-number values with a message
-- naming the function, the argument and the valid range. Each probe runs in a
-- child process, so one that crashes (a row index past the buffer used to read
-- out of bounds) is a failed test, not a dead suite.
local probe = require("probe")

local springs_pre = probe.prelude .. [[
local springs = ds.plugin("springs")
local sys = springs.system{x = {{0.1, 0.2}, {0.2, 0.2}, {0.15, 0.3}}, springs = {{1, 2}, {2, 3}, {3, 1}},
  ground = "none", dt = 1e-3}
local xs = sys:rollout(4)
]]

local function cases(pre, list)
  for _, c in ipairs(list) do
    it(c[1], function() probe.fails_cleanly(pre .. c[1], c[2]) end)
  end
end

describe("springs helpers refuse bad indices by name and range", function()
  cases(springs_pre, {
    {"springs.row(xs, 0)", "springs.row: t (row index, 1-based) must be an integer in [1, 5] (or -5..-1 from the end), got 0"},
    {"springs.row(xs, 1e7)", "springs.row: t (row index, 1-based) must be an integer in [1, 5]"},
    {"springs.row(xs, 6)", "springs.row: t (row index, 1-based) must be an integer in [1, 5]"},
    {"springs.row(xs, -6)", "springs.row: t (row index, 1-based) must be an integer in [1, 5]"},
    {"springs.row(xs, 1.5)", "got 1.5"},
    {"springs.row(xs, 0/0)", "springs.row: t (row index, 1-based)"},
    {"springs.row(xs, math.huge)", "springs.row: t (row index, 1-based)"},
    {"springs.row(xs, '2')", "springs.row: t (row index, 1-based)"},
    {"springs.row(xs)", "springs.row: t (row index, 1-based)"},
    {"springs.row(nil, 1)", "springs.row: xs must be a tensor"},
    {"springs.select(xs, 0, 1, 1)", "springs.select: t (step index, 1-based) must be an integer in [1, 5]"},
    {"springs.select(xs, 1, 4, 1)", "springs.select: i (mass index, 1-based) must be an integer in [1, 3], got 4"},
    {"springs.select(xs, 1, 1, 3)", "springs.select: d (coordinate, 1-based) must be an integer in [1, 2], got 3"},
    {"springs.select(xs, 1, -1, 1)", "springs.select: i (mass index, 1-based)"},
    {"springs.select(xs, 1e7, 1, 1)", "springs.select: t (step index, 1-based)"},
    {"springs.select(xs, 1, 1, 1, 'x')", "springs.select: scale must be a number"},
    {"sys:rollout(-1)", "springs.rollout: T (steps) must be an integer"},
    {"sys:rollout(2.5)", "springs.rollout: T (steps) must be an integer"},
    {"sys:rollout(0/0)", "springs.rollout: T (steps)"},
    {"sys:frames(xs, nil, {every = 0})", "springs.frames: every must be an integer"},
    {"sys:render(springs.row(xs, 1), nil, {width = 0})", "springs.render: width must be an integer"},
    {"sys:render(springs.row(xs, 1), nil, {height = 1e9})", "springs.render: height must be an integer"},
    {"springs.system{x = {{0, 0}, {1, 0}}, fixed = {3}}", "springs.system: fixed[1] (mass index, 1-based) must be an integer in [1, 2], got 3"},
    {"springs.system{x = {{0, 0}, {1, 0}}, fixed = {0}}", "springs.system: fixed[1]"},
    {"springs.system{x = {{0, 0}, {1, 0}}, fixed = {1.5}}", "springs.system: fixed[1]"},
    {"springs.system{x = {{0, 0}, {1, 0}}, head = 5}", "springs.system: head (mass index, 1-based) must be an integer in [1, 2]"},
    {"springs.system{x = {{0, 0}, {1, 0}}, springs = {{1, 3}}}", "springs"},
    {"springs.system{x = {{0, 0}, {1, 0}}, springs = {{0, 1}}}", "springs"},
  })
  it("valid indices still work, negative ones count from the end", function()
    local r = probe.run(springs_pre .. [[
assert(springs.row(xs, -1):shape()[1] == 3 and springs.row(xs, 5):shape()[2] == 2)
assert(springs.select(xs, -1, 3, 2):item() == springs.row(xs, 5):tolist()[6])
print("fine")]])
    assert(r.ok and r.output:find("fine", 1, true), r.output)
  end)
end)

local smoke_pre = probe.prelude .. 'local smoke = ds.plugin("smoke")\nlocal z = ds.zeros{8, 8}\n'
describe("smoke helpers refuse bad counts by name and range", function()
  cases(smoke_pre, {
    {"smoke.rollout({v = {z, z}, s = z}, -1)", "smoke.rollout: steps must be an integer in [0, 2147483647], got -1"},
    {"smoke.rollout({v = {z, z}, s = z}, 1.5)", "smoke.rollout: steps must be an integer"},
    {"smoke.rollout({v = {z, z}, s = z}, 0/0)", "smoke.rollout: steps"},
    {"smoke.rollout({v = {z, z}, s = z}, 1e12)", "smoke.rollout: steps"},
    {"smoke.checker({8, 8}, 0)", "smoke.checker: period (cells) must be an integer in [1,"},
    {"smoke.checker({8, 8}, 2.5)", "smoke.checker: period (cells)"},
    {"smoke.jacobi(z, z, {iters = 0})", "smoke.jacobi: iters must be an integer >= 1, got 0"},
    {"smoke.fit_velocity{init = z, target = z, steps = 0, iters = 1, lr = 1}", "smoke.fit_velocity: steps must be an integer in [1,"},
    {"smoke.fit_velocity{init = z, target = z, steps = 2, iters = -1, lr = 1}", "smoke.fit_velocity: iters must be an integer"},
    {"smoke.fit_velocity{init = z, target = z, steps = 2, iters = 1, lr = 1, checkpoint = 0.5}", "smoke.fit_velocity: checkpoint"},
    {"smoke.fit_velocity{target = z, steps = 2, iters = 1}", "smoke.fit_velocity: expected"},
  })
end)

local wave_pre = probe.prelude .. 'local wave = ds.plugin("wave")\nlocal p = wave.params{n = 8}\nlocal z = ds.zeros{8, 8}\n'
describe("wave helpers refuse bad counts by name and range", function()
  cases(wave_pre, {
    {"wave.rollout(z, p, {steps = 1})", "wave.rollout: steps must be an integer in [2, 2147483647]"},
    {"wave.rollout(z, p, {steps = 2.5})", "wave.rollout: steps must be an integer"},
    {"wave.rollout(z, p, {steps = 0/0})", "wave.rollout: steps"},
    {"wave.rollout(z, p, {steps = 1e12})", "wave.rollout: steps"},
    {"wave.rollout(z, p, {steps = 'x'})", "wave.rollout: steps"},
    {"wave.rollout(z, p, {steps = 4, checkpoint = -1})", "wave.rollout: checkpoint must be an integer >= 0"},
    {"wave.rollout(z, p, {steps = 4, src_steps = 0/0})", "wave.rollout: src_steps"},
    {"wave.target_image(0)", "wave.target_image: n must be an integer in [1, 65536], got 0"},
    {"wave.target_image(8, nil, 5)", "wave.target_image: channel must be an integer in [1, 4] or 'alpha', got 5"},
    {"wave.target_image(8, nil, 0)", "wave.target_image: channel"},
  })
end)

local render_pre = probe.prelude .. 'local render = ds.plugin("render")\n'
describe("render helpers refuse bad sizes and channels by name and range", function()
  cases(render_pre, {
    {"render.load_image('peace.png', 0, 8)", "render.load_image: h must be an integer in [1, 65536], got 0"},
    {"render.load_image('peace.png', 8, -3)", "render.load_image: w must be an integer in [1, 65536], got -3"},
    {"render.load_image('peace.png', 8.5, 8)", "render.load_image: h must be an integer"},
    {"render.load_image('peace.png', 1e9, 8)", "render.load_image: h must be an integer"},
    {"render.load_image('peace.png', 8, 8, 0)", "render.load_image: channel must be an integer in [1, 4] or 'alpha', got 0"},
    {"render.load_image('peace.png', 8, 8, 5)", "render.load_image: channel"},
    {"render.load_image(nil, 8, 8)", "render.load_image: path must be a string"},
  })
end)
