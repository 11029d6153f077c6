"""Training without gradients: a genetic algorithm over a network's flat parameter vector.

Backpropagation gets one exact gradient from one forward and one backward pass. A genetic
algorithm only ever runs forward passes: it keeps a population of parameter vectors, scores
each by its loss on the training data, and breeds the next generation from the better ones.
Counting forward passes lets a lesson set the two side by side: how many network evaluations
each needs to reach the same loss.

One generation, with population P, elite E, tournament size K (all seeded from one generator):

1. the E lowest-loss vectors pass unchanged (elitism: the best loss never rises);
2. each of the other P − E children has two parents, each the best of K vectors drawn at
   random (tournament selection);
3. uniform crossover: each parameter comes from either parent with probability ½;
4. mutation: each parameter, with probability ``mutation_rate``, gets N(0, mutation_scale²) added;
5. the children are scored (P − E forward passes over the data; the elite keep their scores).

Generation 0 is the network's own parameters plus P − 1 fresh draws of the same initialiser
(layer by layer, as :meth:`engine.network.Network.build` draws them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.initializers import get_initializer
from engine.losses import Loss
from engine.network import Network


@dataclass(frozen=True)
class EvolutionConfig:
    population: int = 32
    elite: int = 2
    tournament: int = 3
    mutation_rate: float = 0.1
    mutation_scale: float = 0.1
    initializer: str = "xavier_uniform"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"a population needs at least 2 members, not {self.population}")
        if not 0 <= self.elite < self.population:
            raise ValueError(
                f"the elite must be from 0 to population − 1 ({self.population - 1}), "
                f"not {self.elite}"
            )
        if not 1 <= self.tournament <= self.population:
            raise ValueError(
                f"a tournament draws 1 to {self.population} members, not {self.tournament}"
            )
        if not 0.0 <= self.mutation_rate <= 1.0:
            raise ValueError(f"the mutation rate is a probability, not {self.mutation_rate}")
        if self.mutation_scale < 0.0:
            raise ValueError(f"the mutation scale cannot be negative ({self.mutation_scale})")
        get_initializer(self.initializer)  # an unknown name fails here, with the known ones


@dataclass(frozen=True)
class Generation:
    """What one generation reached, and what it cost."""

    index: int
    best_loss: float
    mean_loss: float
    forward_passes: int  # network evaluations over the data so far (all generations)
    samples_evaluated: int  # forward_passes × samples


@dataclass
class GeneticTrainer:
    """Evolves ``network``'s parameters to lower ``loss`` on (x, y); the network ends bound to
    (a copy of) the best vector found."""

    network: Network
    loss: Loss
    x: np.ndarray
    y: np.ndarray
    config: EvolutionConfig = field(default_factory=EvolutionConfig)
    history: list[Generation] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) == 0:
            raise ValueError("evolution needs as many targets as inputs, and at least one of each")
        self._rng = np.random.default_rng(self.config.seed)
        self.forward_passes = 0
        self.population = self._initial_population()
        self.losses = np.array([self._evaluate(v) for v in self.population])
        self._record()

    # --- one generation ----------------------------------------------------------------------

    def step(self) -> Generation:
        """Breed and score one new generation."""
        config, rng = self.config, self._rng
        order = np.argsort(self.losses, kind="stable")
        elite = order[: config.elite]
        children = config.population - config.elite
        mothers = self._tournament(children)
        fathers = self._tournament(children)
        take_father = rng.random((children, self.population.shape[1])) < 0.5
        offspring = np.where(take_father, self.population[fathers], self.population[mothers])
        mutate = rng.random(offspring.shape) < config.mutation_rate
        offspring += mutate * rng.normal(0.0, config.mutation_scale, offspring.shape)
        scores = np.array([self._evaluate(v) for v in offspring])
        self.population = np.concatenate([self.population[elite], offspring])
        self.losses = np.concatenate([self.losses[elite], scores])
        return self._record()

    def run(self, generations: int) -> Generation:
        for _ in range(generations):
            self.step()
        return self.history[-1]

    @property
    def best(self) -> np.ndarray:
        return self.population[int(np.argmin(self.losses))]

    # --- parts -------------------------------------------------------------------------------

    def _initial_population(self) -> np.ndarray:
        init = get_initializer(self.config.initializer)
        dtype = self.network.flat.dtype
        members = [self.network.flat.copy()]
        for _ in range(self.config.population - 1):
            parts = []
            for layer in self.network.layers:
                params = layer.initial_parameters(self._rng, init, dtype)
                parts.extend(np.asarray(params[name], dtype=dtype).ravel() for name in params)
            members.append(np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
        return np.stack(members)

    def _tournament(self, count: int) -> np.ndarray:
        """Indices of `count` winners: the lowest loss of `tournament` random members each."""
        entrants = self._rng.integers(0, self.config.population, (count, self.config.tournament))
        return entrants[np.arange(count), np.argmin(self.losses[entrants], axis=1)]

    def _evaluate(self, vector: np.ndarray) -> float:
        """Mean loss of the parameters `vector` over all the data: one forward pass."""
        network = self.network
        network.bind(vector.copy())
        h = self.x
        for layer in network.layers[:-1]:
            h = layer.infer(h)
        out = network.layers[-1].forward(h, len(network.layers) - 1)
        n = len(self.x)
        z, a, y = (v.reshape(n, -1) for v in (out.pre_activation, out.activation, self.y))
        self.forward_passes += 1
        value = float(np.add.reduce(self.loss.per_sample(z, a, y))) / n
        return value if np.isfinite(value) else np.inf

    def _record(self) -> Generation:
        finite = self.losses[np.isfinite(self.losses)]
        generation = Generation(
            index=len(self.history),
            best_loss=float(self.losses.min()),
            mean_loss=float(finite.mean()) if finite.size else float("inf"),
            forward_passes=self.forward_passes,
            samples_evaluated=self.forward_passes * len(self.x),
        )
        self.history.append(generation)
        self.network.bind(self.best.copy())
        return generation
