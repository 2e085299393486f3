"""Tests for splitting Cedar policy files into policies with their start lines."""

from __future__ import annotations

import json
from pathlib import Path

import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.errors import PolicyError
from ssoar.policy._source import (
    POLICY_FILE_SIZE_MAX,
    POLICY_NESTING_MAX,
    POLICY_OPERATORS_MAX,
    PolicyStatement,
    check_policy_size,
    read_policy_files,
    split_policies,
)

PERMIT = "permit (principal, action, resource);"


def test_split_two_policies_lines() -> None:
    text = (
        '@id("a")\npermit (principal, action, resource);\n\n'
        '@id("b")\nforbid (principal, action, resource);\n'
    )
    statements = split_policies("p.cedar", text)
    assert statements == [
        PolicyStatement(
            "p.cedar", 1, '@id("a")\npermit (principal, action, resource);'
        ),
        PolicyStatement(
            "p.cedar", 4, '@id("b")\nforbid (principal, action, resource);'
        ),
    ]


def test_split_starts_after_leading_comment() -> None:
    text = "// header; with a semicolon\n\n" + PERMIT + "\n"
    statements = split_policies("p.cedar", text)
    assert [statement.line for statement in statements] == [3]
    assert statements[0].text == PERMIT


def test_split_ignores_semicolon_in_string() -> None:
    text = (
        '@id("a;b")\n'
        "permit (principal, action, resource)\n"
        'when { context.route == "x;y" };\n' + PERMIT
    )
    statements = split_policies("p.cedar", text)
    assert len(statements) == 2
    assert statements[0].line == 1
    assert statements[0].text.endswith('"x;y" };')
    assert statements[1].line == 4


def test_split_ignores_semicolon_in_comment() -> None:
    text = (
        "permit (principal, action, resource) // trailing; comment\n"
        "when { true }; // after; the end\n" + PERMIT
    )
    statements = split_policies("p.cedar", text)
    assert len(statements) == 2
    assert statements[0].text == (
        "permit (principal, action, resource) // trailing; comment\nwhen { true };"
    )
    assert statements[1].line == 3


def test_split_slashes_in_string_not_comment() -> None:
    """A ``//`` inside a string literal does not start a comment."""
    text = (
        'permit (principal, action, resource) when { context.route == "http://a;b" };\n'
    )
    statements = split_policies("p.cedar", text)
    assert len(statements) == 1
    assert statements[0].text == text.strip()


def test_split_escaped_quote_in_string() -> None:
    text = 'permit (principal, action, resource) when { context.route == "a\\";b" };\n'
    statements = split_policies("p.cedar", text)
    assert len(statements) == 1
    assert statements[0].text == text.strip()


def test_split_escaped_backslash_ends_string() -> None:
    """A string ending in an escaped backslash closes, so the next ``;`` ends."""
    text = 'permit (principal, action, resource) when { context.route == "a\\\\" };\n'
    text += PERMIT
    statements = split_policies("p.cedar", text)
    assert len(statements) == 2
    assert statements[1].line == 2


def test_split_unterminated_policy_start_line() -> None:
    text = PERMIT + '\n\n// next one\n@id("b")\npermit (principal, action, resource)\n'
    with pytest.raises(PolicyError) as caught:
        split_policies("p.cedar", text)
    assert caught.value.file == "p.cedar"
    assert caught.value.line == 4
    assert "not terminated" in caught.value.detail


def test_split_unclosed_string_opening_line() -> None:
    text = (
        PERMIT
        + '\npermit (principal, action, resource)\nwhen { context.route == "open };\n'
    )
    with pytest.raises(PolicyError) as caught:
        split_policies("p.cedar", text)
    assert caught.value.file == "p.cedar"
    assert caught.value.line == 3
    assert "string literal" in caught.value.detail


def test_split_comments_only_is_empty() -> None:
    assert split_policies("p.cedar", "// nothing; here\n\n   \n// at all") == []


def test_split_string_spanning_lines_counts_lines() -> None:
    """A newline inside a string literal still advances the line count."""
    text = (
        'permit (principal, action, resource) when { context.route == "a\nb" };\n'
        + PERMIT
    )
    statements = split_policies("p.cedar", text)
    assert [statement.line for statement in statements] == [1, 3]


_FILLERS = st.sampled_from(
    [
        "",
        "\n",
        "\n\n",
        "// comment; with semicolon\n",
        "   ",
        '// "quoted; comment"\n',
    ]
)
_STRINGS = st.text(
    alphabet=st.sampled_from(list('ab;/ \\"\n')),
    max_size=12,
).map(lambda raw: raw.replace("\\", "\\\\").replace('"', '\\"'))


@settings(max_examples=150)
@given(st.lists(st.tuples(_FILLERS, _STRINGS, _FILLERS), min_size=1, max_size=6))
def test_split_generated_files_property(parts: list[tuple[str, str, str]]) -> None:
    """Generated files split into exactly their policies, each at its start line."""
    text = ""
    expected: list[tuple[int, str]] = []
    for before, literal, inside in parts:
        text += before
        policy = (
            f'@id("{literal}")\npermit (principal, action, resource)\n{inside}'
            f'when {{ context.route == "{literal}" }};'
        )
        expected.append((text.count("\n") + 1, policy))
        text += policy + "\n"
    statements = split_policies("gen.cedar", text)
    assert [(item.line, item.text) for item in statements] == expected
    parsed = json.loads(cedarpy.policies_to_json_str(text))
    assert len(parsed["staticPolicies"]) == len(expected)


@pytest.mark.parametrize("example", ["tags_n_roles", "document_cloud"])
def test_split_real_examples_match_cedar(real_data, example: str) -> None:
    """The splitter finds as many policies as Cedar, each parsing on its own."""
    path = real_data.path(f"policies/cedar/{example}/policies.cedar")
    text = path.read_text(encoding="utf-8")
    statements = split_policies(str(path), text)
    parsed = json.loads(cedarpy.policies_to_json_str(text))
    assert len(statements) == len(parsed["staticPolicies"])
    for statement in statements:
        single = json.loads(cedarpy.policies_to_json_str(statement.text))
        assert len(single["staticPolicies"]) == 1
        first_line = text.splitlines()[statement.line - 1]
        assert first_line.strip().startswith(("@", "permit", "forbid"))


def test_split_real_tags_n_roles_lines(real_data) -> None:
    path = real_data.path("policies/cedar/tags_n_roles/policies.cedar")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    # Each policy starts at its @id annotation.
    expected = [
        index + 1 for index, line in enumerate(lines) if line.startswith("@id(")
    ]
    statements = split_policies(str(path), text)
    assert [statement.line for statement in statements] == expected


def test_read_directory_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.cedar").write_text("b", encoding="utf-8")
    (tmp_path / "a.cedar").write_text("a", encoding="utf-8")
    (tmp_path / "c.txt").write_text("c", encoding="utf-8")
    sources = read_policy_files(tmp_path)
    assert sources == [
        (str(tmp_path / "a.cedar"), "a"),
        (str(tmp_path / "b.cedar"), "b"),
    ]


def test_read_single_file(tmp_path: Path) -> None:
    file = tmp_path / "one.cedar"
    file.write_text(PERMIT, encoding="utf-8")
    assert read_policy_files(file) == [(str(file), PERMIT)]


def test_read_missing_path_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cedar"
    with pytest.raises(PolicyError) as caught:
        read_policy_files(missing)
    assert caught.value.file == str(missing)
    assert caught.value.line is None


def test_read_empty_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        read_policy_files(tmp_path)
    assert caught.value.file == str(tmp_path)
    assert "no .cedar files" in caught.value.detail


def test_read_non_utf8_rejected(tmp_path: Path) -> None:
    file = tmp_path / "bad.cedar"
    file.write_bytes(b"permit \xff (principal, action, resource);")
    with pytest.raises(PolicyError) as caught:
        read_policy_files(file)
    assert caught.value.file == str(file)
    assert "not UTF-8" in caught.value.detail


def test_read_oversized_file_rejected(tmp_path: Path) -> None:
    file = tmp_path / "big.cedar"
    file.write_bytes(b" " * (POLICY_FILE_SIZE_MAX + 1))
    with pytest.raises(PolicyError) as caught:
        read_policy_files(file)
    assert caught.value.file == str(file)
    assert str(POLICY_FILE_SIZE_MAX + 1) in caught.value.detail


def _condition(condition: str) -> PolicyStatement:
    text = f'@id("p")\npermit (principal, action, resource)\nwhen {{ {condition} }};'
    return PolicyStatement("p.cedar", 1, text)


def _size_error(condition: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        check_policy_size(_condition(condition))
    return caught.value


# The policy head and the when block are two levels of brackets already.
NESTING_FREE = POLICY_NESTING_MAX - 1


@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("[", "]"), ("{a: ", "}")])
def test_size_nesting_at_limit(open_: str, close: str) -> None:
    check_policy_size(_condition(open_ * NESTING_FREE + "1" + close * NESTING_FREE))


@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("[", "]"), ("{a: ", "}")])
def test_size_nesting_over_limit(open_: str, close: str) -> None:
    depth = NESTING_FREE + 1
    error = _size_error(open_ * depth + "1" + close * depth)
    assert error.line == 3
    assert str(POLICY_NESTING_MAX) in error.detail


def test_size_if_chain_counts_levels() -> None:
    check_policy_size(
        _condition("if true then " * NESTING_FREE + "1" + " else 2" * NESTING_FREE)
    )
    depth = NESTING_FREE + 1
    error = _size_error("if true then " * depth + "1" + " else 2" * depth)
    assert str(POLICY_NESTING_MAX) in error.detail


def test_size_ifs_in_separate_brackets() -> None:
    # Each if closes with its parentheses, so the levels do not add up.
    condition = " && ".join(["(if true then true else false)"] * 200)
    check_policy_size(_condition(condition))


def test_size_ifs_in_set_elements() -> None:
    # Each element of the set ends its if-expressions.
    elements = ", ".join(["if true then 1 else 2"] * (POLICY_NESTING_MAX + 1))
    check_policy_size(_condition(f"[{elements}].contains(1)"))


def test_size_operators_over_limit() -> None:
    check_policy_size(_condition(" && ".join(["true"] * (POLICY_OPERATORS_MAX + 1))))
    error = _size_error(" && ".join(["true"] * (POLICY_OPERATORS_MAX + 2)))
    assert str(POLICY_OPERATORS_MAX) in error.detail


def test_size_skips_strings_and_comments() -> None:
    brackets = "(" * (POLICY_NESTING_MAX + 1)
    condition = f'context.note == "{brackets} if if &&&&" // {brackets}\n && true'
    check_policy_size(_condition(condition))


def test_size_error_names_line() -> None:
    statement = PolicyStatement(
        "p.cedar",
        10,
        '@id("p")\npermit (principal, action, resource)\nwhen {\n'
        + "(" * POLICY_NESTING_MAX
        + "true"
        + ")" * POLICY_NESTING_MAX
        + "\n};",
    )
    with pytest.raises(PolicyError) as caught:
        check_policy_size(statement)
    assert caught.value.line == 13


def test_split_comment_ends_at_carriage_return() -> None:
    # Cedar ends a comment at "\r" too, so the ";" after it ends the policy.
    text = '@id("a")\nforbid (principal, action, resource) // c\r;\n' + PERMIT + "\n"
    statements = split_policies("p.cedar", text)
    assert [statement.text.split()[-1] for statement in statements] == [
        ";",
        "resource);",
    ]


def test_size_comment_ends_at_carriage_return() -> None:
    depth = NESTING_FREE + 1
    error = _size_error("// hidden\r" + "(" * depth + "true" + ")" * depth)
    assert str(POLICY_NESTING_MAX) in error.detail


def test_size_index_chain_counts_as_operators() -> None:
    chain = 'context["a"]' + '["a"]' * POLICY_OPERATORS_MAX
    error = _size_error(f"{chain} == 1")
    assert str(POLICY_OPERATORS_MAX) in error.detail
