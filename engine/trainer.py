"""The trainer: a network, its data and its optimiser, stepped one batch (or one phase) at a time.

``step()`` runs the phases of :func:`engine.trace.phase_plan` in order and returns the filled
:class:`StepRecord`; ``next_phase()`` runs exactly one phase of the same machinery, so stepping by
phases and stepping whole give bit-identical parameters. Random streams (data, initial weights,
batch order, dropout) are separate and seeded, so the same spec gives the same trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.datasets import Dataset, make_dataset
from engine.history import LossHistory
from engine.losses import get_loss
from engine.network import Network
from engine.optimizers import Optimizer, make_optimizer
from engine.problem import Problem, build_problem
from engine.regularization import Regularization
from engine.spec import LIMITS, Spec, SpecError, validate
from engine.trace import Divergence, Phase, StepRecord, phase_plan


@dataclass(frozen=True)
class Metrics:
    step: int
    epoch: int
    train_loss: float
    test_loss: float | None
    penalty: float
    train_accuracy: float | None
    test_accuracy: float | None


class Trainer:
    def __init__(self, spec: Spec, dataset: Dataset | None = None) -> None:
        self.spec = spec
        self.dtype = np.dtype(spec.network.dtype)
        self.dataset = dataset if dataset is not None else make_dataset_for(spec)
        self.problem = build_problem(
            self.dataset,
            spec.data.features,
            spec.data.standardize,
            spec.network.output_activation,
            self.dtype,
        )
        _check_size(spec, self.problem)
        self.network = Network.build(
            spec.network, self.problem.x_train.shape[1], self.problem.n_outputs
        )
        self.loss = get_loss(spec.training.loss)
        self.regularization = Regularization(
            spec.training.regularization, spec.training.regularization_rate
        )
        self.optimizer = _optimizer_from(spec)
        self.step_count = 0
        self.epoch = 0
        self._order_rng, self._dropout_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(spec.training.seed).spawn(2)
        )
        self._order = np.empty(0, dtype=np.int64)
        self._cursor = 0
        self._pending: Iterator[Phase] | None = None
        self.last_record: StepRecord | None = None
        self.history = LossHistory()  # every completed step's loss and gradient norms
        self.edited_since_step = False  # a hand edit since the latest step (see edit_parameter)

    # --- settings that change without a reset ------------------------------------------------

    @property
    def batch_size(self) -> int:
        return self.spec.training.batch_size

    def set_learning_rate(self, learning_rate: float) -> None:
        self.optimizer.learning_rate = learning_rate
        self.spec.training.optimizer.learning_rate = learning_rate

    def set_regularization(self, kind: str, rate: float) -> None:
        self.regularization = Regularization(kind, rate)
        self.spec.training.regularization = kind
        self.spec.training.regularization_rate = rate

    def set_batch_size(self, batch_size: int) -> None:
        if not 1 <= batch_size <= len(self.problem.x_train):
            raise ValueError(
                f"batch size must be between 1 and the {len(self.problem.x_train)} training samples"
            )
        self.spec.training.batch_size = batch_size

    def edit_parameter(self, layer: int, source: int | None, target: int, value: float) -> None:
        """Set one weight (or bias, when source is None) by hand, as the Playground allows.
        A step begun phase by phase is dropped: its forward values no longer hold."""
        self.discard_pending()
        self.network.set_parameter(layer, source, target, value)
        self.edited_since_step = True

    def set_optimizer(self, name: str, **hyperparameters: float | bool) -> None:
        """Switch optimiser; its state starts fresh (momentum of one is meaningless to another).
        The spec changes only when the new settings are valid."""
        candidate = self.spec.copy()
        for key, value in hyperparameters.items():
            setattr(candidate.training.optimizer, key, value)
        candidate.training.optimizer.name = name
        problems = validate(candidate)
        if problems:
            raise SpecError(problems)
        self.spec.training.optimizer = candidate.training.optimizer
        self.optimizer = _optimizer_from(self.spec)

    # --- stepping ----------------------------------------------------------------------------

    def step(self) -> StepRecord:
        """One whole training step (finishing a step begun phase by phase, if any)."""
        if self._pending is not None:
            *_, last = self._pending  # run the remaining phases
            return last.record
        run = _StepRun.next_batch(self)
        for k in range(len(self.network.layers)):
            run.forward(k)
        run.loss()
        for k in reversed(range(len(self.network.layers))):
            run.backward(k)
        run.update()
        return run.record

    def next_phase(self) -> Phase:
        """Run one phase of the current step (starting a new step when none is in progress)."""
        if self._pending is None:
            self._pending = _StepRun.next_batch(self).phases()
        return next(self._pending)

    @property
    def in_step(self) -> bool:
        return self._pending is not None

    def discard_pending(self) -> None:
        """Forget a step begun phase by phase (its forward values are stale after an edit)."""
        if self._pending is not None:
            self._pending.close()
            self._pending = None

    def _next_batch(self) -> np.ndarray:
        n = len(self.problem.x_train)
        if self._cursor >= len(self._order):
            if len(self._order):
                self.epoch += 1
            self._order = self._order_rng.permutation(n)
            self._cursor = 0
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(indices)
        return indices

    # --- stopping ----------------------------------------------------------------------------

    def stop_reason(self, last_loss: float | None = None) -> str | None:
        """Why training should stop now: 'max_epochs', 'target_loss', 'diverged' or None."""
        training = self.spec.training
        if self.last_record is not None and self.last_record.divergence is not None:
            return "diverged"
        if training.max_epochs is not None and self.epochs_done >= training.max_epochs:
            return "max_epochs"
        if training.target_loss is not None and last_loss is not None:
            if last_loss <= training.target_loss:
                return "target_loss"
        return None

    @property
    def epochs_done(self) -> float:
        """Complete passes over the training data (fractional: progress through the current one)."""
        n = len(self.problem.x_train)
        return self.epoch + (self._cursor / n if len(self._order) else 0.0)

    def train(self, max_steps: int, evaluate_every: int = 0) -> str | None:
        """Step until a stop criterion holds or max_steps is reached; returns the reason."""
        loss = None
        for _ in range(max_steps):
            record = self.step()
            if self.spec.training.target_loss is not None:
                every = evaluate_every or max(1, len(self.problem.x_train) // self.batch_size)
                if self.step_count % every == 0:
                    loss = self.evaluate().train_loss
            else:
                loss = record.total_loss
            reason = self.stop_reason(loss)
            if reason:
                return reason
        return None

    def trace_samples(
        self,
        indices: np.ndarray | list[int],
        split: str = "train",
        dropout_masks: list[np.ndarray | None] | None = None,
    ) -> StepRecord:
        """Forward, loss and backward for chosen samples with the current parameters — no update,
        no random numbers drawn: what the inspector shows for a selected sample. Without masks
        there is no dropout; with them (one per layer, rows matching `indices`) a recorded step's
        dropout is replayed exactly."""
        run = self._run_for(indices, split, dropout_masks)
        for k in range(len(self.network.layers)):
            run.forward(k)
        run.loss()
        for k in reversed(range(len(self.network.layers))):
            run.backward(k)
        return run.record

    def samples_loss(
        self,
        indices: np.ndarray | list[int],
        dropout_masks: list[np.ndarray | None] | None = None,
    ) -> float:
        """Total loss (mean data loss + penalty) of chosen training rows, forward only."""
        run = self._run_for(indices, "train", dropout_masks)
        for k in range(len(self.network.layers)):
            run.forward(k)
        run.loss()
        return run.record.total_loss

    def _run_for(self, indices, split: str, dropout_masks) -> _StepRun:
        problem = self.problem
        x, y = (
            (problem.x_train, problem.y_train)
            if split == "train"
            else (problem.x_test, problem.y_test)
        )
        indices = np.asarray(indices, dtype=np.int64)
        return _StepRun(self, indices, x[indices], y[indices], dropout=False, masks=dropout_masks)

    # --- evaluation --------------------------------------------------------------------------

    def evaluate(self) -> Metrics:
        """Data loss and accuracy on the train and test sets (evaluation mode, no dropout)."""
        problem = self.problem
        train_loss, train_acc = self._loss_and_accuracy(problem.x_train, problem.y_train, "train")
        test_loss = test_acc = None
        if len(problem.x_test):
            test_loss, test_acc = self._loss_and_accuracy(problem.x_test, problem.y_test, "test")
        return Metrics(
            step=self.step_count,
            epoch=self.epoch,
            train_loss=train_loss,
            test_loss=test_loss,
            penalty=self.regularization.penalty([layer.weight for layer in self.network.layers]),
            train_accuracy=train_acc,
            test_accuracy=test_acc,
        )

    def _loss_and_accuracy(self, x, y, split: str) -> tuple[float, float | None]:
        z, a = self.output_layer(x)
        return float(self.loss.per_sample(z, a, y).mean()), self.problem.accuracy(a, split)

    def output_layer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, a) of the output layer in evaluation mode; the fused losses need z."""
        hidden = x
        for layer in self.network.layers[:-1]:
            hidden = layer.infer(hidden)
        last = self.network.layers[-1]
        z = hidden @ last.weight + last.bias
        return z, last.activation.value(z)

    def sample_loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample data loss for inputs x and encoded targets y (evaluation mode)."""
        return self.loss.per_sample(*self.output_layer(x), y)


class _StepRun:
    """One step in progress. Each method is one phase; each fills the shared record."""

    def __init__(
        self,
        trainer: Trainer,
        indices: np.ndarray,
        inputs: np.ndarray,
        targets: np.ndarray,
        dropout: bool = True,
        masks: list[np.ndarray | None] | None = None,
    ) -> None:
        self.trainer = trainer
        self.record = StepRecord(
            step=trainer.step_count + 1,
            epoch=trainer.epoch,
            batch_indices=indices,
            inputs=inputs,
            targets=targets,
            learning_rate=trainer.optimizer.learning_rate,
            parameters=trainer.network.flat,
        )
        self._dropout_rng = trainer._dropout_rng if dropout else None
        self._masks = masks
        self._grad_output: np.ndarray | None = None
        # The step's gradients, laid out like the flat parameter vector; the regularisation in
        # force when the step began applies to the whole step.
        self._regularization = trainer.regularization
        size = trainer.network.flat.size
        self._grad_data = np.empty(size, dtype=trainer.dtype)
        active = self._regularization.active
        self._grad_total = np.empty(size, dtype=trainer.dtype) if active else self._grad_data

    @classmethod
    def next_batch(cls, trainer: Trainer) -> _StepRun:
        indices = trainer._next_batch()
        problem = trainer.problem
        return cls(
            trainer, indices, problem.x_train.take(indices, 0), problem.y_train.take(indices, 0)
        )

    def forward(self, k: int) -> None:
        record = self.record
        x = record.inputs if k == 0 else record.layers[k - 1].output
        layer = self.trainer.network.layers[k]
        mask = None if self._masks is None else self._masks[k]
        record.layers.append(layer.forward(x, k, self._dropout_rng, mask))

    def loss(self) -> None:
        record, trainer = self.record, self.trainer
        out = record.layers[-1]
        losses = trainer.loss.per_sample(out.pre_activation, out.activation, record.targets)
        record.sample_losses = losses
        record.data_loss = float(np.add.reduce(losses)) / len(losses)
        regularization = self._regularization
        record.penalty = (
            regularization.penalty([t.weight for t in record.layers])
            if regularization.active
            else 0.0
        )
        record.total_loss = record.data_loss + record.penalty

    def backward(self, k: int) -> None:
        record, trainer = self.record, self.trainer
        layer, trace = trainer.network.layers[k], record.layers[k]
        if k == len(record.layers) - 1:
            trace.grad_output = None
            trace.grad_activation, trace.delta = trainer.loss.output_delta(
                trace.pre_activation, trace.activation, record.targets, layer.activation
            )
        else:
            layer.backward(trace, self._grad_output)
        block = trainer.network.blocks[k]
        if self._regularization.active:
            total_bias = block.bias(self._grad_total)
            layer.accumulate(
                trace,
                block.weight(self._grad_data),
                block.bias(self._grad_data),
                self._regularization.gradient(trace.weight),
                block.weight(self._grad_total),
            )
            total_bias[...] = trace.bias_grad
            trace.bias_grad = total_bias
        else:
            layer.accumulate(trace, block.weight(self._grad_data), block.bias(self._grad_data))
        if k > 0:
            self._grad_output = layer.grad_input(trace)

    def update(self) -> None:
        record, trainer = self.record, self.trainer
        network = trainer.network
        grads = self._grad_total
        update = trainer.optimizer.updates(network.flat, grads)
        network.bind(network.flat + update)
        for trace, block in zip(record.layers, network.blocks, strict=True):
            trace.flat_update, trace.block = update, block
        squares = np.add.reduceat(grads * grads, network.layer_starts)
        record.grad_norms = np.sqrt(squares).tolist()
        trainer.step_count = record.step
        trainer.last_record = record
        trainer.history.add(record)
        trainer.edited_since_step = False
        trainer._pending = None
        record.divergence = _divergence(record, trainer.optimizer.name)

    def phases(self) -> Iterator[Phase]:
        """The same phases as Trainer.step, one per `next`, each with what it computed."""
        record = self.record
        for kind, k in phase_plan(len(self.trainer.network.layers)):
            if kind == "forward":
                self.forward(k)
                values = _pick(record.layers[k], _FORWARD_FIELDS)
            elif kind == "loss":
                self.loss()
                values = {
                    "sample_losses": record.sample_losses,
                    "data_loss": record.data_loss,
                    "penalty": record.penalty,
                    "total_loss": record.total_loss,
                }
            elif kind == "backward":
                self.backward(k)
                values = _pick(record.layers[k], _BACKWARD_FIELDS)
            else:
                self.update()
                values = {
                    "weight_update": [t.weight_update for t in record.layers],
                    "bias_update": [t.bias_update for t in record.layers],
                    "grad_norms": record.grad_norms,
                }
            record.phases_done += 1
            yield Phase(kind, k, values, record)


_FORWARD_FIELDS = ("input", "pre_activation", "activation", "dropout_mask", "output")
_BACKWARD_FIELDS = (
    "grad_output",
    "grad_activation",
    "delta",
    "weight_grad_data",
    "weight_grad_penalty",
    "weight_grad",
    "bias_grad",
)


def _pick(trace, names) -> dict[str, object]:
    return {name: getattr(trace, name) for name in names}


def _divergence(record: StepRecord, optimizer: str) -> Divergence | None:
    """Cheap check on scalars already computed: a non-finite loss or gradient norm."""
    if math.isfinite(record.total_loss) and all(map(math.isfinite, record.grad_norms)):
        return None
    bad_layer = next((k for k, n in enumerate(record.grad_norms) if not math.isfinite(n)), None)
    quantity = "loss" if not math.isfinite(record.total_loss) else "gradient"
    remedies = "lower the learning rate (try a tenth) or use a smaller initialisation"
    if optimizer != "adam":
        remedies += ", or switch to Adam, which scales each step by the gradient's size"
    return Divergence(
        step=record.step,
        layer=bad_layer,
        quantity=quantity,
        suggestion=f"the numbers grew without bound: {remedies}; then reset",
    )


def make_dataset_for(spec: Spec) -> Dataset:
    data = spec.data
    return make_dataset(
        data.dataset,
        n_samples=data.n_samples,
        noise=data.noise,
        train_ratio=data.train_ratio,
        seed=data.seed,
    )


def _optimizer_from(spec: Spec) -> Optimizer:
    opt = spec.training.optimizer
    return make_optimizer(opt.name, opt.learning_rate, **opt.hyperparameters())


def _check_size(spec: Spec, problem: Problem) -> None:
    problems = validate(spec, n_train=len(problem.x_train))
    sizes = (
        [problem.x_train.shape[1]] + [h.units for h in spec.network.hidden] + [problem.n_outputs]
    )
    count = sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))
    if count > LIMITS["max_parameters"]:
        problems.append(
            ("network", f"{count} parameters; at most {LIMITS['max_parameters']} are allowed")
        )
    if problems:
        raise SpecError(problems)
