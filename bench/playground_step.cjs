// Times the Playground's own training step (its nn.ts, compiled from a fetched copy) in Node:
// forwardProp and backProp for every sample of a batch, then updateWeights — what its oneStep
// does for each batch. The network is its default: inputs x and y, hidden [4, 2], tanh, square
// error, learning rate 0.03, no regularisation. Prints {"us_per_step": median} as JSON.
// Usage: node bench/playground_step.cjs <compiled nn.js> <batch> <steps>
"use strict";

const [nnPath, batchArg, stepsArg] = process.argv.slice(2);
const nn = require(nnPath);
const batch = Number(batchArg);
const steps = Number(stepsArg);

const network = nn.buildNetwork(
  [2, 4, 2, 1], nn.Activations.TANH, nn.Activations.TANH, null, ["x", "y"], false);

// 500 points of a circle problem (label +1 inside radius 3, −1 outside), a fixed stream
let seed = 1;
const uniform = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const points = Array.from({ length: 500 }, () => {
  const x = uniform() * 12 - 6;
  const y = uniform() * 12 - 6;
  return { x, y, label: x * x + y * y < 9 ? 1 : -1 };
});

let cursor = 0;
function step() {
  for (let i = 0; i < batch; i++) {
    const p = points[cursor];
    cursor = (cursor + 1) % points.length;
    nn.forwardProp(network, [p.x, p.y]);
    nn.backProp(network, p.label, nn.Errors.SQUARE);
  }
  nn.updateWeights(network, 0.03, 0);
}

for (let i = 0; i < Math.max(100, steps / 10); i++) step();  // let the JIT settle
const blocks = 10;
const perBlock = Math.max(1, Math.floor(steps / blocks));
const times = [];
for (let b = 0; b < blocks; b++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < perBlock; i++) step();
  times.push(Number(process.hrtime.bigint() - start) / 1000 / perBlock);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ us_per_step: times[Math.floor(blocks / 2)] }));
