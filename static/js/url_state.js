// The setup in the URL: `#spec=<compact JSON of the spec's differences from the default>`
// (plus `&presenter=1`). Opening such a link configures the session to that spec; every new
// spec (configure, or a live `set`) rewrites the hash with history.replaceState.

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
  return { spec, presenter: params.get("presenter") === "1", bad: !!raw && !spec };
}

export function encodeHash(spec, defaults, presenter) {
  const d = diff(spec, defaults) || {};
  delete d.version;
  const parts = [];
  if (Object.keys(d).length) parts.push(`spec=${encodeURIComponent(JSON.stringify(d))}`);
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

  function same(a, b) {
    return JSON.stringify(diff(a, defaults()) || {}) === JSON.stringify(diff(b, defaults()) || {});
  }

  // the first snapshot of the page (new or resumed session): apply the link's spec if it differs
  store.subscribe(["snapshot"], (s) => {
    if (!pendingSpec) return;
    const wanted = merge(defaults(), pendingSpec);
    pendingSpec = null;
    if (!same(wanted, s.snapshot.spec)) {
      store.command("configure", { spec: wanted })
        .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
    }
  });

  store.subscribe(["spec", "presenter"], (s) => {
    if (!s.spec || pendingSpec) return;
    const hash = encodeHash(s.spec, defaults(), !!s.presenter);
    if (hash !== location.hash && !(hash === "" && location.hash === "")) {
      history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
    }
  });

  window.addEventListener("hashchange", () => {
    const next = parseHash(location.hash);
    store.set({ presenter: next.presenter });
    if (next.spec) {
      const wanted = merge(defaults(), next.spec);
      const current = store.get("spec");
      if (!current || !same(wanted, current)) {
        store.command("configure", { spec: wanted })
          .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
      }
    }
  });
}
