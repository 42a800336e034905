-- Optimizers over lists of tensors that require grad.
--   local opt = ds.optim.adam(params, {lr = 1e-2})
--   opt:zero_grad(); local loss = tape:record(f); tape:backward(loss); opt:step()
--   ds.optim.lbfgs(params, {...}):step(closure)   -- closure: zero_grad, record, backward, return loss
-- The arithmetic runs in C (ds_axpy, ds_adam_step, ...), never element by element in Lua,
-- on the parameters' device: state buffers are made with zeros_like/detach, so
-- they live beside their parameter, and a failed update raises (e.g. an op not
-- implemented on that device yet, or a grad on another device).
--
-- Options are checked: an unknown name or a bad value is an error naming the
-- optimizer and the option (docs/lua-api.md, "Options"). Parameters must be a
-- non-empty list of distinct real leaf tensors; a leaf that does not require
-- grad yet is marked (t:requires_grad()) by the constructor.
--   gd    {lr = 1e-2, normalize = false, clip = nil}
--   sgd   {lr = 1e-2, momentum = 0, weight_decay = 0}   weight decay coupled (L2): g + wd p
--   adam  {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0}
--         weight decay decoupled (AdamW): p -= lr wd p before the Adam update
--   adamw the same as adam with weight_decay = 1e-2 by default
--   lbfgs {lr = 1, history = 10, max_iter = 20, tol_grad = 1e-10, tol_change = 1e-14, c1 = 1e-4, max_ls = 25}
return function(ds)
  local C = ds.C
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local optim = {}

  local function check_params(params, who)
    if ds.is_tensor(params) then
      raise(who .. ": argument 'params' must be a list of tensors, got a tensor (wrap it: {t})")
    end
    if type(params) ~= "table" or getmetatable(params) ~= nil then
      raise(who .. ": argument 'params' must be a non-empty list of tensors, got " .. O.describe(params))
    end
    local n = #params
    if n == 0 then raise(who .. ": argument 'params' is an empty list: nothing to optimise") end
    for k in pairs(params) do
      if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
        raise(who .. ": argument 'params' must be a list (keys 1.." .. n .. "), got key " .. O.describe(k))
      end
    end
    local seen = {}
    for i = 1, n do
      local p = params[i]
      if not ds.is_tensor(p) then
        raise(string.format("%s: params[%d] is not a tensor (got %s)", who, i, O.describe(p)))
      end
      if p.ptr == nil then raise(string.format("%s: params[%d] has been freed", who, i)) end
      if p:dtype_name() ~= "real" then
        raise(string.format("%s: params[%d] is an %s tensor; parameters must be real", who, i, p:dtype_name()))
      end
      if p:needs_grad() and not p:is_leaf() then
        raise(string.format("%s: params[%d] is not a leaf tensor (an operation on the tape made it); " ..
          "optimise the tensor it was computed from", who, i))
      end
      if seen[p] then
        raise(string.format("%s: params[%d] is the same tensor as params[%d]", who, i, seen[p]))
      end
      seen[p] = i
    end
    for i = 1, n do params[i]:requires_grad() end
    local copy = {}
    for i = 1, n do copy[i] = params[i] end
    return copy
  end

  local function number(x, who)
    if type(x) == "number" then return x end
    if ds.is_tensor(x) and x.ptr ~= nil and x:numel() == 1 then return x:item() end
    raise(who .. ": the closure must return the loss (a number or a one-element tensor), got " .. O.describe(x))
  end

  local function check_self(self, cls, who)
    if getmetatable(self) ~= cls then raise(who .. ": call it as a method (opt:" .. who:match("[^:]+$") .. "(...))") end
    for i, p in ipairs(self.params) do
      if p.ptr == nil then raise(string.format("%s: parameter %d has been freed", who, i)) end
    end
  end

  -- The options every optimizer checks in its constructor and again in step
  -- (a schedule may set opt.lr between steps).
  local function positive(who, name, v) return O.number(who, name, v, nil, {gt = 0}) end

  local Base = {}
  Base.__index = Base
  function Base:zero_grad()
    if type(self) ~= "table" or type(self.params) ~= "table" then
      raise("optimizer:zero_grad: call it as a method (opt:zero_grad())")
    end
    for i, p in ipairs(self.params) do
      if p.ptr == nil then raise(string.format("optimizer:zero_grad: parameter %d has been freed", i)) end
      p:zero_grad()
    end
  end
  -- Global gradient norm over all parameters (missing grads count as zero).
  function Base:grad_norm()
    if type(self) ~= "table" or type(self.params) ~= "table" then
      raise("optimizer:grad_norm: call it as a method (opt:grad_norm())")
    end
    local s = 0
    for i, p in ipairs(self.params) do
      if p.ptr == nil then raise(string.format("optimizer:grad_norm: parameter %d has been freed", i)) end
      local g = p.grad
      if g then s = s + C.ds_vdot(g.p, g.p) end
    end
    return math.sqrt(s)
  end
  local function class()
    local c = setmetatable({}, {__index = Base})
    c.__index = c
    return c
  end

  -- Plain, normalised or clipped gradient descent (the reference scenes' rules):
  --   plain:      p -= lr g
  --   normalize:  p -= lr g / (|g| + 1e-6)
  --   clip = c:   p -= lr min(1, c / (|g| + 1e-4)) g
  local GD = class()
  local GD_OPTS = {"lr", "normalize", "clip"}
  function optim.gd(params, opts)
    local who = "ds.optim.gd"
    params = check_params(params, who)
    opts = O.check(who, opts, GD_OPTS)
    local lr = O.number(who, "lr", opts.lr, 1e-2, {gt = 0})
    local normalize = O.boolean(who, "normalize", opts.normalize, false)
    local clip = opts.clip ~= nil and O.number(who, "clip", opts.clip, nil, {gt = 0}) or nil
    if normalize and clip then raise(who .. ": options 'normalize' and 'clip' exclude each other") end
    return setmetatable({params = params, lr = lr, normalize = normalize or nil, clip = clip}, GD)
  end
  function GD:step(closure)
    check_self(self, GD, "gd:step")
    O.func("gd:step", "closure", closure, true)
    local loss = closure and number(closure(), "gd:step")
    positive("gd:step", "lr", self.lr)
    local scale = self.lr
    if self.normalize or self.clip then
      local n = self:grad_norm()
      if self.normalize then scale = self.lr / (n + 1e-6) end
      if self.clip then scale = self.lr * math.min(1, self.clip / (n + 1e-4)) end
    end
    for _, p in ipairs(self.params) do
      local g = p.grad
      if g then ds.check(C.ds_axpy(p.p, -scale, g.p), 2) end
    end
    return loss
  end

  -- SGD with (optional) heavy-ball momentum and L2 weight decay:
  --   d = g + wd p;  b = mu b + d;  p -= lr b   (PyTorch's SGD, dampening 0)
  local SGD = class()
  local SGD_OPTS = {"lr", "momentum", "weight_decay"}
  function optim.sgd(params, opts)
    local who = "ds.optim.sgd"
    params = check_params(params, who)
    opts = O.check(who, opts, SGD_OPTS)
    local lr = O.number(who, "lr", opts.lr, 1e-2, {gt = 0})
    local momentum = O.number(who, "momentum", opts.momentum, 0, {ge = 0, lt = 1})
    local wd = O.number(who, "weight_decay", opts.weight_decay, 0, {ge = 0})
    local bufs = {}
    for i, p in ipairs(params) do bufs[i] = ds.zeros_like(p) end
    return setmetatable({params = params, lr = lr, momentum = momentum, weight_decay = wd, bufs = bufs}, SGD)
  end
  function SGD:step(closure)
    check_self(self, SGD, "sgd:step")
    O.func("sgd:step", "closure", closure, true)
    local loss = closure and number(closure(), "sgd:step")
    local lr = positive("sgd:step", "lr", self.lr)
    local wd = O.number("sgd:step", "weight_decay", self.weight_decay, 0, {ge = 0})
    local mu = O.number("sgd:step", "momentum", self.momentum, 0, {ge = 0, lt = 1})
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g then
        if mu ~= 0 then
          local b = self.bufs[i]
          ds.check(C.ds_scal(b.p, mu), 2)
          ds.check(C.ds_axpy(b.p, 1, g.p), 2)
          if wd ~= 0 then ds.check(C.ds_axpy(b.p, wd, p.p), 2) end
          ds.check(C.ds_axpy(p.p, -lr, b.p), 2)
        else
          if wd ~= 0 then ds.check(C.ds_scal(p.p, 1 - lr * wd), 2) end
          ds.check(C.ds_axpy(p.p, -lr, g.p), 2)
        end
      end
    end
    return loss
  end

  -- Adam; weight_decay is decoupled (AdamW, Loshchilov & Hutter): p -= lr wd p,
  -- then the Adam update from the gradient alone.
  local Adam = class()
  local ADAM_OPTS = {"lr", "betas", "eps", "weight_decay"}
  local function adam(who, params, opts, wd_default)
    params = check_params(params, who)
    opts = O.check(who, opts, ADAM_OPTS)
    local lr = O.number(who, "lr", opts.lr, 1e-3, {gt = 0})
    local betas = opts.betas
    local b1, b2 = 0.9, 0.999
    if betas ~= nil then
      if type(betas) ~= "table" or getmetatable(betas) ~= nil or #betas ~= 2 then
        raise(who .. ": option 'betas' must be a list of two numbers {b1, b2} in [0, 1), got " .. O.describe(betas))
      end
      b1 = O.number(who, "betas[1]", betas[1], nil, {ge = 0, lt = 1})
      b2 = O.number(who, "betas[2]", betas[2], nil, {ge = 0, lt = 1})
    end
    local eps = O.number(who, "eps", opts.eps, 1e-8, {gt = 0})
    local wd = O.number(who, "weight_decay", opts.weight_decay, wd_default, {ge = 0})
    local m, v = {}, {}
    for i, p in ipairs(params) do m[i], v[i] = ds.zeros_like(p), ds.zeros_like(p) end
    return setmetatable({params = params, lr = lr, b1 = b1, b2 = b2, eps = eps, weight_decay = wd,
                         m = m, v = v, t = 0}, Adam)
  end
  function optim.adam(params, opts) return adam("ds.optim.adam", params, opts, 0) end
  function optim.adamw(params, opts) return adam("ds.optim.adamw", params, opts, 1e-2) end
  function Adam:step(closure)
    check_self(self, Adam, "adam:step")
    O.func("adam:step", "closure", closure, true)
    local loss = closure and number(closure(), "adam:step")
    local lr = positive("adam:step", "lr", self.lr)
    local wd = O.number("adam:step", "weight_decay", self.weight_decay, 0, {ge = 0})
    self.t = self.t + 1
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g then
        if wd ~= 0 then ds.check(C.ds_scal(p.p, 1 - lr * wd), 2) end
        ds.check(C.ds_adam_step(p.p, g.p, self.m[i].p, self.v[i].p, lr, self.b1, self.b2, self.eps, self.t), 2)
      end
    end
    return loss
  end

  -- L-BFGS with a backtracking (Armijo) line search. step(closure) runs up to
  -- max_iter iterations and returns the final loss.
  local LBFGS = class()
  local LBFGS_OPTS = {"lr", "history", "max_iter", "tol_grad", "tol_change", "c1", "max_ls"}
  function optim.lbfgs(params, opts)
    local who = "ds.optim.lbfgs"
    params = check_params(params, who)
    opts = O.check(who, opts, LBFGS_OPTS)
    return setmetatable({params = params,
      lr = O.number(who, "lr", opts.lr, 1, {gt = 0}),
      history = O.number(who, "history", opts.history, 10, {int = true, ge = 1}),
      max_iter = O.number(who, "max_iter", opts.max_iter, 20, {int = true, ge = 1}),
      tol_grad = O.number(who, "tol_grad", opts.tol_grad, 1e-10, {ge = 0}),
      tol_change = O.number(who, "tol_change", opts.tol_change, 1e-14, {ge = 0}),
      c1 = O.number(who, "c1", opts.c1, 1e-4, {gt = 0, lt = 1}),
      max_ls = O.number(who, "max_ls", opts.max_ls, 25, {int = true, ge = 1}),
      s = {}, y = {}, rho = {}, evals = 0}, LBFGS)
  end

  local function vdot(a, b)
    local s = 0
    for i = 1, #a do s = s + C.ds_vdot(a[i].p, b[i].p) end
    return s
  end
  local function grads(params)
    local g = {}
    for i, p in ipairs(params) do
      local pg = p.grad
      g[i] = pg and pg:detach() or ds.zeros_like(p)
    end
    return g
  end
  local function clone(list)
    local out = {}
    for i, t in ipairs(list) do out[i] = t:detach() end
    return out
  end

  function LBFGS:direction(g)
    local q = clone(g)
    local k = #self.s
    local alpha = {}
    for i = k, 1, -1 do
      alpha[i] = self.rho[i] * vdot(self.s[i], q)
      for j = 1, #q do C.ds_axpy(q[j].p, -alpha[i], self.y[i][j].p) end
    end
    if k > 0 then
      local gamma = vdot(self.s[k], self.y[k]) / vdot(self.y[k], self.y[k])
      for j = 1, #q do C.ds_scal(q[j].p, gamma) end
    end
    for i = 1, k do
      local beta = self.rho[i] * vdot(self.y[i], q)
      for j = 1, #q do C.ds_axpy(q[j].p, alpha[i] - beta, self.s[i][j].p) end
    end
    for j = 1, #q do C.ds_scal(q[j].p, -1) end
    return q
  end

  function LBFGS:step(closure)
    check_self(self, LBFGS, "lbfgs:step")
    if type(closure) ~= "function" then
      raise("lbfgs:step: argument 'closure' must be a function (zero_grad, record, backward, return the loss), got " ..
        O.describe(closure))
    end
    positive("lbfgs:step", "lr", self.lr)
    local params = self.params
    local loss = number(closure(), "lbfgs:step")
    self.evals = self.evals + 1
    if loss ~= loss then raise("lbfgs:step: the closure returned a NaN loss at the starting point") end
    local g = grads(params)
    for _ = 1, self.max_iter do
      local gnorm = math.sqrt(vdot(g, g))
      if gnorm <= self.tol_grad then break end
      local d = self:direction(g)
      local gtd = vdot(g, d)
      if gtd > -1e-30 then -- not a descent direction: restart from steepest descent
        self.s, self.y, self.rho = {}, {}, {}
        d = clone(g)
        for j = 1, #d do C.ds_scal(d[j].p, -1) end
        gtd = -gnorm * gnorm
      end
      local t = self.lr
      if #self.s == 0 then t = math.min(1, 1 / gnorm) * self.lr end
      local x0 = clone(params)
      local new_loss, accepted
      for _ = 1, self.max_ls do
        for j, p in ipairs(params) do
          p:copy_(x0[j])
          C.ds_axpy(p.p, t, d[j].p)
        end
        new_loss = number(closure(), "lbfgs:step")
        self.evals = self.evals + 1
        if new_loss == new_loss and new_loss <= loss + self.c1 * t * gtd then accepted = true break end
        t = t * 0.5
      end
      if not accepted then
        for j, p in ipairs(params) do p:copy_(x0[j]) end
        number(closure(), "lbfgs:step") -- leave grads consistent with the restored parameters
        break
      end
      local g_new = grads(params)
      local s, y = {}, {}
      for j = 1, #params do
        s[j] = d[j]:detach():scale_(t)
        y[j] = g_new[j]:detach():axpy_(-1, g[j])
      end
      local sy = vdot(s, y)
      if sy > 1e-12 then
        table.insert(self.s, s)
        table.insert(self.y, y)
        table.insert(self.rho, 1 / sy)
        if #self.s > self.history then
          table.remove(self.s, 1); table.remove(self.y, 1); table.remove(self.rho, 1)
        end
      end
      local change = math.abs(loss - new_loss)
      loss, g = new_loss, g_new
      if change <= self.tol_change * math.max(1, math.abs(loss)) then break end
    end
    return loss
  end

  -- the classes, for diffsim.state's opt:state() / opt:load_state()
  optim._classes = {gd = GD, sgd = SGD, adam = Adam, lbfgs = LBFGS}
  return optim
end
