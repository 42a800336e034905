-- Benchmark of the core solvers through ds.solve: 2D Poisson (5 points,
-- Dirichlet) on N x N grids.
--
--   diffsim scripts/bench/solve.lua [--threads T] [--precision f32|f64] [--reps R] [--sizes 64,256,512]
--                                   [--methods cholmod,umfpack,cg] [--cg-max 512]
--
-- One line per case and method:
--   cholmod/umfpack: factor_ms  = first solve with new values (triplets -> CSR, symbolic
--                                 analysis, numeric factorization, one solve) minus solve_ms
--                    solve_ms   = a solve whose factorization is cached
--                    adjoint_ms = tape:backward of dot(x, w): one transposed solve reusing the factor
--                    ratio      = adjoint_ms / (factor_ms + solve_ms), the adjoint against its forward
--   cg:              forward_ms, adjoint_ms (one CG solve each, tol 1e-6 f32 / 1e-10 f64), ratio
-- Timings are the best of --reps on a shared machine.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "bench_solve", script = "scripts/bench/solve.lua", iters = 0,
  out = "out/bench_solve", flags = {reps = 3, sizes = "64,256,512", cg_max = 512, methods = "cholmod,umfpack,cg"},
  checks = {reps = {help = "timed repetitions per case (the best is reported)"},
            sizes = {help = "Poisson grid sizes, comma-separated (cells per side)"},
            cg_max = {help = "largest size CG is timed at (cells per side)"},
            methods = {help = "solvers to time, comma-separated (cholmod, umfpack, cg)"}}})

require("scripts.bench.poisson_solves")(ds, opt)
