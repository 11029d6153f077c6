// The "Lessons" menu (key L = Shift+l): ready-made setups from `/api/catalog` `lessons`, one
// per idea a course teaches. Choosing one configures its (complete) spec through the setup
// panel's own `configure` (so the controls and the URL hash follow) and shows the lesson card:
// the title and where to look. The card is advice, not state: changing the setup by hand keeps
// it until it is closed. `lesson` in the store names the lesson shown (url_state.js keeps it in
// the hash as `&lesson=<name>`, so a shared link or a reload shows the card again).
//
// The lesson is part of the session's state (`configure {lesson}`, the snapshot's
// `state.lesson`): students following a room and a replayed recording show the teacher's card
// (connection.js sets `lesson` from the state they follow); they have no menu, and their ✕ only
// hides the card on their own screen.

import { clear, h, menu } from "./ui.js";

const $ = (id) => document.getElementById(id);

export function startLessons(store, { configure, setSpeed }) {
  const button = $("btn-lessons");
  const list = $("lessons-menu");
  const card = $("lesson-card");
  const dropdown = menu(button, list);
  // every lesson of the catalog: dense networks in network_view.js, CNNs and RNNs in
  // conv_view.js and rnn_view.js (layers_view.js chooses)
  const lessons = () => (store.get("catalog") || {}).lessons || [];
  const find = (name) => lessons().find((l) => l.name === name) || null;
  const locked = () => !!store.get("readOnly") || !!store.get("replaying");

  async function choose(name) {
    const lesson = find(name);
    if (!lesson || locked()) return;
    const ack = await configure(lesson.spec, { lesson: lesson.name }); // controls.js reports a refusal itself
    if (!ack) return;
    store.set({ lesson: lesson.name });
    // the runs the lesson trains beside its own (a fork, a genetic algorithm), as the server
    // checked them in the catalog; they go in order, after the lesson's setup
    for (const entry of lesson.compare || []) {
      try {
        await store.command("compare", entry);
      } catch (err) {
        store.set({ lastError: err.reply || { message: String(err) } });
        break;
      }
    }
    if (lesson.speed) setSpeed(lesson.speed); // each lesson is tested at its own speed
  }

  function renderMenu() {
    clear(list);
    const current = store.get("lesson");
    for (const l of lessons()) {
      list.append(h("button", {
        type: "button",
        role: "menuitem",
        class: "lesson-item",
        "aria-current": l.name === current ? "true" : null,
        dataset: { lesson: l.name, testid: `lesson-${l.name}` },
        onclick: () => choose(l.name),
      }, h("span", { class: "lesson-item-title" }, l.title), h("span", { class: "lesson-item-concept" }, l.concept)));
    }
    button.hidden = !lessons().length;
  }

  function renderCard() {
    const lesson = find(store.get("lesson"));
    document.body.classList.toggle("has-lesson", !!lesson);
    card.hidden = !lesson;
    card.dataset.lesson = lesson ? lesson.name : "";
    if (!lesson) return;
    $("lesson-title").textContent = lesson.title;
    $("lesson-look").textContent = lesson.look_for;
  }

  $("lesson-close").addEventListener("click", () => store.set({ lesson: null }));

  store.subscribe(["catalog", "lesson"], () => {
    renderMenu();
    renderCard();
  });
  store.subscribe(["role", "readOnly", "replaying"], () => {
    button.disabled = locked();
    if (locked()) dropdown.close();
    renderCard();
  });

  renderMenu();
  renderCard();
  return {
    choose,
    // key L: open the menu (focus on its first item); again closes it
    toggleMenu() {
      if (locked() || button.hidden) return;
      button.click();
    },
  };
}
