"""``seq2expr models fetch NAME``: a zoo entry ready to load. A project entry's files are checked (a mirror, the
package copy or the cache) or downloaded; a published entry's checkpoint is downloaded (checked against its
pinned checksum) and converted once into the cache (:func:`seq2expr.zoo.converted_dir`)."""

from __future__ import annotations

from pathlib import Path

from seq2expr.convert.importers import import_checkpoint
from seq2expr.zoo import converted_dir, fetch_files, get_card


def fetch_model(name: str, *, force: bool = False, timeout: float = 60.0) -> tuple[Path, str]:
    """The saved-model folder of zoo entry ``name`` and where it came from (downloading and converting as needed).
    """
    card = get_card(name)
    if card.source == "project":
        return fetch_files(card.name, force=force, timeout=timeout)
    out = converted_dir(card)
    if (out / "config.json").is_file() and not force:
        return out, "converted earlier (cache)"
    folder, where = fetch_files(card.name, force=force, timeout=timeout)
    import_checkpoint(card.importer or card.name, folder / card.files[0].name, out, card=card, force=True)
    return out, f"converted from the checkpoint ({where})"
