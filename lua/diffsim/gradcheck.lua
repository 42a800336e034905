-- Finite-difference gradient checks.
--
--   local ok, report = ds.gradcheck(fn, {x, y}, {eps = 1e-6, rtol = 1e-5, atol = 1e-8, max_elems = 64})
--
-- fn(x, y) returns a scalar tensor. Analytic gradients come from one recorded
-- backward pass; numeric ones from central differences on every element (or an
-- evenly spaced subset of max_elems per input). Run it with precision f64.
local ffi = require("ffi")

return function(ds)
  local C = ds.C

  local GRADCHECK_OPTS = {"eps", "rtol", "atol", "max_elems"}
  local function defaults(opts, fn)
    ds.check_options(fn, opts, GRADCHECK_OPTS)
    opts = opts or {}
    for _, k in ipairs(GRADCHECK_OPTS) do
      local v = opts[k]
      if v ~= nil and (type(v) ~= "number" or not (v > 0) or v == math.huge) then
        error(fn .. ": option '" .. k .. "' must be a positive number, got " .. tostring(v), 3)
      end
    end
    local f64 = ds.precision == "f64"
    return {
      eps = opts.eps or (f64 and 1e-6 or 1e-2),
      rtol = opts.rtol or (f64 and 1e-5 or 5e-2),
      atol = opts.atol or (f64 and 1e-8 or 1e-3),
      max_elems = opts.max_elems or 64,
    }
  end

  local function scalar_of(fn, inputs, what)
    local y = fn(unpack(inputs))
    if not ds.is_tensor(y) or y:numel() ~= 1 then
      error("ds.gradcheck: " .. what .. " must return a scalar tensor", 3)
    end
    return y:item()
  end

  -- Every kernel checked in float64 is written to $DIFFSIM_GRADCHECK_LOG (set
  -- per spec by ctest), so a guard test can fail when a plugin kernel with an
  -- adjoint has no float64 check anywhere in the suite.
  local log_path, log_file, logged = os.getenv("DIFFSIM_GRADCHECK_LOG"), nil, {}
  local function log_checked(name)
    if not log_path or log_path == "" or ds.precision ~= "f64" or logged[name] then return end
    logged[name] = true
    log_file = log_file or io.open(log_path, "w")
    if log_file then log_file:write(name, "\n"); log_file:flush() end
  end

  function ds.gradcheck(fn, inputs, opts)
    local o = defaults(opts, "ds.gradcheck")
    if type(fn) ~= "function" or type(inputs) ~= "table" then
      error("ds.gradcheck: expected (fn, {tensors...}, opts)", 2)
    end
    for i, x in ipairs(inputs) do
      if not ds.is_tensor(x) then error("ds.gradcheck: input " .. i .. " is not a tensor", 2) end
      x:requires_grad()
      x:zero_grad()
    end
    local tape = ds.tape()
    local loss = tape:record(fn, unpack(inputs))
    local recorded = tape:kernel_names() -- before backward, which may release the records
    if not ds.is_tensor(loss) or loss:numel() ~= 1 then error("ds.gradcheck: fn must return a scalar tensor", 2) end
    tape:backward(loss)
    local report = {checked = 0, max_abs_err = 0, max_rel_err = 0, failures = 0}
    for i, x in ipairs(inputs) do
      local n = x:numel()
      local g = x.grad
      local step = math.max(1, math.floor(n / o.max_elems))
      for e = 0, n - 1, step do
        local v = C.ds_tensor_get(x.p, e)
        C.ds_tensor_set(x.p, e, v + o.eps)
        local fp = ds.no_grad(scalar_of, fn, inputs, "fn")
        C.ds_tensor_set(x.p, e, v - o.eps)
        local fm = ds.no_grad(scalar_of, fn, inputs, "fn")
        C.ds_tensor_set(x.p, e, v)
        local num = (fp - fm) / (2 * o.eps)
        local ana = g and C.ds_tensor_get(g.p, e) or 0
        local abs = math.abs(ana - num)
        local rel = abs / math.max(math.abs(num), math.abs(ana), 1e-300)
        report.checked = report.checked + 1
        if abs > report.max_abs_err then report.max_abs_err = abs end
        if abs > o.atol and rel > report.max_rel_err then report.max_rel_err = rel end
        if abs > o.atol + o.rtol * math.abs(num) then
          report.failures = report.failures + 1
          if not report.worst or abs > report.worst.abs then
            report.worst = {input = i, index = e + 1, analytic = ana, numeric = num, abs = abs}
          end
        end
      end
    end
    report.ok = report.failures == 0
    if report.ok then
      for _, name in ipairs(recorded) do log_checked(name) end
    end
    if not report.ok then
      local w = report.worst
      report.message = string.format("gradcheck failed on %d of %d elements; worst: input %d element %d analytic %.10g numeric %.10g",
        report.failures, report.checked, w.input, w.index, w.analytic, w.numeric)
    end
    return report.ok, report
  end

  -- Checks one kernel's adjoint against central differences of its forward:
  -- loss = sum_j <w_j, out_j> with fixed random weights w_j on every output.
  -- args: the kernel's tensors (outputs may be anything of the right shape);
  -- acc outputs are reset to their initial values before every forward.
  -- Arguments (named, or positional with list slots as tables) as the flat
  -- list the kernel sees, with the declared slot of each entry.
  local function flatten_args(k, args)
    local flat, slot = {}, {}
    local named = not (args[1] ~= nil or next(args) == nil)
    local single_flat = not named and k.list and k.first_list == k.nargs and
                        (#args ~= k.nargs or ds.is_tensor(args[k.nargs]))
    local function add(a, i)
      if type(a) == "number" then a = ds.tensor(a) end -- a plain number for a 0-dim input
      flat[#flat + 1], slot[#flat + 1] = a, i
    end
    if single_flat then
      for i = 1, #args do add(args[i], math.min(i, k.nargs)) end
      return flat, slot
    end
    for i, s in ipairs(k.slots) do
      local a = named and args[s] or args[i]
      if i >= k.first_list then
        for j = 1, #(a or {}) do add(a[j], i) end
      elseif a ~= nil then
        add(a, i)
      end
    end
    return flat, slot
  end

  function ds.gradcheck_kernel(name, args, params, opts)
    defaults(opts, "ds.gradcheck_kernel")
    if type(args) ~= "table" then error("ds.gradcheck_kernel: args must be a table of tensors", 2) end
    local k = ds.kernel(name)
    local slot
    args, slot = flatten_args(k, args)
    local weights, inputs, init = {}, {}, {}
    for i = 1, #args do
      local role = C.ds_kernel_arg_role(k.ptr, slot[i] - 1)
      if not ds.is_tensor(args[i]) then
        -- a plain number for a 0-dim input: nothing to differentiate
      elseif (role == 2 or role == 3) and args[i]:dtype_name() == "i32" then
        -- integer outputs (counts, indices) carry no gradient: leave them alone
      elseif role == 2 or role == 3 then
        weights[i] = ds.randn(args[i]:shape(), 1000 + i)
        if role == 3 then init[i] = args[i]:detach() end
      elseif role == 0 then
        inputs[#inputs + 1] = args[i]
      end
    end
    local function f()
      local fresh = {}
      for i = 1, #args do
        if weights[i] then
          fresh[i] = init[i] and init[i]:detach() or ds.empty_like(args[i])
        else
          fresh[i] = args[i]
        end
      end
      k:launch_flat(fresh, params)
      local total
      for i = 1, #args do
        if weights[i] then
          local d = ds.dot(fresh[i], weights[i])
          total = total and total + d or d
        end
      end
      return total
    end
    local ok, rep = ds.gradcheck(function() return f() end, inputs, opts)
    if ok then log_checked(name) end
    return ok, rep
  end
end
