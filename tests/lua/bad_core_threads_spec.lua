-- A thread count the runtime cannot honour is an error; a context never has 0 threads.
local probe = require("probe")

describe("bad thread counts", function()
  local init = 'local ds = require("diffsim")\n'
  local cases = {
    {init .. "ds.init{threads = 5000}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024, got 5000"},
    {init .. "ds.init{threads = -1}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024, got -1"},
    {init .. "ds.init{threads = 0/0}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024, got nan"},
    {init .. "ds.init{threads = 1.5}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024, got 1.5"},
    {init .. "ds.init{threads = '2'}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024, got 2"},
    {probe.prelude .. "ds.set_threads(5000)", "ds.set_threads: threads must be 0 (all cores) or an integer in 1..1024"},
    {probe.prelude .. "ds.set_threads(-3)", "ds.set_threads: threads must be 0 (all cores) or an integer in 1..1024"},
    {probe.prelude .. "ds.set_threads(0/0)", "ds.set_threads: threads must be 0 (all cores) or an integer in 1..1024"},
    {probe.prelude .. "ds.set_threads(1e10)", "ds.set_threads: threads must be 0 (all cores) or an integer in 1..1024"},
    {probe.prelude .. "ds.set_threads(nil)", "ds.set_threads: threads must be 0 (all cores) or an integer in 1..1024"},
    {probe.prelude .. "ds.init{threads = 5000}", "ds.init: threads must be 0 (all cores) or an integer in 1..1024"},
    {"os.getenv = function(k) if k == 'DIFFSIM_THREADS' then return '5000' end end\n" .. init .. "ds.init{}",
     "ds.init: DIFFSIM_THREADS must be 0 (all cores) or an integer in 1..1024, got 5000"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() probe.fails_cleanly(c[1], c[2]) end)
  end
  it("a refused count leaves the context's threads as they were; 0 means all cores", function()
    local r = probe.run(probe.prelude .. [[
      assert(ds.threads() == 2)
      pcall(ds.set_threads, 5000)
      assert(ds.threads() == 2, ds.threads())
      ds.set_threads(0)
      assert(ds.threads() >= 1)
      ds.plugin("smoke")
      local x = ds.sum(ds.ones{4, 4} * 2)
      assert(x:item() == 32)
      print("fine")]])
    assert.is_true(r.ok, r.output)
  end)
end)
