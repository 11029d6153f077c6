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
from typing import Any

import numpy as np

from engine.architecture import build_layers
from engine.datasets import Dataset, make_dataset
from engine.history import LossHistory
from engine.losses import get_loss
from engine.network import Network
from engine.optimizers import Optimizer, make_optimizer
from engine.problem import Problem, build_problem
from engine.regularization import Regularization
from engine.reuse import VectorPool
from engine.spec import Spec, SpecError, validate
from engine.trace import Divergence, Phase, PlannedPhase, StepRecord, phase_plan


@dataclass(frozen=True)
class Metrics:
    step: int
    epoch: int
    train_loss: float
    test_loss: float | None
    penalty: float
    train_accuracy: float | None
    test_accuracy: float | None
    # Mean squared error in the targets' own units, when the network learns standardised
    # targets (custom regression data); None otherwise.
    train_loss_units: float | None = None
    test_loss_units: float | None = None
    # on the validation part (spec data.validation_ratio; None without one): when to stop
    validation_loss: float | None = None
    validation_accuracy: float | None = None


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
        layers = build_layers(
            spec, self.problem.input_shape, self.problem.n_outputs, self.problem.sequence_targets
        )
        self.network = Network.build(
            layers,
            spec.network.initializer,
            spec.network.dtype,
            spec.network.seed,
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
        self._pending_record: StepRecord | None = None
        self._buffers: _StepBuffers | None = None
        self.last_divergence: Divergence | None = None
        self._step_start: dict[str, Any] = {}
        self.last_record: StepRecord | None = None
        self.plan = phase_plan(self.network.layers)
        self.grad_naming = _grad_naming(self.network)
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

    def step(self, record: bool = True) -> StepRecord:
        """One whole training step (finishing a step begun phase by phase, if any).

        ``record=False`` is the lean step for the steps no view shows: the same arithmetic in the
        same order (bit-identical parameters, the same exact loss, penalty and per-layer gradient
        norms on the returned record) but into gradient, update and scratch vectors reused from
        step to step, with the parameters and optimiser state updated in place — no array the
        size of the parameters is allocated; the returned record keeps only its scalars
        (``layers`` is empty, ``parameters`` None) and ``last_record`` becomes None."""
        if self._pending is not None:
            *_, last = self._pending  # run the remaining phases
            return last.record
        run = _StepRun.next_batch(self, lean=not record)
        run.run(self.plan)
        return run.record

    def _step_buffers(self) -> _StepBuffers:
        if self._buffers is None:
            self._buffers = _StepBuffers(self.network)
        return self._buffers

    def next_phase(self) -> Phase:
        """Run one phase of the current step (starting a new step when none is in progress)."""
        if self._pending is None:
            self._step_start = self._position_now()
            run = _StepRun.next_batch(self, lean=False)
            self._pending_record = run.record
            self._pending = run.phases()
        return next(self._pending)

    # --- position: where the run is, for saving and restoring --------------------------------

    def position(self) -> dict[str, Any]:
        """Everything that decides the next steps besides parameters and optimiser state. In the
        middle of phase stepping it is the position where the pending step began plus how many
        of its phases ran: restoring replays them, so the same batch and dropout draws follow."""
        if self._pending is None:
            return {**self._position_now(), "phases_done": 0}
        return {**self._step_start, "phases_done": self.last_phase_count}

    def restore_position(self, position: dict[str, Any]) -> None:
        """The inverse of :meth:`position` (parameters and optimiser state are restored first)."""
        self.discard_pending()
        self._set_position(position)
        phases = int(position.get("phases_done", 0))
        if not 0 <= phases < len(self.plan):
            raise ValueError(f"phases_done must be between 0 and {len(self.plan) - 1}")
        for _ in range(phases):
            self.next_phase()

    @property
    def last_phase_count(self) -> int:
        """Phases run of the pending step (0 when no step is in progress)."""
        return self._pending_record.phases_done if self._pending is not None else 0

    def _set_position(self, position: dict[str, Any]) -> None:
        self.step_count = int(position["step"])
        self.epoch = int(position["epoch"])
        self._order = np.asarray(position["order"], dtype=np.int64)
        self._cursor = int(position["cursor"])
        self._order_rng.bit_generator.state = position["order_rng"]
        self._dropout_rng.bit_generator.state = position["dropout_rng"]

    def _position_now(self) -> dict[str, Any]:
        return {
            "step": self.step_count,
            "epoch": self.epoch,
            "order": self._order,
            "cursor": self._cursor,
            "order_rng": self._order_rng.bit_generator.state,
            "dropout_rng": self._dropout_rng.bit_generator.state,
        }

    def finish_pending(self) -> None:
        """Called by the update phase: no step is in progress any more."""
        self._pending = None
        self._pending_record = None

    @property
    def in_step(self) -> bool:
        return self._pending is not None

    def discard_pending(self) -> None:
        """Forget a step begun phase by phase (its forward values are stale after an edit). The
        batch order and dropout streams go back to where that step began, so the next step draws
        the same batch: stepping by phases never changes which batches a run sees."""
        if self._pending is not None:
            self._pending.close()
            self.finish_pending()
            self._set_position(self._step_start)

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
        if self.last_divergence is not None:
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
        regularization: Regularization | None = None,
    ) -> StepRecord:
        """Forward, loss and backward for chosen samples with the current parameters — no update,
        no random numbers drawn: what the inspector shows for a selected sample. Without masks
        there is no dropout; with them (one per layer, rows matching `indices`) a recorded step's
        dropout is replayed exactly. ``regularization`` replaces the one in force (to explain a
        recorded step with the penalty that step used)."""
        run = self._run_for(indices, split, dropout_masks, regularization)
        run.run(self.plan[:-1])  # everything but the update
        return run.record

    def trace_input(self, raw: np.ndarray) -> StepRecord:
        """Forward only, with the current parameters, for inputs that are not in the data set
        (a digit drawn on the page): raw values in the data set's units and shape, made into
        network inputs as the data set's are. No target, so no loss and no backward pass."""
        x = self.problem.inputs(np.asarray(raw).reshape(-1, *self.dataset.sample_shape), self.dtype)
        run = _StepRun(self, np.empty(0, dtype=np.int64), x, np.empty((len(x), 0)),
                       dropout=False)
        run.run(self.plan[: len(self.network.layers)])  # the forward phases
        return run.record

    def samples_loss(
        self,
        indices: np.ndarray | list[int],
        dropout_masks: list[np.ndarray | None] | None = None,
        regularization: Regularization | None = None,
    ) -> float:
        """Total loss (mean data loss + penalty) of chosen training rows, forward only."""
        run = self._run_for(indices, "train", dropout_masks, regularization)
        run.run(self.plan[: len(self.network.layers) + 1])  # forward and loss
        return run.record.total_loss

    def _run_for(self, indices, split: str, dropout_masks, regularization) -> _StepRun:
        problem = self.problem
        x, y = (
            (problem.x_train, problem.y_train)
            if split == "train"
            else (problem.x_test, problem.y_test)
        )
        indices = np.asarray(indices, dtype=np.int64)
        return _StepRun(
            self,
            indices,
            x[indices],
            y[indices],
            dropout=False,
            masks=dropout_masks,
            regularization=regularization,
        )

    # --- evaluation --------------------------------------------------------------------------

    def evaluate(self) -> Metrics:
        """Data loss and accuracy on the train, test and validation sets (evaluation mode, no
        dropout)."""
        problem = self.problem
        train_loss, train_acc = self._loss_and_accuracy(problem.x_train, problem.y_train, "train")
        test_loss = test_acc = val_loss = val_acc = None
        if len(problem.x_test):
            test_loss, test_acc = self._loss_and_accuracy(problem.x_test, problem.y_test, "test")
        if problem.x_val is not None:
            val_loss, val_acc = self._loss_and_accuracy(problem.x_val, problem.y_val, "validation")
        units = self._loss_in_units
        return Metrics(
            train_loss_units=units(problem.x_train, problem.y_train),
            test_loss_units=units(problem.x_test, problem.y_test) if len(problem.x_test) else None,
            step=self.step_count,
            epoch=self.epoch,
            train_loss=train_loss,
            test_loss=test_loss,
            penalty=self.regularization.penalty(self.network.regularized()),
            train_accuracy=train_acc,
            test_accuracy=test_acc,
            validation_loss=val_loss,
            validation_accuracy=val_acc,
        )

    def _loss_in_units(self, x: np.ndarray, y: np.ndarray) -> float | None:
        scale = self.problem.target_scale
        if scale is None:
            return None
        predicted = self.problem.outputs_in_units(self.network.predict(x))
        error = predicted - (y * scale.scale + scale.mean)
        return float((error * error).mean())

    def _loss_and_accuracy(self, x, y, split: str) -> tuple[float, float | None]:
        z, a = self.output_layer(x)
        return float(self.loss.per_sample(z, a, y).mean()), self.problem.accuracy(a, split)

    def output_layer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, a) of the output layer in evaluation mode; the fused losses need z."""
        hidden = x
        for layer in self.network.layers[:-1]:
            hidden = layer.infer(hidden)
        last = self.network.layers[-1].forward(hidden, len(self.network.layers) - 1)
        return last.pre_activation, last.activation

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
        regularization: Regularization | None = None,
        buffers: _StepBuffers | None = None,
        lean: bool = False,
    ) -> None:
        self.trainer = trainer
        # The trainer's reused vectors: scratch for every training step, and the gradients too
        # for a lean step (which also updates the parameters in place).
        self._buffers = buffers
        self._lean = lean = lean and buffers is not None
        # The regularisation in force when the step began applies to the whole step.
        self._regularization = trainer.regularization if regularization is None else regularization
        self.record = StepRecord(
            step=trainer.step_count + 1,
            epoch=trainer.epoch,
            batch_indices=indices,
            inputs=inputs,
            targets=targets,
            learning_rate=trainer.optimizer.learning_rate,
            parameters=trainer.network.flat,
            regularization=self._regularization,
        )
        self._dropout_rng = trainer._dropout_rng if dropout else None
        self._masks = masks
        self._grad_output: np.ndarray | None = None
        # The step's gradients, laid out like the flat parameter vector: for a recorded step
        # vectors no earlier record still holds (its trace keeps views of them), the trainer's
        # reused ones when lean, fresh ones when tracing chosen samples.
        self._active = active = self._regularization.active
        self._penalty_views: list[dict[str, np.ndarray]] | None = None
        if buffers is not None and not lean:
            data = buffers.data_pool.take()
            total = buffers.total_pool.take() if active else data
            self._grad_data, self._data_views = data.vector, data.views
            self._grad_total, self._total_views = total.vector, total.views
            if active:
                self._penalty_views = buffers.penalty_pool.take().views
        elif not lean:
            size = trainer.network.flat.size
            self._grad_data = np.empty(size, dtype=trainer.dtype)
            self._grad_total = np.empty(size, dtype=trainer.dtype) if active else self._grad_data
            layouts = trainer.network.layouts
            self._data_views = [layout.views(self._grad_data) for layout in layouts]
            self._total_views = (
                [layout.views(self._grad_total) for layout in layouts]
                if active
                else self._data_views
            )
        else:
            self._grad_data = buffers.data
            self._grad_total = buffers.total if active else buffers.data
            self._data_views = buffers.data_views
            self._total_views = buffers.total_views if active else buffers.data_views

    @classmethod
    def next_batch(cls, trainer: Trainer, lean: bool) -> _StepRun:
        indices = trainer._next_batch()
        problem = trainer.problem
        x, y = problem.x_train.take(indices, 0), problem.y_train.take(indices, 0)
        return cls(trainer, indices, x, y, buffers=trainer._step_buffers(), lean=lean)

    def forward(self, k: int) -> None:
        record = self.record
        x = record.inputs if k == 0 else record.layers[k - 1].output
        layer = self.trainer.network.layers[k]
        mask = None if self._masks is None else self._masks[k]
        record.layers.append(layer.forward(x, k, self._dropout_rng, mask))

    def loss(self) -> None:
        record, trainer = self.record, self.trainer
        out = record.layers[-1]
        losses = trainer.loss.per_sample(
            out.pre_activation, out.activation, record.targets,
            getattr(out, "activation_parts", None),
        )
        record.sample_losses = losses
        record.data_loss = float(np.add.reduce(losses)) / len(losses)
        regularization = self._regularization
        buffers = self._buffers
        record.penalty = (
            regularization.penalty(
                trainer.network.regularized(record.parameters),
                None if buffers is None else buffers.work_regularized,
            )
            if regularization.active
            else 0.0
        )
        record.total_loss = record.data_loss + record.penalty

    def backward(self, k: int) -> None:
        record, network = self.record, self.trainer.network
        layer, trace = network.layers[k], record.layers[k]
        last = k == len(network.layers) - 1
        if last and self._lean:
            trace.delta = self.trainer.loss.output_delta_only(
                trace.pre_activation, trace.activation, record.targets, layer.activation
            )
        elif last:
            trace.grad_output = None
            trace.grad_activation, trace.delta = self.trainer.loss.output_delta(
                trace.pre_activation, trace.activation, record.targets, layer.activation
            )
        else:
            layer.backward(trace, self._grad_output)
        if network.layouts[k].size:
            data = self._data_views[k]
            layer.accumulate(trace, data)
            if self._lean:
                self._lean_totals(layer, trace, data, self._total_views[k])
            else:
                self._gradients(k, layer, trace, data, self._total_views[k])
        if k > 0:
            self._grad_output = layer.grad_input(trace)

    def _gradients(
        self, k: int, layer, trace, data: dict[str, np.ndarray], totals: dict[str, np.ndarray]
    ) -> None:
        """Name the step's gradients on the trace: with a penalty, the penalised parameters get
        data + penalty (written into the total gradient vector), the others a copy of the data
        part; without one, what the optimiser receives is the data part itself."""
        regularization, active = self._regularization, self._active
        for name, grad_name, data_name, penalty_name, penalised in self.trainer.grad_naming[k]:
            grad = data[name]
            if not active:  # a fresh trace's penalty part is None already
                setattr(trace, grad_name, grad)
                if penalised:
                    setattr(trace, data_name, grad)
                continue
            total = totals[name]
            if penalised:
                out = None if self._penalty_views is None else self._penalty_views[k][name]
                penalty = regularization.gradient(getattr(trace, name), out=out)
                setattr(trace, data_name, grad)
                setattr(trace, penalty_name, penalty)
                setattr(trace, grad_name, np.add(grad, penalty, out=total))
            else:
                total[...] = grad
                setattr(trace, grad_name, total)

    def _lean_totals(
        self, layer, trace, data: dict[str, np.ndarray], totals: dict[str, np.ndarray]
    ) -> None:
        """What the optimiser receives, as in :meth:`_gradients` but named on no trace: with a
        penalty, the penalty goes straight into the total vector and the data part is added to
        it (the same sum); without one the optimiser reads the data part itself."""
        if not self._active:
            return
        regularization, regularized = self._regularization, layer.regularized
        for name, grad in data.items():
            total = totals[name]
            if name in regularized:
                regularization.gradient(getattr(trace, name), out=total)
                np.add(total, grad, out=total)
            else:
                total[...] = grad

    def update(self) -> None:
        record, trainer = self.record, self.trainer
        network = trainer.network
        grads, buffers = self._grad_total, self._buffers
        if self._lean:
            # The same sum, in place: every layer's views stay bound.
            network.flat += trainer.optimizer.updates(network.flat, grads, out=buffers.work)
            record.layers, record.parameters = [], None  # its arrays are reused next step
            trainer.last_record = None
        else:
            update = trainer.optimizer.updates(
                network.flat, grads, out=buffers.update_pool.take().vector
            )
            # Replaced, not mutated: the record's `parameters` stays the pre-update vector.
            after = buffers.params_pool.take()
            network.bind(np.add(network.flat, update, out=after.vector), after.views)
            for trace, layout in zip(record.layers, network.layouts, strict=True):
                trace.flat_update, trace.layout = update, layout
            trainer.last_record = record
        squares = np.multiply(grads, grads, out=buffers.work)
        record.grad_norms = _grad_norms(network, squares)
        trainer.step_count = record.step
        trainer.history.add(record)
        trainer.edited_since_step = False
        trainer.finish_pending()
        record.divergence = _divergence(record, trainer.optimizer.name)
        trainer.last_divergence = record.divergence

    def run(self, plan: list[PlannedPhase]) -> None:
        """Run the given phases in order (the whole step, or a prefix of it)."""
        forward, backward = self.forward, self.backward
        for planned in plan:
            kind = planned.kind
            if kind == "forward":
                forward(planned.layer)
            elif kind == "backward":
                backward(planned.layer)
            elif kind == "loss":
                self.loss()
            else:
                self.update()

    def _do(self, planned: PlannedPhase) -> None:
        kind, k = planned.kind, planned.layer
        if kind == "forward":
            self.forward(k)
        elif kind == "loss":
            self.loss()
        elif kind == "backward":
            self.backward(k)
        else:
            self.update()

    def phases(self) -> Iterator[Phase]:
        """The same phases as Trainer.step, one per `next`, each with what it computed."""
        record = self.record
        for planned in self.trainer.plan:
            self._do(planned)
            kind, k = planned.kind, planned.layer
            if kind == "forward":
                values = _pick(record.layers[k], record.layers[k].FORWARD_FIELDS)
            elif kind == "loss":
                values = {
                    "sample_losses": record.sample_losses,
                    "data_loss": record.data_loss,
                    "penalty": record.penalty,
                    "total_loss": record.total_loss,
                }
            elif kind == "backward":
                values = _pick(record.layers[k], record.layers[k].BACKWARD_FIELDS)
            else:
                values = {**_updates(record), "grad_norms": record.grad_norms}
            record.phases_done += 1
            yield Phase(kind, k, values, record, planned.title)


def _updates(record: StepRecord) -> dict[str, list[np.ndarray | None]]:
    """Each parameter's update by name, one entry per layer (None where a layer has no such
    parameter): ``weight_update``, ``bias_update``, ``kernel_update``, ``weight_hh_update``…"""
    out: dict[str, list[np.ndarray | None]] = {}
    for k, tr in enumerate(record.layers):
        if tr.layout is None or not tr.layout.slots:
            continue
        for name, view in tr.layout.views(tr.flat_update).items():
            out.setdefault(f"{name}_update", [None] * len(record.layers))[k] = view
    return out


def _grad_naming(network: Network) -> list[tuple[tuple[str, str, str, str, bool], ...]]:
    """Per layer, each parameter's name, the trace attributes of its gradient (see
    engine.layers.base) and whether it is penalised: worked out once, read every step."""
    return [
        tuple(
            (slot.name, f"{slot.name}_grad", f"{slot.name}_grad_data",
             f"{slot.name}_grad_penalty", slot.name in layer.regularized)
            for slot in layout.slots
        )
        for layer, layout in zip(network.layers, network.layouts, strict=True)
    ]


class _StepBuffers:
    """Vectors the size of the parameters that a trainer's steps reuse: the lean step's data and
    total gradients (each layer's named views made once), one scratch vector every step writes
    its passing values into (|w| or w² of the penalty, the lean update, g²), and the pools the
    recorded steps take their records' vectors from (engine.reuse)."""

    def __init__(self, network: Network) -> None:
        flat, layouts = network.flat, network.layouts
        self.data_pool, self.total_pool = VectorPool(flat, layouts), VectorPool(flat, layouts)
        self.update_pool, self.params_pool = VectorPool(flat, layouts), VectorPool(flat, layouts)
        self.penalty_pool = VectorPool(flat, layouts)  # penalty gradients at the weights' places
        self.data = np.empty_like(network.flat)
        self.total = np.empty_like(network.flat)
        self.work = np.empty_like(network.flat)
        self.data_views = [layout.views(self.data) for layout in network.layouts]
        self.total_views = [layout.views(self.total) for layout in network.layouts]
        self.work_regularized = network.regularized(self.work)


def _grad_norms(network: Network, squares: np.ndarray) -> list[float]:
    """‖∂L/∂θ‖ of each layer's parameters (0 for a layer without parameters), from the squared
    gradient vector."""
    norms = np.sqrt(np.add.reduceat(squares, network.layer_starts)).tolist()
    if len(network.param_layers) == len(network.layers):
        return norms
    out = [0.0] * len(network.layers)
    for k, norm in zip(network.param_layers, norms, strict=True):
        out[k] = norm
    return out


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
        sequence_length=data.sequence_length,
        validation_ratio=data.validation_ratio,
    )


def _optimizer_from(spec: Spec) -> Optimizer:
    opt = spec.training.optimizer
    return make_optimizer(opt.name, opt.learning_rate, **opt.hyperparameters())


def _check_size(spec: Spec, problem: Problem) -> None:
    problems = validate(spec, n_train=len(problem.x_train))
    if problems:
        raise SpecError(problems)
