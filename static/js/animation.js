// The phase wave: which phase of a step the network picture is showing, and how far along.
// The plan mirrors the engine's (engine/trace.py phase_plan):
//   forward 1 … L, loss, backward L … 1, update.
// Sources: the server's phase frames (phase-by-phase stepping, exact), a single `step`
// (one sweep through the plan), and continuous play (the sweep repeats with the newest values).
// This module only writes `anim` into the store; network_view.js draws it.

export const PHASE_MS = 650; // one phase's animation when stepping phase by phase
export const SWEEP_MS = 1600; // a single step (s): one sweep through all its phases

export function phasePlan(nLayers) {
  const plan = [];
  for (let k = 0; k < nLayers; k++) plan.push({ kind: "forward", layer: k });
  plan.push({ kind: "loss", layer: null });
  for (let k = nLayers - 1; k >= 0; k--) plan.push({ kind: "backward", layer: k });
  plan.push({ kind: "update", layer: null });
  return plan.map((p, i) => ({ ...p, index: i + 1, title: titleOf(p) }));
}

export function titleOf(p) {
  const kind = p.kind.charAt(0).toUpperCase() + p.kind.slice(1);
  return p.layer === null || p.layer === undefined ? kind : `${kind} · layer ${p.layer + 1}`;
}

// Where the picture is at time `now`:
// {kind, layer, t, title, index, count, activeA(k) → alpha of layer k's activations,
//  activeD(k) → alpha of its deltas, updateT, moving}
const planCache = new Map();
function cachedPlan(nLayers) {
  let plan = planCache.get(nLayers);
  if (!plan) {
    plan = phasePlan(nLayers);
    planCache.set(nLayers, plan);
  }
  return plan;
}

export function waveAt(anim, nLayers, now) {
  const plan = cachedPlan(nLayers);
  const count = plan.length;
  const all = { kind: null, layer: null, t: 1, title: "", index: 0, count, moving: false,
    aAlpha: () => 1, dAlpha: () => 1, gAlpha: () => 1, updateT: 1 };
  if (!anim || anim.mode === "idle") return all;
  let seg;
  let t;
  let moving = true;
  if (anim.mode === "phase") {
    seg = Math.max(0, Math.min(count - 1, (anim.index || 1) - 1));
    t = Math.max(0, Math.min(1, (now - anim.start) / (anim.duration || PHASE_MS)));
    moving = t < 1;
  } else {
    let u;
    // rAF time stamps can precede the moment the animation was set: clamp at 0
    const elapsed = Math.max(0, now - anim.start);
    if (anim.mode === "cycle") u = (elapsed / anim.period) % 1;
    else {
      u = elapsed / anim.duration;
      if (u >= 1) return all;
    }
    const x = u * count;
    seg = Math.min(count - 1, Math.floor(x));
    t = x - seg;
  }
  const p = plan[seg];
  const L = nLayers;
  // forward segment k occupies index k; loss index L; backward k index 2L − k; update 2L + 1
  const aAlpha = (k) => {
    if (seg > L - 1) return 1;
    if (k < seg) return 1;
    return k === seg ? t : 0;
  };
  const dAlpha = (k) => {
    const bseg = 2 * L - k;
    if (seg > bseg) return 1;
    return seg === bseg ? t : 0;
  };
  // link gradients (∂L/∂W of layer k) appear with their backward segment, like the deltas
  const gAlpha = dAlpha;
  const updateT = p.kind === "update" ? t : seg === count - 1 ? 1 : 0;
  return { kind: p.kind, layer: p.layer, t, title: anim.title || p.title, index: seg + 1, count,
    moving, aAlpha, dAlpha, gAlpha, updateT, inUpdate: p.kind === "update" };
}

export function startAnimation(store) {
  let lastStepRequest = -Infinity;

  function cycle() {
    const speed = store.get("speed");
    // one sweep per step when slow enough to follow; otherwise a steady 1.8 s cycle
    const period = typeof speed === "number" && speed <= 1 ? 1000 / speed : 1800;
    store.set({ anim: { mode: "cycle", start: performance.now(), period, speed } });
  }

  store.subscribe(["playing", "speed"], (s) => {
    if (s.playing) {
      if (!s.anim || s.anim.mode !== "cycle" || s.anim.speed !== s.speed) cycle();
    } else if (s.anim && s.anim.mode === "cycle") {
      store.set({ anim: { mode: "idle" } });
    }
  });

  store.subscribe(["phaseFrame"], (s) => {
    const f = s.phaseFrame;
    if (!f) return;
    const p = f.header.phase;
    store.set({
      anim: { mode: "phase", kind: p.kind, layer: p.layer, title: p.title, index: p.index,
        count: p.count, start: performance.now(), duration: PHASE_MS },
    });
  });

  // a single `step` (not play): sweep once through the plan with the new values
  store.subscribe(["stepRequested"], () => {
    lastStepRequest = performance.now();
  });
  store.subscribe(["stepFrame"], (s) => {
    if (s.playing) return;
    if (performance.now() - lastStepRequest < 3000) {
      lastStepRequest = -Infinity;
      const duration = SWEEP_MS;
      store.set({ anim: { mode: "sweep", start: performance.now(), duration } });
    } else if (s.anim && s.anim.mode === "phase" && s.anim.kind === "update") {
      // the step finished by phases: the update frame is in; keep showing the update phase
    } else if (s.anim && s.anim.mode === "phase") {
      store.set({ anim: { mode: "idle" } });
    }
  });

  store.subscribe(["snapshot"], () => store.set({ anim: { mode: "idle" } }));
}
