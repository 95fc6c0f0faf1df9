"""The request path as the caller encoded it, from the WSGI environ."""

from __future__ import annotations

from tether.api.raw_path import encoded_rest, reencode


def environ(raw: str | None, script: str, path_info: str) -> dict[str, str]:
    found = {"SCRIPT_NAME": script, "PATH_INFO": path_info}
    if raw is not None:
        found["RAW_URI"] = raw
    return found


def test_the_tail_keeps_the_callers_escapes_under_a_mount_point():
    # tether dev mounts each function under /<function>: SCRIPT_NAME is /proxy.
    env = environ("/proxy/conn_1/files/a%2Fb?x=1", "/proxy", "/conn_1/files/a/b")
    assert encoded_rest(env, "files/a/b") == "files/a%2Fb"
    env = environ("/conn_1//files/a%2fb/", "", "/conn_1//files/a/b/")
    assert encoded_rest(env, "files/a/b") == "files/a%2fb/"


def test_an_absolute_form_target_and_request_uri_are_read_too():
    env = {"SCRIPT_NAME": "", "PATH_INFO": "/c/x/y", "REQUEST_URI": "http://h/c/x%2Fy"}
    assert encoded_rest(env, "x/y") == "x%2Fy"


def test_without_a_matching_raw_target_the_routed_path_is_encoded_again():
    assert encoded_rest(environ(None, "", "/c/a b/c"), "a b/c") == "a%20b/c"
    # A raw target that does not decode to the routed path (a rewrite) is not trusted.
    assert encoded_rest(environ("/c/other%2Fthing", "", "/c/a/b"), "a/b") == "a/b"
    assert encoded_rest(environ("/elsewhere/c/a/b", "", "/c/a/b"), "a/b") == "a/b"


def test_reencoding_keeps_escapes_and_escapes_the_rest():
    # WSGI strings are the request's bytes read as latin-1: "ü" in UTF-8 arrives as "Ã¼".
    wsgi = "ü x".encode().decode("latin-1")
    assert reencode(f"a%2Fb/{wsgi}/100%") == "a%2Fb/%C3%BC%20x/100%25"
