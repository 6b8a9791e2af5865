import pytest

from allocator.ports import (
    BLOCK_SIZE,
    PortRange,
    candidate_blocks,
    lowest_free_in_block,
    parse_range,
    parse_ranges,
)


def test_parse_range_accepts_a_range_and_a_single_port() -> None:
    assert parse_range("31000-31999") == PortRange(31000, 31999)
    assert parse_range("8080") == PortRange(8080, 8080)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0-10", "1-65535"),
        ("31000-70000", "1-65535"),
        ("32000-31000", "starts after it ends"),
        ("abc", "not a port range"),
        ("1-2-3", "not a port range"),
    ],
)
def test_parse_range_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_range(text)


def test_parse_ranges_sorts_and_refuses_overlap() -> None:
    assert parse_ranges(["32000-32010", "31000-31010"]) == (
        PortRange(31000, 31010),
        PortRange(32000, 32010),
    )
    with pytest.raises(ValueError, match="overlap"):
        parse_ranges(["31000-31500", "31500-31600"])


def test_full_blocks_are_skipped_and_order_is_lowest_first() -> None:
    ranges = (PortRange(0 * BLOCK_SIZE + 1, 4 * BLOCK_SIZE - 1),)
    assert list(candidate_blocks(ranges, {})) == [0, 1, 2, 3]
    assert list(candidate_blocks(ranges, {0: BLOCK_SIZE, 2: BLOCK_SIZE})) == [1, 3]


def test_lowest_free_respects_ranges_inside_a_block() -> None:
    ranges = (PortRange(31000, 31002), PortRange(31010, 31010))
    block = 31000 // BLOCK_SIZE
    assert lowest_free_in_block(ranges, block, set()) == 31000
    assert lowest_free_in_block(ranges, block, {31000, 31001}) == 31002
    assert lowest_free_in_block(ranges, block, {31000, 31001, 31002}) == 31010
    assert lowest_free_in_block(ranges, block, {31000, 31001, 31002, 31010}) is None


def test_subtract_ports_splits_ranges() -> None:
    from allocator.ports import subtract_ports

    assert subtract_ports([(31000, 31010)], {31000, 31005, 31010, 40000}) == (
        (31001, 31004),
        (31006, 31009),
    )
    assert subtract_ports([(1, 1)], {1}) == ()
    assert subtract_ports([(5, 9), (1, 3)], set()) == ((1, 3), (5, 9))
