// Every visible piece of text on the page as boxes [text, left, top, right, bottom]: text nodes
// of HTML elements (one box per line, via Range.getClientRects) and SVG <text> (plotly's ticks
// and titles), each cut to the ancestors that clip it (overflow ≠ visible) and dropped when it
// is hidden or clipped away; then the network canvas's own labels (network_view textBoxes()).
(() => {
  const out = [];
  const visible = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === 'none' || cs.visibility === 'hidden' || Number(cs.opacity) === 0) return false;
      if (e.tagName === 'DIALOG' && !e.open) return false;
    }
    return true;
  };
  const clip = (el, r) => {
    let [l, t, rt, b] = [r.left, r.top, r.right, r.bottom];
    // an HTML element clips its own text too; an SVG <text> is clipped by its HTML ancestors
    for (let e = el instanceof SVGElement ? el.parentElement : el; e && e !== document.documentElement; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
        const c = e.getBoundingClientRect();
        l = Math.max(l, c.left); t = Math.max(t, c.top); rt = Math.min(rt, c.right); b = Math.min(b, c.bottom);
      }
    }
    return rt - l > 1 && b - t > 1 ? [l, t, rt, b] : null;
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let el = n.parentElement;
    // an SVG <text> is one label, its <tspan>s (a superscript: 10⁻¹) parts of it
    if (el instanceof SVGElement && el.closest('text')) {
      el = el.closest('text');
      if (seen.has(el)) continue;
      seen.add(el);
    }
    if (!n.textContent.trim() || !el || ['SCRIPT', 'STYLE', 'OPTION', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (!visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) {
      if (r.width < 1 || r.height < 1) continue;
      const box = el instanceof SVGElement ? clip(el, el.getBoundingClientRect()) : clip(el, r);
      if (box) out.push([(el instanceof SVGElement ? el : n).textContent.trim().slice(0, 40), ...box]);
      if (el instanceof SVGElement) break;
    }
  }
  const canvas = document.querySelector('[data-testid=network]');
  if (canvas && window.__propscope && visible(canvas)) {
    const c = canvas.getBoundingClientRect();
    for (const b of window.__propscope.network.textBoxes()) {
      out.push(['canvas: ' + b.text, c.left + b.x0, c.top + b.y0, c.left + b.x1, c.top + b.y1]);
    }
  }
  return out;
})()
