// The setup in the URL: `#spec=<compact JSON of the spec's differences from the default>`
// (plus `&lesson=<name>` while a lesson card is shown, and `&presenter=1`). Opening such a link
// configures the session to that spec; every new spec (configure, or a live `set`) rewrites the
// hash with history.replaceState. A link with a lesson but no spec (`#lesson=overfitting`)
// configures the lesson's own spec.

export function diff(value, base) {
  if (value && typeof value === "object" && !Array.isArray(value) && base && typeof base === "object" && !Array.isArray(base)) {
    const out = {};
    for (const key of Object.keys(value)) {
      const d = diff(value[key], base[key]);
      if (d !== undefined) out[key] = d;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return JSON.stringify(value) === JSON.stringify(base) ? undefined : value;
}

export function merge(base, over) {
  if (over && typeof over === "object" && !Array.isArray(over) && base && typeof base === "object" && !Array.isArray(base)) {
    const out = { ...base };
    for (const key of Object.keys(over)) out[key] = merge(base[key], over[key]);
    return out;
  }
  return over === undefined ? base : over;
}

// A link's spec over the default setup. A network's layers come in one of two forms (the
// `hidden` shorthand for a dense stack, or the typed `layers` list): the form the link gives
// replaces the default's other form, so a hand-written `{"network": {"layers": [...]}}` works.
export function linkSpec(defaults, over) {
  const out = merge(defaults, over);
  const net = over && over.network;
  if (net && typeof net === "object" && out.network && typeof out.network === "object") {
    if ("layers" in net && !("hidden" in net) && net.layers) out.network = { ...out.network, hidden: [] };
    if ("hidden" in net && !("layers" in net)) out.network = { ...out.network, layers: null };
  }
  return out;
}

export function parseHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  let spec = null;
  const raw = params.get("spec");
  if (raw) {
    try {
      spec = JSON.parse(raw);
      if (!spec || typeof spec !== "object" || Array.isArray(spec)) spec = null;
    } catch {
      spec = null;
    }
  }
  const lesson = params.get("lesson") || null;
  return { spec, lesson, presenter: params.get("presenter") === "1", bad: !!raw && !spec };
}

export function encodeHash(spec, defaults, presenter, lesson = null) {
  const d = diff(spec, defaults) || {};
  delete d.version;
  const parts = [];
  if (Object.keys(d).length) parts.push(`spec=${encodeURIComponent(JSON.stringify(d))}`);
  if (lesson) parts.push(`lesson=${encodeURIComponent(lesson)}`);
  if (presenter) parts.push("presenter=1");
  return parts.length ? `#${parts.join("&")}` : "";
}

export function startUrlState(store) {
  const initial = parseHash(location.hash);
  let pendingSpec = initial.spec;
  if (initial.presenter) store.set({ presenter: true });
  if (initial.bad) store.set({ lastError: { message: "The link's spec is not valid JSON; using the default setup." } });

  function defaults() {
    const cat = store.get("catalog");
    return cat ? cat.default_spec : {};
  }

  function findLesson(name) {
    const cat = store.get("catalog");
    return ((cat && cat.lessons) || []).find((l) => l.name === name) || null;
  }

  // `lesson=<name>`: the card (lessons.js) shows it; without a spec the lesson's spec applies
  function applyLessonParam(name) {
    if (!name) return null;
    const lesson = findLesson(name);
    if (!lesson) {
      store.set({ lastError: { message: `The link's lesson “${name}” does not exist.` } });
      return null;
    }
    store.set({ lesson: lesson.name });
    return lesson;
  }
  const initialLesson = applyLessonParam(initial.lesson);
  if (initialLesson && !pendingSpec) pendingSpec = initialLesson.spec;

  // the lesson whose card is shown goes along with the setup (viewers and recordings show it)
  function withLesson(spec) {
    const lesson = store.get("lesson");
    return lesson ? { spec, lesson } : { spec };
  }

  function same(a, b) {
    return JSON.stringify(diff(a, defaults()) || {}) === JSON.stringify(diff(b, defaults()) || {});
  }

  // the server lost the session (restarted, or the session expired): the new session starts
  // with the default setup, but the URL still holds this one: configure it again
  store.subscribe(["welcome"], (s) => {
    const w = s.welcome;
    if (w && !w.resumed && w.resume_error && w.role !== "viewer") {
      const now = parseHash(location.hash);
      pendingSpec = now.spec || (now.lesson && findLesson(now.lesson) ? findLesson(now.lesson).spec : null);
    }
  });

  // the first snapshot of the page (new or resumed session): apply the link's spec if it differs
  store.subscribe(["snapshot"], (s) => {
    if (!pendingSpec) return;
    const wanted = linkSpec(defaults(), pendingSpec);
    pendingSpec = null;
    if (!same(wanted, s.snapshot.spec)) {
      store.command("configure", withLesson(wanted))
        .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
    }
  });

  store.subscribe(["spec", "presenter", "lesson"], (s) => {
    if (!s.spec || pendingSpec) return;
    const hash = encodeHash(s.spec, defaults(), !!s.presenter, s.lesson || null);
    if (hash !== location.hash && !(hash === "" && location.hash === "")) {
      history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
    }
  });

  window.addEventListener("hashchange", () => {
    const next = parseHash(location.hash);
    store.set({ presenter: next.presenter });
    const lesson = next.lesson ? applyLessonParam(next.lesson) : null;
    if (!next.lesson && store.get("lesson")) store.set({ lesson: null });
    const nextSpec = next.spec || (lesson ? lesson.spec : null);
    if (nextSpec) {
      const wanted = linkSpec(defaults(), nextSpec);
      const current = store.get("spec");
      if (!current || !same(wanted, current)) {
        store.command("configure", withLesson(wanted))
          .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
      }
    }
  });
}
