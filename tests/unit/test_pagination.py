"""The pagination strategies (pure): next request or done, for every style, records
extraction with dotted paths, the Link header parser, and loop detection."""

from __future__ import annotations

import tracemalloc

import pytest
from pydantic import TypeAdapter, ValidationError

from tether.domain.errors import InvalidRequest
from tether.http.pagination import (
    CursorPagination,
    GraphQLPagination,
    LinkPagination,
    OffsetPagination,
    PagePagination,
    PageRequest,
    PaginationError,
    PaginationLoop,
    PaginationSpec,
    Paginator,
    RecordsPathError,
    check_spec,
    extract_records,
    first_request,
    get_path,
    next_link,
    next_request,
    parse_link_header,
)

URL = "https://api.example.com/v1/items"
SPECS: TypeAdapter[PaginationSpec] = TypeAdapter(PaginationSpec)


def nxt(spec, request, body=None, headers=None, count=0, records_path=None):
    return next_request(
        spec,
        request,
        body=body,
        headers=headers or {},
        record_count=count,
        records_path=records_path,
    )


# -- specs ----------------------------------------------------------------------------------


def test_specs_parse_by_type():
    assert SPECS.validate_python(
        {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}
    ) == CursorPagination(cursor_path="meta.next_cursor", cursor_param="cursor")
    assert SPECS.validate_python({"type": "link"}) == LinkPagination()
    offset = SPECS.validate_python({"type": "offset", "limit": 50})
    assert offset == OffsetPagination(offset_param="offset", limit_param="limit", limit=50)
    page = SPECS.validate_python({"type": "page", "page_param": "p", "limit": 20})
    assert isinstance(page, PagePagination) and page.start == 1 and page.limit_param == "per_page"
    graphql = SPECS.validate_python({"type": "graphql", "page_info_path": "data.x.pageInfo"})
    assert isinstance(graphql, GraphQLPagination) and graphql.cursor_variable == "after"


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "c", "extra": 1},
        {"type": "cursor", "cursor_param": "c"},
        {"type": "cursor", "cursor_path": "meta..next", "cursor_param": "c"},
        {"type": "offset", "limit": 0},
        {"type": "page", "limit": 10, "start": -1},
        {"type": "link", "rel": "next"},
        {"type": "keyset"},
        {"cursor_path": "x", "cursor_param": "c"},
    ],
)
def test_bad_specs_are_refused(raw):
    with pytest.raises(ValidationError):
        SPECS.validate_python(raw)


# -- dotted paths and records ----------------------------------------------------------------


def test_get_path_walks_objects_and_list_indexes():
    body = {"data": {"items": [{"id": 1}, {"id": 2}]}, "results": [[{"x": 1}]]}
    assert get_path(body, "data.items.1.id") == 2
    assert get_path(body, "results.0.0.x") == 1
    assert get_path(body, "data.items.5") is None
    assert get_path(body, "data.missing", "dflt") == "dflt"
    assert get_path([{"a": 1}], "0.a") == 1
    assert get_path({"0": "key"}, "0") == "key"


def test_extract_records():
    assert extract_records({"data": {"items": [1, 2]}}, "data.items") == [1, 2]
    assert extract_records({"results": []}, "results") == []
    assert extract_records([{"id": 1}], None) == [{"id": 1}]
    assert extract_records({"pages": [{"rows": [7, 8]}]}, "pages.0.rows") == [7, 8]
    assert extract_records({"data": None}, "data") == []
    assert extract_records({"user": {"id": 1}}, "user", single=True) == [{"id": 1}]
    assert extract_records({"id": 1}, None, single=True) == [{"id": 1}]


@pytest.mark.parametrize(
    ("body", "path", "found"),
    [
        ({"data": {"items": {"id": 1}}}, "data.items", "an object"),
        ({"data": {"secret": "sk_live_abc"}}, "data.secret", "a string"),
        ({"data": {}}, "data.items", "missing"),
        ({"data": [1]}, "data.items", "missing"),
        ({"id": 1}, None, "an object"),
        ("text", None, "a string"),
    ],
)
def test_extract_records_says_clearly_when_there_is_no_list(body, path, found):
    with pytest.raises(RecordsPathError) as caught:
        extract_records(body, path)
    error = caught.value
    assert isinstance(error, InvalidRequest)
    assert error.code == "INVALID_RECORDS_PATH"
    assert error.details == {"records_path": path, "found": found}
    assert "sk_live" not in error.message
    if path is not None:
        assert path in error.message


# -- cursor -----------------------------------------------------------------------------------


CURSOR = CursorPagination(cursor_path="meta.next_cursor", cursor_param="cursor")


def test_cursor_next_sets_the_param_and_keeps_the_others():
    request = PageRequest(URL, {"limit": "50", "cursor": "old"})
    found = nxt(CURSOR, request, {"data": [1], "meta": {"next_cursor": "abc"}}, count=1)
    assert found == PageRequest(URL, {"limit": "50", "cursor": "abc"})


@pytest.mark.parametrize(
    "body",
    [
        {"data": [1], "meta": {"next_cursor": None}},
        {"data": [1], "meta": {"next_cursor": ""}},
        {"data": [1], "meta": {}},
        {"data": [1]},
        {"data": []},
        [],
    ],
)
def test_cursor_done_on_empty_null_or_missing(body):
    assert nxt(CURSOR, PageRequest(URL), body, count=1) is None


def test_numeric_cursor_and_cursor_in_body():
    assert nxt(CURSOR, PageRequest(URL), {"meta": {"next_cursor": 40}}).params == {"cursor": "40"}
    spec = CursorPagination(cursor_path="next_cursor", cursor_param="start_cursor", param_in="body")
    request = PageRequest(URL, body={"filter": {"x": 1}})
    found = nxt(spec, request, {"next_cursor": "c2", "results": []})
    assert found == PageRequest(URL, body={"filter": {"x": 1}, "start_cursor": "c2"})
    assert request.body == {"filter": {"x": 1}}  # not modified in place


def test_cursor_that_is_an_object_is_an_error():
    with pytest.raises(PaginationError) as caught:
        nxt(CURSOR, PageRequest(URL), {"meta": {"next_cursor": {"a": 1}}})
    assert caught.value.details == {"cursor_path": "meta.next_cursor"}


# -- link -------------------------------------------------------------------------------------


def test_parse_link_header_with_several_links_and_quoted_params():
    header = (
        '<https://api.example.com/items?page=1>; rel="first"; title="first, of all", '
        '<https://api.example.com/items?page=3&a=b,c>; rel="next last";title="a \\"q\\""'
        ", <https://api.example.com/items?page=9>; REL=prev"
    )
    links = parse_link_header(header)
    assert links == [
        ("https://api.example.com/items?page=1", {"rel": "first", "title": "first, of all"}),
        ("https://api.example.com/items?page=3&a=b,c", {"rel": "next last", "title": 'a "q"'}),
        ("https://api.example.com/items?page=9", {"rel": "prev"}),
    ]


def test_parse_link_header_skips_malformed_parts():
    header = 'garbage, <https://x.test/a>; rel=next; rel="prev", <https://x.test/b'
    assert parse_link_header(header) == [("https://x.test/a", {"rel": "next"})]
    assert parse_link_header("") == []


def test_next_link_picks_rel_next_case_insensitively():
    headers = {
        "Content-Type": "application/json",
        "LINK": '<https://api.example.com/v1/items?page=2>; rel="Next", '
        '<https://api.example.com/v1/items?page=5>; rel="last"',
    }
    assert next_link(headers, URL) == "https://api.example.com/v1/items?page=2"
    assert next_link({"link": '<https://x.test/?p=9>; rel="last"'}, URL) is None
    assert next_link({}, URL) is None


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        ("/v1/items?page=2", "https://api.example.com/v1/items?page=2"),
        ("?page=2", "https://api.example.com/v1/items?page=2"),
        ("items?page=2", "https://api.example.com/v1/items?page=2"),
        ("../v2/items?page=2", "https://api.example.com/v2/items?page=2"),
        ("//other.example.com/x", "https://other.example.com/x"),
    ],
)
def test_relative_next_links_resolve_against_the_current_url(target, resolved):
    request = PageRequest(URL, {"page": "1"})
    found = nxt(LinkPagination(), request, [], {"Link": f'<{target}>; rel="next"'})
    assert found == PageRequest(resolved)


def test_link_done_without_next():
    assert nxt(LinkPagination(), PageRequest(URL), [1], {"Link": '<https://x>; rel="prev"'}) is None


# -- offset and page --------------------------------------------------------------------------


def test_offset_first_request_and_walk():
    spec = OffsetPagination(limit=100)
    first = first_request(spec, PageRequest(URL, {"q": "x"}))
    assert first.params == {"q": "x", "offset": "0", "limit": "100"}
    second = nxt(spec, first, {}, count=100)
    assert second is not None and second.params == {"q": "x", "offset": "100", "limit": "100"}
    assert nxt(spec, second, {}, count=99) is None
    assert nxt(spec, second, {}, count=0) is None


def test_offset_starts_at_the_requests_own_offset_and_may_live_in_the_body():
    spec = OffsetPagination(offset_param="skip", limit_param="take", limit=10, param_in="body")
    first = first_request(spec, PageRequest(URL, body={"skip": 30}))
    assert first.body == {"skip": 30, "take": 10}
    found = nxt(spec, first, {}, count=10)
    assert found is not None and found.body == {"skip": 40, "take": 10}


def test_offset_without_limit_param_and_bad_offset():
    spec = OffsetPagination(limit=25, limit_param=None)
    assert first_request(spec, PageRequest(URL)).params == {"offset": "0"}
    with pytest.raises(PaginationError):
        first_request(spec, PageRequest(URL, {"offset": "ten"}))


def test_page_walk():
    spec = PagePagination(page_param="p", limit_param="size", limit=50, start=0)
    first = first_request(spec, PageRequest(URL))
    assert first.params == {"p": "0", "size": "50"}
    second = nxt(spec, first, {}, count=50)
    assert second is not None and second.params == {"p": "1", "size": "50"}
    assert nxt(spec, second, {}, count=3) is None
    assert nxt(PagePagination(limit=10), PageRequest(URL), {}, count=0) is None


def test_page_defaults_start_at_one():
    first = first_request(PagePagination(limit=10), PageRequest(URL))
    assert first.params == {"page": "1", "per_page": "10"}
    resumed = first_request(PagePagination(limit=10), PageRequest(URL, {"page": "4"}))
    assert resumed.params["page"] == "4"


# -- graphql ----------------------------------------------------------------------------------

QUERY = "query($first: Int, $after: String) { items(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }"  # noqa: E501


def graphql_body(has_next, end_cursor):
    return {
        "data": {
            "items": {
                "edges": [{"node": {"id": 1}}],
                "pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor},
            }
        }
    }


def test_graphql_feeds_end_cursor_into_after():
    request = PageRequest(URL, body={"query": QUERY, "variables": {"first": 10}})
    found = nxt(
        GraphQLPagination(), request, graphql_body(True, "c1"), records_path="data.items.edges"
    )
    assert found == PageRequest(
        URL, body={"query": QUERY, "variables": {"first": 10, "after": "c1"}}
    )
    assert request.body["variables"] == {"first": 10}
    done = nxt(
        GraphQLPagination(), request, graphql_body(False, "c1"), records_path="data.items.edges"
    )
    assert done is None


def test_graphql_page_info_path_and_variable_name():
    spec = GraphQLPagination(page_info_path="data.search.info", cursor_variable="cursor")
    body = {"data": {"search": {"info": {"hasNextPage": True, "endCursor": "z"}}}}
    found = nxt(spec, PageRequest(URL, body={"query": QUERY}), body)
    assert found is not None and found.body["variables"] == {"cursor": "z"}


def test_graphql_errors():
    request = PageRequest(URL, body={"query": QUERY})
    spec = GraphQLPagination()
    with pytest.raises(PaginationError, match="pageInfo"):
        nxt(spec, request, {"data": {"items": {"edges": []}}}, records_path="data.items.edges")
    with pytest.raises(PaginationError, match="endCursor"):
        nxt(spec, request, graphql_body(True, None), records_path="data.items.edges")
    with pytest.raises(PaginationError, match="records_path"):
        nxt(spec, request, graphql_body(True, "c"))
    with pytest.raises(PaginationError, match="query"):
        nxt(spec, PageRequest(URL), graphql_body(True, "c"), records_path="data.items.edges")


def test_check_spec():
    graphql = GraphQLPagination()
    check_spec(graphql, method="POST", body={"query": QUERY}, records_path="data.items.edges")
    with pytest.raises(PaginationError, match="POST"):
        check_spec(graphql, method="GET", body=None, records_path="data.items.edges")
    with pytest.raises(PaginationError, match="records_path"):
        check_spec(graphql, method="POST", body={"query": QUERY}, records_path=None)
    body_cursor = CursorPagination(cursor_path="n", cursor_param="c", param_in="body")
    with pytest.raises(PaginationError, match="body"):
        check_spec(body_cursor, method="GET", body=None, records_path=None)
    check_spec(None, method="GET", body=None, records_path=None)


def test_no_pagination_is_one_page():
    assert nxt(None, PageRequest(URL), {"meta": {"next_cursor": "x"}}, count=10) is None
    assert first_request(None, PageRequest(URL, {"a": "1"})) == PageRequest(URL, {"a": "1"})


# -- loops ------------------------------------------------------------------------------------


def test_repeated_cursor_is_a_loop():
    paginator = Paginator(CURSOR)
    current = paginator.start(PageRequest(URL))
    body = {"data": [1], "meta": {"next_cursor": "same"}}
    current = paginator.next(current, body=body, headers={}, records=[1])
    assert current is not None and current.params == {"cursor": "same"}
    with pytest.raises(PaginationLoop) as caught:
        paginator.next(current, body=body, headers={}, records=[1])
    error = caught.value
    assert error.code == "PAGINATION_LOOP"
    assert isinstance(error, InvalidRequest)
    assert error.details == {"pagination": "cursor", "pages": 2}


def test_cursor_cycle_back_to_an_earlier_one_is_a_loop():
    paginator = Paginator(CURSOR)
    current = paginator.start(PageRequest(URL))
    for cursor in ("a", "b", "c"):
        current = paginator.next(
            current, body={"meta": {"next_cursor": cursor}}, headers={}, records=1
        )
    with pytest.raises(PaginationLoop):
        paginator.next(current, body={"meta": {"next_cursor": "a"}}, headers={}, records=1)


def test_link_back_to_the_first_page_is_a_loop():
    paginator = Paginator(LinkPagination())
    first = paginator.start(PageRequest(URL + "?page=1"))
    second = paginator.next(first, body=[], headers={"Link": '<?page=2>; rel="next"'}, records=[1])
    assert second == PageRequest(URL + "?page=2")
    with pytest.raises(PaginationLoop, match="next link"):
        paginator.next(second, body=[], headers={"Link": '<?page=1>; rel="next"'}, records=[1])


def test_graphql_same_end_cursor_is_a_loop():
    paginator = Paginator(GraphQLPagination(), records_path="data.items.edges")
    current = paginator.start(PageRequest(URL, body={"query": QUERY}))
    current = paginator.next(current, body=graphql_body(True, "e1"), headers={}, records=1)
    with pytest.raises(PaginationLoop):
        paginator.next(current, body=graphql_body(True, "e1"), headers={}, records=1)


def test_resume_counts_as_seen():
    paginator = Paginator(CURSOR)
    current = paginator.resume(PageRequest(URL, {"cursor": "k"}))
    with pytest.raises(PaginationLoop):
        paginator.next(current, body={"meta": {"next_cursor": "k"}}, headers={}, records=1)


def test_offset_and_page_walks_never_loop():
    for spec in (OffsetPagination(limit=2), PagePagination(limit=2)):
        paginator = Paginator(spec)
        current = paginator.start(PageRequest(URL))
        for _ in range(50):
            current = paginator.next(current, body={}, headers={}, records=2)
            assert current is not None


def test_a_walk_keeps_no_copy_of_the_pages_it_has_seen():
    # A provider's cursor may be as large as its answer (a GraphQL endCursor goes in the body,
    # where no URL length stops it): the walk remembers each page it made, not its request.
    paginator = Paginator(GraphQLPagination(), records_path="data.items.edges")
    current = paginator.start(PageRequest(URL, body={"query": QUERY}))
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for page in range(60):
            cursor = f"{page:04d}" + "c" * 1_000_000
            current = paginator.next(
                current, body=graphql_body(True, cursor), headers={}, records=1
            )
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The current request (its cursor) and the walk's memory of 60 pages: not 60 cursors.
    assert held - before < 8_000_000
    with pytest.raises(PaginationLoop):
        paginator.next(
            current, body=graphql_body(True, "0000" + "c" * 1_000_000), headers={}, records=1
        )
