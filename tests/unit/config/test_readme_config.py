"""The configuration shown in README.md is valid, so the example cannot rot."""

from __future__ import annotations

from pathlib import Path

from alarmrx.config import load_settings

README = Path(__file__).parents[3] / "README.md"


def test_readme_toml_blocks_load(tmp_path: Path) -> None:
    blocks = [part.split("```", 1)[0] for part in README.read_text().split("```toml")[1:]]
    assert blocks, "README.md shows no TOML"
    for number, block in enumerate(blocks):
        config = tmp_path / f"readme-{number}.toml"
        config.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\n{block}')
        settings = load_settings(config)
        assert settings.accounts
        assert all(a.supervision is not None for a in settings.accounts)
