"""The search grammar: valid filters and order_by items parse to the expected forms, bad ones fail clearly."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import InvalidParameter
from shipyard.filters import Comparison, Kind, OrderKey, parse_filter, parse_order_by
from shipyard.registry.search import MODEL_VERSION_SEARCH, REGISTERED_MODEL_SEARCH
from shipyard.tracking.search import EXPERIMENT_SEARCH, RUN_SEARCH

A, M, P, T, D = Kind.ATTRIBUTE, Kind.METRIC, Kind.PARAM, Kind.TAG, Kind.DATASET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", [(M, "acc", ">", 0.9)]),
        ("metric.acc>=1", [(M, "acc", ">=", 1.0)]),
        ("metrics.loss < -1e5", [(M, "loss", "<", -100000.0)]),
        ("metrics.loss <= 1E3", [(M, "loss", "<=", 1000.0)]),
        ("metrics.loss <= -.5", [(M, "loss", "<=", -0.5)]),
        ("metrics.x = .5", [(M, "x", "=", 0.5)]),
        ("metrics.x != 1.", [(M, "x", "!=", 1.0)]),
        ("metrics.x = -0.5e-3", [(M, "x", "=", -0.0005)]),
        ("metrics.x > 1e400", [(M, "x", ">", math.inf)]),
        ('metrics."my metric" > 1', [(M, "my metric", ">", 1.0)]),
        ("metrics.`a b` > 1", [(M, "a b", ">", 1.0)]),
        ("`metrics`.a > 1", [(M, "a", ">", 1.0)]),
        ("metrics.`a.b` > 1", [(M, "a.b", ">", 1.0)]),
        ("metrics.val/loss-1:x > 1", [(M, "val/loss-1:x", ">", 1.0)]),
        ("metrics.1a > 1", [(M, "1a", ">", 1.0)]),
        ("params.lr = '0.01'", [(P, "lr", "=", "0.01")]),
        ('param.lr = "0.01"', [(P, "lr", "=", "0.01")]),
        ("parameters.lr != '1'", [(P, "lr", "!=", "1")]),
        ("parameter.model LIKE 'cnn%'", [(P, "model", "LIKE", "cnn%")]),
        ("params.model ilike '%CNN%'", [(P, "model", "ILIKE", "%CNN%")]),
        ("params.model IS NULL", [(P, "model", "IS NULL", None)]),
        ("params.model is not null", [(P, "model", "IS NOT NULL", None)]),
        ("tags.mlflow.runName = 'x'", [(T, "mlflow.runName", "=", "x")]),
        ("tag.`mlflow.user` = 'x'", [(T, "mlflow.user", "=", "x")]),
        ('tags."a b" = "c d"', [(T, "a b", "=", "c d")]),
        ("tags.a = ''", [(T, "a", "=", "")]),
        ("tags.a = 'it''s'", [(T, "a", "=", "it's")]),
        ("tags.a = 'it\\'s'", [(T, "a", "=", "it's")]),
        ('tags.a = "say ""hi"""', [(T, "a", "=", 'say "hi"')]),
        ("tags.a = 'C:\\temp\\\\'", [(T, "a", "=", "C:\\temp\\")]),
        ("tags.a = 'a\\\\b'", [(T, "a", "=", "a\\b")]),
        ("tags.a = 'AND OR'", [(T, "a", "=", "AND OR")]),
        ("attributes.run_id IN ('a', 'b')", [(A, "run_id", "IN", ("a", "b"))]),
        ("attribute.status = 'FINISHED'", [(A, "status", "=", "FINISHED")]),
        ("attr.user_id != 'bob'", [(A, "user_id", "!=", "bob")]),
        ("run.artifact_uri LIKE 's3://%'", [(A, "artifact_uri", "LIKE", "s3://%")]),
        ("run_name = 'x'", [(A, "run_name", "=", "x")]),
        ("`Run name` ILIKE 'x'", [(A, "run_name", "ILIKE", "x")]),
        ("run_id IN ('a', \"b\")", [(A, "run_id", "IN", ("a", "b"))]),
        ("run_id not   in ('a',)", [(A, "run_id", "NOT IN", ("a",))]),
        ("lifecycle_stage = 'deleted'", [(A, "lifecycle_stage", "=", "deleted")]),
        ("start_time > 1700000000000", [(A, "start_time", ">", 1700000000000)]),
        ("attributes.end_time <= 1.5", [(A, "end_time", "<=", 1.5)]),
        ("created >= 5", [(A, "start_time", ">=", 5)]),
        ("datasets.name = 'iris'", [(D, "name", "=", "iris")]),
        ("dataset.digest LIKE 'ab%'", [(D, "digest", "LIKE", "ab%")]),
        ("dataset.context IN ('train', 'eval')", [(D, "context", "IN", ("train", "eval"))]),
        (
            "metrics.a > 1 AND params.b = 'x' and tags.c != 'y' AnD run_name LIKE '%z'",
            [(M, "a", ">", 1.0), (P, "b", "=", "x"), (T, "c", "!=", "y"), (A, "run_name", "LIKE", "%z")],
        ),
        ("  metrics.a>1   and\nparams.b='x'  ", [(M, "a", ">", 1.0), (P, "b", "=", "x")]),
        ("metrics.a > 1 AND metrics.a < 2", [(M, "a", ">", 1.0), (M, "a", "<", 2.0)]),
        # AND may be repeated, leading, trailing or left out, as MLflow's tokenizer allows.
        ("metrics.a > 1 AND", [(M, "a", ">", 1.0)]),
        ("AND metrics.a > 1 and AND metrics.b < 2", [(M, "a", ">", 1.0), (M, "b", "<", 2.0)]),
        ("metrics.a > 1 metrics.b < 2", [(M, "a", ">", 1.0), (M, "b", "<", 2.0)]),
        ("params.p = 'x'tags.t = 'y'", [(P, "p", "=", "x"), (T, "t", "=", "y")]),
    ],
)
def test_run_filter_parses(text: str, expected: list[tuple[Kind, str, str, object]]) -> None:
    assert [Comparison(*e) for e in expected] == list(parse_filter(text, RUN_SEARCH))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t", "AND", "and AND"])
def test_empty_filter_matches_everything(text: str | None) -> None:
    assert () == parse_filter(text, RUN_SEARCH)


def test_integer_literal_stays_int_for_numeric_attributes() -> None:
    (comparison,) = parse_filter("start_time = 12", RUN_SEARCH)
    assert isinstance(comparison.value, int)


def test_metric_value_is_always_float() -> None:
    (comparison,) = parse_filter("metrics.a = 12", RUN_SEARCH)
    assert isinstance(comparison.value, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.a > 1 OR params.b = 'x'", "OR is not supported"),
        ("metrics.a > 1 or metrics.b > 1", "OR is not supported"),
        ("(metrics.a > 1)", "parentheses are not supported"),
        ("metrics.a > 1 AND (metrics.b > 1)", "parentheses are not supported"),
        ("metrics.a > 1 AND NOT params.b = 'x'", "NOT is not supported"),
        (
            "metrics.a > 1; metrics.b > 2",
            "expected a column such as metrics.<key>, params.<key>, tags.<key> or an attribute name, found ';'",
        ),
        ("ANDmetrics.a > 1", "unknown prefix 'ANDmetrics'"),
        ("metrics.a", "expected a comparator after 'metrics.a'"),
        ("metrics.a >", "expected a quoted string or a number after 'metrics.a >', found the end"),
        ("= 1", "expected a column such as metrics.<key>"),
        ("metrics.a == 1", "'==' after 'metrics.a' is not a comparator; use '='"),
        ("metrics.a <> 1", "use '!='"),
        ("metrics.a > 'x'", "metric 'a' is compared with numbers"),
        ("metrics.a > high", "expected a quoted string or a number after 'metrics.a >', found 'high'"),
        ("metrics.a > 1.5.5", "found '1.5.5'"),
        ("metrics.a > 0x10", "found '0x10'"),
        ("metrics.a > +1", "found '+1'"),
        ("metrics.a > 1e+5", "found '1e+5'"),
        ("metrics.a LIKE 'x%'", "'LIKE' cannot compare metric 'a'; use one of =, !=, >, >=, <, <="),
        ("metrics.a IS NULL", "'IS NULL' cannot compare metric 'a'"),
        ("metrics.a IN (1, 2)", "'IN' cannot compare metric 'a'"),
        ("params.a > '1'", "'>' cannot compare param 'a'; use one of =, !=, LIKE, ILIKE, IS NULL, IS NOT NULL"),
        ("params.a IN ('x')", "'IN' cannot compare param 'a'"),
        ("tags.a NOT IN ('x')", "'NOT IN' cannot compare tag 'a'"),
        ("status IN ('FAILED')", "'IN' cannot compare 'status'; use one of =, !=, LIKE, ILIKE"),
        ("run_name IN ('a')", "'IN' cannot compare 'run_name'"),
        ("params.a = 1", "'params.a' holds strings; quote the value"),
        ("params.a = x", "expected a quoted string or a number after 'params.a =', found 'x'"),
        ("params.a NOT LIKE 'x'", "'NOT LIKE' is not supported"),
        ("params.a IS 'x'", "expected a comparator after 'params.a'"),
        ("run_id IN 'x'", "expected a parenthesised list such as ('a', 'b') after 'run_id IN'"),
        ("run_id IN ()", "the list after 'run_id IN' is empty"),
        ("run_id IN ('x' 'y')", "expected ',' or ')' in the list after 'run_id IN'"),
        ("run_id IN ('x', 1)", "'run_id' holds strings"),
        ("run_id IN ('x'", "expected ',' or ')' in the list after 'run_id IN', found the end"),
        ("tags.a = 'unterminated", "the quote ' opened at position 9 is never closed"),
        ('tags."a = 1', 'the quote " opened at position 5 is never closed'),
        ("tags.a b = 'x'", "found 'b'. Quote keys that hold spaces"),
        ("metrics. a > 1", "expected a key after 'metrics.'"),
        ("metrics.`a`.b > 1", "unexpected '.' after column 'metrics.`a`'"),
        ("metrics.a+b > 1", "unexpected '+' after column 'metrics.a'"),
        ("Metrics.a > 1", "unknown prefix 'Metrics' in 'Metrics.a'; run search accepts metrics., params., tags."),
        ("foo.a = '1'", "unknown prefix 'foo'"),
        ("bogus = 'x'", "'bogus' is not an attribute of runs; valid attributes are artifact_uri, end_time"),
        ("acc > 1", "write metrics.acc, params.acc or tags.acc"),
        ("experiment_id = '1'", "'experiment_id' is not an attribute of runs"),
        ("start_time > '1'", "'start_time' holds numbers; compare it with an unquoted number"),
        ("start_time LIKE '1%'", "'LIKE' cannot compare 'start_time'"),
        ("start_time IN (1)", "'IN' cannot compare 'start_time'"),
        ("start_time > 99999999999999999999", "out of range"),
        ("status > 'a'", "'>' cannot compare 'status'"),
        ("status IS NULL", "'IS NULL' cannot compare 'status'"),
        ("status = FINISHED", "found 'FINISHED'"),
        ("datasets.foo = 'x'", "'foo' is not a dataset field; valid fields are context, digest, name"),
        ("datasets.name > 'x'", "'>' cannot compare 'datasets.name'"),
        ("datasets.name IS NULL", "'IS NULL' cannot compare 'datasets.name'"),
    ],
)
def test_bad_run_filter_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(text, RUN_SEARCH)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"Invalid filter {text!r}: ")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.http_status == 400


def test_non_string_filter_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="A filter must be a string, got int"):
        parse_filter(3, RUN_SEARCH)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'exp'", [(A, "name", "=", "exp")]),
        ("attribute.name LIKE 'e%'", [(A, "name", "LIKE", "e%")]),
        ("attributes.name = 'e'", [(A, "name", "=", "e")]),  # MLflow 3.18's plural prefix
        ("experiment_id = '3'", [(A, "experiment_id", "=", 3)]),
        ("experiment_id IN ('1', '2')", [(A, "experiment_id", "IN", (1, 2))]),
        ("experiment_id NOT IN ('1')", [(A, "experiment_id", "NOT IN", (1,))]),
        ("creation_time > 100", [(A, "creation_time", ">", 100)]),
        ("last_update_time <= 100", [(A, "last_update_time", "<=", 100)]),
        ("tags.team = 'ml'", [(T, "team", "=", "ml")]),
        ("tag.`a.b` IS NULL", [(T, "a.b", "IS NULL", None)]),
        ("tags.x IS NOT NULL", [(T, "x", "IS NOT NULL", None)]),
    ],
)
def test_experiment_filter_parses(text: str, expected: list[tuple[Kind, str, str, object]]) -> None:
    assert [Comparison(*e) for e in expected] == list(parse_filter(text, EXPERIMENT_SEARCH))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.a > 1", "unknown prefix 'metrics' in 'metrics.a'; experiment search accepts attribute., tags."),
        ("params.a = 'x'", "unknown prefix 'params'"),
        ("attr.name = 'x'", "unknown prefix 'attr'"),
        ("experiment_id = 'abc'", "'experiment_id' is compared with a quoted integer id such as '1', got 'abc'"),
        ("experiment_id = 3", "'experiment_id' is compared with a quoted integer id such as '1', got 3"),
        ("experiment_id = 1.5", "'experiment_id' is compared with a quoted integer id"),
        ("name IN ('a')", "'IN' cannot compare 'name'"),
        ("tags.a IN ('a')", "'IN' cannot compare tag 'a'"),
        ("experiment_id > '1'", "'>' cannot compare 'experiment_id'; use one of =, !=, IN, NOT IN"),
        ("experiment_id LIKE '1%'", "'LIKE' cannot compare 'experiment_id'"),
        ("creation_time > 5.5", "'creation_time' holds whole numbers"),
        ("creation_time = '5'", "'creation_time' holds numbers"),
        ("name > 'a'", "'>' cannot compare 'name'"),
        ("start_time > 1", "'start_time' is not an attribute of experiments; valid attributes are creation_time"),
    ],
)
def test_bad_experiment_filter_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(text, EXPERIMENT_SEARCH)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("schema", "text", "expected"),
    [
        (REGISTERED_MODEL_SEARCH, "name LIKE 'fraud%'", [(A, "name", "LIKE", "fraud%")]),
        (REGISTERED_MODEL_SEARCH, "name IN ('a', 'b')", [(A, "name", "IN", ("a", "b"))]),
        (REGISTERED_MODEL_SEARCH, "tags.owner = 'x'", [(T, "owner", "=", "x")]),
        (
            MODEL_VERSION_SEARCH,
            "name = 'm' AND version_number >= 2",
            [(A, "name", "=", "m"), (A, "version_number", ">=", 2)],
        ),
        (MODEL_VERSION_SEARCH, "run_id IN ('r1', 'r2')", [(A, "run_id", "IN", ("r1", "r2"))]),
        (MODEL_VERSION_SEARCH, "source_path LIKE 's3://%'", [(A, "source_path", "LIKE", "s3://%")]),
        (
            MODEL_VERSION_SEARCH,
            "tags.`mlflow.prompt.is_prompt` != 'true'",
            [(T, "mlflow.prompt.is_prompt", "!=", "true")],
        ),
    ],
)
def test_registry_filters_parse(schema: object, text: str, expected: list[tuple[Kind, str, str, object]]) -> None:
    assert [Comparison(*e) for e in expected] == list(parse_filter(text, schema))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("schema", "text", "message"),
    [
        (REGISTERED_MODEL_SEARCH, "version_number = 1", "'version_number' is not an attribute of registered models"),
        (REGISTERED_MODEL_SEARCH, "timestamp > 1", "'timestamp' can be used in order_by but not in a filter"),
        (REGISTERED_MODEL_SEARCH, "tags.a IS NULL", "'IS NULL' cannot compare tag 'a'"),
        (MODEL_VERSION_SEARCH, "creation_timestamp > 1", "can be used in order_by but not in a filter"),
        (MODEL_VERSION_SEARCH, "source_path IN ('a')", "'IN' cannot compare 'source_path'"),
        (MODEL_VERSION_SEARCH, "version_number = '1'", "'version_number' holds numbers"),
        (MODEL_VERSION_SEARCH, "metrics.a > 1", "unknown prefix 'metrics'"),
    ],
)
def test_bad_registry_filter_says_what_is_wrong(schema: object, text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(text, schema)  # type: ignore[arg-type]
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["metrics.acc DESC"], [(M, "acc", False)]),
        (["metrics.acc desc"], [(M, "acc", False)]),
        (["params.lr ASC"], [(P, "lr", True)]),
        (["params.`b c` asc"], [(P, "b c", True)]),
        (['metrics."my metric"   DESC  '], [(M, "my metric", False)]),
        (["tags.mlflow.runName"], [(T, "mlflow.runName", True)]),
        (["start_time"], [(A, "start_time", True)]),
        (["attributes.start_time DESC"], [(A, "start_time", False)]),
        (["created DESC"], [(A, "start_time", False)]),
        (["run_name", "run_id DESC"], [(A, "run_name", True), (A, "run_id", False)]),
        (
            ["end_time", "metrics.a", "params.a", "tags.a"],
            [(A, "end_time", True), (M, "a", True), (P, "a", True), (T, "a", True)],
        ),
        ([], []),
        (None, []),
        ("metrics.a DESC", [(M, "a", False)]),
    ],
)
def test_run_order_by_parses(items: list[str] | None, expected: list[tuple[Kind, str, bool]]) -> None:
    assert [OrderKey(*e) for e in expected] == list(parse_order_by(items, RUN_SEARCH))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("", "it is empty; expected '<column> [ASC|DESC]'"),
        ("metrics.a DOWN", "expected ASC or DESC after 'metrics.a', found 'DOWN'"),
        ("metrics.a DESC extra", "unexpected 'extra' after DESC; one column per item"),
        ("metrics.a, metrics.b", "unexpected ',' after column 'metrics.a'"),
        ("foo", "'foo' is not an attribute of runs"),
        ("datasets.name", "run search cannot sort by 'datasets.name'; it sorts by the attributes artifact_uri"),
        ("bogus.a", "unknown prefix 'bogus'"),
        ("metrics.a > 1", "expected ASC or DESC after 'metrics.a', found '>'"),
    ],
)
def test_bad_run_order_by_says_what_is_wrong(item: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_order_by([item], RUN_SEARCH)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"Invalid order_by clause {item!r}: ")


@pytest.mark.parametrize(
    "items",
    [["metrics.a", "metrics.a DESC"], ["start_time", "created DESC"], ["params.x", "param.x"]],
)
def test_order_by_rejects_a_column_named_twice(items: list[str]) -> None:
    with pytest.raises(InvalidParameter, match="more than once"):
        parse_order_by(items, RUN_SEARCH)


def test_order_by_rejects_the_run_name_aliases_as_mlflow_does() -> None:
    with pytest.raises(InvalidParameter, match="'Run name' is not an attribute of runs"):
        parse_order_by(["`Run name`"], RUN_SEARCH)


def test_order_by_rejects_non_strings() -> None:
    with pytest.raises(InvalidParameter, match="must be a string, got int"):
        parse_order_by([1], RUN_SEARCH)  # type: ignore[list-item]


def test_experiment_order_by_accepts_attributes_only() -> None:
    assert (OrderKey(A, "name"), OrderKey(A, "experiment_id", False)) == parse_order_by(
        ["name", "experiment_id DESC"], EXPERIMENT_SEARCH
    )
    with pytest.raises(InvalidParameter, match=r"experiment search cannot sort by 'tags\.a'"):
        parse_order_by(["tags.a"], EXPERIMENT_SEARCH)


def test_registered_model_timestamp_is_last_updated_timestamp() -> None:
    assert (OrderKey(A, "last_updated_timestamp", False),) == parse_order_by(
        ["timestamp DESC"], REGISTERED_MODEL_SEARCH
    )


def test_model_version_cannot_sort_by_source_path() -> None:
    with pytest.raises(InvalidParameter, match="cannot sort by 'source_path'"):
        parse_order_by(["source_path"], MODEL_VERSION_SEARCH)


def test_schemas_carry_mlflow_default_orders() -> None:
    assert (OrderKey(A, "creation_time", False), OrderKey(A, "experiment_id")) == EXPERIMENT_SEARCH.default_order
    assert (
        OrderKey(A, "last_updated_timestamp", False),
        OrderKey(A, "name"),
        OrderKey(A, "version_number", False),
    ) == MODEL_VERSION_SEARCH.default_order
