"""The local awsglue on tiny data, each case as AWS's documentation shows it: the call, the
schema ``printSchema`` prints and the records. Files are local paths here; the same code reads
``s3://`` paths through S3A in a Glue run (tests/integration/test_glue_scripts.py)."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from awsglue import bookmarks, storage
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection
from awsglue.job import Job
from awsglue.transforms import (
    ApplyMapping,
    DropFields,
    DropNullFields,
    Filter,
    Join,
    Map,
    Relationalize,
    RenameField,
    ResolveChoice,
    SelectFields,
    SelectFromCollection,
    SplitFields,
    SplitRows,
    Unbox,
    UnnestFrame,
)
from awsglue.utils import getResolvedOptions


@pytest.fixture(scope="module")
def glue(spark):
    return GlueContext(spark.sparkContext)


def printed(frame: DynamicFrame, capsys) -> str:
    capsys.readouterr()
    frame.printSchema()
    return capsys.readouterr().out


def records(frame: DynamicFrame, capsys) -> list[dict]:
    capsys.readouterr()
    frame.show(100)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def medicare(glue, tmp_path):
    """The documentation's Medicare example in small: provider id is a number in most records
    and text in one."""
    path = tmp_path / "medicare.csv"
    path.write_text(
        "DRG Definition,Provider Id,Provider Name,Total Discharges\n"
        "039 - EXTRACRANIAL,10001,SOUTHEAST ALABAMA,91\n"
        "039 - EXTRACRANIAL,10005,MARSHALL MEDICAL,14\n"
        "039 - EXTRACRANIAL,ABC,UNKNOWN,3\n"
    )
    return glue.create_dynamic_frame.from_options(
        "s3", {"paths": [str(path)]}, format="csv", format_options={"withHeader": True}
    )


def test_a_csv_column_of_numbers_and_text_is_a_choice_until_resolved(medicare, capsys):
    assert printed(medicare, capsys) == (
        "root\n"
        "|-- DRG Definition: string\n"
        "|-- Provider Id: choice\n"
        "|    |-- long\n"
        "|    |-- string\n"
        "|-- Provider Name: string\n"
        "|-- Total Discharges: long\n"
    )
    # toDF hands an unresolved choice over as a struct of its types
    df = medicare.toDF()
    assert df.schema["Provider Id"].dataType.simpleString() == "struct<long:bigint,string:string>"
    assert [r["Provider Id"]["long"] for r in df.collect()] == [10001, 10005, None]

    cast = medicare.resolveChoice(specs=[("Provider Id", "cast:long")])
    assert "|-- Provider Id: long\n" in printed(cast, capsys)
    assert [r["Provider Id"] for r in records(cast, capsys)] == [10001, 10005, None]

    project = ResolveChoice.apply(medicare, specs=[("Provider Id", "project:string")])
    assert [r["Provider Id"] for r in records(project, capsys)] == [None, None, "ABC"]

    cols = medicare.resolveChoice(choice="make_cols")
    assert cols.toDF().columns == [
        "DRG Definition",
        "Provider Id_long",
        "Provider Id_string",
        "Provider Name",
        "Total Discharges",
    ]
    struct = medicare.resolveChoice(specs=[("Provider Id", "make_struct")])
    assert "|-- Provider Id: struct\n|    |-- long: long\n|    |-- string: string\n" in printed(
        struct, capsys
    )
    with pytest.raises(ValueError, match="not both"):
        medicare.resolveChoice(specs=[("Provider Id", "make_cols")], choice="make_cols")
    with pytest.raises(ValueError, match="unknown action"):
        medicare.resolveChoice(specs=[("Provider Id", "cast_long")])


def test_match_catalog_casts_to_the_tables_declared_types(medicare, glue):
    with mock.patch.object(
        glue, "_catalog_column_types", return_value={"provider id": "bigint"}
    ) as types:
        frame = medicare.resolveChoice(choice="match_catalog", database="db", table_name="t")
    types.assert_called_once_with("db", "t", None)
    assert frame.toDF().schema["Provider Id"].dataType.simpleString() == "bigint"


def test_apply_mapping_renames_casts_builds_structs_and_drops_the_unmapped(medicare, capsys):
    mapped = ApplyMapping.apply(
        frame=medicare.resolveChoice(specs=[("Provider Id", "cast:long")]),
        mappings=[
            ("Provider Id", "long", "provider.id", "int"),
            ("Provider Name", "string", "provider.name", "string"),
            ("Total Discharges", "long", "discharges", "double"),
            ("Not There", "string", "gone", "string"),
        ],
    )
    assert printed(mapped, capsys) == (
        "root\n|-- provider: struct\n|    |-- id: int\n|    |-- name: string\n"
        "|-- discharges: double\n"
    )
    assert records(mapped, capsys)[0] == {
        "provider": {"id": 10001, "name": "SOUTHEAST ALABAMA"},
        "discharges": 91.0,
    }
    with pytest.raises(ValueError, match="source type"):
        medicare.apply_mapping([("a", "b")])


@pytest.fixture
def people(glue, tmp_path):
    """JSON lines with nesting, arrays and an id that is a number once and text once."""
    path = tmp_path / "people.json"
    rows = [
        {"id": 1, "name": {"first": "Ann", "last": "Lee"}, "tags": ["a", "b"], "age": 30},
        {"id": "p2", "name": {"first": "Bo"}, "tags": [], "age": None, "links": [{"url": "u"}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return glue.create_dynamic_frame.from_options("s3", {"paths": [str(path)]}, format="json")


def test_json_is_typed_record_by_record(people, capsys):
    assert printed(people, capsys) == (
        "root\n"
        "|-- id: choice\n|    |-- long\n|    |-- string\n"
        "|-- name: struct\n|    |-- first: string\n|    |-- last: string\n"
        "|-- tags: array\n|    |-- element: string\n"
        "|-- age: long\n"
        "|-- links: array\n|    |-- element: struct\n|    |    |-- url: string\n"
    )
    assert [r["id"] for r in records(people, capsys)] == [1, "p2"]


def test_json_path_and_multiline_select_the_records(glue, tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"items": [{"k": 1}, {"k": 2}], "other": 3}, indent=2))
    frame = glue.create_dynamic_frame.from_options(
        "s3",
        {"paths": [str(path)]},
        format="json",
        format_options={"jsonPath": "$.items[*]", "multiline": True},
    )
    assert sorted(r["k"] for r in frame.toDF().collect()) == [1, 2]


def test_fields_selected_dropped_and_renamed_by_path(people):
    assert SelectFields.apply(
        frame=people, paths=["name.first", "age"]
    ).toDF().schema.simpleString() == ("struct<name:struct<first:string>,age:bigint>")
    dropped = DropFields.apply(frame=people, paths=["name.last", "tags", "absent"])
    assert dropped.keys() == ["id", "name", "age", "links"]
    assert dropped.toDF().schema["name"].dataType.simpleString() == "struct<first:string>"
    renamed = RenameField.apply(frame=people, old_name="name.first", new_name="name.given")
    assert (
        renamed.toDF().schema["name"].dataType.simpleString() == "struct<last:string,given:string>"
    )
    assert RenameField.apply(frame=people, old_name="age", new_name="years").keys()[-2] == "years"
    with pytest.raises(ValueError, match="no field 'nope'"):
        people.rename_field("nope", "x")


def test_filter_and_map_take_records_and_a_raising_record_is_an_error(medicare):
    resolved = medicare.resolveChoice(specs=[("Provider Id", "cast:long")])
    kept = Filter.apply(frame=resolved, f=lambda r: r["Total Discharges"] > 10)
    assert kept.count() == 2 and kept.errorsCount() == 0

    def per_discharge(record):
        record["ratio"] = 100 / (record["Total Discharges"] - 3)  # the third record divides by 0
        return record

    mapped = Map.apply(frame=resolved, f=per_discharge)
    assert mapped.count() == 2 and mapped.errorsCount() == 1
    assert mapped.toDF().schema["ratio"].dataType.simpleString() == "double"
    assert "ZeroDivisionError" in mapped.errorsAsDynamicFrame().toDF().first()["error"]
    with pytest.raises(RuntimeError, match="1 error records"):
        mapped.assertErrorThreshold()


def test_join_keeps_both_frames_fields(glue, spark):
    persons = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "Ann"), (2, "Bo")], "id long, name string"), glue, "p"
    )
    members = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "org1"), (1, "org2")], "person_id long, org string"), glue, "m"
    )
    joined = Join.apply(persons, members, ["id"], ["person_id"])
    assert sorted(joined.keys()) == ["id", "name", "org", "person_id"]
    assert joined.count() == 2
    with pytest.raises(ValueError, match="rename one side"):
        persons.join(["id"], ["id"], persons)


def test_merge_replaces_records_by_primary_key_and_keeps_the_rest(glue, spark):
    """The documentation's example: staging records replace source records with their keys."""
    source = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "a"), (2, "b"), (2, "b2"), (3, "c")], "id long, v string"),
        glue,
        "source",
    )
    stage = DynamicFrame.fromDF(
        spark.createDataFrame([(2, "B"), (4, "D")], "id long, v string"), glue, "stage"
    )
    merged = source.mergeDynamicFrame(stage, ["id"])
    assert sorted(tuple(r) for r in merged.toDF().collect()) == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
        (4, "D"),
    ]


def test_split_fields_and_rows_make_collections(medicare):
    fields = SplitFields.apply(frame=medicare, paths=["Provider Name"], name1="names", name2="rest")
    assert isinstance(fields, DynamicFrameCollection) and sorted(fields.keys()) == ["names", "rest"]
    assert SelectFromCollection.apply(dfc=fields, key="names").keys() == ["Provider Name"]
    rows = SplitRows.apply(
        frame=medicare,
        comparison_dict={"Total Discharges": {">": 10, "<": 50}},
        name1="in",
        name2="out",
    )
    assert (rows["in"].count(), rows["out"].count()) == (1, 2)
    with pytest.raises(KeyError):
        fields.select("missing")
    counted = fields.map(lambda frame, ctx: frame.repartition(1))
    assert [f.getNumPartitions() for f in counted.values()] == [1, 1]


def test_relationalize_makes_a_root_and_a_table_per_array(people):
    tables = Relationalize.apply(frame=people, staging_path="/tmp/unused", name="root")
    assert list(tables.keys()) == ["root", "root_tags", "root_links"]
    root = tables["root"].toDF()
    assert root.columns == ["id", "name.first", "name.last", "tags", "age", "links"]
    links = {r["id"]: r for r in root.collect()}
    tags = tables["root_tags"].toDF()
    assert tags.columns == ["id", "index", "tags.val"]
    ann_tags = [r for r in tags.collect() if r["id"] == links[next(iter(links))]["tags"]]
    assert sorted((r["index"], r["tags.val"]) for r in ann_tags) == [(0, "a"), (1, "b")]
    assert tables["root_links"].toDF().columns == ["id", "index", "links.val.url"]


def test_unnest_unbox_and_drop_null_fields(glue, spark, people):
    assert UnnestFrame.apply(frame=people).keys() == [
        "id",
        "name.first",
        "name.last",
        "tags",
        "age",
        "links",
    ]
    boxed = DynamicFrame.fromDF(
        spark.createDataFrame(
            [('{"a": 1, "b": "x"}', None), ('{"a": 2}', None)], "payload string, empty string"
        ),
        glue,
        "boxed",
    )
    unboxed = Unbox.apply(frame=boxed, path="payload", format="json")
    assert unboxed.toDF().schema["payload"].dataType.simpleString() == "struct<a:bigint,b:string>"
    assert DropNullFields.apply(frame=boxed).keys() == ["payload"]
    with pytest.raises(NotImplementedError, match="README"):
        boxed.unbox("payload", "xml")


def test_written_frames_read_back_with_their_partitions(glue, tmp_path, medicare):
    out = tmp_path / "out"
    frame = medicare.resolveChoice(specs=[("Provider Id", "cast:long")])
    glue.write_dynamic_frame.from_options(
        frame=frame,
        connection_type="s3",
        connection_options={"path": str(out), "partitionKeys": ["Total Discharges"]},
        format="glueparquet",
        format_options={"useGlueParquetWriter": True, "compression": "snappy"},
    )
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "Total Discharges=14",
        "Total Discharges=3",
        "Total Discharges=91",
    ]
    back = glue.create_dynamic_frame.from_options(
        "s3", {"paths": [str(out)], "recurse": True}, format="parquet"
    )
    assert back.count() == 3
    with pytest.raises(ValueError, match="csv cannot hold"):
        glue.write_dynamic_frame.from_options(
            frame=medicare,
            connection_type="s3",
            connection_options={"path": str(tmp_path / "c")},
            format="csv",
        )


def test_csv_options_and_exclusions(glue, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.psv").write_text("x|'a|b'\n1|'c'\n")
    (folder / "skip.pdf").write_text("not data")
    (folder / "sub" / "b.psv").write_text("x|'z'\n2|'y'\n")
    frame = glue.create_dynamic_frame.from_options(
        "s3",
        {"paths": [str(folder)], "recurse": True, "exclusions": '["**.pdf"]'},
        format="csv",
        format_options={"withHeader": False, "separator": "|", "quoteChar": "'"},
    )
    assert frame.keys() == ["col0", "col1"]
    assert sorted(r["col1"] for r in frame.toDF().collect()) == ["a|b", "c", "y", "z"]
    flat = glue.create_dynamic_frame.from_options("s3", {"paths": [str(folder)]}, format="csv")
    assert flat.count() == 3  # no recurse: sub/ is not read; the pdf is


def test_unsupported_reads_and_writes_say_what_is_missing(glue, medicare):
    with pytest.raises(NotImplementedError, match="dynamodb.*README"):
        glue.create_dynamic_frame.from_options("dynamodb", {})
    with pytest.raises(RuntimeError, match="org.postgresql.Driver.*--extra-jars"):
        glue.write_dynamic_frame.from_options(
            frame=medicare,
            connection_type="postgresql",
            connection_options={"url": "jdbc:postgresql://db/x", "dbtable": "t"},
        )
    with pytest.raises(ValueError, match="unsupported format 'xml'"):
        glue.create_dynamic_frame.from_options("s3", {"paths": ["/nonexistent"]}, format="xml")
    with pytest.raises(NotImplementedError, match="GlueContext.forEachBatch.*README"):
        glue.forEachBatch(frame=None, batch_function=print, options={})
    with pytest.raises(NotImplementedError, match="DynamicFrame.simplify_ddb_json.*README"):
        medicare.simplify_ddb_json()
    with pytest.raises(AttributeError):
        medicare.no_such_method()


def test_users_tests_can_patch_the_reader_and_writer_by_their_glue_names(glue, medicare):
    with (
        mock.patch(
            "awsglue.dynamicframe.DynamicFrameReader.from_catalog", return_value=medicare
        ) as read,
        mock.patch("awsglue.dynamicframe.DynamicFrameWriter.from_options") as write,
    ):
        frame = glue.create_dynamic_frame.from_catalog(database="db", table_name="t")
        glue.write_dynamic_frame.from_options(frame=frame, connection_type="s3")
    read.assert_called_once()
    write.assert_called_once()


def test_bookmarks_return_new_files_only_and_pause_does_not_move(tmp_path):
    old, new = storage.StoredFile("s3://b/a", 1000.0, 1), storage.StoredFile("s3://b/b", 2000.0, 1)
    first = bookmarks.Bookmarks("job-bookmark-enable")
    assert first.new_files("ctx", [old]) == [old]
    assert first.new_files("", [old]) == [old]  # no transformation_ctx: not bookmarked
    store = tmp_path / "state.json"
    first.commit_to(store)
    state = json.loads(store.read_text())
    second = bookmarks.Bookmarks("job-bookmark-enable", state)
    assert second.new_files("ctx", [old, new]) == [new]
    late = storage.StoredFile("s3://b/late", 1900.0, 1)  # an earlier upload listed only now
    paused = bookmarks.Bookmarks("job-bookmark-pause", state)
    assert paused.new_files("ctx", [old, new, late]) == [new, late]
    paused.commit_to(tmp_path / "paused.json")
    assert not (tmp_path / "paused.json").exists()
    assert bookmarks.Bookmarks("job-bookmark-disable", state).new_files("ctx", [old]) == [old]
    with pytest.raises(ValueError, match="job-bookmark-enable"):
        bookmarks.Bookmarks("on")


def test_job_init_reads_the_option_and_the_state_and_commit_writes_beside_it(
    glue, tmp_path, monkeypatch
):
    store = tmp_path / "job-bookmark.json"
    store.write_text(json.dumps({"ctx": {"high": 5.0, "recent": {}}}))
    monkeypatch.setenv("LOCAL_GLUE_JOB_BOOKMARK", str(store))
    monkeypatch.setattr("sys.argv", ["job.py", "--job-bookmark-option", "job-bookmark-enable"])
    job = Job(glue)
    with pytest.raises(RuntimeError, match="before Job.init"):
        job.commit()
    job.init("j", {})
    assert job.isInitialized()
    assert glue._bookmarks.new_files("ctx", [storage.StoredFile("f", 6.0, 1)])
    job.commit()
    assert json.loads((tmp_path / "job-bookmark.json.commit").read_text())["ctx"]["high"] == 6.0


def test_get_resolved_options_names_a_missing_option():
    argv = ["job.py", "--JOB_NAME", "j", "--day", "2024-01-01", "--job-bookmark-option", "x"]
    assert getResolvedOptions(argv, ["JOB_NAME", "day"]) == {"JOB_NAME": "j", "day": "2024-01-01"}
    with pytest.raises(SystemExit):
        getResolvedOptions(argv, ["missing"])
