// What kind of network a snapshot holds, and its layer list in words, from the engine's own
// describe() records (`snapshot.network.layers`): "conv 8×3×3 → max-pool 2 → flatten → dense 3".
// The dense view (network_view.js) draws networks of dense layers only; a network with a
// convolution or a pooling layer is drawn by conv_view.js, one with a recurrent layer by
// rnn_view.js.

const CONV_KINDS = new Set(["conv2d", "maxpool", "avgpool", "flatten"]);
const RECURRENT_KINDS = new Set(["rnn", "lstm"]);

// "dense" | "conv" | "rnn" for a list of describe() records (or a snapshot's network). An
// image network that only flattens its input before dense layers is a dense network.
export function networkFamily(layers) {
  const list = Array.isArray(layers) ? layers : (layers && layers.layers) || [];
  if (list.some((l) => RECURRENT_KINDS.has(l.kind))) return "rnn";
  if (list.slice(leadingFlattens(list)).some((l) => CONV_KINDS.has(l.kind))) return "conv";
  return "dense";
}

function leadingFlattens(list) {
  let k = 0;
  while (k < list.length && list[k].kind === "flatten") k++;
  return k;
}

// A dense network as the dense picture draws it: its columns' unit counts, input first (a
// flattened image counts its pixels), its dense layer records, and `offset`, the engine index
// of the first dense layer (1 after a flatten: column c ≥ 1 is engine layer c − 1 + offset).
// null for a network with convolutions, pooling or recurrence.
export function denseView(network) {
  if (!network || networkFamily(network.layers) !== "dense") return null;
  const offset = leadingFlattens(network.layers);
  const layers = network.layers.slice(offset);
  if (!layers.length) return null;
  const inputs = (layers[0].input_shape || []).reduce((a, b) => a * b, 1);
  return {
    offset,
    layers,
    sizes: [inputs, ...layers.map((l) => l.units)],
    output_activation: network.output_activation,
  };
}

const dims = (shape) => (shape || []).join("×");

// One layer in a few words: "conv 8×3×3", "max-pool 2", "flatten", "RNN 16", "dense 3"
export function layerWords(layer) {
  switch (layer.kind) {
    case "conv2d": {
      const stride = layer.stride && layer.stride !== 1 ? ` /${layer.stride}` : "";
      return `conv ${layer.filters}×${layer.kernel}×${layer.kernel}${stride}`;
    }
    case "maxpool":
      return `max-pool ${layer.size}`;
    case "avgpool":
      return `avg-pool ${layer.size}`;
    case "flatten":
      return "flatten";
    case "rnn":
      return `RNN ${layer.units}${layer.return_sequences ? " (every step)" : ""}`;
    case "lstm":
      return `LSTM ${layer.units}${layer.return_sequences ? " (every step)" : ""}`;
    case "dense":
      return `dense ${layer.units}`;
    default:
      return String(layer.kind || "?");
  }
}

// The whole list: "conv 8×3×3 → max-pool 2 → flatten → dense 3"
export function layerSummary(layers) {
  return (layers || []).map(layerWords).join(" → ");
}

// The layer list from a spec alone (before its snapshot arrives): `network.layers` entries
// ({type, filters, kernel, …}) then the output layer the engine adds ("dense <outputs>")
export function specSummary(network, nOutputs) {
  const list = (network.layers || []).map((l) => layerWords({ ...l, kind: l.type }));
  if (nOutputs) list.push(`dense ${nOutputs}`);
  return list.join(" → ");
}

// One line per layer for a read-only table: [words, "input → output shape", activation]
export function layerRows(layers) {
  return (layers || []).map((l) => [layerWords(l), `${dims(l.input_shape)} → ${dims(l.output_shape)}`, l.activation || ""]);
}

// A layer's title for headings: "Layer 1 · conv 8×3×3 · relu"
export function layerTitle(layer, k) {
  return [`Layer ${k + 1}`, layerWords(layer), layer.activation].filter(Boolean).join(" · ");
}

// The data's family ("plane" | "table" | "image" | "sequence"), as the engine names it in the
// snapshot's `data.dataset.family`
export function dataFamily(snap) {
  return snap && snap.data ? snap.data.dataset.family : null;
}
