-- liquid: the 3D soft robot of diffmpm3d (block size 0.08: 15,150 neo-Hookean
-- particles, 16 actuators) coupled two-way with a 0.2 x 0.05 x 0.2 block of
-- weakly compressible fluid dropped on it (12,996 particles at random, mass 4,
-- stress (J - 1) E I, F reset to diag(sqrt J, sqrt J, 1)): 28,146 particles
-- (DiffTaichi examples/liquid.py). Same flags, loss (-mean_x of the solids) and
-- controller as scripts/diffmpm3d.lua; GD lr 10, 501 iterations by default.
--   diffsim scripts/liquid.lua [--iters 501] [--reference]
DIFFMPM3D_SPEC = {name = "liquid", lr = 10, iters = 501}
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "diffmpm3d.lua")
