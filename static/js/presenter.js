// Presenter mode: large type, thick lines, high contrast, advanced controls hidden,
// keyboard driven. It only flips `presenter` in the store and a class on <body>; every view
// reads `presenter` to size itself.

export function startPresenter(store, button) {
  function apply(on) {
    document.body.classList.toggle("presenter", on);
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Exit presenter" : "Presenter";
    }
  }
  store.subscribe(["presenter"], (s) => apply(!!s.presenter));
  // presenter mode shows only the loss chart under the network; key c adds ‖∂L/∂W‖ beside it
  store.subscribe(["showGrad"], (s) => document.body.classList.toggle("show-grad", !!s.showGrad));
  store.subscribe(["showHist"], (s) => document.body.classList.toggle("show-hist", !!s.showHist));
  if (button) button.addEventListener("click", () => store.set({ presenter: !store.get("presenter") }));
  apply(!!store.get("presenter"));
  return { toggle: () => store.set({ presenter: !store.get("presenter") }) };
}
