// Chart history in a fixed number of slots: a run of buckets (x, mean, min, max, weight). The
// whole run stays visible however long it lasts, thinned evenly: every bucket covers about the
// same number of steps. When the slots are full, neighbouring pairs merge (weighted mean, min of
// mins, max of maxes, the later x) and the bucket width doubles; from then on new points fill
// the last bucket up to that width before a new one starts. So no bucket is ever much wider
// than the others (a bucket that swallowed the early run would plot its maximum far to the
// right, as a spike that never happened). With `keepLast`, a merge keeps the later point
// instead (evaluations: each point is a value at one step, not a summary of several).

export class Buckets {
  constructor(cap, keepLast = false) {
    this.cap = cap - (cap % 2);
    this.keepLast = keepLast;
    this.x = new Float64Array(this.cap);
    this.mean = new Float64Array(this.cap);
    this.min = new Float64Array(this.cap);
    this.max = new Float64Array(this.cap);
    this.w = new Float64Array(this.cap);
    this.n = 0;
    this.total = 0; // the weight (steps) of every point pushed
    this.width = 0; // the weight a bucket fills up to before the next one starts (0: one each)
  }

  push(x, mean, min = mean, max = mean, w = 1) {
    const weight = w > 0 ? w : 1;
    this.total += weight;
    const last = this.n - 1;
    if (last >= 0 && this.width > 0 && this.w[last] < this.width) {
      this.merge(last, x, num(mean), num(min), num(max), weight);
      return;
    }
    if (this.n === this.cap) this.halve();
    const i = this.n++;
    this.x[i] = x;
    this.mean[i] = num(mean);
    this.min[i] = num(min);
    this.max[i] = num(max);
    this.w[i] = weight;
  }

  // fold a point (or bucket b) into bucket i: i keeps the later x
  merge(i, x, mean, min, max, w) {
    this.x[i] = x;
    if (this.keepLast) {
      this.mean[i] = mean;
      this.min[i] = min;
      this.max[i] = max;
    } else {
      const ma = this.mean[i];
      const wa = this.w[i];
      this.mean[i] = ma !== ma ? mean : mean !== mean ? ma : (ma * wa + mean * w) / (wa + w);
      this.min[i] = nanMin(this.min[i], min);
      this.max[i] = nanMax(this.max[i], max);
    }
    this.w[i] += w;
  }

  halve() {
    const h = this.cap >> 1;
    for (let i = 0; i < h; i++) {
      const a = 2 * i;
      const b = a + 1;
      if (i !== a) {
        this.x[i] = this.x[a];
        this.mean[i] = this.mean[a];
        this.min[i] = this.min[a];
        this.max[i] = this.max[a];
        this.w[i] = this.w[a];
      }
      this.merge(i, this.x[b], this.mean[b], this.min[b], this.max[b], this.w[b]);
    }
    this.n = h;
    this.width = this.total / h;
  }

  // Plain arrays for plotly, at most `target` points: groups of neighbouring buckets merge (the
  // weighted mean for the line; min of mins / max of maxes for the band). NaN (and ≤ 0 on a log
  // axis) → null, a gap in the line.
  groups(target) {
    return Math.max(1, Math.ceil(this.n / Math.max(2, target)));
  }

  line(log, target = this.cap) {
    const g = this.groups(target);
    const xs = [];
    const ys = [];
    for (let s = 0; s < this.n; s += g) {
      const e = Math.min(this.n, s + g);
      let y;
      if (this.keepLast || g === 1) y = this.mean[e - 1];
      else {
        let sum = 0;
        let w = 0;
        for (let i = s; i < e; i++) {
          const m = this.mean[i];
          if (m === m) {
            sum += m * this.w[i];
            w += this.w[i];
          }
        }
        y = w > 0 ? sum / w : NaN;
      }
      xs.push(this.x[e - 1]);
      ys.push(y !== y || (log && !(y > 0)) ? null : y);
    }
    return { x: xs, y: ys };
  }

  // the min–max band as one closed polygon (upper edge forward, lower edge back)
  band(log, target = this.cap) {
    const g = this.groups(target);
    const xs = [];
    const lo = [];
    const hi = [];
    for (let s = 0; s < this.n; s += g) {
      const e = Math.min(this.n, s + g);
      let a = NaN;
      let b = NaN;
      for (let i = s; i < e; i++) {
        a = nanMin(a, this.min[i]);
        b = nanMax(b, this.max[i]);
      }
      if (a !== a || b !== b || (log && !(a > 0))) continue;
      xs.push(this.x[e - 1]);
      lo.push(a);
      hi.push(b);
    }
    return { x: xs.concat(xs.slice().reverse()), y: hi.concat(lo.reverse()) };
  }
}

function num(v) {
  return v === null || v === undefined ? NaN : Number(v);
}
function nanMin(a, b) {
  return a !== a ? b : b !== b ? a : Math.min(a, b);
}
function nanMax(a, b) {
  return a !== a ? b : b !== b ? a : Math.max(a, b);
}
