// Every key of the page's state, with its shape and first value: the one declaration of what the
// store (store.js) holds. The store refuses a key that is not here, so a misspelt or undeclared
// key fails at once instead of being read as `undefined` forever. Views render what the server
// sends (frames, snapshot, catalog) and keep no copy of the engine's knowledge.
//
// Frames are decoded by frames.js: {version, kind, seq, step, header, arrays: {name: {shape,
// data: Float32Array}}, bytes, receivedAt}. Server messages are as in docs/protocol.md.

export const STATE = {
  // ---- from the server
  catalog: { shape: "GET /api/catalog: datasets, features, activations, losses, lessons, limits, default_spec", initial: null },
  welcome: { shape: "welcome message: {role, resumed, resume_error, room, …}", initial: null },
  connection: { shape: "{state: connecting|reconnecting|open|lost|closed|replaced, attempt, retryAt?, code?}", initial: null },
  role: { shape: '"session" | "viewer"', initial: null },
  snapshot: { shape: "snapshot message: {reason, spec, network: {sizes, layers, …}, data, state}", initial: null },
  snapshotAt: { shape: "performance.now() when the snapshot arrived", initial: 0 },
  spec: { shape: "the engine spec of the run shown (snapshot.spec, or after a live `set`)", initial: null },
  stepFrame: { shape: "step frame (W, b, gradients, updates, the traced sample s.*)", initial: null },
  gridFrame: { shape: "grid frame: neuron outputs over the input plane", initial: null },
  lineFrame: { shape: "line frame: neuron outputs along a one-input line", initial: null },
  pointsFrame: { shape: "points frame: predictions of the non-plane data", initial: null },
  probeFrame: { shape: "probe frame (kind 6): the drawing pad's input forward through the network {output, predicted, class_names}", initial: null },
  phaseFrame: { shape: "phase frame of phase-by-phase stepping (header.phase: {kind, layer, title, index, count})", initial: null },
  phase: { shape: "phaseFrame.header.phase, or null between steps", initial: null },
  metrics: { shape: "metrics message: {buckets: {step, n, loss, grad_norms, …}, eval?}", initial: null },
  history: { shape: "the run's metrics history so far {columns, n_layers, rows} (reload, joining a room)", initial: null },
  status: { shape: "status message: {playing, step, …}", initial: null },
  step: { shape: "steps done (number)", initial: 0 },
  playing: { shape: "boolean: the server is training continuously", initial: false },
  diverged: { shape: "diverged message {step, quantity, layer, suggestion} or null", initial: null },
  explanation: { shape: "explanation message (engine WeightExplanation) or null", initial: null },
  selected: { shape: "{sample, split}: the sample traced in step frames", initial: null },
  fps: { shape: "the session's step frames per second (snapshot state.fps, `fps` events)", initial: null },
  gridResolution: { shape: "the main run's grid resolution (snapshot state, `grid_resolution` events)", initial: null },
  // ---- runs side by side (runs.js, connection.js, compare_view.js)
  mainRun: { shape: "id of the run the main view draws (the first of the server's list), or null", initial: null },
  runs: { shape: "[{id, label, step, optimizer, learning_rate}]: the session's runs, the main one first", initial: [] },
  runData: { shape: "the run book (runs.js createRunBook): every run's snapshot, frames, evaluations, kept apart", initial: null },
  compareDraft: { shape: "the spec of a new run being set up beside the main one (controls.js), or null", initial: null },
  // ---- classroom (classroom.js, connection.js)
  room: { shape: "{code, join_url, viewers, following, hold?, …} of the open room, or null", initial: null },
  roomMode: { shape: '"following" | "copy" | "closed" (viewers)', initial: null },
  roomHold: { shape: "boolean: the teacher holds the phase", initial: false },
  roomClosed: { shape: "room_closed message or {reason}", initial: null },
  readOnly: { shape: "boolean: following the teacher, commands are refused", initial: false },
  handout: { shape: "room_handout message (the viewer's own copy)", initial: null },
  remoteFocus: { shape: "the teacher's focus (selection) as sent, or null", initial: null },
  classDashboard: { shape: "class_dashboard message (the teacher's, §9.8), or null", initial: null },
  classLocks: { shape: "[{control, label, reason}]: controls the teacher locked (a student's copy)", initial: [] },
  classBoard: { shape: "class_leaderboard message: the challenge, its board and the gallery (§9.9), or null", initial: null },
  classMe: { shape: "this student's id in the class (the class_join ack), or null", initial: null },
  roomProjecting: { shape: "class_projecting message while a student's copy is shown, or null", initial: null },
  // ---- files, recordings, replay (files.js, replay.js)
  savedExperiment: { shape: "summary of the experiment just saved", initial: null },
  openedExperiment: { shape: "summary of the experiment just opened", initial: null },
  recording: { shape: "{since: ms epoch} while recording, else null", initial: null },
  replaying: { shape: "{name, count, duration} while replaying a recording, else null", initial: null },
  // ---- the page's own choices
  speed: { shape: 'steps per second (number) or "max"', initial: 1 },
  linkMode: { shape: '"weights" | "gradients": what link width shows', initial: "weights" },
  scaleMode: { shape: '"layer" | "global": colour and width scale', initial: "layer" },
  presenter: { shape: "boolean: presenter mode", initial: false },
  showGrad: { shape: "boolean: presenter mode shows the ‖∂L/∂W‖ chart too (key c)", initial: false },
  showHist: { shape: "boolean: presenter mode shows the histograms too (key h)", initial: false },
  selection: { shape: "{type: neuron, col, layer, index} | {type: link, layer, source, target} | {type: param, layer, parameter, index: [...]} (a kernel or recurrent weight) | {type: cell, layer, field, index: [...]} (a feature-map pixel, a hidden state h_t) | null", initial: null },
  padInput: { shape: "the drawing pad's picture (prod(input_shape) numbers in [0, 1]) while the views show its probe, else null", initial: null },
  lesson: { shape: "name of the lesson whose card is shown, or null", initial: null },
  anim: { shape: "{mode: idle|cycle|sweep|phase, start, duration|period, …}: animation.js", initial: { mode: "idle" } },
  stepRequested: { shape: "performance.now() of the last single-step request", initial: 0 },
  helpOpen: { shape: "boolean: the shortcuts overlay is open", initial: false },
  drawerOpen: { shape: "boolean: the setup drawer is open (compact layout)", initial: false },
  busy: { shape: '"configure" while a new setup is on its way, else null', initial: null },
  notice: { shape: "{message}: a passing note (toast)", initial: null },
  lastError: { shape: "{code?, message, details?, local?}: the last refusal or failure (toast)", initial: null },
};

// {key: initial value} of every declared key
export function initialState(overrides = {}) {
  const out = {};
  for (const [key, entry] of Object.entries(STATE)) out[key] = entry.initial;
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in STATE)) throw new Error(`undeclared state key ${key} (static/js/state.js)`);
    out[key] = value;
  }
  return out;
}
