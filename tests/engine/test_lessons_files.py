"""Lesson files are untrusted data: each is validated on load, and a bad one is refused with a
message naming the file and the field, so a teacher who edits one knows what to fix."""

import json
from pathlib import Path

import pytest

from engine.lessons import LESSONS, LESSONS_DIR, Lesson, LessonError, load_lesson, load_lessons
from engine.spec import Spec

GOOD = {
    "order": 1,
    "title": "A lesson",
    "concept": "testing",
    "look_for": "Something visible.",
    "speed": 10,
    "watch_seconds": 30,
    "spec": {"data": {"dataset": "circle"}},
}


def write(directory: Path, name: str, content) -> Path:
    path = directory / f"{name}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def refusal(tmp_path: Path, content, name: str = "bad_lesson") -> str:
    with pytest.raises(LessonError) as caught:
        load_lesson(write(tmp_path, name, content))
    return str(caught.value)


def test_every_shipped_file_is_a_lesson_in_teaching_order():
    files = sorted(path.stem for path in LESSONS_DIR.glob("*.json"))
    assert sorted(LESSONS) == files
    orders = [lesson.order for lesson in LESSONS.values()]
    assert orders == sorted(orders)
    assert all(isinstance(lesson, Lesson) for lesson in LESSONS.values())


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_lesson_has_a_valid_spec_and_a_watching_budget(name):
    lesson = LESSONS[name]
    Spec.from_dict(lesson.spec)
    assert lesson.steps_watched == int(lesson.speed * lesson.watch_seconds) >= 1


def test_a_good_file_loads_with_its_name_from_the_file(tmp_path):
    lesson = load_lesson(write(tmp_path, "my_lesson", GOOD))
    assert (lesson.name, lesson.speed, lesson.steps_watched) == ("my_lesson", 10, 300)


def test_an_unknown_field_is_named(tmp_path):
    message = refusal(tmp_path, {**GOOD, "speeed": 3})
    assert "bad_lesson.json" in message and "'speeed'" in message


@pytest.mark.parametrize("field", ["title", "look_for", "speed", "watch_seconds", "spec", "order"])
def test_a_missing_field_is_named(tmp_path, field):
    content = {k: v for k, v in GOOD.items() if k != field}
    message = refusal(tmp_path, content)
    assert "bad_lesson.json" in message and f"missing field {field!r}" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("speed", 0), ("speed", -1), ("speed", "fast"), ("speed", True), ("speed", 5000),
     ("watch_seconds", 0), ("title", ""), ("concept", 3), ("order", 1.5), ("spec", [])],
)
def test_a_bad_value_is_named(tmp_path, field, value):
    message = refusal(tmp_path, {**GOOD, field: value})
    assert "bad_lesson.json" in message and f"{field!r}" in message


def test_an_invalid_spec_names_the_spec_field(tmp_path):
    message = refusal(tmp_path, {**GOOD, "spec": {"data": {"dataset": "circle", "noise": 7}}})
    assert "bad_lesson.json" in message and "spec" in message and "data.noise" in message


def test_broken_json_and_a_bad_file_name_are_refused(tmp_path):
    assert "bad_lesson.json" in refusal(tmp_path, '{"title": ')
    assert "file name" in refusal(tmp_path, GOOD, name="Bad Name")


def test_two_lessons_may_not_share_a_place_in_the_menu(tmp_path):
    write(tmp_path, "first", GOOD)
    write(tmp_path, "second", GOOD)
    with pytest.raises(LessonError, match="second.json: field 'order' 1 is taken by first.json"):
        load_lessons(tmp_path)


def test_the_catalog_sends_each_lesson_with_its_speed_and_complete_spec():
    from app.routes import catalog

    sent = {entry["name"]: entry for entry in catalog()["lessons"]}
    assert list(sent) == list(LESSONS)  # every family, convolutional and recurrent included
    for name in LESSONS:
        lesson = LESSONS[name]
        entry = sent[name]
        assert (entry["speed"], entry["watch_seconds"]) == (lesson.speed, lesson.watch_seconds)
        assert entry["spec"] == Spec.from_dict(lesson.spec).to_dict()
        assert (entry["title"], entry["look_for"]) == (lesson.title, lesson.look_for)


def test_a_lesson_may_name_runs_to_train_beside_it(tmp_path):
    compare = [{"changes": {"training": {"optimizer": {"learning_rate": 3.0}}}, "label": "3"},
               {"trainer": "evolution", "evolution": {"population": 20}}]
    lesson = load_lesson(write(tmp_path, "side", {**GOOD, "compare": compare}))
    assert lesson.compare == tuple(compare)


@pytest.mark.parametrize(("compare", "named"), [
    ({"changes": {}}, "list"),
    ([{}] * 4, "at most 3"),
    ([{"changes": {"data": {"dataset": "xor"}}}], "network and training"),
    ([{"changes": {"network": {"hidden": [{"units": 0}]}}}], "network.hidden"),
    ([{"trainer": "annealing"}], "'trainer'"),
    ([{"trainer": "evolution", "evolution": {"population": 1}}], "evolution.population"),
    ([{"evolution": {"population": 20}}], "need"),
    ([{"labels": "x"}], "'labels'"),
])
def test_a_bad_comparison_is_named(tmp_path, compare, named):
    message = refusal(tmp_path, {**GOOD, "compare": compare})
    assert "bad_lesson.json" in message and named in message, message


def test_the_catalog_sends_a_lessons_comparisons():
    from app.routes import catalog

    sent = {entry["name"]: entry for entry in catalog()["lessons"]}
    assert sent["backprop_vs_evolution"]["compare"][0]["trainer"] == "evolution"
    assert sent["overfitting"]["compare"] == []
