"""The page draws convolutional and recurrent networks (issue 13, items 2 and 3), against the
real server: the CNN lesson's feature maps, kernels, pool routing and class bars carry the step
frame's numbers; the drawing pad's probe changes the probabilities; a kernel weight's chain rule
is a sum over output positions that adds up to the engine's gradient. The RNN lesson is unrolled
one column per time step, its gradient-norm chart has T points, and W_hh's gradient is a sum over
time steps. axe-core passes in these states; screenshots at four sizes show nothing overflowing
and no two texts colliding (test-artifacts/screenshots/layers-*.png)."""

from __future__ import annotations

import math

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, spec_hash, wait_js, wait_spec
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

STORE = "window.__propscope.store"


def choose_lesson(page, name: str, family: str) -> None:
    """The lesson from the Lessons menu, then its first step (gradients exist after one)."""
    page.click("[data-testid=lessons-menu]")
    page.click(f"[data-testid=lesson-{name}]")
    wait_js(page, f"document.body.classList.contains('net-{family}')"
                  f" && {STORE}.get('stepFrame') && {STORE}.get('stepFrame').receivedAt"
                  f" >= {STORE}.get('snapshotAt')")


def step(page, n: int = 1) -> None:
    before = page.evaluate(f"{STORE}.get('stepFrame').step")
    for _ in range(n):
        page.click("[data-testid=step]")
    wait_js(page, f"{STORE}.get('stepFrame').step >= {before + n}"
                  f" && {STORE}.get('stepFrame').arrays['sample.delta.0']")


def frame_value(page, name: str, flat: int) -> float:
    return page.evaluate(f"{STORE}.get('stepFrame').arrays[{name!r}].data[{flat}]")


def cell_at(page, testid: str, i: int, j: int, rows: int, cols: int):
    """(canvas, position) of cell (i, j) of a heatmap (heatmap.js), scrolled into view."""
    canvas = page.locator(f"[data-testid={testid}] canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    return canvas, {"x": (j + 0.5) * box["width"] / cols, "y": (i + 0.5) * box["height"] / rows}


def click_cell(page, testid: str, i: int, j: int, rows: int, cols: int) -> None:
    """Click cell (i, j) of a heatmap by its position on the screen."""
    canvas, position = cell_at(page, testid, i, j, rows, cols)
    canvas.click(position=position)


def inspector_value(page, testid: str) -> float:
    page.locator(f"#inspector [data-testid={testid}]").first.wait_for()
    return float(page.get_attribute(f"#inspector [data-testid={testid}]", "data-value"))


def wait_explanation(page, name: str) -> dict:
    wait_js(page, f"{STORE}.get('explanation') && {STORE}.get('explanation').name === {name!r}"
                  " && document.querySelector('#inspector [data-testid=ex-sample-grad]')")
    return page.evaluate(f"{STORE}.get('explanation')")


def assert_sum_is_the_gradient(page, e: dict) -> None:
    """Σ of the terms the inspector lists + the rest = the sample gradient it shows."""
    products = [float(v) for v in page.eval_on_selector_all(
        "#inspector [data-testid=ex-term]", "els => els.map(e => e.dataset.product)")]
    assert len(products) == len(e["terms"]) > 0
    rest = page.get_attribute("#inspector [data-testid=ex-rest]", "data-value") \
        if page.locator("#inspector [data-testid=ex-rest]").count() else "0"
    total = sum(products) + float(rest or 0)
    shown = inspector_value(page, "ex-sample-grad")
    assert shown == e["sample_gradient"]
    assert math.isclose(total, shown, rel_tol=1e-9, abs_tol=1e-12)
    assert inspector_value(page, "ex-batch-grad") == e["batch_gradient"]
    assert e["relative_error"] < 1e-4


# ------------------------------------------------------------------------------ CNN


def test_cnn_lesson_paints_the_servers_feature_maps_and_plays(open_page):
    page, _ = open_page()
    choose_lesson(page, "cnn_filters", "conv")
    step(page)
    snap = page.evaluate(f"{STORE}.get('snapshot').network.layers")
    conv, pool = snap[0], snap[1]
    f_, h_, w_ = conv["output_shape"]
    assert page.locator("[data-testid^=map-0-activation-]").count() == f_
    assert page.locator("[data-testid^=map-0-delta-]").count() == f_
    assert page.locator("[data-testid^=kernel-0-]").count() == f_ * conv["input_shape"][0]
    # a feature-map pixel: the inspector shows the frame's a and δ there
    f, i, j = 3, 2, 5
    click_cell(page, f"map-0-activation-{f}", i, j, h_, w_)
    flat = (f * h_ + i) * w_ + j
    assert inspector_value(page, "insp-a") == frame_value(page, "sample.activation.0", flat)
    assert inspector_value(page, "insp-delta") == frame_value(page, "sample.delta.0", flat)
    # a pooled pixel: the input pixel that won its window, as the engine routed it
    c, pi, pj = 1, 1, 2
    _, ph, pw = pool["output_shape"]
    click_cell(page, f"map-1-output-{c}", pi, pj, ph, pw)
    won = frame_value(page, "sample.routing.1", (c * ph + pi) * pw + pj)
    assert inspector_value(page, "insp-routing") == won
    # the class bars: the frame header's probabilities and predicted class, named
    header = page.evaluate(f"{STORE}.get('stepFrame').header.sample")
    names = page.evaluate(f"{STORE}.get('snapshot').data.class_names")
    for k, p in enumerate(header["output"]):
        assert float(page.get_attribute(f"[data-testid=conv-probs-{k}]", "data-value")) == p
    predicted = page.locator("[data-testid=conv-probs] .cb.predicted")
    assert predicted.count() == 1
    assert names[header["predicted"]] in predicted.inner_text()
    # it plays: steps advance, the maps follow the frames
    page.select_option("[data-testid=speed]", "30")
    page.click("[data-testid=play]")
    wait_js(page, f"{STORE}.get('stepFrame').step > 8", timeout=30_000)
    page.click("[data-testid=play]")
    wait_js(page, f"!{STORE}.get('playing')")
    assert violations(page) == []


def draw(page, cells: list[tuple[int, int]], rows: int = 8, cols: int = 8) -> None:
    """A stroke through the cells on the drawing pad, with the mouse."""
    canvas = page.locator("[data-testid=pad-canvas] canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(cell):
        i, j = cell
        x = box["x"] + (j + 0.5) * box["width"] / cols
        return x, box["y"] + (i + 0.5) * box["height"] / rows

    page.mouse.move(*at(cells[0]))
    page.mouse.down()
    for cell in cells[1:]:
        page.mouse.move(*at(cell), steps=3)
    page.mouse.up()


def probabilities(page) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all(
        "[data-testid=pad-probs] .cb-p", "els => els.map(e => e.dataset.value)")]


PROBE_INPUT = f"JSON.stringify(Array.from({STORE}.get('probeFrame').arrays['sample.input.0'].data))"
# the bars under the pad hold the latest probe frame's probabilities
BARS_ARE_THE_PROBE = (
    "JSON.stringify(Array.from(document.querySelectorAll('[data-testid=pad-probs] .cb-p'),"
    f" e => Number(e.dataset.value))) === JSON.stringify({STORE}.get('probeFrame').header.output)"
)


def test_cnn_drawing_pad_probes_the_network(open_page):
    page, _ = open_page()
    choose_lesson(page, "cnn_filters", "conv")
    page.select_option("[data-testid=speed]", "max")
    step(page, 1)
    page.evaluate("window.__propscope.store.command('step', {n: 300})")
    wait_js(page, f"{STORE}.get('stepFrame').step >= 300", timeout=60_000)
    # a horizontal bar, then a vertical one: the answers are the probe frames' numbers
    draw(page, [(4, c) for c in range(1, 7)])
    wait_js(page, f"{STORE}.get('probeFrame') && document.querySelector('[data-testid=pad-probs]')")
    wait_js(page, BARS_ARE_THE_PROBE)
    bar = probabilities(page)
    header = page.evaluate(f"{STORE}.get('probeFrame').header")
    assert header["class_names"] == page.evaluate(f"{STORE}.get('snapshot').data.class_names")
    assert len(bar) == len(header["class_names"])
    # the network picture shows the drawing going forward (the probe's input and maps)
    assert "your drawing" in page.inner_text("[data-testid=conv-view]")
    assert page.evaluate(f"{STORE}.get('probeFrame').arrays['sample.input.0'].data.length") == 64
    page.evaluate(f"window.firstProbe = {PROBE_INPUT}")
    page.click("[data-testid=pad-clear]")
    draw(page, [(r, 4) for r in range(1, 7)])
    wait_js(page, f"{BARS_ARE_THE_PROBE} && {PROBE_INPUT} !== window.firstProbe")
    assert probabilities(page) != bar
    # back to the traced sample
    page.click("[data-testid=pad-off]")
    wait_js(page, f"!{STORE}.get('padInput')")
    # the view redraws the traced sample on its next animation frame (CI read it just before)
    wait_js(page, "document.querySelector('[data-testid=conv-view]').innerText"
                  ".includes('sample #')")
    assert "sample #" in page.inner_text("[data-testid=conv-view]")


def test_cnn_kernel_weight_explanation_is_a_sum_over_positions(open_page):
    page, _ = open_page()
    choose_lesson(page, "cnn_filters", "conv")
    step(page, 2)
    f, c, i, j = 2, 0, 1, 0
    click_cell(page, f"kernel-0-{f}-{c}", i, j, 3, 3)
    e = wait_explanation(page, "kernel")
    assert e["index"] == [f, c, i, j] and e["sum_over"] == "output positions"
    assert_sum_is_the_gradient(page, e)
    # the batch gradient is the step frame's ∂L/∂K (float32 in the frame)
    flat = ((f * 1 + c) * 3 + i) * 3 + j
    grad = frame_value(page, "kernel_grad.0", flat)
    assert math.isclose(grad, e["batch_gradient"], rel_tol=1e-5, abs_tol=1e-7)
    assert inspector_value(page, "insp-param") == frame_value(page, "kernel.0", flat)
    assert violations(page) == []


# ------------------------------------------------------------------------------ RNN


def test_rnn_lesson_unrolls_over_time_and_explains_w_hh(open_page):
    page, _ = open_page()
    choose_lesson(page, "vanishing_through_time", "rnn")
    step(page, 2)
    layer = page.evaluate(f"{STORE}.get('snapshot').network.layers[0]")
    T, H = layer["input_shape"][0], layer["units"]
    assert T == 40
    assert page.get_attribute("[data-testid=rnn-time-0]", "data-steps") == str(T)
    # one column per time step: the hidden-state map is T cells wide, H high
    cols = page.evaluate("getComputedStyle(document.querySelector('[data-testid=rnn-h-0]'))"
                         ".getPropertyValue('--cols')")
    assert cols == str(T)
    # the chart: T points per series, the frame's numbers
    for series, name in (("sample", "sample.delta_norms.0"), ("batch", "delta_norms.0"),
                         ("whh", "weight_hh_grad_step_norms.0")):
        points = page.eval_on_selector_all(f"[data-testid=time-chart-{series}] .tc-point",
                                           "els => els.map(e => Number(e.dataset.value))")
        assert len(points) == T
        wanted = page.evaluate(f"Array.from({STORE}.get('stepFrame').arrays[{name!r}].data)")
        assert points == wanted
    # a hidden state: h_t and δ_t of the frame
    t, u = 37, 5
    click_cell(page, "rnn-h-0", u, t, H, T)
    assert inspector_value(page, "insp-a") == frame_value(page, "sample.activation.0", t * H + u)
    assert inspector_value(page, "insp-delta") == frame_value(page, "sample.delta.0", t * H + u)
    # the recurrent weight: its gradient as the sum over time steps
    wi, wj = 3, 7
    click_cell(page, "whh-0", wi, wj, H, H)
    e = wait_explanation(page, "weight_hh")
    assert e["index"] == [wi, wj] and e["sum_over"] == "time steps"
    assert_sum_is_the_gradient(page, e)
    grad = frame_value(page, "weight_hh_grad.0", wi * H + wj)
    assert math.isclose(grad, e["batch_gradient"], rel_tol=1e-5, abs_tol=1e-7)
    assert violations(page) == []


# ------------------------------------------------------------------------------ sizes

SIZES = [(390, 844), (1024, 768), (1280, 720), (1920, 1080)]


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize(("lesson", "family"),
                         [("cnn_filters", "conv"), ("vanishing_through_time", "rnn")])
def test_layer_pictures_fit_every_size(open_page, lesson, family, width, height):
    page, _ = open_page("", width, height, touch=width < 700)
    choose_lesson(page, lesson, family)
    step(page)
    page.wait_for_timeout(1900)  # the step's sweep (animation.js SWEEP_MS) is over
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layers-{family}-{width}x{height}.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # the maps fit the width of the picture (on a phone too; the RNN's time band may scroll)
    overflow = page.evaluate(
        "Array.from(document.querySelectorAll('.layers-view .hm canvas')).filter(c => {"
        " const r = c.getBoundingClientRect();"
        " return r.width && r.right > window.innerWidth + 1"
        " && !c.closest('.t-scroll'); }).length")
    assert overflow == 0
    assert overlapping_text(page) == []
    if width == 390:
        assert violations(page) == []


def test_a_viewer_follows_the_teachers_rnn_and_its_recurrent_weight(open_page):
    teacher, _ = open_page()
    choose_lesson(teacher, "vanishing_through_time", "rnn")
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    code = teacher.text_content("[data-testid=room-code]")
    teacher.keyboard.press("Escape")
    viewer, _ = open_page(path=f"/r/{code}")
    wait_js(viewer, "document.body.dataset.roomMode === 'following'"
                    " && document.body.classList.contains('net-rnn')")
    step(teacher, 1)
    click_cell(teacher, "whh-0", 2, 9, 16, 16)
    wanted = '{"type":"param","layer":0,"parameter":"weight_hh","index":[2,9]}'
    wait_js(viewer, f"JSON.stringify({STORE}.get('selection')) === {wanted!r}")
    viewer.locator("#inspector [data-testid=insp-chain][data-sum-over='time steps']").wait_for()
    assert viewer.locator("[data-testid=whh-0].picked").count() == 1


def test_a_cnns_next_step_downloads_as_a_gif_of_its_feature_maps(open_page):
    from PIL import Image

    page, _ = open_page()
    choose_lesson(page, "cnn_filters", "conv")
    step(page, 2)
    page.click("[data-testid=file-menu]")
    with page.expect_download(timeout=60_000) as info:
        page.click("[data-testid=file-anim-gif]")
    assert info.value.suggested_filename.endswith("-step2-next-step.gif")
    with Image.open(info.value.path()) as gif:
        # conv, max-pool, flatten, dense: forward ×4, loss, backward ×4, update
        assert gif.size == (960, 540) and gif.n_frames == 10
    assert page.evaluate(f"{STORE}.get('stepFrame').step") == 2  # the page did not move


def thumb_colours(page, run: str) -> int:
    """How many distinct colours the run card's thumbnail holds (1: blank)."""
    return page.evaluate(
        f"(() => {{ const c = document.querySelector('[data-testid=run-{run}] canvas.run-thumb');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " const seen = new Set(); for (let i = 0; i < d.length; i += 4)"
        " seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2] | (d[i + 3] << 24));"
        " return seen.size; })()")


@pytest.mark.parametrize("lesson,family", [("cnn_filters", "conv"),
                                           ("vanishing_through_time", "rnn")])
def test_a_forked_cnn_or_rnn_run_card_shows_its_kernels_or_its_fading(open_page, lesson, family):
    page, _ = open_page()
    choose_lesson(page, lesson, family)
    page.evaluate(STORE + ".command('compare',"
                  " {changes: {training: {optimizer: {learning_rate: 0.003}}}})")
    wait_js(page, f"({STORE}.get('runs') || []).length === 2")
    page.click("[data-testid=step]")
    wait_js(page, f"{STORE}.get('stepFrame').step === 1")  # the step's frame has come
    wait_js(page, "document.querySelector('[data-testid=run-step-r1]')"
                  " && document.querySelector('[data-testid=run-step-r1]').dataset.value === '1'")
    page.wait_for_timeout(600)  # the cards repaint at most every 250 ms
    page.locator("[data-testid=run-r1]").screenshot(
        path=str(ARTIFACTS / f"run-card-{family}.png"))
    assert thumb_colours(page, "r0") > 8 and thumb_colours(page, "r1") > 8


RECALL_LSTM = {
    "data": {"dataset": "recall", "sequence_length": 6},
    "network": {"layers": [{"type": "lstm", "units": 12}, {"type": "dense", "units": 8}],
                "output_activation": "softmax"},
    "training": {"loss": "cce", "optimizer": {"name": "adam", "learning_rate": 0.01}},
}


def shown_number(text: str) -> float:
    """The number after the last ': ' of a describe() text, as the page wrote it (fmt)."""
    return float(text.rsplit(": ", 1)[1].replace("−", "-"))


def hover_cell(page, testid: str, i: int, j: int, rows: int, cols: int) -> str:
    """Hover cell (i, j) of a heatmap: the text its describe() gives (the canvas's title)."""
    canvas, position = cell_at(page, testid, i, j, rows, cols)
    canvas.hover(position=position)
    return canvas.get_attribute("title")


def test_a_link_to_an_lstm_shows_its_cell_state_and_forget_gate_as_computed(open_page):
    page, _ = open_page(spec_hash(RECALL_LSTM))
    wait_spec(page, "spec.network.layers && spec.network.layers[0].type === 'lstm'")
    wait_js(page, "document.body.classList.contains('net-rnn')")
    step(page)
    T, H = RECALL_LSTM["data"]["sequence_length"], RECALL_LSTM["network"]["layers"][0]["units"]
    assert page.locator("[data-testid=rnn-c-0]").is_visible()
    # unit 2 at t = 3 of the forget-gate row: the frame's gates[t = 2, H + 1] (i, f, g, o order)
    u, t = 1, 2
    text = hover_cell(page, "rnn-f-0", u, t, H, T)
    wanted = frame_value(page, "sample.gates.0", t * 4 * H + H + u)
    assert text.startswith(f"forget gate f at t = {t + 1}, unit {u + 1}: ")
    assert math.isclose(shown_number(text), wanted, rel_tol=1e-3) and 0 < wanted < 1
    # the cell state beside it is the frame's c_t
    text = hover_cell(page, "rnn-c-0", u, t, H, T)
    assert math.isclose(shown_number(text), frame_value(page, "sample.cell.0", t * H + u),
                        rel_tol=1e-3, abs_tol=1e-4)
    assert overlapping_text(page) == []
