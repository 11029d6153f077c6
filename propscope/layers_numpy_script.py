"""The body of the NumPy script for layered networks (see :mod:`propscope.code_export_layers`).

Each layer class runs the engine's algorithm for its kind (engine/layers/) in the engine's order
of operations, on arrays of the same layouts: that, not a looser re-derivation, is what lets the
exported run continue the engine's bit for bit. Only the telemetry the page draws is left out.
"""

NUMPY_BODY = r'''
from numpy.lib.stride_tricks import as_strided


def generator(state):
    """A NumPy generator continuing exactly where the engine's stood."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


class Position:
    """Where training stands: step and epoch counts, this epoch's order, the generators."""

    def __init__(self):
        self.step, self.epoch = STEP, EPOCH
        self.order, self.cursor = np.asarray(ORDER, dtype=np.int64), CURSOR
        self.order_rng = generator(ORDER_RNG_STATE)
        self.dropout_rng = generator(DROPOUT_RNG_STATE)

    def next_batch(self):
        """Rows of the next batch; a new shuffled order when the epoch is used up."""
        if self.cursor >= len(self.order):
            if len(self.order):
                self.epoch += 1
            self.order = self.order_rng.permutation(len(X))
            self.cursor = 0
        rows = self.order[self.cursor:self.cursor + BATCH_SIZE]
        self.cursor += len(rows)
        self.step += 1
        return rows


# --- activations (a = f(z); the derivative given z and a) ------------------------------------

def activate(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(name)


def derivative(name, z, a):
    if name == "linear":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01).astype(z.dtype)
    if name == "tanh":
        return 1.0 - a * a
    if name == "sigmoid":
        return a * (1.0 - a)
    raise ValueError(name)


def activation_backward(name, z, a, grad_a):
    """dL/dz from dL/da (softmax couples its outputs: its Jacobian applied without forming it)."""
    if name == "softmax":
        return a * (grad_a - (grad_a * a).sum(axis=-1, keepdims=True))
    return grad_a * derivative(name, z, a)


# --- layers: forward(x) returns a cache; backward fills it; accumulate writes the gradients ---

FILTER_MAJOR = (1, 0, 2, 3)  # (B, F, H, W) <-> (F, B, H, W)


class Dense:
    """z = x @ weight + bias, a = f(z), inverted dropout; a time axis shares the weights."""

    def __init__(self, d):
        self.units, self.activation, self.dropout = d["units"], d["activation"], d["dropout"]
        self.fan_in = d["input_shape"][-1]

    def forward(self, p, x, dropout_rng):
        weight, bias = p["weight"], p["bias"]
        z = np.dot(x, weight) if x.ndim == 2 else over_time(x, weight)
        z += bias
        a = activate(self.activation, z)
        c = {"weight": weight, "x": x, "z": z, "a": a, "mask": None, "out": a}
        if self.dropout > 0.0:
            keep = 1.0 - self.dropout
            c["mask"] = (dropout_rng.random(a.shape) < keep).astype(a.dtype) / keep
            c["out"] = a * c["mask"]
        return c

    def backward(self, c, grad_output):
        grad_a = grad_output if c["mask"] is None else grad_output * c["mask"]
        c["delta"] = activation_backward(self.activation, c["z"], c["a"], grad_a)

    def accumulate(self, c, grads):
        delta, x = c["delta"], c["x"]
        mean_delta = delta * (1.0 / delta.shape[0])
        if delta.ndim > 2:
            mean_delta = mean_delta.reshape(-1, self.units)
            x = x.reshape(-1, self.fan_in)
        np.dot(x.T, mean_delta, out=grads["weight"])
        np.add.reduce(mean_delta, axis=0, out=grads["bias"])

    def grad_input(self, c):
        if c["delta"].ndim == 2:
            return c["delta"] @ c["weight"].T
        return over_time(c["delta"], c["weight"].T)


def over_time(x, matrix):
    """x (B, T, n) @ matrix (n, m) as one 2-D product."""
    return (x.reshape(-1, x.shape[-1]) @ matrix).reshape(*x.shape[:-1], matrix.shape[1])


class Conv2D:
    """Cross-correlation of the zero-padded input with F kernels (C, k, k), by im2col: the
    k×k patches become the columns of one matrix, and the convolution is one product."""

    def __init__(self, d):
        self.channels, self.height, self.width = d["input_shape"]
        self.filters, self.k, self.stride = d["filters"], d["kernel"], d["stride"]
        self.pads = tuple(d["pads"])  # top, bottom, left, right
        _, self.out_height, self.out_width = d["output_shape"]
        self.activation = d["activation"]
        self.fan_in = self.channels * self.k * self.k

    def columns(self, x):
        """(C·k·k, B·H'·W'): row (c, i, j), column (b, y, x) holds x_pad[b, c, y·s+i, x·s+j]."""
        batch = len(x)
        top, bottom, left, right = self.pads
        if top or bottom or left or right:
            padded = np.zeros((batch, self.channels, self.height + top + bottom,
                               self.width + left + right), dtype=x.dtype)
            padded[:, :, top:top + self.height, left:left + self.width] = x
            x = padded
        k, s = self.k, self.stride
        shape = (self.channels, k, k, batch, self.out_height, self.out_width)
        sb, sc, sh, sw = x.strides
        patches = as_strided(x, shape, (sc, sh, sw, sb, sh * s, sw * s), writeable=False)
        return np.ascontiguousarray(patches).reshape(self.fan_in, -1)

    def forward(self, p, x, dropout_rng):
        kernel, bias = p["kernel"], p["bias"]
        columns = self.columns(x)
        z = np.dot(kernel.reshape(self.filters, -1), columns)
        z += bias[:, None]
        z = z.reshape(self.filters, len(x), self.out_height, self.out_width)
        z = z.transpose(FILTER_MAJOR)
        a = activate(self.activation, z)
        return {"kernel": kernel, "columns": columns, "z": z, "a": a, "out": a}

    def backward(self, c, grad_output):
        z, a = c["z"], c["a"]
        delta = activation_backward(self.activation, z.transpose(FILTER_MAJOR),
                                    a.transpose(FILTER_MAJOR), grad_output.transpose(FILTER_MAJOR))
        c["delta"] = np.ascontiguousarray(delta).transpose(FILTER_MAJOR)

    def filter_rows(self, delta):
        rows = delta.transpose(FILTER_MAJOR)
        if not rows.flags.c_contiguous:
            rows = np.ascontiguousarray(rows)
        return rows.reshape(rows.shape[0], -1)

    def accumulate(self, c, grads):
        delta = self.filter_rows(c["delta"])
        scale = 1.0 / c["delta"].shape[0]
        kernel = grads["kernel"].reshape(self.filters, -1)
        np.dot(delta, c["columns"].T, out=kernel)
        kernel *= scale
        bias = np.add.reduce(delta, axis=1, out=grads["bias"])
        bias *= scale

    def grad_input(self, c):
        """Kernelᵀ·δ, each kernel offset added back where its patch row came from (col2im)."""
        delta = self.filter_rows(c["delta"])
        k, s = self.k, self.stride
        batch = c["delta"].shape[0]
        grad_columns = np.dot(c["kernel"].reshape(self.filters, -1).T, delta)
        grad_columns = grad_columns.reshape(self.channels, k, k, batch, self.out_height,
                                            self.out_width)
        top, bottom, left, right = self.pads
        grad = np.zeros((self.channels, batch, self.height + top + bottom,
                         self.width + left + right), dtype=grad_columns.dtype)
        rows, cols = s * (self.out_height - 1) + 1, s * (self.out_width - 1) + 1
        for i in range(k):
            for j in range(k):
                grad[:, :, i:i + rows:s, j:j + cols:s] += grad_columns[:, i, j]
        grad = grad[:, :, top:top + self.height, left:left + self.width]
        return grad.transpose(FILTER_MAJOR)


class Pool:
    """p×p windows with stride s of every channel; max keeps the largest (its gradient goes,
    whole, to the first maximum), avg the mean (its gradient is shared by the p² inputs)."""

    def __init__(self, d):
        self.kind = d["kind"]
        self.channels, self.height, self.width = d["input_shape"]
        _, self.out_height, self.out_width = d["output_shape"]
        self.size, self.stride = d["size"], d["stride"]
        p, s = self.size, self.stride
        oy, ox = np.ogrid[:self.out_height, :self.out_width]
        self.window_corner = oy * (s * self.width) + ox * s
        self.offset_pixel = np.array([i * self.width + j for i in range(p) for j in range(p)])

    def stacked(self, x):
        """(p², B, C, H', W'): plane e holds the pixel at window offset e of every window."""
        p, s = self.size, self.stride
        sb, sc, sh, sw = x.strides
        shape = (p, p, len(x), self.channels, self.out_height, self.out_width)
        windows = as_strided(x, shape, (sh, sw, sb, sc, sh * s, sw * s), writeable=False)
        return np.ascontiguousarray(windows).reshape(p * p, *shape[2:])

    def forward(self, p, x, dropout_rng):
        planes = self.stacked(x)
        if self.kind == "avgpool":
            out = np.add.reduce(planes, axis=0)
            out *= 1.0 / (self.size * self.size)
            return {"out": out}
        out = np.maximum.reduce(planes, axis=0)
        routing = self.offset_pixel.take(first_maximum(planes, out))
        routing += self.window_corner
        return {"out": out, "routing": routing}

    def backward(self, c, grad_output):
        batch = len(grad_output)
        if self.kind == "avgpool":
            p, s = self.size, self.stride
            share = grad_output * (1.0 / (p * p))
            grad = np.zeros((batch, self.channels, self.height, self.width),
                            dtype=grad_output.dtype)
            rows, cols = s * (self.out_height - 1) + 1, s * (self.out_width - 1) + 1
            for i in range(p):
                for j in range(p):
                    grad[:, :, i:i + rows:s, j:j + cols:s] += share
            c["grad_input"] = grad
            return
        planes = batch * self.channels
        plane = self.height * self.width
        targets = c["routing"].reshape(planes, -1) + (np.arange(planes) * plane)[:, None]
        if self.stride < self.size:  # overlapping windows: one pixel may win several
            grad = np.bincount(targets.ravel(), weights=grad_output.ravel(),
                               minlength=planes * plane).astype(grad_output.dtype, copy=False)
        else:
            grad = np.zeros(planes * plane, dtype=grad_output.dtype)
            grad[targets.ravel()] = grad_output.ravel()
        c["grad_input"] = grad.reshape(batch, self.channels, self.height, self.width)

    def grad_input(self, c):
        return c["grad_input"]


def first_maximum(planes, maximum):
    """Per window, the first offset whose plane holds the maximum (ties: the first, as torch)."""
    count = len(planes)
    if count == 1:
        return np.zeros(maximum.shape, dtype=np.intp)
    below = planes[:-1] != maximum
    first = below[-1].astype(np.intp)
    for e in range(count - 3, -1, -1):
        first += 1
        first *= below[e]
    return first


class Flatten:
    """(C, H, W) → C·H·W in row-major order: entry (c·H + y)·W + x."""

    def __init__(self, d):
        self.input_shape = tuple(d["input_shape"])

    def forward(self, p, x, dropout_rng):
        return {"out": x.reshape(len(x), -1)}

    def backward(self, c, grad_output):
        c["grad_input"] = grad_output.reshape(len(grad_output), *self.input_shape)

    def grad_input(self, c):
        return c["grad_input"]


def time_major(x):
    return x.transpose(1, 0, 2)


class Recurrent:
    """Elman RNN, z_t = x_t·W_ih + h_{t−1}·W_hh + b, h_t = f(z_t), or an LSTM (gate columns
    i, f, g, o; c_t = f⊙c_{t−1} + i⊙g, h_t = o⊙tanh c_t), h₋₁ = c₋₁ = 0, trained by
    backpropagation through time; with truncation k each loss contribution reaches at most k
    steps back. Per-step arrays are time-major, (T, B, …)."""

    def __init__(self, d):
        self.kind, self.units = d["kind"], d["units"]
        self.steps, self.n_in = d["input_shape"]
        self.activation = d.get("activation", "tanh")
        self.return_sequences, self.truncation = d["return_sequences"], d["truncation"]
        self.full = self.truncation is None or self.truncation >= self.steps - 1

    def forward(self, p, x, dropout_rng):
        batch = x.shape[0]
        z = np.dot(time_major(x).reshape(-1, self.n_in), p["weight_ih"])
        z += p["bias"]
        z = z.reshape(self.steps, batch, -1)
        c = {"x": x, "weight_ih": p["weight_ih"], "weight_hh": p["weight_hh"], "z": z}
        if self.kind == "lstm":
            self.run_lstm(c, p["weight_hh"])
        else:
            self.run_rnn(c, p["weight_hh"])
        h = time_major(c["h"])
        c["out"] = h if self.return_sequences else h[:, -1]
        return c

    def run_rnn(self, c, w_hh):
        z = c["z"]
        h = np.empty_like(z)
        carry = np.empty_like(z[0])
        previous = None
        for zt, ht in zip(z, h):
            if previous is not None:
                np.dot(previous, w_hh, out=carry)
                np.add(zt, carry, out=zt)
            ht[...] = activate(self.activation, zt)
            previous = ht
        c["h"] = h

    def run_lstm(self, c, w_hh):
        z, units = c["z"], self.units
        steps, batch, _ = z.shape
        gates = np.empty_like(z)
        cell = np.empty((steps, batch, units), dtype=z.dtype)
        h = np.empty_like(cell)
        carry = np.empty_like(z[0])
        for t in range(steps):
            zt, gt = z[t], gates[t]
            if t:
                np.dot(h[t - 1], w_hh, out=carry)
                np.add(zt, carry, out=zt)
            np.negative(zt, out=gt)  # σ on all 4H columns, then tanh on the g columns
            np.minimum(gt, 700.0, out=gt)
            np.exp(gt, out=gt)
            gt += 1.0
            np.reciprocal(gt, out=gt)
            np.tanh(zt[:, 2 * units:3 * units], out=gt[:, 2 * units:3 * units])
            i, f, g, o = (gt[:, k * units:(k + 1) * units] for k in range(4))
            np.multiply(i, g, out=cell[t])
            if t:
                cell[t] += f * cell[t - 1]
            np.tanh(cell[t], out=h[t])
            h[t] *= o
        c["gates"], c["cell"], c["h"] = gates, cell, h

    def backward(self, c, grad_output):
        upstream = time_major(grad_output) if self.return_sequences else None
        w_hh_t = c["weight_hh"].T
        if self.kind == "lstm":
            c["delta"] = self.lstm_backward(c, upstream, grad_output, w_hh_t)
        else:
            c["delta"] = self.rnn_backward(c, upstream, grad_output, w_hh_t)

    def rnn_backward(self, c, upstream, grad_output, w_hh_t):
        z, h = c["z"], c["h"]
        steps, batch, units = z.shape
        slope = derivative(self.activation, z, h)
        delta = np.empty_like(z)
        if self.full:
            carry = np.zeros((batch, units), dtype=delta.dtype)  # δ_{t+1}·W_hhᵀ
            if upstream is None:
                carry += grad_output
            for t in range(steps - 1, -1, -1):
                d = delta[t]
                if upstream is not None:
                    np.add(upstream[t], carry, out=d)
                    np.multiply(d, slope[t], out=d)
                else:
                    np.multiply(carry, slope[t], out=d)
                if t:
                    np.dot(d, w_hh_t, out=carry)
            return delta
        ages = self.truncation + 1  # the gradient in flight, per steps travelled (0…k)
        cur = np.zeros((ages, batch, units), dtype=delta.dtype)
        moved = np.zeros_like(cur)
        flat_cur = cur.reshape(ages * batch, units)
        flat_moved = moved.reshape(ages * batch, units)
        for t in range(steps - 1, -1, -1):
            cur[1:] = moved[:-1]
            if upstream is not None:
                cur[0] = upstream[t]
            else:
                cur[0] = grad_output if t == steps - 1 else 0.0
            cur *= slope[t]
            np.add.reduce(cur, axis=0, out=delta[t])
            if t and ages > 1:
                np.dot(flat_cur[:(ages - 1) * batch], w_hh_t,
                       out=flat_moved[:(ages - 1) * batch])
        return delta

    def lstm_backward(self, c, upstream, grad_output, w_hh_t):
        gates, cell, units = c["gates"], c["cell"], self.units
        steps, batch, width = gates.shape
        if self.full:
            i, f, g, o = (gates[:, :, k * units:(k + 1) * units] for k in range(4))
            tanh_c = np.tanh(cell)
            through_h = o * (1.0 - tanh_c * tanh_c)
            factors = np.empty_like(gates)
            factors[:, :, :units] = g * i * (1.0 - i)
            factors[:, :, units:2 * units] = f * (1.0 - f)
            factors[1:, :, units:2 * units] *= cell[:-1]
            factors[0, :, units:2 * units] = 0.0
            factors[:, :, 2 * units:3 * units] = i * (1.0 - g * g)
            factors[:, :, 3 * units:] = tanh_c * o * (1.0 - o)
            delta = np.empty_like(gates)
            cell_grad = np.empty_like(cell)
            dh = np.zeros((batch, units), dtype=delta.dtype)
            dc_next = np.zeros_like(dh)
            if upstream is None:
                dh += grad_output
            for t in range(steps - 1, -1, -1):
                if upstream is not None:
                    dh += upstream[t]
                dc = cell_grad[t]
                np.multiply(dh, through_h[t], out=dc)
                dc += dc_next
                d = delta[t]
                np.multiply(factors[t, :, :3 * units].reshape(batch, 3, units), dc[:, None, :],
                            out=d[:, :3 * units].reshape(batch, 3, units))
                np.multiply(factors[t, :, 3 * units:], dh, out=d[:, 3 * units:])
                if t:
                    np.dot(d, w_hh_t, out=dh)
                    np.multiply(dc, f[t], out=dc_next)
            return delta
        ages = self.truncation + 1
        tanh_c = np.tanh(cell)
        carry_h = np.zeros((ages, batch, units), dtype=gates.dtype)
        carry_c = np.zeros_like(carry_h)
        delta = np.empty_like(gates)
        dz = np.empty((ages, batch, width), dtype=gates.dtype)
        for t in range(steps - 1, -1, -1):
            i, f, g, o = (gates[t][:, k * units:(k + 1) * units] for k in range(4))
            dh = carry_h.copy()
            dc_in = carry_c.copy()
            if upstream is not None:
                dh[0] += upstream[t]
            elif t == steps - 1:
                dh[0] += grad_output
            dc = dh * (o * (1.0 - tanh_c[t] * tanh_c[t])) + dc_in
            c_before = cell[t - 1] if t else 0.0
            dz[:, :, :units] = dc * g * (i * (1.0 - i))
            dz[:, :, units:2 * units] = dc * c_before * (f * (1.0 - f))
            dz[:, :, 2 * units:3 * units] = dc * i * (1.0 - g * g)
            dz[:, :, 3 * units:] = dh * tanh_c[t] * (o * (1.0 - o))
            np.add.reduce(dz, axis=0, out=delta[t])
            if t:
                carry_h[1:] = dz[:-1] @ w_hh_t
                carry_c[1:] = dc[:-1] * f
                carry_h[0] = 0.0
                carry_c[0] = 0.0
        return delta

    def accumulate(self, c, grads):
        delta, hidden = c["delta"], c["h"]
        steps, batch, width = delta.shape
        scale = 1.0 / batch
        flat_delta = delta.reshape(steps * batch, width)
        flat_x = time_major(c["x"]).reshape(-1, self.n_in)
        np.dot(flat_x.T, flat_delta, out=grads["weight_ih"])
        grads["weight_ih"] *= scale
        np.add.reduce(flat_delta, axis=0, out=grads["bias"])
        grads["bias"] *= scale
        per_step = np.empty((steps, self.units, width), dtype=delta.dtype)
        per_step[0] = 0.0  # h₋₁ = 0
        if steps > 1:
            np.matmul(hidden[:-1].transpose(0, 2, 1), delta[1:], out=per_step[1:])
            per_step[1:] *= scale
        np.add.reduce(per_step, axis=0, out=grads["weight_hh"])

    def grad_input(self, c):
        delta = c["delta"]
        grad = np.dot(delta.reshape(-1, delta.shape[2]), c["weight_ih"].T)
        return time_major(grad.reshape(self.steps, delta.shape[1], self.n_in))


KINDS = {"dense": Dense, "conv2d": Conv2D, "maxpool": Pool, "avgpool": Pool,
         "flatten": Flatten, "rnn": Recurrent, "lstm": Recurrent}
NET = [KINDS[d["kind"]](d) for d in LAYERS]


class Parameters:
    """Every parameter in one flat vector (layer by layer, in the engine's order) with named
    per-layer views of it, as the engine keeps them: the optimiser works on the whole vector."""

    def __init__(self, per_layer):
        self.names = [list(p) for p in per_layer]
        self.shapes = [[p[n].shape for n in p] for p in per_layer]
        parts = [p[n].ravel() for p in per_layer for n in p]
        self.flat = np.concatenate(parts).astype(DTYPE) if parts else np.empty(0, DTYPE)
        self.views = self.views_of(self.flat)

    def views_of(self, flat):
        views, offset = [], 0
        for names, shapes in zip(self.names, self.shapes):
            layer = {}
            for name, shape in zip(names, shapes):
                size = int(np.prod(shape))
                layer[name] = flat[offset:offset + size].reshape(shape)
                offset += size
            views.append(layer)
        return views

    def flat_of(self, per_layer):
        parts = [p[n].ravel() for p in per_layer for n in p]
        return np.concatenate(parts).astype(DTYPE)

    def regularized(self):
        return [self.views[k][name] for k, d in enumerate(LAYERS) for name in d["regularized"]]


# --- loss, penalty, optimiser -----------------------------------------------------------------

def rows_loss(z, a, y):
    if LOSS == "mse":
        diff = a - y
        return np.add.reduce(diff * diff, axis=-1) / a.shape[-1]
    if LOSS == "bce":
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
    shifted = z - z.max(axis=-1, keepdims=True)
    log_sum = np.log(np.add.reduce(np.exp(shifted), axis=-1))
    return log_sum - np.add.reduce(y * shifted, axis=-1)


def per_sample_loss(z, a, y):
    """One loss per sample; with a time axis the mean of its steps' losses."""
    if a.ndim == 2:
        return rows_loss(z, a, y)
    batch, steps, k = a.shape
    flat = rows_loss(z.reshape(-1, k), a.reshape(-1, k), y.reshape(-1, k))
    return flat.reshape(batch, steps).mean(axis=1)


def output_delta(z, a, y):
    """dL/dz of the output layer per sample (cross-entropies from the logits; over a time
    axis each step carries 1/T of its sample's loss)."""
    if LOSS == "mse":
        delta = activation_backward(LAYERS[-1]["activation"], z, a, (2.0 / a.shape[-1]) * (a - y))
    elif LOSS == "bce":
        delta = (a - y) / a.shape[-1]
    else:
        delta = a - y
    if a.ndim == 3:
        delta = delta * (1.0 / a.shape[1])
    return delta


def penalty(weights):
    if REGULARIZATION == "none" or REGULARIZATION_RATE <= 0.0:
        return 0.0
    if REGULARIZATION == "l1":
        return REGULARIZATION_RATE * float(sum(np.abs(w).sum() for w in weights))
    return 0.5 * REGULARIZATION_RATE * float(sum((w * w).sum() for w in weights))


def penalty_gradient(weight):
    if REGULARIZATION == "l1":
        return REGULARIZATION_RATE * np.sign(weight)
    return REGULARIZATION_RATE * weight


class Optimizer:
    """SGD, momentum (Nesterov), RMSProp or Adam on the flat vector, as in Propscope."""

    def __init__(self, params):
        self.steps = OPTIMIZER_STEPS
        self.state = {key: params.flat_of(per_layer) for key, per_layer in OPTIMIZER_STATE.items()}

    def slot(self, key, like):
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def update(self, g):
        self.steps += 1
        h, lr = HYPERPARAMETERS, LEARNING_RATE
        if OPTIMIZER == "sgd":
            return g * -lr
        if OPTIMIZER == "momentum":
            v = self.slot("velocity", g)
            v *= h["momentum"]
            v += g
            return (g + h["momentum"] * v if h["nesterov"] else v) * -lr
        if OPTIMIZER == "rmsprop":
            s = self.slot("square_avg", g)
            s *= h["rho"]
            s += (1.0 - h["rho"]) * g * g
            return -lr * g / (np.sqrt(s) + h["eps"])
        b1, b2, t = h["beta1"], h["beta2"], self.steps
        step_size = lr / (1.0 - b1**t)
        root_correction = math.sqrt(1.0 - b2**t)
        m, v = self.slot("m", g), self.slot("v", g)
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        return -step_size * m / (np.sqrt(v) / root_correction + h["eps"])


def train_step(params, position, optimizer):
    """Forward, loss, backward, update on the next batch; returns (loss, per-layer gradients)."""
    rows = position.next_batch()
    x, y = X.take(rows, 0), Y.take(rows, 0)
    caches, h = [], x
    for layer, p in zip(NET, params.views):
        caches.append(layer.forward(p, h, position.dropout_rng))
        h = caches[-1]["out"]
    out = caches[-1]
    losses = per_sample_loss(out["z"], out["a"], y)
    loss = float(np.add.reduce(losses)) / len(losses) + penalty(params.regularized())
    active = REGULARIZATION != "none" and REGULARIZATION_RATE > 0.0
    grad_data = np.empty(params.flat.size, dtype=DTYPE)
    grad_total = np.empty(params.flat.size, dtype=DTYPE) if active else grad_data
    data_views, total_views = params.views_of(grad_data), params.views_of(grad_total)
    grad_output = None
    for k in range(len(NET) - 1, -1, -1):
        layer, c = NET[k], caches[k]
        if k == len(NET) - 1:
            c["delta"] = output_delta(out["z"], out["a"], y)
        else:
            layer.backward(c, grad_output)
        if data_views[k]:
            layer.accumulate(c, data_views[k])
            for name, grad in data_views[k].items():
                if not active:
                    continue
                if name in LAYERS[k]["regularized"]:
                    np.add(grad, penalty_gradient(params.views[k][name]), out=total_views[k][name])
                else:
                    total_views[k][name][...] = grad
        if k > 0:
            grad_output = layer.grad_input(c)
    update = optimizer.update(grad_total)
    params.flat = params.flat + update
    params.views = params.views_of(params.flat)
    return loss, total_views


SHORT = {"weight": "W", "bias": "b", "kernel": "K", "weight_ih": "W_ih", "weight_hh": "W_hh"}


def main():
    parser = argparse.ArgumentParser(description="Continue training the exported network.")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="write parameters and the last gradients to this .npz")
    args = parser.parse_args()
    params, position = Parameters(PARAMETERS), Position()
    optimizer, grads = Optimizer(params), []
    for _ in range(args.steps):
        loss, grads = train_step(params, position, optimizer)
        print(f"step {position.step} epoch {position.epoch} loss {loss!r}")
    if args.save:
        arrays = {}
        for k, layer in enumerate(params.views):
            for name, value in layer.items():
                arrays[f"{SHORT[name]}{k}"] = value
                if grads:
                    arrays[f"g{SHORT[name]}{k}"] = grads[k][name]
        np.savez(args.save, **arrays)


if __name__ == "__main__":
    main()
'''
