-- ds.save / ds.load and resumable state in a float64 context (cases: save_cases.lua).
-- The cases run in this spec's environment, where busted put describe and it.
local cases = require("save_cases")
setfenv(cases, getfenv(1))
cases("f64")
