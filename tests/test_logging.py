"""`studyverse serve` logs one JSON object per line, with the call's context keys."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from game_server.cli import _setup_logging


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_json_lines_carry_the_context(root_logging: None,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _setup_logging("INFO")
    log = logging.getLogger("game_server.game")
    log.info("room tick failed", extra={"room_id": "r-1", "slot": 3, "node_id": "n-a"})
    log.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("sweep failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["level"], x["logger"], x["message"]) for x in lines] == [
        ("INFO", "game_server.game", "room tick failed"),
        ("ERROR", "game_server.game", "sweep failed")]
    assert (lines[0]["room_id"], lines[0]["slot"], lines[0]["node_id"]) == ("r-1", 3, "n-a")
    assert "time" in lines[0] and "ValueError: boom" in lines[1]["exc_info"]


def test_text_format_on_request(root_logging: None,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _setup_logging("WARNING", "text")
    logging.getLogger("x").warning("plain %s", "line")
    assert capsys.readouterr().err.strip().endswith("WARNING x: plain line")
