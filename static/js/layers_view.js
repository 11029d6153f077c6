// Which picture the network panel shows: the dense view (network_view.js, its canvas) for dense
// networks, the CNN view (conv_view.js) or the unrolled RNN view (rnn_view.js) for the others,
// chosen from the snapshot's layer records (layer_summary.js). For image data the data panel
// holds the drawing pad (draw_pad.js) instead of the data plane; for sequences the data panel
// steps aside. `body` carries net-dense / net-conv / net-rnn for the style sheet.

import { startConvView } from "./conv_view.js";
import { startDrawPad } from "./draw_pad.js";
import { dataFamily, networkFamily } from "./layer_summary.js";
import { startRnnView } from "./rnn_view.js";

export function startLayersView(store, { root, conv, rnn, pad }) {
  const convView = startConvView(store, conv);
  const rnnView = startRnnView(store, rnn);
  const padView = startDrawPad(store, pad);
  const body = document.body;
  let family = "dense";

  store.subscribe(["snapshot"], (s) => {
    const snap = s.snapshot;
    const next = snap ? networkFamily(snap.network.layers) : "dense";
    // image data: the drawing pad, for a CNN and for a dense network over the flattened pixels
    const image = next !== "rnn" && dataFamily(snap) === "image";
    if (next !== family || !image) {
      if (s.padInput) store.set({ padInput: null });
    }
    family = next;
    for (const f of ["dense", "conv", "rnn"]) body.classList.toggle(`net-${f}`, family === f);
    body.classList.toggle("data-image", image);
    root.hidden = family === "dense";
    conv.hidden = family !== "conv";
    rnn.hidden = family !== "rnn";
    pad.hidden = !image;
    if (family === "conv") convView.show(snap);
    else convView.hide();
    if (family === "rnn") rnnView.show(snap);
    else rnnView.hide();
    if (image) padView.show(snap);
    else padView.hide();
  });

  store.subscribe(["stepFrame", "probeFrame", "padInput", "linkMode", "scaleMode"], () => {
    if (family === "conv") convView.repaint();
    else if (family === "rnn") rnnView.repaint();
  });
  store.subscribe(["selection"], (s) => {
    if (family === "conv") convView.select(s.selection);
    else if (family === "rnn") rnnView.select(s.selection);
  });

  return { family: () => family, conv: convView, rnn: rnnView, pad: padView };
}
