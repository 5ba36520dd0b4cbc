"""The catalogue: every zoo entry's card, shipped in the package (``seq2expr/zoo/cards/<name>.json``), so
``seq2expr models list`` works offline in a clean clone. ``zoo:NAME`` names an entry wherever a model folder is
expected."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from seq2expr.files import FileError, read_json
from seq2expr.zoo.card import ModelCard

PREFIX = "zoo:"


def package_dir() -> Path:
    """The zoo's folder inside the installed package (cards and the project's weights)."""
    return Path(str(resources.files("seq2expr.zoo")))


def is_zoo_name(text: object) -> bool:
    """Whether ``text`` names a zoo entry (``zoo:NAME``) rather than a folder."""
    return isinstance(text, str) and text.startswith(PREFIX)


def entry_name(text: str) -> str:
    """``NAME`` of ``zoo:NAME`` (a bare name is returned as is)."""
    return text[len(PREFIX):] if is_zoo_name(text) else text


@functools.cache
def cards_by_name() -> dict[str, ModelCard]:
    """Every entry's card, by name, read once from ``cards/`` (a card whose file name differs from its name is
    refused): the one source :func:`list_cards` and :func:`get_card` read."""
    out = {}
    for path in sorted((package_dir() / "cards").glob("*.json")):
        try:
            card = ModelCard.model_validate(read_json(path))
        except ValidationError as err:
            first = err.errors()[0]
            raise FileError(path, f"not a model card: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if card.name != path.stem:
            raise FileError(path, f"card names {card.name!r}; the file must be {card.name}.json")
        out[card.name] = card
    return out


def list_cards() -> list[ModelCard]:
    """Every entry's card, by name."""
    return list(cards_by_name().values())


def get_card(name: str) -> ModelCard:
    """The card of entry ``name`` (``zoo:`` prefix optional); a ValueError listing the entries if unknown."""
    key = entry_name(name)
    known = cards_by_name()
    if key not in known:
        raise ValueError(f"unknown zoo model {key!r}; known: {', '.join(known)} (seq2expr models list)")
    return known[key]
