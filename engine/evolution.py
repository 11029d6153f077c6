"""Training without gradients: a genetic algorithm over the network's flat parameter vector.

Backpropagation gets an exact gradient from one forward and one backward pass per batch. A
genetic algorithm only ever runs forward passes: it keeps a population of parameter vectors,
scores each by its loss, and breeds the next generation from the better ones. It is built from
the same :class:`~engine.spec.Spec` as :class:`~engine.trainer.Trainer` — same data (and data
seed), same architecture, same initialiser, same loss — so the two can be set side by side.

Generation 0 is the backprop run's own starting vector plus ``population − 1`` fresh draws of
the spec's initialiser from the GA's seed. Each :meth:`GeneticTrainer.step` then breeds one
generation (population P, elite E, tournament size K, every draw from the GA's one generator):

1. elitism: the E lowest-loss vectors pass unchanged (with E ≥ 1 the best loss never rises);
2. selection: each of the P − E children has two parents, each the lowest-loss of K members
   drawn at random with replacement (tournament selection);
3. crossover, per parameter: ``"uniform"`` takes it from either parent with probability ½;
   ``"blend"`` takes ``mother + u·(father − mother)`` with u ~ U(0, 1) (a point between them);
4. mutation: each parameter, with probability ``mutation_rate``, gets N(0, mutation_scale²) added;
5. scoring: each child's data loss on the whole training set (no dropout, as ``evaluate()``;
   a spec's L1/L2 penalty is not part of the fitness).

Counting (what the lesson compares): one **forward pass** is one parameter vector evaluated on the
whole training set. Generation 0 costs P, every later generation P − E (the elite keep their
scores: the loss is deterministic). ``samples_seen`` = forward passes × training samples, the
per-sample forward passes — a backprop step sees ``batch_size`` samples (and runs a backward
pass for each).

A dense stack is scored for the whole population at once (its weights stacked along a population
axis, one ``np.matmul`` per layer); other layer kinds bind each vector to the network in turn and
run its own forward pass. Both give the numbers ``Trainer.evaluate().train_loss`` gives for that
vector.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.architecture import multiply_adds
from engine.datasets import Dataset
from engine.initializers import get_initializer
from engine.network import Network
from engine.spec import LIMITS, Spec, SpecError
from engine.trainer import Trainer

CROSSOVERS = ("uniform", "blend")

# What one request may cost a shared server: the population's size, and the multiply-adds of
# one generation's scoring (population × training samples × the network's per-sample cost;
# 2·10⁹ is about a second of NumPy). The 2-8-8-1 network on 200 samples, population 500: 9·10⁶.
EVOLUTION_LIMITS: dict[str, int | float] = {
    "max_population": 500,
    "max_mutation_scale": 10.0,
    "max_generation_multiply_adds": 2_000_000_000,
}

_CHUNK_VALUES = 16_384  # activations per layer scored at once: 128 KB, kept in the CPU cache


@dataclass(frozen=True)
class EvolutionSettings:
    """The GA's knobs; impossible values raise :class:`SpecError` naming every problem."""

    population: int = 50
    tournament: int = 3
    crossover: str = "uniform"  # or "blend" (see the module docstring)
    mutation_rate: float = 0.1  # probability that a parameter of a child is mutated
    mutation_scale: float = 0.1  # standard deviation of a mutation
    elite: int = 2  # the best k pass to the next generation unchanged
    seed: int = 0  # the GA's own stream (initial members, selection, crossover, mutation)

    def __post_init__(self) -> None:
        problems = _settings_problems(self)
        if problems:
            raise SpecError(problems)

    @classmethod
    def from_dict(cls, raw: Any) -> EvolutionSettings:
        """Settings from a JSON object (missing keys take the defaults)."""
        if not isinstance(raw, dict):
            raise SpecError([("evolution", "must be a JSON object")])
        known = cls.__dataclass_fields__
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise SpecError(
                [
                    (f"evolution.{key}", f"unknown setting; choose from: {', '.join(known)}")
                    for key in unknown
                ]
            )
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _settings_problems(s: EvolutionSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def whole(name: str, low: int, high: int) -> bool:
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((f"evolution.{name}", f"must be a whole number, got {value!r}"))
            return False
        if not low <= value <= high:
            problems.append((f"evolution.{name}", f"must be from {low} to {high}, not {value}"))
            return False
        return True

    def number(name: str, low: float, high: float, what: str) -> None:
        value = getattr(s, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            problems.append((f"evolution.{name}", f"must be a number, got {value!r}"))
        elif not low <= value <= high:
            problems.append((f"evolution.{name}", f"{what} from {low:g} to {high:g}, not {value}"))

    if whole("population", 2, EVOLUTION_LIMITS["max_population"]):
        whole("tournament", 1, s.population)
        whole("elite", 0, s.population - 1)
    else:
        for name in ("tournament", "elite"):  # checked against the population once it is valid
            value = getattr(s, name)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append((f"evolution.{name}", f"must be a whole number, got {value!r}"))
    if s.crossover not in CROSSOVERS:
        problems.append(
            ("evolution.crossover", f"unknown crossover {s.crossover!r}; choose uniform or blend")
        )
    number("mutation_rate", 0.0, 1.0, "a probability,")
    number("mutation_scale", 0.0, EVOLUTION_LIMITS["max_mutation_scale"], "a standard deviation")
    whole("seed", 0, int(LIMITS["max_seed"]))
    return problems


@dataclass(frozen=True)
class GenerationRecord:
    """One generation: its losses and what reaching it cost.

    Equality compares the deterministic fields; ``wall_time`` and ``best_parameters`` (compare
    the latter with ``np.array_equal``) are left out."""

    generation: int  # 0: the initial population; n: after n breeding steps
    best_loss: float  # the lowest data loss on the training set
    mean_loss: float  # over the members whose loss is finite
    worst_loss: float  # the highest finite loss
    non_finite: int  # members whose loss overflowed (scored +inf: never selected over others)
    forward_passes: int  # so far: parameter vectors evaluated on the whole training set
    samples_seen: int  # so far: forward_passes × training samples
    wall_time: float = field(compare=False)  # seconds spent scoring and breeding so far
    # The best member's flat vector (shared with the previous record while the best is unchanged).
    best_parameters: np.ndarray = field(compare=False, repr=False)


class GeneticTrainer:
    """A GA on a spec's network and training data, stepped one generation at a time.

    ``trainer`` is a :class:`Trainer` built from the same spec that is never stepped: its network
    is kept bound to (a copy of) the best vector, so ``trainer.evaluate()`` and
    ``engine.evaluation.evaluate_plane(trainer)`` show the GA's best network like a backprop run.
    """

    def __init__(
        self,
        spec: Spec,
        settings: EvolutionSettings | None = None,
        dataset: Dataset | None = None,
        batched: bool = True,
    ) -> None:
        """``batched=False`` scores every member through the network's own forward pass, as
        non-dense networks always are (the same numbers, slower: for comparison)."""
        self.settings = settings = settings if settings is not None else EvolutionSettings()
        self.trainer = Trainer(spec, dataset)
        self.spec = self.trainer.spec
        self.loss = self.trainer.loss
        problem = self.trainer.problem
        self.x, self.y = problem.x_train, problem.y_train
        self.n_samples = len(self.x)
        _check_cost(self.trainer.network, settings, self.n_samples)
        self._dense = _dense_plan(self.trainer.network, self.x) if batched else None
        self._rng = np.random.default_rng(settings.seed)
        self.generation = 0
        self.forward_passes = 0
        self.wall_time = 0.0
        self.history: list[GenerationRecord] = []
        self._best: np.ndarray | None = None
        started = time.perf_counter()
        self.population = self._initial_population()
        self.losses = self._score(self.population)
        self._record(started, best_carried=False)

    # --- one generation ----------------------------------------------------------------------

    def step(self) -> GenerationRecord:
        """Breed, mutate and score one new generation; returns its record."""
        started = time.perf_counter()
        s, rng, population = self.settings, self._rng, self.population
        children = s.population - s.elite
        elite = np.argsort(self.losses, kind="stable")[: s.elite]
        entrants = rng.integers(0, s.population, (2, children, s.tournament))
        winners = np.take_along_axis(
            entrants, np.argmin(self.losses[entrants], axis=2)[..., None], axis=2
        )[..., 0]
        mothers, fathers = population[winners[0]], population[winners[1]]
        draw = rng.random(mothers.shape)
        if s.crossover == "uniform":
            offspring = np.where(draw < 0.5, fathers, mothers)
        else:
            offspring = mothers + draw.astype(mothers.dtype) * (fathers - mothers)
        mutate = rng.random(offspring.shape) < s.mutation_rate
        noise = rng.standard_normal(offspring.shape) * s.mutation_scale
        offspring += np.where(mutate, noise, 0.0).astype(offspring.dtype)
        scores = self._score(offspring)
        self.population = np.concatenate([population[elite], offspring])
        self.losses = np.concatenate([self.losses[elite], scores])
        self.generation += 1
        # With an elite the previous best stays first; it is still the best unless a child beat it.
        return self._record(started, best_carried=s.elite > 0 and int(np.argmin(self.losses)) == 0)

    def run(self, generations: int) -> GenerationRecord:
        for _ in range(generations):
            self.step()
        return self.history[-1]

    @property
    def batched(self) -> bool:
        """Whether the whole population is scored at once (a dense stack on vectors)."""
        return self._dense is not None

    @property
    def last_record(self) -> GenerationRecord:
        return self.history[-1]

    @property
    def best_parameters(self) -> np.ndarray:
        """The best member's flat parameter vector (do not modify: records share it)."""
        return self.history[-1].best_parameters

    @property
    def network(self) -> Network:
        """The spec's network bound to a copy of the best vector."""
        return self.trainer.network

    def install_best(self, network: Network) -> None:
        """Bind a copy of the best vector to another network of the same architecture."""
        best = self.best_parameters
        if network.flat.shape != best.shape:
            raise ValueError(
                f"the network has {network.flat.size} parameters, the GA's {best.size}"
            )
        network.bind(best.astype(network.flat.dtype, copy=True))

    def losses_of(self, vectors: np.ndarray) -> np.ndarray:
        """The data loss on the training set of each row of ``vectors`` (P × parameters), as the
        GA scores its members; not counted as forward passes, and the network is left as it was."""
        vectors = np.asarray(vectors, dtype=self.population.dtype)
        if vectors.ndim != 2 or vectors.shape[1] != self.population.shape[1]:
            raise ValueError(f"vectors must be rows of {self.population.shape[1]} parameters")
        kept = self.network.flat
        try:
            return self._losses(vectors)
        finally:
            self.network.bind(kept)

    # --- parts -------------------------------------------------------------------------------

    def _initial_population(self) -> np.ndarray:
        network = self.trainer.network
        init = get_initializer(self.spec.network.initializer)
        dtype = network.flat.dtype
        members = [network.flat.copy()]  # the backprop run's own start
        for _ in range(self.settings.population - 1):
            parts = []
            for layer in network.layers:  # drawn as Network.build draws them
                params = layer.initial_parameters(self._rng, init, dtype)
                parts.extend(np.asarray(params[name], dtype=dtype).ravel() for name in params)
            members.append(np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
        return np.stack(members)

    def _score(self, vectors: np.ndarray) -> np.ndarray:
        self.forward_passes += len(vectors)
        return self._losses(vectors)

    def _losses(self, vectors: np.ndarray) -> np.ndarray:
        if self._dense is not None:
            means = self._dense_losses(vectors)
        else:
            means = np.array([self._one_loss(vector) for vector in vectors], dtype=np.float64)
        return np.where(np.isfinite(means), means, np.inf)

    def _one_loss(self, vector: np.ndarray) -> float:
        """The network's own forward pass and loss, as ``Trainer.evaluate`` computes them."""
        self.network.bind(vector)
        return float(self.trainer.sample_loss(self.x, self.y).mean())

    def _dense_losses(self, vectors: np.ndarray) -> np.ndarray:
        """Every member at once: z = x·W + b with W stacked (members × n_in × n) per layer."""
        n = self.n_samples
        widest = max(layer.units for layer, _, _ in self._dense)
        chunk = max(1, _CHUNK_VALUES // (n * widest))
        means = np.empty(len(vectors), dtype=np.float64)
        for begin in range(0, len(vectors), chunk):
            part = vectors[begin : begin + chunk]
            h = self.x
            for layer, weight, bias in self._dense:
                w = part[:, weight].reshape(len(part), layer.fan_in, layer.units)
                z = np.matmul(h, w)  # (members, samples, units); h broadcasts in layer 1
                z += part[:, None, bias]
                h = layer.activation.value(z)
            losses = self.loss.rows(z, h, self.y)  # (members, samples): the engine's formula
            means[begin : begin + chunk] = np.add.reduce(losses, axis=1) / n
        return means

    def _record(self, started: float, best_carried: bool) -> GenerationRecord:
        self.wall_time += time.perf_counter() - started
        losses = self.losses
        finite = losses[np.isfinite(losses)]
        best_index = int(np.argmin(losses))
        if not best_carried or self._best is None:
            self._best = self.population[best_index].copy()
        record = GenerationRecord(
            generation=self.generation,
            best_loss=float(losses[best_index]),
            mean_loss=float(finite.mean()) if finite.size else math.inf,
            worst_loss=float(finite.max()) if finite.size else math.inf,
            non_finite=int(len(losses) - finite.size),
            forward_passes=self.forward_passes,
            samples_seen=self.forward_passes * self.n_samples,
            wall_time=self.wall_time,
            best_parameters=self._best,
        )
        self.history.append(record)
        self.network.bind(self._best.copy())  # a hand edit of the network leaves records intact
        return record


def _dense_plan(network: Network, x: np.ndarray) -> list[tuple[Any, slice, slice]] | None:
    """(layer, weight slice, bias slice) per layer when every layer is dense on vectors (the
    batched path); None otherwise (each member runs the network's own forward pass)."""
    if x.ndim != 2 or any(layer.kind != "dense" for layer in network.layers):
        return None
    plan = []
    for layer, layout in zip(network.layers, network.layouts, strict=True):
        slots = {slot.name: slice(slot.start, slot.end) for slot in layout.slots}
        plan.append((layer, slots["weight"], slots["bias"]))
    return plan


def _check_cost(network: Network, settings: EvolutionSettings, n_samples: int) -> None:
    work = settings.population * n_samples * sum(multiply_adds(layer) for layer in network.layers)
    most = EVOLUTION_LIMITS["max_generation_multiply_adds"]
    if work > most:
        raise SpecError(
            [
                (
                    "evolution.population",
                    f"a generation would cost {work:.3g} multiply-adds ({settings.population} "
                    f"members × {n_samples} samples); at most {most:.3g}: a smaller population, "
                    "fewer samples or a smaller network",
                )
            ]
        )
