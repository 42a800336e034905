-- Plugins' Lua front ends, bad input: a misspelt option name (in a scene
-- table, a nested ground/wall/body table, a spring entry, or a call's options)
-- is an error naming the function and the option, never silently the default.
local ds = require("diffsim")
ds.init({precision = "f64"})

local refuses = require("refuses")

describe("springs: unknown option names are errors", function()
  local springs = ds.plugin("springs")
  local scene = {x = {{0.1, 0.2}, {0.2, 0.2}}, springs = {{1, 2}}}
  local function with(extra)
    local s = {}
    for k, v in pairs(scene) do s[k] = v end
    for k, v in pairs(extra) do s[k] = v end
    return s
  end
  local sys = springs.system(scene)
  it("in the scene", function()
    refuses(function() springs.system(with{gravty = -9.8}) end, "springs.system", "unknown option 'gravty'")
  end)
  it("in ground and wall", function()
    refuses(function() springs.system(with{ground = {mode = "toi", frction = 0.5}}) end, "springs.system: ground",
            "'frction'")
    refuses(function() springs.system(with{wall = {hi = 0.5, lo = 0, frict = 1}}) end, "springs.system: wall", "'frict'")
  end)
  it("in a spring entry", function()
    refuses(function() springs.system(with{springs = {{1, 2, stiffnes = 3}}}) end, "springs.system: spring 1",
            "unknown field 'stiffnes'")
    refuses(function() springs.system(with{springs = {5}}) end, "springs.system", "spring 1 must be a table")
  end)
  it("in rollout, nn_rollout, controller, render, set_physics", function()
    refuses(function() sys:rollout(3, {acts = ds.zeros{1, 1}}) end, "springs rollout", "'acts'")
    refuses(function() sys:controller{hiden = 8} end, "springs controller", "'hiden'")
    local net = sys:controller{hidden = 4}
    refuses(function() sys:nn_rollout(3, net, {gaol = {0.9, 0.2}}) end, "springs nn_rollout", "'gaol'")
    refuses(function() sys:render(sys.x0, nil, {widht = 8}) end, "springs render", "'widht'")
    refuses(function() sys:set_physics{damp = 1} end, "springs set_physics", "'damp'")
  end)
end)

describe("rigid2d: unknown option names are errors", function()
  local rigid2d = ds.plugin("rigid2d")
  it("discs scene and rollout", function()
    refuses(function() rigid2d.discs{x = {{0.5, 0.5}}, radus = 0.1} end, "rigid2d.discs", "'radus'")
    local d = rigid2d.discs{x = {{0.5, 0.5}}}
    refuses(function() d:rollout(2, {v = ds.zeros{1, 2}}) end, "rigid2d discs:rollout", "'v'")
  end)
  it("boxes scene, body, spring, rollout, controller, nn_rollout", function()
    local bodies = {{x = {0.3, 0.3}, halfsize = {0.05, 0.02}}, {x = {0.5, 0.3}, halfsize = {0.05, 0.02}}}
    refuses(function() rigid2d.boxes{bodies = bodies, frction = 1} end, "rigid2d.boxes", "'frction'")
    refuses(function() rigid2d.boxes{bodies = {{x = {0.3, 0.3}, halfsize = {0.05, 0.02}, angle = 1}}} end,
            "rigid2d.boxes: body 1", "'angle'")
    refuses(function() rigid2d.boxes{bodies = bodies, springs = {{1, 2, stiffness = 1}}} end,
            "rigid2d.boxes: spring 1", "'stiffness'")
    local b = rigid2d.boxes{bodies = bodies, springs = {{1, 2, k = 10}}}
    refuses(function() b:rollout(2, {state = b.state0}) end, "rigid2d boxes:rollout", "'state'")
    refuses(function() b:controller{hiden = 4} end, "rigid2d boxes:controller", "'hiden'")
    local net = b:controller{hidden = 4}
    refuses(function() b:nn_rollout(2, net, {gaol = {1, 1}}) end, "rigid2d boxes:nn_rollout", "'gaol'")
  end)
end)

describe("smoke: unknown option names are errors in every function", function()
  local smoke = ds.plugin("smoke")
  local a, b = ds.zeros{8, 8}, ds.zeros{8, 8}
  it("building blocks", function()
    refuses(function() smoke.advect(a, a, b, {bcs = "wall"}) end, "smoke.advect", "'bcs'")
    refuses(function() smoke.project(a, b, {iter = 3}) end, "smoke.project", "'iter'")
    refuses(function() smoke.divergence(a, b, {H = 1}) end, "smoke.divergence", "'H'")
    refuses(function() smoke.jacobi(a, b, {iter = 3}) end, "smoke.jacobi", "'iter'")
    refuses(function() smoke.force({a, b}, a, nil, {bouyancy = {0, 1}}) end, "smoke.force", "'bouyancy'")
  end)
  it("step, rollout and fit_velocity", function()
    refuses(function() smoke.step({v = {a, b}, s = a}, {solvr = "cg"}) end, "smoke.step", "'solvr'")
    refuses(function() smoke.rollout({v = {a, b}, s = a}, 2, {frame = {}}) end, "smoke.rollout", "'frame'")
    refuses(function() smoke.fit_velocity{init = a, target = b, steps = 2, iters = 1, lr = 1, step = 3} end,
            "smoke.fit_velocity", "'step'")
  end)
  it("an options table with a metatable is refused, not half-read", function()
    refuses(function() smoke.rollout({v = {a, b}, s = a}, 2, setmetatable({}, {__index = {iters = 3}})) end,
            "smoke.rollout", "options must be a table of named options")
  end)
end)

describe("wave and render: unknown option names are errors", function()
  local wave = ds.plugin("wave")
  local render = ds.plugin("render")
  it("wave.params and wave.rollout", function()
    refuses(function() wave.params{n = 16, damping = 1} end, "wave.params", "'damping'")
    local p = wave.params{n = 16}
    refuses(function() wave.rollout(ds.zeros{16, 16}, p, {step = 4}) end, "wave.rollout", "'step'")
  end)
  it("wave.rollout: a checkpoint without the tape while recording", function()
    local p = wave.params{n = 16}
    local u0 = ds.zeros{16, 16}:requires_grad()
    local tape = ds.tape()
    refuses(function() tape:record(function() return wave.rollout(u0, p, {steps = 8, checkpoint = 2}) end) end,
            "wave.rollout", "needs tape")
  end)
  it("render.refract and render.torus", function()
    refuses(function() render.refract(ds.zeros{8, 8}, ds.zeros{8, 8, 3}, {iors = 1.3}) end, "render.refract", "'iors'")
    refuses(function() render.torus(8, {r3 = 1}) end, "render.torus", "'r3'")
  end)
end)
