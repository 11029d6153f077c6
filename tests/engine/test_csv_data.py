"""Specification of the CSV loader: what it accepts, and exactly where it points at bad data."""

import numpy as np
import pytest

from engine.csv_data import CSVDataError, load_csv, preview_csv

HOUSES = """size,rooms,price
50,2,1.5
80,3,2.25
120,4,3.0
65,2,1.75
200,5,4.5
"""

PETS = """weight,height,pet
4.2,25,cat
30.0,60,dog
3.9,23,cat
25.5,55,dog
5.0,28,cat
"""


def error_of(text: str, **kwargs) -> CSVDataError:
    with pytest.raises(CSVDataError) as caught:
        load_csv(text, **kwargs)
    return caught.value


def all_y(data) -> np.ndarray:
    return np.concatenate([data.y_train, data.y_test])


def all_x(data) -> np.ndarray:
    return np.concatenate([data.x_train, data.x_test])


# --- the error type ----------------------------------------------------------------------------


def test_error_reads_as_one_sentence_with_line_and_column():
    error = CSVDataError('"abc" is not a number', row=7, column="price")
    assert str(error) == 'line 7, column "price": "abc" is not a number'


def test_error_without_a_column_names_only_the_line():
    assert str(CSVDataError("expected 3 values", row=4)) == "line 4: expected 3 values"


def test_error_without_a_place_is_just_the_reason():
    assert str(CSVDataError("the file is empty")) == "the file is empty"


def test_error_is_a_value_error_with_a_json_form():
    error = CSVDataError("the cell is empty", row=3, column="x")
    assert isinstance(error, ValueError)
    assert error.to_dict() == {
        "row": 3,
        "column": "x",
        "reason": "the cell is empty",
        "message": 'line 3, column "x": the cell is empty',
    }


# --- good files --------------------------------------------------------------------------------


def test_numeric_regression_file_loads_all_rows():
    data = load_csv(HOUSES, target="price")
    assert data.info.task == "regression"
    assert data.input_names == ["size", "rooms"]
    assert data.target_name == "price"
    assert data.class_names == []
    assert all_x(data).shape == (5, 2)
    assert all_y(data).shape == (5, 1)
    assert sorted(all_y(data)[:, 0]) == [1.5, 1.75, 2.25, 3.0, 4.5]


def test_rows_keep_their_values_together_after_shuffling():
    data = load_csv(HOUSES, target="price")
    rows = {tuple(x) + (y[0],) for x, y in zip(all_x(data), all_y(data), strict=True)}
    assert (120.0, 4.0, 3.0) in rows


def test_string_classes_are_indexed_in_sorted_order():
    data = load_csv(PETS, target="pet")
    assert data.info.task == "classification"
    assert data.class_names == ["cat", "dog"]
    assert data.info.n_classes == 2
    x, y = all_x(data), all_y(data)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, (x[:, 0] > 10).astype(np.int64))


def test_info_describes_an_uploaded_dataset():
    info = load_csv(PETS, target="pet", name="pets.csv").info
    assert (info.name, info.title, info.plane, info.n_inputs) == ("pets.csv", "pets.csv", False, 2)
    assert info.input_names == ("weight", "height")


def test_uploaded_dataset_has_no_plane_bounds():
    assert load_csv(PETS, target="pet").bounds is None


def test_features_select_and_order_the_input_columns():
    data = load_csv(HOUSES, target="price", features=["rooms"])
    assert data.input_names == ["rooms"]
    assert sorted(all_x(data)[:, 0]) == [2, 2, 3, 4, 5]


def test_unused_columns_may_hold_text():
    text = "id,x,y\nA,1,0.5\nB,2,1.5\nC,3,2.5\nD,4,3.0\n"
    assert load_csv(text, target="y", features=["x"]).info.n_inputs == 1


def test_train_ratio_splits_with_both_parts_non_empty():
    data = load_csv(HOUSES, target="price", train_ratio=0.99)
    assert (len(data.x_train), len(data.x_test)) == (4, 1)


def test_same_seed_gives_the_same_split_and_another_seed_a_different_one():
    rows = "\n".join(f"{i},{i * 0.5}" for i in range(40))
    text = f"x,y\n{rows}\n"
    first, again = load_csv(text, target="y", seed=1), load_csv(text, target="y", seed=1)
    other = load_csv(text, target="y", seed=2)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)


def test_semicolon_separator_with_decimal_commas():
    data = load_csv("a;b;y\n1,5;2;0,25\n2;3;1\n3;4,5;2\n4;5;3,5\n", target="y")
    assert sorted(all_x(data)[:, 0]) == [1.5, 2.0, 3.0, 4.0]
    assert sorted(all_y(data)[:, 0]) == [0.25, 1.0, 2.0, 3.5]


def test_tab_separated_text_pasted_from_a_spreadsheet():
    data = load_csv("a\ty\n1\t2.5\n2\t3.5\n3\t4.5\n4\t6.5\n", target="y")
    assert data.input_names == ["a"]


def test_whitespace_blank_lines_quotes_and_byte_order_mark_are_tolerated():
    text = '\ufeff size , "label"\r\n\r\n 1 , "a b" \r\n2,c\r\n\r\n3,"a b"\r\n4,c\r\n\r\n'
    data = load_csv(text, target="label")
    assert data.input_names == ["size"]
    assert data.class_names == ["a b", "c"]


# --- task inference ----------------------------------------------------------------------------


def test_text_target_is_classification():
    assert load_csv(PETS, target="pet").info.task == "classification"


def test_integer_target_with_few_values_is_classification():
    text = "x,grade\n1,3\n2,1\n3,2\n4,3\n5,1\n"
    data = load_csv(text, target="grade")
    assert data.info.task == "classification"
    assert data.class_names == ["1", "2", "3"]
    assert sorted(all_y(data).tolist()) == [0, 0, 1, 2, 2]


def test_numeric_class_names_sort_numerically():
    text = "x,c\n1,10\n2,9\n3,10\n4,9\n"
    assert load_csv(text, target="c").class_names == ["9", "10"]


def test_integer_target_with_many_values_is_regression():
    rows = "\n".join(f"{i},{i * 3}" for i in range(11))
    assert load_csv(f"x,y\n{rows}\n", target="y").info.task == "regression"


def test_fractional_target_is_regression():
    assert load_csv(HOUSES, target="price").info.task == "regression"


def test_explicit_regression_overrides_inference_for_integer_targets():
    text = "x,grade\n1,3\n2,1\n3,2\n4,3\n"
    data = load_csv(text, target="grade", task="regression")
    assert data.info.task == "regression"
    assert data.y_train.dtype == np.float64


def test_explicit_classification_accepts_labels_mixing_numbers_and_words():
    text = "x,c\n1,1\n2,other\n3,1\n4,other\n"
    assert load_csv(text, target="c", task="classification").class_names == ["1", "other"]


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="task"):
        load_csv(HOUSES, target="price", task="clustering")


@pytest.mark.parametrize("train_ratio", [0.0, 1.0])
def test_train_ratio_outside_the_open_unit_interval_is_rejected(train_ratio):
    with pytest.raises(ValueError, match="train_ratio"):
        load_csv(HOUSES, target="price", train_ratio=train_ratio)


# --- bad files: one test per kind of problem ---------------------------------------------------


def test_empty_file():
    error = error_of("  \n\n", target="y")
    assert (error.row, error.column, error.reason) == (None, None, "the file is empty")


def test_missing_header():
    error = error_of("1,2\n3,4\n5,6\n7,8\n9,10\n", target="y")
    assert (error.row, error.column) == (1, None)
    assert "header" in error.reason


def test_header_cell_without_a_name():
    error = error_of("x,,y\n1,2,3\n", target="y")
    assert (error.row, error.column) == (1, None)
    assert error.reason == "column 2 has no name in the header"


def test_duplicate_column_names():
    error = error_of("x,y,x\n1,2,3\n", target="y")
    assert (error.row, error.column) == (1, "x")
    assert "more than once" in error.reason


def test_unknown_target_column():
    error = error_of(HOUSES, target="cost")
    assert (error.row, error.column) == (None, "cost")
    assert "no such column" in error.reason
    assert '"price"' in error.reason


def test_unknown_feature_column():
    error = error_of(HOUSES, target="price", features=["size", "garden"])
    assert (error.row, error.column) == (None, "garden")


def test_target_chosen_as_a_feature():
    error = error_of(HOUSES, target="price", features=["size", "price"])
    assert (error.row, error.column) == (None, "price")


def test_feature_chosen_twice():
    error = error_of(HOUSES, target="price", features=["size", "size"])
    assert (error.row, error.column) == (None, "size")


def test_no_feature_left():
    error = error_of("y\n1\n2\n3\n4\n", target="y")
    assert "at least one input column" in error.reason


def test_row_with_too_few_values():
    error = error_of("x,y\n1,2\n3,4\n5\n7,8\n", target="y")
    assert (error.row, error.column) == (4, None)
    assert error.reason == "expected 2 values (one per column), found 1"


def test_row_with_too_many_values():
    error = error_of("x,y\n1,2\n3,4,5\n", target="y")
    assert (error.row, error.column) == (3, None)


def test_line_numbers_count_skipped_blank_lines():
    error = error_of("x,y\n1,2\n\n\n3\n", target="y")
    assert error.row == 5


def test_empty_cell():
    error = error_of("x,y\n1,2\n3,4\n,6\n7,8\n", target="y")
    assert (error.row, error.column, error.reason) == (4, "x", "the cell is empty")


def test_empty_target_cell():
    error = error_of("x,y\n1,2\n3,\n5,6\n7,8\n", target="y")
    assert (error.row, error.column, error.reason) == (3, "y", "the cell is empty")


def test_non_numeric_feature_cell():
    error = error_of("x,price\n1,2\n2,3\n3,4\n4,5\n5,6\nabc,7\n", target="price")
    assert (error.row, error.column) == (7, "x")
    assert str(error) == 'line 7, column "x": "abc" is not a number'


def test_stray_word_in_a_numeric_target():
    error = error_of("x,price\n1,2.5\n2,3.5\n3,abc\n4,5.5\n", target="price")
    assert (error.row, error.column, error.reason) == (4, "price", '"abc" is not a number')


def test_text_target_for_explicit_regression():
    error = error_of(PETS, target="pet", task="regression")
    assert (error.row, error.column) == (2, "pet")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_non_finite_value(value):
    error = error_of(f"x,y\n1,2\n{value},3\n4,5\n6,7\n", target="y")
    assert (error.row, error.column) == (3, "x")
    assert error.reason == f'"{value}" is not a finite number'


def test_too_many_rows():
    rows = "\n".join(f"{i},{i}" for i in range(11))
    error = error_of(f"x,y\n{rows}\n", target="y", max_rows=10)
    assert (error.row, error.column) == (12, None)
    assert "more than 10 data rows" in error.reason


def test_too_many_columns():
    header = ",".join(f"c{i}" for i in range(6))
    error = error_of(f"{header}\n" + ",".join("1" * 6) + "\n", target="c0", max_columns=5)
    assert (error.row, error.column) == (1, None)
    assert "6 columns" in error.reason


def test_fewer_than_four_data_rows():
    error = error_of("x,y\n1,2\n3,4\n5,6\n", target="y")
    assert (error.row, error.column) == (None, None)
    assert error.reason == "the file needs at least 4 data rows, found 3"


def test_classification_target_with_a_single_class():
    error = error_of("x,pet\n1,cat\n2,cat\n3,cat\n4,cat\n", target="pet")
    assert (error.row, error.column) == (None, "pet")
    assert 'only one class ("cat")' in error.reason


def test_classification_target_with_too_many_classes():
    rows = "\n".join(f"{i},name{i}" for i in range(25))
    error = error_of(f"x,who\n{rows}\n", target="who")
    assert error.column == "who"
    assert "25 different values" in error.reason


def test_constant_regression_target():
    error = error_of("x,y\n1,2.5\n2,2.5\n3,2.5\n4,2.5\n", target="y", task="regression")
    assert (error.row, error.column) == (None, "y")
    assert "every value is 2.5" in error.reason


def test_unterminated_quote():
    error = error_of('x,y\n1,2\n"3,4\n', target="y")
    assert error.row is not None


# --- preview -----------------------------------------------------------------------------------


def test_preview_lists_columns_first_rows_and_row_count():
    preview = preview_csv(PETS, max_rows=2)
    assert preview["columns"] == ["weight", "height", "pet"]
    assert preview["rows"] == [["4.2", "25", "cat"], ["30.0", "60", "dog"]]
    assert preview["n_rows"] == 5


def test_preview_marks_numeric_columns():
    assert preview_csv(PETS)["numeric"] == {"weight": True, "height": True, "pet": False}


def test_preview_counts_a_column_with_gaps_as_numeric():
    assert preview_csv("x,y\n1,\n2,3\n")["numeric"] == {"x": True, "y": True}


def test_preview_rejects_ragged_rows():
    with pytest.raises(CSVDataError) as caught:
        preview_csv("x,y\n1,2\n3\n")
    assert caught.value.row == 3
