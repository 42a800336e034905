-- mass_spring_simple: three masses, three springs; optimise the rest lengths so
-- that the triangle's area after 1023 steps is 0.1.
--
--   diffsim scripts/mass_spring_simple.lua [--reference] [--iters 25] [--lr 5] [--out out/mass_spring_simple]
--
-- Both modes: x0 = (0.3, 0.5), (0.3, 0.4), (0.4, 0.4); springs 1-2, 2-3, 3-1 with
-- rest lengths 0.1, 0.1, 0.1 sqrt 2 (the variables); k = 10, m = 1, velocity
-- damping exp(-20 dt), dt = 1e-3, 1023 steps, no gravity; a wall at x = 0.4 with
-- friction 0.01; loss (|1/2 cross(x1 - x2, x1 - x3)| - 0.1)^2; plain GD, lr 5.
--   --reference  the reference semantics: a mass moving out through the wall has
--                its x velocity zeroed, but its position is still advanced with the
--                velocity from before that projection (so it passes the wall).
--   default      the physically sensible wall: the position moves with the
--                projected velocity, so masses stay behind the wall.
-- Prints `iter n loss l`, then `result rest_lengths l1 l2 l3` and `result loss_final l`.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "mass_spring_simple", script = "scripts/mass_spring_simple.lua", iters = 25,
                                out = "out/mass_spring_simple", precision = "f64", flags = {lr = 5, steps = 1023},
                                checks = {lr = {gt = 0, help = "GD learning rate"},
                                          steps = {int = true, ge = 1, le = 1e7, help = "time steps of 1e-3 s per rollout"}}})
local springs = ds.plugin("springs")

local sys = springs.system{
  x = {{0.3, 0.5}, {0.3, 0.4}, {0.4, 0.4}},
  springs = {{1, 2, rest = 0.1}, {2, 3, rest = 0.1}, {3, 1, rest = 0.1 * math.sqrt(2)}},
  stiffness = 10, mass = 1, dt = 1e-3, damping = 20, gravity = 0, ground = "none",
  wall = {hi = 0.4, friction = 0.01, reference = opt.reference},
}
local rest = sys.rest:requires_grad()
local T = opt.steps
local sel = springs.select

-- loss from the final state: the triangle's area against 0.1
local function loss_of(xs)
  local function c(i, d) return sel(xs, -1, i, d) end
  local ax, ay = c(1, 1) - c(2, 1), c(1, 2) - c(2, 2)
  local bx, by = c(1, 1) - c(3, 1), c(1, 2) - c(3, 2)
  local area = ds.abs((ax * by - ay * bx) * 0.5)
  return ds.square(area - 0.1)
end

local gd = ds.optim.gd({rest}, {lr = opt.lr})
local losses = {}
local tape = ds.tape()
local bar = ds.progress.new(opt.iters, "mass_spring_simple")
for it = 1, opt.iters do
  gd:zero_grad()
  local loss = tape:record(function() return loss_of(sys:rollout(T)) end)
  tape:backward(loss)
  losses[it] = loss:item()
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
  gd:step()
end
bar:done()
local final = ds.no_grad(function() return loss_of(sys:rollout(T)) end):item()
cli.write_losses(ds, opt.out, losses, {title = "mass_spring_simple", ylabel = "(area - 0.1)^2"})
cli.result("rest_lengths", unpack(rest:tolist()))
cli.result("loss_final", final)
if final ~= final then os.exit(1) end
