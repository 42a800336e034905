-- Optimizers over lists of tensors that require grad.
--   local opt = ds.optim.adam(params, {lr = 1e-2})
--   opt:zero_grad(); local loss = tape:record(f); tape:backward(loss); opt:step()
--   ds.optim.lbfgs(params, {...}):step(closure)   -- closure: zero_grad, record, backward, return loss
-- The arithmetic runs in C (ds_axpy, ds_adam_step, ...), never element by element in Lua,
-- on the parameters' device: state buffers are made with zeros_like/detach, so
-- they live beside their parameter, and a failed update raises (e.g. an op not
-- implemented on that device yet, or a grad on another device).
return function(ds)
  local C = ds.C
  local optim = {}

  local function check_params(params, who)
    if type(params) ~= "table" or #params == 0 then error(who .. ": expected a non-empty list of tensors", 3) end
    for i, p in ipairs(params) do
      if not ds.is_tensor(p) then error(who .. ": parameter " .. i .. " is not a tensor", 3) end
      p:requires_grad()
    end
  end

  local function number(x)
    if type(x) == "number" then return x end
    if ds.is_tensor(x) then return x:item() end
    error("optimizer closure must return the loss (a number or a scalar tensor)", 3)
  end

  local Base = {}
  Base.__index = Base
  function Base:zero_grad()
    for _, p in ipairs(self.params) do p:zero_grad() end
  end
  -- Global gradient norm over all parameters (missing grads count as zero).
  function Base:grad_norm()
    local s = 0
    for _, p in ipairs(self.params) do
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
  function optim.gd(params, opts)
    check_params(params, "ds.optim.gd")
    opts = opts or {}
    return setmetatable({params = params, lr = opts.lr or 1e-2, normalize = opts.normalize, clip = opts.clip}, GD)
  end
  function GD:step(closure)
    local loss = closure and number(closure())
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

  -- SGD with (optional) heavy-ball momentum: b = mu b + g; p -= lr b.
  local SGD = class()
  function optim.sgd(params, opts)
    check_params(params, "ds.optim.sgd")
    opts = opts or {}
    local bufs = {}
    for i, p in ipairs(params) do bufs[i] = ds.zeros_like(p) end
    return setmetatable({params = params, lr = opts.lr or 1e-2, momentum = opts.momentum or 0, bufs = bufs}, SGD)
  end
  function SGD:step(closure)
    local loss = closure and number(closure())
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g then
        if self.momentum ~= 0 then
          local b = self.bufs[i]
          ds.check(C.ds_scal(b.p, self.momentum), 2)
          ds.check(C.ds_axpy(b.p, 1, g.p), 2)
          ds.check(C.ds_axpy(p.p, -self.lr, b.p), 2)
        else
          ds.check(C.ds_axpy(p.p, -self.lr, g.p), 2)
        end
      end
    end
    return loss
  end

  local Adam = class()
  function optim.adam(params, opts)
    check_params(params, "ds.optim.adam")
    opts = opts or {}
    local m, v = {}, {}
    for i, p in ipairs(params) do m[i], v[i] = ds.zeros_like(p), ds.zeros_like(p) end
    return setmetatable({params = params, lr = opts.lr or 1e-3, b1 = opts.betas and opts.betas[1] or 0.9,
                         b2 = opts.betas and opts.betas[2] or 0.999, eps = opts.eps or 1e-8, m = m, v = v, t = 0}, Adam)
  end
  function Adam:step(closure)
    local loss = closure and number(closure())
    self.t = self.t + 1
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g then ds.check(C.ds_adam_step(p.p, g.p, self.m[i].p, self.v[i].p, self.lr, self.b1, self.b2, self.eps, self.t), 2) end
    end
    return loss
  end

  -- L-BFGS with a backtracking (Armijo) line search. step(closure) runs up to
  -- max_iter iterations and returns the final loss.
  local LBFGS = class()
  function optim.lbfgs(params, opts)
    check_params(params, "ds.optim.lbfgs")
    opts = opts or {}
    return setmetatable({params = params, lr = opts.lr or 1, history = opts.history or 10,
                         max_iter = opts.max_iter or 20, tol_grad = opts.tol_grad or 1e-10,
                         tol_change = opts.tol_change or 1e-14, c1 = opts.c1 or 1e-4,
                         max_ls = opts.max_ls or 25, s = {}, y = {}, rho = {}, evals = 0}, LBFGS)
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
    if type(closure) ~= "function" then error("lbfgs:step: a closure is required", 2) end
    local params = self.params
    local loss = number(closure())
    self.evals = self.evals + 1
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
        new_loss = number(closure())
        self.evals = self.evals + 1
        if new_loss == new_loss and new_loss <= loss + self.c1 * t * gtd then accepted = true break end
        t = t * 0.5
      end
      if not accepted then
        for j, p in ipairs(params) do p:copy_(x0[j]) end
        number(closure()) -- leave grads consistent with the restored parameters
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

  return optim
end
