"""Browser tests of the classroom features (issue 6): rooms with a presenter and viewers, saved
experiments and share links, CSV upload, export / import and recordings with replay.

Every page is a separate browser context (its own storage: another person's browser), against
the real server and the real Chromium, under the server's Content-Security-Policy.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import ARTIFACTS, spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

SMALL = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 4}, {"units": 3}]},
         "training": {"batch_size": 10}}


def js(page, expression: str):
    return page.evaluate(expression)


def step_of(page) -> int:
    return int(page.get_attribute("#ro-step", "data-value") or 0)


def frame_step(page) -> int:
    return js(page, "window.__propscope.store.get('stepFrame').step")


def weights(page):
    return js(page, "window.__propscope.weights()")


def wait_frame_step(page, step: int) -> None:
    wait_js(page, f"(window.__propscope.store.get('stepFrame') || {{}}).step === {step}")


def do_steps(page, n: int) -> int:
    """Press s n times, each after the previous step's frame arrived; → the step reached."""
    for _ in range(n):
        before = frame_step(page)
        page.keyboard.press("s")
        wait_frame_step(page, before + 1)
    return frame_step(page)


def file_menu(page, item: str) -> None:
    page.click("[data-testid=file-menu]")
    page.click(f"[data-testid=file-{item}]")


def test_room_viewers_follow_read_only_handout_and_close(open_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher, _ = open_page(spec_hash(SMALL))
    wait_spec(teacher, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    # the QR code is drawn (an SVG from the server), large enough to scan across a room
    wait_js(teacher, "document.querySelector('[data-testid=room-qr] svg')"
                     " && document.querySelector('[data-testid=room-qr] svg')"
                     ".getBoundingClientRect().width > 200")
    assert js(teacher, "document.querySelector('[data-testid=room-qr] svg').namespaceURI") \
        == "http://www.w3.org/2000/svg"
    code = teacher.text_content("[data-testid=room-code]")
    assert len(code) == 6 and code == js(teacher, "window.__propscope.store.get('room').code")
    assert teacher.text_content("[data-testid=room-url]").endswith(f"/r/{code}")

    viewers = [open_page(path=f"/r/{code}")[0] for _ in range(3)]
    for v in viewers:
        wait_js(v, "document.body.dataset.roomMode === 'following'")
        assert v.locator("[data-testid=badge-follow]").is_visible()
        assert not v.locator("[data-testid=play]").is_visible()  # no transport to offer
    wait_js(teacher, "document.querySelector('[data-testid=room-viewers]').dataset.value === '3'")
    time.sleep(0.3)
    teacher.screenshot(path=str(ARTIFACTS / "room-presenter-1280.png"))  # docs/img/room-1280.png

    # the teacher steps and selects a link: every viewer shows the same step and link
    teacher.keyboard.press("Escape")
    teacher.locator("[data-testid=room-panel]").wait_for(state="hidden")
    step = do_steps(teacher, 3)
    pt = js(teacher, "window.__propscope.network.linkPoint(1, 2, 1)")
    teacher.mouse.click(pt["x"], pt["y"])
    wait_js(teacher, "(window.__propscope.store.get('selection') || {}).type === 'link'")
    selection = js(teacher, "window.__propscope.store.get('selection')")
    assert selection == {"type": "link", "layer": 1, "source": 2, "target": 1}
    for v in viewers:
        wait_frame_step(v, step)
        wait_js(v, "JSON.stringify(window.__propscope.store.get('selection'))"
                   " === '{\"type\":\"link\",\"layer\":1,\"source\":2,\"target\":1}'")
        # the explanation the teacher asked for reaches the viewers' inspectors
        v.locator("[data-testid=insp-chain]").wait_for()
        wait_js(v, f"document.querySelector('#ro-step').dataset.value === '{step}'")

    # a viewer cannot drive the teacher's session: the Play key does nothing, a forged play is
    # refused by the server with read_only (and shown), the teacher's run does not move
    v0 = viewers[0]
    v0.keyboard.press("Space")
    v0.keyboard.press("s")
    code_back = js(v0, "window.__propscope.connection.sendRaw('play', {speed: 'max'})"
                       ".then(() => 'accepted', (e) => e.reply && e.reply.code)")
    assert code_back == "read_only"
    v0.locator("[data-testid=toast]").wait_for(state="visible")
    assert "read-only" in v0.text_content("[data-testid=toast]").lower()
    time.sleep(0.4)
    assert frame_step(teacher) == step
    assert not js(teacher, "window.__propscope.store.get('playing')")
    assert frame_step(v0) == step

    # hold: the viewers show the marker
    teacher.keyboard.press("o")
    teacher.click("[data-testid=room-hold]")
    for v in viewers:
        v.locator("[data-testid=badge-hold]").wait_for(state="visible")
    v0.mouse.move(2, 700)
    js(v0, "document.querySelector('[data-testid=toast]').hidden = true")  # the refusal above
    time.sleep(0.3)
    v0.screenshot(path=str(ARTIFACTS / "room-viewer-1280.png"))

    # hand-out: each viewer drives an own copy, at the same step with the same weights
    teacher.click("[data-testid=room-handout]")
    expected = weights(teacher)
    for v in viewers:
        wait_js(v, "document.body.dataset.roomMode === 'copy'")
        wait_js(v, "window.__propscope.store.get('snapshot').reason === 'connect'")
        wait_frame_step(v, step)
        assert weights(v) == expected
        assert v.locator("[data-testid=follow-again]").is_visible()
    assert do_steps(v0, 2) == step + 2
    assert frame_step(viewers[1]) == step and frame_step(teacher) == step
    assert weights(viewers[1]) == expected and weights(v0) != expected

    # one viewer follows again; then the teacher closes the room and everyone is told
    viewers[2].click("[data-testid=follow-again]")
    wait_js(viewers[2], "document.body.dataset.roomMode === 'following'"
                        " && window.__propscope.store.get('snapshot').reason === 'room'")
    teacher.click("[data-testid=room-close]")
    teacher.locator("[data-testid=room-panel]").wait_for(state="hidden")
    for v in viewers:
        v.locator("[data-testid=class-banner]").wait_for(state="visible")
        assert "room was closed" in v.text_content("[data-testid=class-banner]")
    wait_js(viewers[2], "document.body.dataset.roomMode === 'closed'")
    assert "own copy" in viewers[0].text_content("[data-testid=class-banner]")
    assert do_steps(viewers[0], 1) == step + 3  # the copy lives on


def test_save_and_open_the_share_link_elsewhere(open_page):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    step = do_steps(page, 4)
    file_menu(page, "save")
    page.fill("[data-testid=save-name]", "xor with 4 and 3")
    page.click("[data-testid=save-ok]")
    link = page.locator("[data-testid=share-link]")
    link.wait_for()
    exp_id = link.get_attribute("data-id")
    assert link.get_attribute("href") == f"/e/{exp_id}"
    assert js(page, f"localStorage.getItem('propscope.owner.{exp_id}')")
    page.keyboard.press("Escape")

    other, _ = open_page(path=f"/e/{exp_id}")
    wait_frame_step(other, step)
    wait_js(other, "window.__propscope.store.get('snapshot').reason === 'open'")
    assert js(other, "window.__propscope.store.get('spec')") == js(
        page, "window.__propscope.store.get('spec')")
    assert weights(other) == weights(page)
    # the saved loss history is drawn
    wait_js(other, "Number(document.querySelector('[data-testid=chart-loss]').dataset.points) >= 4")

    # the list: only the owner's browser is offered rename / delete
    file_menu(other, "open")
    row = other.locator(f"[data-testid=exp-row][data-id='{exp_id}']")
    row.wait_for()
    assert row.locator("[data-testid=exp-rename]").count() == 0
    other.keyboard.press("Escape")
    file_menu(page, "open")
    row = page.locator(f"[data-testid=exp-row][data-id='{exp_id}']")
    row.locator("[data-testid=exp-rename]").click()
    row.locator("input").fill("renamed run")
    row.locator("input").press("Enter")
    name = f"[data-testid=exp-row][data-id='{exp_id}'] .exp-name"
    page.locator(name).wait_for()
    assert page.text_content(name) == "renamed run"


GOOD_CSV = "size,rooms,price\n" + "\n".join(
    f"{50 + i},{1 + i % 4},{100 + 3 * i + (i % 4) * 10}" for i in range(60)
)
BAD_NUMBER_CSV = "x,y\n1,0\n2,1\nabc,0\n4,1\n5,0\n"
RAGGED_CSV = "a,b,c\n1,2,3\n4,5\n6,7,8\n"


def test_csv_upload_trains_and_bad_files_say_where(open_page, tmp_path):
    page, watch = open_page(spec_hash(SMALL))
    watch.expect_http_error("/api/csv/preview")  # the ragged file is answered 400
    wait_spec(page, "spec.network.hidden.length === 2")
    file_menu(page, "csv")
    files = {"houses.csv": GOOD_CSV, "bad.csv": BAD_NUMBER_CSV, "ragged.csv": RAGGED_CSV}
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    # a ragged file is refused at once, with its line
    page.set_input_files("[data-testid=csv-file]", str(tmp_path / "ragged.csv"))
    page.locator("[data-testid=csv-error]").wait_for(state="visible")
    assert "Line 3" in page.text_content("[data-testid=csv-error]")

    # a non-number in a feature column: refused when training, with line and column
    page.set_input_files("[data-testid=csv-file]", str(tmp_path / "bad.csv"))
    page.locator("[data-testid=csv-preview]").wait_for(state="visible")
    page.select_option("[data-testid=csv-target]", "y")
    page.click("[data-testid=csv-train]")
    page.locator("[data-testid=csv-error]").wait_for(state="visible")
    text = page.text_content("[data-testid=csv-error]")
    assert "Line 4" in text and "x" in text and "not a number" in text
    assert js(page, "window.__propscope.store.get('spec').data.dataset") == "xor"

    # a good file: preview, choose the target, train
    page.set_input_files("[data-testid=csv-file]", str(tmp_path / "houses.csv"))
    page.locator("[data-testid=csv-preview]").wait_for(state="visible")
    assert page.locator("#csv-table tbody tr").count() == 5
    page.select_option("[data-testid=csv-target]", "price")
    page.click("[data-testid=csv-train]")
    page.locator("[data-testid=csv-dialog]").wait_for(state="hidden")
    wait_spec(page, "spec.data.dataset === 'custom'")
    snap = js(page, "window.__propscope.store.get('snapshot').data")
    assert snap["target_name"] == "price" and snap["input_names"] == ["size", "rooms"]
    first = js(page, "window.__propscope.store.get('snapshot').state.metrics.train_loss")
    page.select_option("[data-testid=speed]", "max")
    page.click("[data-testid=play]")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 200")
    page.click("[data-testid=play]")
    wait_js(page, "!window.__propscope.store.get('playing')")
    wait_js(page, f"Number(document.querySelector('#ro-train').textContent) < {first}")


def test_export_json_then_import_continues_elsewhere(open_page, tmp_path):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    step = do_steps(page, 3)
    with page.expect_download() as info:
        file_menu(page, "export-json")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".json"

    other, _ = open_page()
    other.set_input_files("[data-testid=import-file]", str(path))
    wait_js(other, "window.__propscope.store.get('snapshot').reason === 'import'")
    wait_frame_step(other, step)
    assert weights(other) == weights(page)
    # both continue identically
    assert do_steps(other, 1) == step + 1 and do_steps(page, 1) == step + 1
    assert weights(other) == weights(page)


def test_record_then_replay_shows_the_recorded_steps_in_order(open_page, tmp_path):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    start = do_steps(page, 2)
    file_menu(page, "record")
    page.locator("[data-testid=rec-indicator]").wait_for(state="visible")
    for _ in range(4):
        time.sleep(0.3)  # the replay keeps these gaps: each step is on screen a while
        do_steps(page, 1)
    time.sleep(0.3)
    with page.expect_download() as info:
        page.click("[data-testid=rec-indicator]")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".psrec"

    other, _ = open_page()
    js(other, """(() => { const el = document.querySelector('#ro-step'); window.__seen = [];
        new MutationObserver(() => { const v = Number(el.dataset.value);
          if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v); })
        .observe(el, {attributes: true, attributeFilter: ['data-value']}); })()""")
    other.set_input_files("[data-testid=replay-file]", str(path))
    other.locator("[data-testid=replay-bar]").wait_for(state="visible")
    assert "Replaying recording" in other.text_content("[data-testid=replay-bar]")
    wait_js(other, "document.querySelector('[data-testid=replay-bar]').dataset.done === 'true'",
            timeout=15_000)
    time.sleep(0.3)
    seen = js(other, "window.__seen")
    expected = list(range(start, start + 5))
    assert seen[seen.index(start):] == expected, seen
    # the live session of that page was not driven; leaving the replay shows it again
    other.click("[data-testid=replay-exit]")
    other.locator("[data-testid=replay-bar]").wait_for(state="hidden")
    wait_js(other, "window.__propscope.store.get('snapshot').reason === 'request'")
    wait_frame_step(other, 0)
