"""The body of the PyTorch script for layered networks (see :mod:`propscope.code_export_layers`).

Layers are ``torch.nn`` modules with the engine's parameters copied in (layouts converted) and
autograd computes the gradients: agreement with the engine is then a check of both, not a copy
of one. Batch order and dropout masks still come from NumPy's generators, as in the engine.
"""

TORCH_BODY = r'''
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}[DTYPE]
nn = torch.nn
F = torch.nn.functional


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
        if self.cursor >= len(self.order):
            if len(self.order):
                self.epoch += 1
            self.order = self.order_rng.permutation(len(X))
            self.cursor = 0
        rows = self.order[self.cursor:self.cursor + BATCH_SIZE]
        self.cursor += len(rows)
        self.step += 1
        return rows


def tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def activation(name):
    return {
        "linear": lambda z: z,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }[name]


def transpose(array):
    return array.T


def same(array):
    return array


class Exported(nn.Module):
    """One layer; ``params`` lists (engine name, torch parameter, engine→torch, torch→engine
    layout conversions, penalised?) in the engine's order."""

    def load(self, values, pairs):
        self.params = []
        with torch.no_grad():
            for name, param, to_torch, to_engine in pairs:
                param.copy_(tensor(to_torch(values[name])))
                self.params.append((name, param, to_torch, to_engine))


class Dense(Exported):
    def __init__(self, d, values):
        super().__init__()
        self.linear = nn.Linear(d["input_shape"][-1], d["units"], dtype=TORCH_DTYPE)
        self.f, self.dropout = activation(d["activation"]), d["dropout"]
        self.load(values, [("weight", self.linear.weight, transpose, transpose),
                           ("bias", self.linear.bias, same, same)])

    def forward(self, x, position):
        z = self.linear(x)
        a = self.f(z)
        if self.dropout > 0.0:  # inverted dropout with the engine's mask
            keep = 1.0 - self.dropout
            mask = (position.dropout_rng.random(tuple(a.shape)) < keep).astype(DTYPE) / keep
            return z, a, a * tensor(mask)
        return z, a, a


class Conv(Exported):
    def __init__(self, d, values):
        super().__init__()
        channels = d["input_shape"][0]
        self.conv = nn.Conv2d(channels, d["filters"], d["kernel"], stride=d["stride"],
                              padding=0, dtype=TORCH_DTYPE)
        top, bottom, left, right = d["pads"]
        self.pads = (left, right, top, bottom)  # F.pad's order: last axis first
        self.f = activation(d["activation"])
        self.load(values, [("kernel", self.conv.weight, same, same),  # both (F, C, k, k)
                           ("bias", self.conv.bias, same, same)])

    def forward(self, x, position):
        if any(self.pads):
            x = F.pad(x, self.pads)
        z = self.conv(x)
        a = self.f(z)
        return z, a, a


class Pool(Exported):
    def __init__(self, d, values):
        super().__init__()
        family = nn.MaxPool2d if d["kind"] == "maxpool" else nn.AvgPool2d
        self.pool = family(d["size"], stride=d["stride"])
        self.params = []

    def forward(self, x, position):
        out = self.pool(x)
        return out, out, out


class Flatten(Exported):
    def __init__(self, d, values):
        super().__init__()
        self.params = []

    def forward(self, x, position):
        out = x.flatten(1)  # (c·H + y)·W + x, as the engine
        return out, out, out


class Elman(nn.Module):
    """nn.RNN's interface and parameter names for the activations nn.RNN lacks."""

    def __init__(self, n_in, units, name):
        super().__init__()
        self.f = activation(name)
        self.weight_ih_l0 = nn.Parameter(torch.zeros(units, n_in, dtype=TORCH_DTYPE))
        self.weight_hh_l0 = nn.Parameter(torch.zeros(units, units, dtype=TORCH_DTYPE))
        self.bias_ih_l0 = nn.Parameter(torch.zeros(units, dtype=TORCH_DTYPE))
        self.bias_hh_l0 = nn.Parameter(torch.zeros(units, dtype=TORCH_DTYPE))

    def forward(self, x, h0=None):
        h = None if h0 is None else h0[0]
        outputs = []
        for t in range(x.shape[1]):
            z = F.linear(x[:, t], self.weight_ih_l0, self.bias_ih_l0)
            z = z + self.bias_hh_l0
            if h is not None:
                z = z + F.linear(h, self.weight_hh_l0)
            h = self.f(z)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h[None]


class Recurrent(Exported):
    """nn.RNN or nn.LSTM (batch first). The engine's one bias goes into bias_ih_l0;
    bias_hh_l0 stays a frozen zero (two trained biases would take two steps for one)."""

    def __init__(self, d, values):
        super().__init__()
        steps, n_in = d["input_shape"]
        units, self.lstm = d["units"], d["kind"] == "lstm"
        if self.lstm:
            self.cell = nn.LSTM(n_in, units, batch_first=True, dtype=TORCH_DTYPE)
        elif d["activation"] in ("tanh", "relu"):
            self.cell = nn.RNN(n_in, units, nonlinearity=d["activation"], batch_first=True,
                               dtype=TORCH_DTYPE)
        else:
            self.cell = Elman(n_in, units, d["activation"])
        with torch.no_grad():
            self.cell.bias_hh_l0.zero_()
        self.cell.bias_hh_l0.requires_grad_(False)
        self.return_sequences, self.truncation, self.steps = (
            d["return_sequences"], d["truncation"], steps)
        self.load(values, [("weight_ih", self.cell.weight_ih_l0, transpose, transpose),
                           ("weight_hh", self.cell.weight_hh_l0, transpose, transpose),
                           ("bias", self.cell.bias_ih_l0, same, same)])

    def forward(self, x, position):
        k = self.truncation
        if k is None or k >= self.steps - 1:
            seq, _ = self.cell(x)
        else:
            seq = self.truncated(x, k)
        out = seq if self.return_sequences else seq[:, -1]
        return out, out, out

    def truncated(self, x, k):
        """Truncated BPTT: the loss's contribution at step s flows back through steps s−k…s
        only, so each output step is rerun from the state before s−k, detached."""
        states, state = [None], None
        with torch.no_grad():
            for t in range(self.steps):
                _, state = self.cell(x[:, t:t + 1], state)
                states.append(state)
        wanted = range(self.steps) if self.return_sequences else [self.steps - 1]
        outputs = []
        for s in wanted:
            start = max(s - k, 0)
            before = states[start]
            if before is not None:
                before = tuple(v.detach() for v in before) if self.lstm else before.detach()
            seq, _ = self.cell(x[:, start:s + 1], before)
            outputs.append(seq[:, -1])
        return torch.stack(outputs, dim=1)


KINDS = {"dense": Dense, "conv2d": Conv, "maxpool": Pool, "avgpool": Pool, "flatten": Flatten,
         "rnn": Recurrent, "lstm": Recurrent}


class Net(nn.Module):
    """The exported layers; forward returns the output layer's z (logits) and a."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(KINDS[d["kind"]](d, p) for d, p in zip(LAYERS, PARAMETERS))

    def forward(self, x, position):
        h = x
        for layer in self.layers:
            z, a, h = layer(h, position)
        return z, a

    def parameter_list(self):
        """(layer index, engine name, parameter, to_torch, to_engine) in the engine's order."""
        return [(k, name, param, to_torch, to_engine)
                for k, layer in enumerate(self.layers)
                for name, param, to_torch, to_engine in layer.params]


def loss_of(net, z, a, y):
    """Mean data loss (over samples and time steps) plus the L1/L2 penalty on the weights."""
    if LOSS == "mse":
        loss = F.mse_loss(a, y)
    elif LOSS == "bce":
        loss = F.binary_cross_entropy_with_logits(z, y)
    else:
        k = z.shape[-1]
        loss = F.cross_entropy(z.reshape(-1, k), y.reshape(-1, k))  # y: one-hot probabilities
    if REGULARIZATION != "none" and REGULARIZATION_RATE > 0.0:
        weights = [param for k, name, param, _, _ in net.parameter_list()
                   if name in LAYERS[k]["regularized"]]
        if REGULARIZATION == "l1":
            loss = loss + REGULARIZATION_RATE * sum(w.abs().sum() for w in weights)
        else:
            loss = loss + 0.5 * REGULARIZATION_RATE * sum((w * w).sum() for w in weights)
    return loss


def make_optimizer(net):
    """torch.optim with Propscope's hyperparameters and its running state loaded."""
    entries = net.parameter_list()
    params = [param for _, _, param, _, _ in entries]
    h = HYPERPARAMETERS
    if OPTIMIZER in ("sgd", "momentum"):
        momentum = h["momentum"] if OPTIMIZER == "momentum" else 0.0
        nesterov = bool(h["nesterov"]) if OPTIMIZER == "momentum" else False
        optimizer = torch.optim.SGD(params, lr=LEARNING_RATE, momentum=momentum,
                                    nesterov=nesterov)
        names = {"velocity": "momentum_buffer"}
    elif OPTIMIZER == "rmsprop":
        optimizer = torch.optim.RMSprop(params, lr=LEARNING_RATE, alpha=h["rho"], eps=h["eps"])
        names = {"square_avg": "square_avg"}
    else:
        optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, betas=(h["beta1"], h["beta2"]),
                                     eps=h["eps"])
        names = {"m": "exp_avg", "v": "exp_avg_sq"}
    for key, per_layer in OPTIMIZER_STATE.items():
        for k, name, param, to_torch, _ in entries:
            state = optimizer.state[param]
            state[names[key]] = tensor(to_torch(per_layer[k][name])).clone()
            if OPTIMIZER in ("rmsprop", "adam"):
                state["step"] = torch.tensor(float(OPTIMIZER_STEPS))
    return optimizer


def train_step(net, optimizer, position, x_all, y_all):
    rows = position.next_batch()
    index = torch.from_numpy(rows)
    optimizer.zero_grad()
    z, a = net(x_all[index], position)
    loss = loss_of(net, z, a, y_all[index])
    loss.backward()
    grads = {(k, name): to_engine(param.grad).clone()
             for k, name, param, _, to_engine in net.parameter_list()}
    optimizer.step()
    return loss.item(), grads


SHORT = {"weight": "W", "bias": "b", "kernel": "K", "weight_ih": "W_ih", "weight_hh": "W_hh"}


def main():
    parser = argparse.ArgumentParser(description="Continue training the exported network.")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="write parameters and the last gradients to this .npz")
    args = parser.parse_args()
    net, position, grads = Net(), Position(), {}
    optimizer = make_optimizer(net)
    x_all, y_all = tensor(X), tensor(Y)
    for _ in range(args.steps):
        loss, grads = train_step(net, optimizer, position, x_all, y_all)
        print(f"step {position.step} epoch {position.epoch} loss {loss!r}")
    if args.save:
        arrays = {}
        for k, name, param, _, to_engine in net.parameter_list():
            arrays[f"{SHORT[name]}{k}"] = to_engine(param.detach()).numpy()
            if grads:
                arrays[f"g{SHORT[name]}{k}"] = grads[(k, name)].numpy()
        np.savez(args.save, **arrays)


if __name__ == "__main__":
    main()
'''
