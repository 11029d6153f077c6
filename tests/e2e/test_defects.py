"""Regression tests for what a new user hit (issue 13, item 6), one behaviour each."""

from __future__ import annotations

import pytest

from tests.e2e.support import spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

XOR = {
    "data": {"dataset": "xor", "noise": 0.1},
    "network": {"hidden": [{"units": 4}, {"units": 3}]},
    "training": {"optimizer": {"name": "sgd", "learning_rate": 0.03}, "batch_size": 10},
}
READY = "spec.data.dataset === 'xor' && spec.network.hidden[1].units === 3"


def js(page, expression: str):
    return page.evaluate(expression)


def test_a_long_runs_charts_show_the_whole_run(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    # 213 000 steps as the server sends them (metrics messages of ≤ 32 buckets), through the
    # page's own message path into the charts
    js(page, """(() => {
      const store = window.__propscope.store;
      const layers = store.get('snapshot').network.layers.length;
      let step = 0;
      while (step < 213000) {
        const steps = [], n = [], mean = [], mn = [], mx = [];
        for (let i = 0; i < 32; i++) {
          step += 70;
          steps.push(step); n.push(70);
          const l = 1 / Math.sqrt(step);
          mean.push(l); mn.push(0.9 * l); mx.push(1.1 * l);
        }
        const stats = { mean, min: mn, max: mx };
        store.set({ metrics: { type: 'metrics', from_step: step - 2239, to_step: step,
          count: 2240, buckets: { step: steps, n, loss: stats, data_loss: stats,
          penalty: { mean: n.map(() => 0), min: n.map(() => 0), max: n.map(() => 0) },
          grad_norms: Array.from({ length: layers }, () => stats) } } });
      }
    })()""")
    for chart in ("chart-loss", "chart-grad"):
        wait_js(page, f"document.getElementById('{chart}').data"
                f" && Math.max(...document.getElementById('{chart}').data[0].x) >= 212900")
        xs = js(page, f"document.getElementById('{chart}').data.map(t => [Math.min(...t.x),"
                " Math.max(...t.x)])")
        first, last = xs[0]
        assert first < 213_000 * 0.01, f"{chart} starts at step {first}"
        assert last >= 212_900
        # no made-up spike: the band never rises above the loss of the first steps shown
        ys = js(page, f"document.getElementById('{chart}').data[0].y.filter(v => v !== null)")
        assert max(ys) <= 1.1 / 70 ** 0.5 * 1.0001


def test_step_axes_show_whole_steps_and_plotly_offers_no_cloud_upload(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    for n in range(1, 4):
        page.keyboard.press("s")
        wait_js(page, f"window.__propscope.store.get('stepFrame').step === {n}")
    wait_js(page, "document.querySelector('#chart-loss').dataset.lastStep === '3'")
    for chart in ("chart-loss", "chart-grad"):
        ticks = js(page, f"[...document.querySelectorAll('#{chart} .xtick text')]"
                   ".map(t => t.textContent)")
        assert ticks and all(t.isdigit() for t in ticks), ticks
    page.hover("[data-testid=chart-loss]")
    page.locator("#chart-loss .modebar-btn").first.wait_for()
    titles = js(page, "[...document.querySelectorAll('.modebar-btn')].map(b => b.dataset.title)")
    assert "Download plot as a PNG" in titles
    assert not any("Share" in t for t in titles), titles


@pytest.mark.parametrize("typed", ["abc", "", "-", "1e400"])
def test_set_w_refuses_what_is_not_a_finite_number_and_keeps_the_weight(open_page, typed):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    pt = js(page, "window.__propscope.network.linkPoint(0, 1, 2)")
    page.mouse.click(pt["x"], pt["y"])
    field = page.locator("[data-testid=insp-edit-input]")
    field.wait_for()
    before = js(page, "window.__propscope.weights().arrays['weight.0'][1 * 4 + 2]")
    sent = js(page, "(() => { const c = window.__propscope.store.command;"
              " window.__sent = []; window.__propscope.store.command = (t, f) =>"
              " { window.__sent.push(t); return c(t, f); }; return true; })()")
    assert sent
    field.fill("")
    if typed:
        field.press_sequentially(typed)
    field.press("Enter")
    message = js(page, "document.querySelector('[data-testid=insp-edit-input]').validationMessage")
    assert "finite number" in message
    assert "set_weight" not in js(page, "window.__sent")
    page.click("[data-testid=step]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    after = js(page, "window.__propscope.weights().arrays['weight.0'][1 * 4 + 2]")
    assert after != 0.0 and abs(after - before) < 0.5  # one step of training, not set to 0


def test_space_on_a_focused_button_presses_that_button(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.focus("[data-testid=step]")
    page.keyboard.press("Space")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    assert js(page, "window.__propscope.store.get('playing')") is False
    # elsewhere (nothing focused) Space still plays and pauses
    js(page, "document.activeElement.blur()")
    page.keyboard.press("Space")
    wait_js(page, "window.__propscope.store.get('playing') === true")
    page.keyboard.press("Space")
    wait_js(page, "window.__propscope.store.get('playing') === false")


def test_the_lessons_menu_follows_the_arrow_keys(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.keyboard.press("L")
    page.locator("#lessons-menu").wait_for(state="visible")
    items = js(page, "[...document.querySelectorAll('#lessons-menu button')]"
               ".map(b => b.dataset.lesson)")
    focused = "document.activeElement.dataset.lesson"
    assert js(page, focused) == items[0]
    page.keyboard.press("ArrowDown")
    assert js(page, focused) == items[1]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert js(page, focused) == items[-1]
    page.keyboard.press("Home")
    assert js(page, focused) == items[0]
    assert js(page, "window.__propscope.store.get('stepFrame').step") == 0  # ↑ ↓ did not train
    page.keyboard.press("Escape")
    assert js(page, "document.activeElement.id") == "btn-lessons"


def test_play_starts_slow_enough_to_follow_and_the_speed_survives_a_reload(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    assert js(page, "document.querySelector('[data-testid=speed]').value") == "1"
    page.select_option("[data-testid=speed]", "30")
    page.reload()
    wait_js(page, "window.__propscope && window.__propscope.store.get('stepFrame')")
    assert js(page, "document.querySelector('[data-testid=speed]').value") == "30"
    assert js(page, "window.__propscope.store.get('speed')") == 30
    # presenter mode keeps the speed control
    page.keyboard.press("p")
    wait_js(page, "document.body.classList.contains('presenter')")
    assert page.locator("[data-testid=speed]").is_visible()


def test_the_inspector_is_reachable_by_keyboard_through_the_network(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    for _ in range(80):  # Tab from the top of the page reaches the picture
        page.keyboard.press("Tab")
        if js(page, "document.activeElement.dataset.testid") == "network":
            break
    assert js(page, "document.activeElement.dataset.testid") == "network"
    page.keyboard.press("ArrowDown")
    wait_js(page, "(window.__propscope.store.get('selection') || {}).type === 'neuron'")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert js(page, "window.__propscope.store.get('selection')") == {
        "type": "neuron", "col": 2, "layer": 1, "index": 1}
    page.locator("[data-testid=insp-delta]").wait_for()
    page.keyboard.press("Shift+ArrowRight")
    wait_js(page, "(window.__propscope.store.get('selection') || {}).type === 'link'")
    page.locator("[data-testid=ex-sample-grad]").wait_for()
    assert js(page, "window.__propscope.store.get('stepFrame').step") == 0  # → did not step


def test_plus_grows_a_layer_to_32_units_and_never_shrinks_it(open_page):
    spec = {**XOR, "network": {"hidden": [{"units": 31}, {"units": 3}]}}
    page, _ = open_page(spec_hash(spec), 1280, 720)
    wait_spec(page, "spec.network.hidden[0].units === 31")
    page.click("[data-testid=ctl-units-plus-0]")
    wait_spec(page, "spec.network.hidden[0].units === 32")
    page.click("[data-testid=ctl-units-plus-0]")
    page.click("[data-testid=ctl-units-minus-1]")  # a change that shows the + was handled
    wait_spec(page, "spec.network.hidden[1].units === 2")
    assert js(page, "window.__propscope.store.get('spec').network.hidden[0].units") == 32


def test_a_new_setup_while_playing_says_it_restarted_and_paused(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.select_option("[data-testid=speed]", "30")
    page.click("[data-testid=play]")
    wait_js(page, "window.__propscope.store.get('playing') === true")
    page.select_option("[data-testid=ctl-dataset]", "circle")
    wait_spec(page, "spec.data.dataset === 'circle'")
    page.locator("[data-testid=toast]").wait_for(state="visible")
    text = page.text_content("[data-testid=toast]")
    assert "step 0" in text and "paused" in text
    assert js(page, "window.__propscope.store.get('playing')") is False


def test_the_neuron_panel_says_which_weights_each_delta_was_traced_with(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.click("[data-testid=step]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    node = js(page, "window.__propscope.network.nodePoint(1, 2)")
    page.mouse.click(node["x"], node["y"])
    page.locator("[data-testid=ex-weights]").wait_for()
    # the table traces the sample with the weights after the update (the frame's trace)
    assert "after the latest update" in page.text_content("[data-testid=insp-delta-when]")
    weights = page.text_content("[data-testid=ex-weights]")
    table = float(page.get_attribute("[data-testid=insp-delta]", "data-value"))
    chain = float(page.get_attribute("[data-testid=ex-delta]", "data-value"))
    if "step 1 used" in weights:  # the chain rule of the step itself, before its update
        assert table != chain
        note = page.text_content("[data-testid=ex-delta-note]")
        assert "before its update" in note and "after the update" in note
    else:  # both with the current weights: the same δ
        assert "current weights" in weights
        assert abs(table - chain) <= 1e-5 * max(1.0, abs(table))


def test_the_sum_over_the_next_layer_shows_its_largest_terms(open_page):
    spec = {**XOR, "network": {"hidden": [{"units": 3}, {"units": 8}]}}
    page, _ = open_page(spec_hash(spec), 1280, 720)
    wait_spec(page, "spec.network.hidden[1].units === 8")
    page.click("[data-testid=step]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    node = js(page, "window.__propscope.network.nodePoint(1, 0)")
    page.mouse.click(node["x"], node["y"])
    page.locator("[data-testid=ex-term]").first.wait_for()
    e = js(page, "window.__propscope.store.get('explanation').delta_source")
    products = [abs(w * d) for w, d in zip(e["outgoing_weights"], e["next_deltas"], strict=True)]
    shown = [int(m) for m in js(page, "[...document.querySelectorAll('[data-testid=ex-term]')]"
                                  ".map(s => s.dataset.m)")]
    assert len(shown) == 4
    assert sorted(shown, key=lambda m: -products[m]) and min(products[m] for m in shown) >= max(
        p for m, p in enumerate(products) if m not in shown)
    assert "(4 smaller)" in page.text_content("[data-testid=insp-chain]")


def test_a_reload_keeps_the_chart_history_and_a_lost_session_the_urls_setup(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.select_option("[data-testid=speed]", "max")
    page.click("[data-testid=play]")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 400")
    page.click("[data-testid=play]")
    wait_js(page, "window.__propscope.store.get('playing') === false")
    wait_js(page, "Number(document.getElementById('chart-grad').dataset.points) > 10")
    page.reload()
    wait_js(page, "window.__propscope && window.__propscope.store.get('snapshot')"
            " && window.__propscope.store.get('snapshot').reason === 'resume'")
    wait_js(page, "Number(document.getElementById('chart-grad').dataset.points) > 10")
    xs = js(page, "document.getElementById('chart-loss').data[1].x")
    assert min(xs) < 100 and max(xs) > 400  # the batch-loss line from the start of the run
    # the server no longer knows the session (as after its restart): the page reconnects to a
    # new session with the default setup and configures the URL's setup again
    js(page, "sessionStorage.setItem('propscope.token', 'a-token-the-server-never-gave')")
    js(page, "window.__propscope.connection.drop()")
    wait_js(page, "(() => { const w = window.__propscope.store.get('welcome');"
            " return w && w.resumed === false && !!w.resume_error; })()")
    wait_spec(page, READY)
    assert "units%22%3A3" in js(page, "location.hash")


def test_vanishing_gradient_labels_do_not_collide_at_1280(open_page):
    page, _ = open_page("#lesson=vanishing_gradients", 1280, 720)
    wait_js(page, "window.__propscope.store.get('spec').network.hidden.length >= 5")
    page.click("[data-testid=step]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    page.click("[data-testid=mode-gradients]")
    wait_js(page, "window.__propscope.network.textBoxes().some(b => b.text.includes('∂L/∂w'))")
    boxes = js(page, "window.__propscope.network.textBoxes()")
    hits = [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > 1
            and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > 1]
    assert not hits, hits


def test_the_header_keeps_every_readout_whole_at_six_digit_steps(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    js(page, "window.__propscope.store.set({step: 213456})")
    wait_js(page, "document.querySelector('#ro-step').textContent === '213,456'")
    cut = js(page, """[...document.querySelectorAll('.readouts > div:not([hidden])')]
      .filter(d => getComputedStyle(d).display !== 'none')
      .filter(d => { const r = d.getBoundingClientRect(),
                         box = document.querySelector('.readouts').getBoundingClientRect();
                     return r.left < box.left - 0.5 || r.right > box.right + 0.5
                       || d.scrollWidth > d.clientWidth + 1; })
      .map(d => d.textContent.trim())""")
    assert cut == []


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_histograms_are_there_at_1280_and_in_presenter_mode_with_h(open_page, width, height):
    page, _ = open_page(spec_hash(XOR), width, height)
    wait_spec(page, READY)
    hist = page.locator("[data-testid=chart-hist]")
    assert hist.is_visible()
    wait_js(page, "document.querySelector('[data-testid=chart-hist]').classList"
            ".contains('js-plotly-plot')")
    page.keyboard.press("p")
    wait_js(page, "document.body.classList.contains('presenter')")
    assert not hist.is_visible()
    page.keyboard.press("h")
    wait_js(page, "document.body.classList.contains('show-hist')")
    assert hist.is_visible()
    assert js(page, "document.documentElement.scrollWidth <= innerWidth")


def test_the_features_lessons_plot_names_its_axes_by_the_plane_it_shows(open_page):
    page, _ = open_page("#lesson=features", 1280, 720)
    wait_js(page, "JSON.stringify(window.__propscope.store.get('spec').data.features)"
            " === '[\"x1_sq\",\"x2_sq\"]'")
    wait_js(page, "document.querySelector('[data-testid=data-view]').dataset.axes === 'X₁|X₂'")


def test_a_room_opened_on_127_0_0_1_says_students_cannot_use_its_link(open_page):
    page, _ = open_page(spec_hash(XOR), 1280, 720)
    wait_spec(page, READY)
    page.click("[data-testid=room]")
    page.locator("[data-testid=room-qr] svg").wait_for()
    assert "127.0.0.1" in page.text_content("[data-testid=room-url]")
    note = page.locator("[data-testid=room-local]")
    assert note.is_visible()
    assert "HOST=0.0.0.0" in note.text_content()
