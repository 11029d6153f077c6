// Class challenges (protocol §9.9): the goal, the live leaderboard and the gallery, from the
// server's `class_leaderboard` (sent to the teacher and to every viewer when it changes). The
// teacher sets and ends a challenge from the class dashboard; a student sees the board on the
// room page, its own row marked, and submits its network to the gallery. Every number is the
// server's score on its held-out draw; nothing here ranks or computes, it only lays out.

import { fmt } from "./colors.js";
import { clear, errorText, h } from "./ui.js";

const $ = (id) => document.getElementById(id);
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

// the board as a table: rank, name, the score's numbers (a student's own row marked)
export function boardTable(board, me = null, limit = Infinity) {
  const goal = board.challenge;
  const accuracyGoal = goal.kind === "accuracy";
  const table = h("table", { class: "board-table", "data-testid": "board-table" },
    h("caption", { class: "visually-hidden" }, `Leaderboard: ${goal.text}`),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "num" }, "#"),
      h("th", { scope: "col" }, "Student"),
      h("th", { scope: "col", class: "num" }, "Held-out accuracy"),
      h("th", { scope: "col", class: "num" }, "Held-out loss"),
      h("th", { scope: "col", class: "num col-params" }, "Parameters"),
      h("th", { scope: "col", class: "num col-step" }, "Step"),
      accuracyGoal ? h("th", { scope: "col" }, "Goal") : null)));
  const body = h("tbody");
  const rows = board.rows.filter((r, i) => i < limit || r.student === me);
  for (const r of rows) {
    const name = r.nickname === null ? (r.student === me ? "you" : "a student") : r.nickname;
    body.append(h("tr", { class: r.student === me ? "me" : null, "data-testid": "board-row", dataset: { student: r.student } },
      h("td", { class: "num" }, r.rank === null ? "—" : String(r.rank)),
      h("th", { scope: "row" }, name + (r.student === me && r.nickname !== null ? " (you)" : "")),
      r.not_scored
        ? h("td", { colspan: "2", class: "not-scored" }, `not scored: ${r.not_scored}`)
        : h("td", { class: "num", dataset: { value: r.accuracy ?? "" } }, pct(r.accuracy)),
      r.not_scored ? null : h("td", { class: "num", dataset: { value: r.loss ?? "" } }, fmt(r.loss)),
      h("td", { class: "num col-params" }, String(r.parameters)),
      h("td", { class: "num col-step" }, `${r.step}${r.final ? " ✓" : ""}`),
      accuracyGoal ? h("td", { class: r.meets ? "met" : "unmet" }, r.meets ? "✓ met" : "not yet") : null));
  }
  table.append(body);
  return table;
}

export function galleryList(board, me = null) {
  const list = h("ul", { class: "gallery", "data-testid": "gallery" });
  for (const g of board.gallery) {
    const who = g.nickname === null ? (g.student === me ? "you" : "a student") : g.nickname;
    const score = g.score && g.score.accuracy !== null && g.score.accuracy !== undefined ? ` · ${pct(g.score.accuracy)}` : "";
    list.append(h("li", {}, h("a", { href: g.path, target: "_blank", rel: "noopener", "data-testid": "gallery-open" },
      `${who}'s network`), ` · step ${g.step}${score}`));
  }
  return list;
}

function goalLine(board) {
  const c = board.challenge;
  return `${c.ended ? "Ended: " : "Challenge: "}${c.text} on ${c.dataset_title} (scored on ${c.held_out_rows} fresh points nobody trains on)`;
}

// ------------------------------------------------------------------ the teacher (dashboard)
export function startChallengeTeacher(store) {
  const kind = $("chal-kind");
  const status = $("class-status");
  function showFields() {
    const accuracy = kind.value === "accuracy";
    $("chal-accuracy-fields").hidden = !accuracy;
    $("chal-steps-fields").hidden = accuracy;
  }
  kind.addEventListener("change", showFields);
  showFields();

  $("chal-set").addEventListener("click", async () => {
    const goal = kind.value === "accuracy"
      ? { kind: "accuracy", min_accuracy: Number($("chal-accuracy").value) / 100,
        max_parameters: $("chal-params").value === "" ? null : Number($("chal-params").value) }
      : { kind: "loss_in_steps", steps: Number($("chal-steps").value) };
    try {
      const ack = await store.command("challenge_set", { goal });
      status.textContent = `Challenge set: ${ack.challenge.text}.`;
    } catch (err) {
      status.textContent = errorText(err);
    }
  });
  $("chal-end").addEventListener("click", async () => {
    try {
      await store.command("challenge_end", {});
      status.textContent = "Challenge ended: the board stays as it stands.";
    } catch (err) {
      status.textContent = errorText(err);
    }
  });

  store.subscribe(["classBoard"], (s) => {
    const board = s.classBoard;
    const box = clear($("class-board"));
    const on = board && board.challenge && !board.challenge.ended;
    $("chal-end").hidden = !on;
    if (!board) return;
    if (board.challenge) {
      box.append(h("p", { class: "board-goal", "data-testid": "board-goal" }, goalLine(board)));
      box.append(board.rows.length ? boardTable(board) : h("p", { class: "hint" }, "No copy scored yet: hand out copies first."));
    }
    if (board.gallery.length) box.append(h("h3", {}, "Gallery"), galleryList(board));
  });
}

// ------------------------------------------------------------------ a student (room page)
export function startChallengeStudent(store) {
  const box = $("student-challenge");
  const submit = $("chal-submit");
  const note = $("chal-note");
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    try {
      const ack = await store.command("class_submit", {});
      note.textContent = `Submitted your network at step ${ack.step}: it is in the class gallery.`;
    } catch (err) {
      note.textContent = errorText(err);
    } finally {
      submit.disabled = false;
    }
  });

  function render() {
    const board = store.get("classBoard");
    const me = store.get("classMe");
    const shown = !!board && (!!board.challenge || board.gallery.length > 0);
    box.hidden = !shown;
    if (!shown) return;
    submit.hidden = store.get("roomMode") !== "copy" || !me;
    const area = clear($("student-board"));
    if (board.challenge) {
      area.append(h("p", { class: "board-goal", "data-testid": "board-goal" }, goalLine(board)));
      if (board.rows.length) area.append(boardTable(board, me, 5));
    }
    if (board.gallery.length) area.append(h("h3", {}, "Class gallery"), galleryList(board, me));
  }
  store.subscribe(["classBoard", "classMe", "roomMode"], render);
  store.subscribe(["status"], (s) => {
    if (s.status && s.status.reason === "step_budget") {
      const c = (store.get("classBoard") || {}).challenge;
      store.set({ notice: { message: `The challenge's ${c ? c.steps : ""} steps are spent: your network is scored as it is now. Reset to start again.` } });
    }
  });
  render();
}
