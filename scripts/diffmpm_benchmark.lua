-- diffmpm_benchmark: the 80 x 80 = 6400-particle variant of diffmpm_simple
-- (particles at dx (0.5 i + 10, 0.5 j + 25)); same flags, loss and optimiser.
--   diffsim scripts/diffmpm_benchmark.lua [--iters 30] [--reference]
DIFFMPM_SPEC = {name = "diffmpm_benchmark", side = 80, spacing = 0.5}
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "diffmpm_simple.lua")
